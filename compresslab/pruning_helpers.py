"""Ungraded plumbing of the ``pruning`` notebook (MIT 6.5940 Lab 1, seed 000 question 6(a)).

Names follow the lab: a *sparsity* is the fraction of zeros of a tensor (#zeros / #elements), a
*prune ratio* the fraction of output channels removed. A *sparsity dict* maps parameter names
(``"backbone.conv3.weight"``, ``"classifier.weight"``) to sparsities. The graded functions
(``fine_grained_prune``, ``FineGrainedPruner``, ``channel_prune``, ...) live in the notebook and
are passed in as arguments, so the autograder can run a student's pipeline end to end.

- the questions' targets: ``SIZE_TARGET``, ``FINE_GRAINED_TOLERANCE``, ``CHANNEL_PRUNE_RATIO``, ``MACS_TARGET``,
  ``CHANNEL_TOLERANCE``;
- weights and sparsity: ``prunable_weights``, ``weight_values``, ``sparsity``, ``size_fraction``,
  ``expected_size_fraction``, ``sensitivity_scan``;
- fine-tuning: ``FINETUNE``, ``fine_tune_config``, ``fine_tune``, and the hidden fine-grained check's bounded run
  (``bounded_fine_tune``, ``bounded_fine_tune_accuracy``, ``GRADED_SPARSE_STEPS``, ``GRADED_SPARSE_ACCURACY``), which
  the notebook runs too, to print what the grader will measure;
- costs: ``Cost``, ``measure_costs``, ``format_costs``;
- channels: ``conv_bn_pairs``, ``channel_counts``.

The notebook's plots are in ``compresslab.plots.pruning``, the model its public tests build (``ConvStack``) in
``compresslab.models``, what only the hidden tests use in ``compresslab.hidden.pruning``.
"""

import contextlib
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .device import torch_threads
from .profiling import MiB, count_macs, count_parameters, measure_latency, model_size_bits
from .training import TrainConfig, evaluate, train

# How the notebook (on the embedded dataset) and the autograder fine-tune a pruned checkpoint:
# one epoch of SGD from the checkpoint, cosine schedule, seed 0 (MIT fine-tunes 5 epochs at lr 0.01 on CIFAR-10).
FINETUNE = TrainConfig(epochs=1, lr=0.02, momentum=0.9, weight_decay=1e-4, seed=0)

SIZE_TARGET = 0.35  # fine-grained pruning: at most this fraction of the dense model's (non-zero) parameters
FINE_GRAINED_TOLERANCE = 1.0  # the question's goal: points of accuracy a fine-grained model fine-tuned for one epoch may lose
# The hidden fine-grained check does not fine-tune a whole epoch (about 7 s of CPU per student) but its first steps,
# the learning rate annealed over them (``bounded_fine_tune_accuracy``), and asks for this test accuracy (%) after them.
# Measured on 33 sparsity choices of at most 35% (the reference, random ones, perturbations of good ones): each that
# ended the full epoch within 1 point reached 84.7% or more after the 12 steps; of those that missed it, one (one
# image short, 98.3%) reached 87.5%, all others 78.9% or less (README, "For instructors").
GRADED_SPARSE_STEPS = 12
GRADED_SPARSE_ACCURACY = 80.0
CHANNEL_PRUNE_RATIO = 0.3  # fraction of channels removed from every conv but the last
MACS_TARGET = 0.60  # channel pruning at CHANNEL_PRUNE_RATIO: at most this fraction of the dense MACs
CHANNEL_TOLERANCE = 2.0  # points of accuracy a fine-tuned channel-pruned model may lose


def prunable_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights fine-grained pruning acts on: every parameter with 2 or more dims (conv and linear weights), by name."""
    return {name: param for name, param in model.named_parameters() if param.dim() > 1}


def weight_values(model: nn.Module, nonzero_only: bool = False) -> dict[str, torch.Tensor]:
    """Flattened values of each prunable weight (``nonzero_only``: drop the zeros, e.g. after pruning), for histograms."""
    values = {}
    for name, param in prunable_weights(model).items():
        flat = param.detach().cpu().flatten()
        values[name] = flat[flat != 0] if nonzero_only else flat
    return values


def sparsity(tensor: torch.Tensor) -> float:
    """Fraction of zeros of ``tensor`` (0 for an empty tensor)."""
    return 1.0 - tensor.count_nonzero().item() / tensor.numel() if tensor.numel() else 0.0


def size_fraction(model: nn.Module, dense_model: nn.Module) -> float:
    """Non-zero parameters of ``model`` as a fraction of all parameters of ``dense_model``."""
    return count_parameters(model, nonzero_only=True) / count_parameters(dense_model)


def expected_size_fraction(model: nn.Module, sparsity_dict: Mapping[str, float]) -> float:
    """Fraction of ``model``'s parameters left non-zero once each weight named in ``sparsity_dict`` is pruned
    to its sparsity (``round(numel * sparsity)`` zeros, as ``fine_grained_prune`` makes), computed without pruning."""
    params = dict(model.named_parameters())
    unknown = sorted(set(sparsity_dict) - set(params))
    if unknown:
        raise KeyError(f"sparsity_dict names parameters the model does not have: {unknown}")
    total = sum(p.numel() for p in params.values())
    pruned = sum(round(params[name].numel() * min(max(s, 0.0), 1.0)) for name, s in sparsity_dict.items())
    return (total - pruned) / total


@torch.no_grad()
def sensitivity_scan(
    model: nn.Module,
    loader: DataLoader,
    prune: Callable[[torch.Tensor, float], torch.Tensor],
    sparsities: Sequence[float],
    names: Iterable[str] | None = None,
    device: torch.device | None = None,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Accuracy (%) on ``loader`` when one weight at a time is pruned with ``prune(weight, sparsity)``.

    names: weights to scan (default: every prunable weight). Returns ``{name: [accuracy per sparsity]}``.
    Each weight is restored before the next is pruned, also when ``prune`` raises; ``model`` ends unchanged.
    """
    params = dict(model.named_parameters())
    names = list(names) if names is not None else list(prunable_weights(model))
    results: dict[str, list[float]] = {}
    bar = tqdm(total=len(names) * len(sparsities), desc="sensitivity scan", disable=not progress, leave=False)
    for name in names:
        param = params[name]
        original = param.detach().clone()
        accuracies = []
        try:
            for s in sparsities:
                prune(param.data, s)
                accuracies.append(evaluate(model, loader, device=device, progress=False))
                param.copy_(original)
                bar.update()
        finally:
            param.copy_(original)
        results[name] = accuracies
    bar.close()
    return results


def fine_tune(
    model: nn.Module,
    loader: DataLoader,
    config: TrainConfig = FINETUNE,
    device: torch.device | None = None,
    callbacks: Iterable[Callable[[], None]] = (),
    progress: bool = True,
    max_steps: int | None = None,
) -> list[float]:
    """Fine-tune ``model`` in place (``compresslab.training.train``), reseeding the loader's shuffling first,
    so a run gives the same result however often the loader was used before; return the loss per epoch.

    callbacks: called after every optimizer step, e.g. ``lambda: pruner.apply(model)`` to keep the pruned weights at zero.
    max_steps: stop after this many steps (a bounded run, as in the hidden tests); ``None``: ``config.epochs`` epochs.
    """
    generator = getattr(loader, "generator", None)
    if generator is not None:
        generator.manual_seed(config.seed)
    return train(model, loader, config, device=device, callbacks=callbacks, progress=progress, max_steps=max_steps)


def bounded_fine_tune(model: nn.Module, loader: DataLoader, steps: int, callbacks: Iterable[Callable[[], None]] = ()) -> None:
    """A hidden check's bounded run: fine-tune ``model`` in place on the CPU (``FINETUNE``) for its first ``steps`` steps,
    the learning rate annealed over them, calling ``callbacks`` after every step. The model is put in channels_last,
    the layout the CPU's convolution kernels run fastest on (same values up to float rounding). Run it inside
    ``torch_threads(1)``: the grader runs notebooks side by side, one thread each."""
    cpu = torch.device("cpu")
    model.to(cpu).to(memory_format=torch.channels_last)
    fine_tune(model, loader, FINETUNE, device=cpu, callbacks=callbacks, progress=False, max_steps=steps)


def bounded_fine_tune_accuracy(model: nn.Module, loaders, callbacks: Iterable[Callable[[], None]] = (),
                               steps: int = GRADED_SPARSE_STEPS) -> float:
    """The hidden fine-grained check's run: ``bounded_fine_tune`` of ``model`` on ``loaders.train`` for ``steps`` steps on
    one thread, calling ``callbacks`` after every step (``lambda: pruner.apply(model)``); return its test accuracy (%)
    on ``loaders.test``. The check asks for at least ``GRADED_SPARSE_ACCURACY`` on the embedded dataset."""
    with torch_threads(1):
        bounded_fine_tune(model, loaders.train, steps, callbacks)
        return evaluate(model, loaders.test, device=torch.device("cpu"), progress=False)


def fine_tune_config(epochs: int, lr: float) -> TrainConfig:
    """``FINETUNE`` with another number of epochs and learning rate (the notebook's config cell)."""
    return replace(FINETUNE, epochs=epochs, lr=lr)


@dataclass
class Cost:
    """What one model costs and how well it does: a row of the notebook's results table."""

    name: str
    accuracy: float  # test accuracy (%)
    parameters: int  # non-zero parameters
    size_mib: float  # non-zero parameters at 32 bits, in MiB (sparse index overhead ignored, as in the lab)
    macs: int  # multiply-accumulates of one image's forward pass (torchprofile; zeros are counted)
    latency_ms: float  # median wall-clock time of one forward pass on ``inputs`` (ms)


def measure_costs(
    models: Mapping[str, nn.Module],
    accuracies: Mapping[str, float],
    inputs: torch.Tensor,
    rounds: int = 5,
    repeats: int = 10,
    threads: int | None = 1,
) -> list[Cost]:
    """Cost of each model (name -> model) on ``inputs`` (``(N, 3, 32, 32)`` on the models' device).

    Latency: in each of ``rounds`` rounds every model is timed in turn (``measure_latency``: median of
    ``repeats`` runs after warm-up runs); a model's latency is the median of its round medians, so a burst
    of load on a shared machine hits all models alike. It is reported, never asserted.
    threads: intra-op threads while timing on a CPU (``None``: leave torch's setting). One thread by default:
    with several, a busy machine makes each layer's threads wait for one another (timings 100x too long).
    """
    for model in models.values():
        model.eval()
    latencies: dict[str, list[float]] = {name: [] for name in models}
    with torch_threads(threads) if threads is not None and inputs.device.type == "cpu" else contextlib.nullcontext():
        for _ in range(rounds):
            for name, model in models.items():
                latencies[name].append(measure_latency(model, inputs, warmup=2, repeats=repeats))
    return [
        Cost(
            name=name,
            accuracy=float(accuracies[name]),
            parameters=count_parameters(model, nonzero_only=True),
            size_mib=model_size_bits(model, 32, nonzero_only=True) / MiB,
            macs=count_macs(model, inputs[:1]),
            latency_ms=1000.0 * statistics.median(latencies[name]),
        )
        for name, model in models.items()
    ]


def format_costs(rows: Sequence[Cost]) -> str:
    """The rows as a Markdown table, each cost also given as a ratio to the first row (the dense model)."""
    base = rows[0]
    lines = ["| model | accuracy (%) | non-zero parameters | size (MiB) | MACs (M) | latency (ms) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.accuracy:.2f} | {r.parameters:,} ({r.parameters / base.parameters:.0%}) "
            f"| {r.size_mib:.3f} ({r.size_mib / base.size_mib:.0%}) "
            f"| {r.macs / 1e6:.2f} ({r.macs / base.macs:.0%}) | {r.latency_ms:.3f} ({r.latency_ms / base.latency_ms:.0%}) |"
        )
    return "\n".join(lines)


def conv_bn_pairs(model: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """``(conv i, bn i)`` of ``model.backbone`` in forward order (the layers channel pruning edits)."""
    convs = [m for m in model.backbone if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.backbone if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != len(bns):
        raise ValueError(f"expected one BatchNorm2d per Conv2d in model.backbone, got {len(convs)} convs and {len(bns)} BNs")
    return list(zip(convs, bns))


def channel_counts(model: nn.Module) -> list[int]:
    """Output channels of each conv of ``model.backbone`` (from the weights' shapes)."""
    return [conv.weight.shape[0] for conv, _ in conv_bn_pairs(model)]
