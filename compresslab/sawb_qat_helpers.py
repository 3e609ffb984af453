"""Ungraded plumbing of the ``sawb_qat`` notebook (seed 003's quantization assignment, seed 002's ResNet-20 PTQ) that
runs the notebook's answers on ResNet-20; nothing here is what a student writes.

- ``SAWB_COEFFICIENTS``: the (c1, c2) table of SAWB, with its sources (``sawb_derivation`` derives the 8- and 9-bit pairs).
- ``make_datasets`` / ``load_datasets`` and ``mse_table``: the two datasets of Part 1 (``data/sawb_qat``) and the
  quantization error of each scale rule on them.
- ``ptq_and_qat``, ``run_table1``: the seed's Table 1, post-training calibration then quantization-aware training
  (the layers and the training live in ``fake_quantization``).
- ``layer_sizes``, ``weight_errors``, ``accuracy_oracle``, ``search_path``, ``variable_precision_search``,
  ``evaluate_bitwidths``: the variable-precision search of Part 3 around the notebook's ``greedy_bitwidth_path``.

Their plots are in ``compresslab.plots.sawb_qat``, the hidden tests' runs in ``compresslab.hidden.sawb_qat``.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from .data import first_images
from .fake_quantization import (QuantOps, calibrate, fake_quantized_layers, quantization_aware_training, quantize_model, record_inputs,
                                save_quantized)
from .paths import course
from .training import evaluate


# ---------------------------------------------------------------- SAWB coefficients

# alpha* = c1 * sqrt(E[x^2]) - c2 * E[|x|], then s = alpha* / 2**(b-1).
# 2-5 bits: Choi et al., "Accurate and efficient 2-bit quantized neural networks", MLSys 2019 (SAWB), as
#   given in the assignment brief. Checked against IBM's fms-model-optimizer (fms_mo/quant_refactor/
#   sawb_utils.py, the SAWB authors' group), which uses these four pairs; a comment there and other public
#   SAWB code give (3.212, 2.178) for 2 bits (the arXiv version, 1807.06964); 3, 4 and 5 bits agree.
#   These pairs were fitted for a grid of 2**b levels spanning [-alpha, alpha] (no zero level), not for
#   seed 003's grid [-2**(b-1), 2**(b-1) - 1] * s: on that grid they clip too early at 2 bits.
# 8 and 9 bits: DERIVED here, not published: ``python -m compresslab.sawb_derivation`` fits the MSE-optimal
#   clipping of seed 003's grid over generalized-Gaussian distributions (shape 0.75 ... 3, Laplace and
#   Gaussian included), the paper's method. With the paper's grid the same script gives (32.43, 35.71)
#   for 8 bits, close to fms-model-optimizer's (31.76, 35.04), which no paper publishes.
# 9 bits serves 8-bit unsigned activations: an unsigned b-bit grid is the positive half of a signed
#   (b+1)-bit grid with the same step, so its SAWB scale uses the (b+1)-bit pair on |x|.
SAWB_COEFFICIENTS: dict[int, tuple[float, float]] = {
    2: (3.12, 2.064),
    3: (7.509, 6.892),
    4: (12.68, 12.80),
    5: (17.74, 18.64),
    8: (32.59, 35.89),
    9: (38.77, 43.28),
}
PUBLISHED_SAWB_BITS = (2, 3, 4, 5)
DERIVED_SAWB_BITS = (8, 9)

# ---------------------------------------------------------------- Part 1: the two datasets and the MSE table

DATASET_SIZE = 65_536  # values per dataset
DATASET_STD = 0.05  # standard deviation of both datasets (about that of ResNet-20's conv weights)
DATASET_SEED = 3  # seeds torch.Generator for both datasets


def make_datasets(n: int = DATASET_SIZE, std: float = DATASET_STD, seed: int = DATASET_SEED) -> dict[str, torch.Tensor]:
    """Dataset A: Gaussian N(0, std^2), like trained weights; dataset B: Laplacian with the same std (heavy tails).

    Both float32 ``(n,)``, drawn from ``torch.Generator().manual_seed(seed)`` (B by the inverse CDF of a uniform draw).
    """
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, generator=g, dtype=torch.float64) * std
    u = torch.rand(n, generator=g, dtype=torch.float64) - 0.5  # (-0.5, 0.5)
    b = -(std / math.sqrt(2)) * torch.sign(u) * torch.log1p(-2 * u.abs())
    return {"A": a.float(), "B": b.float()}


def datasets_path() -> Path:
    return course().public_data("sawb_qat") / "datasets.pt"


def load_datasets() -> dict[str, torch.Tensor]:
    """Datasets A and B of Part 1, as stored in ``data/sawb_qat/datasets.pt`` (``make_datasets`` rebuilds them)."""
    stored = torch.load(datasets_path(), map_location="cpu", weights_only=True)
    return {"A": stored["A"], "B": stored["B"]}


def mse_table(datasets: Mapping[str, torch.Tensor], methods: Sequence[str], bits: Sequence[int],
              reset_scale_and_zero_point: Callable, quantize_dequantize: Callable) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MSE and mean error (bias) of signed quantization for each method (rows) and (dataset, bits) (columns).

    quantize_dequantize(x, scale, zero_point, bits) -> x_hat (the notebook's linear_quantize then linear_dequantize).
    """
    mse, bias = {}, {}
    for method in methods:
        mse[method], bias[method] = {}, {}
        for name, x in datasets.items():
            for b in bits:
                scale, zero = reset_scale_and_zero_point(x, b, method, True)
                error = quantize_dequantize(x, scale, zero, b) - x
                mse[method][(name, b)] = float((error**2).mean())
                bias[method][(name, b)] = float(error.mean())
    columns = pd.MultiIndex.from_tuples([(name, b) for name in datasets for b in bits], names=["dataset", "bits"])
    return pd.DataFrame.from_dict(mse, orient="index")[columns], pd.DataFrame.from_dict(bias, orient="index")[columns]


# ---------------------------------------------------------------- Table 1


@dataclass
class QATConfig:
    """How Table 1 is filled (defaults: the embedded dataset on a CPU)."""

    calibration_images: int = 128  # training images whose float activations set the input scales (PTQ)
    batches: int = 4  # QAT steps per configuration (batches of ``batch_size`` training images)
    batch_size: int = 64  # images per QAT step
    lr: float = 0.01  # SGD learning rate of QAT (momentum 0.9)
    seed: int = 0  # seeds the order of the QAT batches


TABLE1_CONFIGS = ((8, 8), (4, 4), (8, 2), (2, 8), (2, 2))  # (weight bits, activation bits), rows of seed 003's Table 1
TABLE1_METHODS = ("sawb", "symmetric")


def ptq_and_qat(
    fp32_model: nn.Module, ops: QuantOps, weight_bits: int, act_bits: int, method: str, train_dataset, test_loader: DataLoader,
    config: QATConfig = QATConfig(), device: torch.device | None = None, recorded: Mapping[str, torch.Tensor] | None = None,
) -> tuple[float, float, nn.Module]:
    """One cell pair of Table 1: PTQ accuracy (calibrated, no training), then QAT accuracy; returns (ptq, qat, model).

    recorded: the layers' float inputs on the calibration images (``record_inputs``), to skip recording them again.
    """
    model = quantize_model(fp32_model, ops, weight_bits, act_bits, method)
    images = None if recorded is not None else first_images(train_dataset, config.calibration_images)
    calibrate(model, images, device=device, recorded=recorded)
    ptq = evaluate(model, test_loader, device=device, progress=False)
    quantization_aware_training(model, train_dataset, config.batches, config.lr, config.batch_size, config.seed, device)
    qat = evaluate(model, test_loader, device=device, progress=False)
    return ptq, qat, model


def run_table1(
    fp32_model: nn.Module, ops: QuantOps, train_dataset, test_loader: DataLoader, config: QATConfig = QATConfig(),
    configs: Sequence[tuple[int, int]] = TABLE1_CONFIGS, methods: Sequence[str] = TABLE1_METHODS,
    save_dir: str | Path | None = ".", device: torch.device | None = None, progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Seed 003's Table 1: test accuracy (%) per configuration (rows ``W8A8`` ...) for PTQ and QAT with each method.

    The best fine-tuned model of each row is saved as ``save_dir/ResNet20_W8A8.pt`` (state dict and metadata).
    Returns the table and the saved files by row label.
    """
    rows, saved, columns = {}, {}, pd.MultiIndex.from_product([("PTQ", "QAT"), methods])
    recorded = record_inputs(quantize_model(fp32_model, ops, 8, 8), first_images(train_dataset, config.calibration_images), device=device)
    for weight_bits, act_bits in tqdm(configs, desc="Table 1", disable=not progress):
        label, row, best = f"W{weight_bits}A{act_bits}", {}, None
        for method in methods:
            ptq, qat, model = ptq_and_qat(fp32_model, ops, weight_bits, act_bits, method, train_dataset, test_loader, config, device,
                                          recorded)
            row[("PTQ", method)], row[("QAT", method)] = ptq, qat
            if best is None or qat > best[0]:
                best = (qat, method, model)
        rows[label] = row
        if save_dir is not None:
            info = {"weight_bits": weight_bits, "act_bits": act_bits, "method": best[1], "accuracy": best[0]}
            saved[label] = save_quantized(best[2], Path(save_dir) / f"ResNet20_{label}.pt", info)
    return pd.DataFrame.from_dict(rows, orient="index")[columns], saved



# ---------------------------------------------------------------- variable precision


def layer_sizes(model: nn.Module) -> dict[str, int]:
    """Number of weights of each convolution / linear layer, by name, in forward order."""
    return {name: m.weight.numel() for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def weight_errors(model: nn.Module, ops: QuantOps, bit_choices: Sequence[int], method: str = "symmetric") -> dict[str, dict[int, float]]:
    """Relative quantization error ``||W - W_hat||^2 / ||W||^2`` of each layer's weights at each bit width.

    ``W_hat`` is the notebook's quantize-dequantize (signed, ``method`` scale): the proxy the greedy path uses.
    """
    errors = {}
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w, errors[name] = m.weight.detach(), {}
                for bits in bit_choices:
                    scale, zero = ops.reset_scale_and_zero_point(w, bits, method, True)
                    w_hat = ops.quantize_ste(w, scale, zero, bits, True)
                    errors[name][bits] = float(((w - w_hat) ** 2).sum() / (w**2).sum())
    return errors


def accuracy_oracle(
    fp32_model: nn.Module, ops: QuantOps, images: torch.Tensor, labels: torch.Tensor, calibration: torch.Tensor,
    act_bits: int = 16, method: str = "symmetric", device: torch.device | None = None,
) -> Callable[[Mapping[str, int]], float]:
    """``accuracy_of(bitwidths, loader=None)``: accuracy (%) on ``images`` (or on ``loader``) of ``fp32_model`` with
    per-layer weight bits and ``act_bits``-bit inputs everywhere (the simulated path, calibrated once on
    ``calibration``): the same model as ``evaluate_bitwidths(..., simulate=True)`` builds, without building it again."""
    model = quantize_model(fp32_model, ops, 8, act_bits, method, first_last_bits=None)
    calibrate(model, calibration, device=device)
    layers = fake_quantized_layers(model)
    for layer in layers.values():
        layer.simulate = True
    subset = DataLoader(TensorDataset(images, labels), batch_size=256)

    def accuracy_of(bitwidths: Mapping[str, int], loader: DataLoader | None = None) -> float:
        for name, layer in layers.items():
            layer.weight_bits = bitwidths[name]
        return evaluate(model, subset if loader is None else loader, device=device, progress=False)

    accuracy_of.model = model
    return accuracy_of


def search_path(path: Sequence[Mapping[str, int]], accuracy_of: Callable, min_accuracy: float, curve_points: int = 12,
                start: int | None = None) -> tuple[int, dict[int, float]]:
    """The last configuration on ``path`` (ordered from large to small models) meeting ``min_accuracy``.

    Evaluates ``curve_points`` evenly spaced configurations (the trade-off curve), then bisects between the
    last one that meets the constraint and the next one. Assumes accuracy falls along the path (the
    greedy path is built to make it so), which the evaluations let you check.
    start: a guess (in the hidden test, the reference's answer): when ``path[start]`` meets the constraint and
    ``path[start + 1]`` does not (or ``start`` is the last index), ``start`` is returned after those two evaluations
    (a boundary of the kind the bisection ends on; the same answer when accuracy falls along the path);
    otherwise the full search runs.
    Returns (index of the chosen configuration, {index: accuracy} of every evaluated configuration).
    """
    evaluated: dict[int, float] = {}

    def acc(i: int) -> float:
        if i not in evaluated:
            evaluated[i] = accuracy_of(path[i])
        return evaluated[i]

    if start is not None and 0 <= start < len(path) and acc(start) >= min_accuracy:
        if start == len(path) - 1 or acc(start + 1) < min_accuracy:
            return start, evaluated
    grid = sorted({round(i * (len(path) - 1) / (curve_points - 1)) for i in range(curve_points)})
    good = [i for i in grid if acc(i) >= min_accuracy]
    if not good:
        return 0, evaluated
    lo = good[-1]
    hi = next((i for i in grid if i > lo), None)
    if hi is None:
        return lo, evaluated
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if acc(mid) >= min_accuracy:
            lo = mid
        else:
            hi = mid
    return lo, evaluated


VP_BIT_CHOICES = (8, 6, 5, 4, 3, 2)  # weight bit widths the variable-precision search may give a layer
VP_ACT_BITS = 16  # activation bits during the variable-precision search (seed 003, Part 3)


@dataclass
class VPResult:
    """Outcome of ``variable_precision_search``."""

    path: list  # bitwidth dicts from the greedy path, largest model first
    evaluated: dict  # path index -> accuracy (%) on the search subset
    chosen: int  # index of the smallest configuration meeting the constraint
    min_accuracy: float  # the constraint (%)
    accuracy_of: Callable  # the search's oracle: accuracy_of(bitwidths, loader=None) (``accuracy_oracle``)

    @property
    def bitwidths(self) -> dict[str, int]:
        return self.path[self.chosen]


def variable_precision_search(
    fp32_model: nn.Module, ops: QuantOps, greedy_bitwidth_path: Callable, images: torch.Tensor, labels: torch.Tensor,
    calibration: torch.Tensor, min_accuracy: float, bit_choices: Sequence[int] = VP_BIT_CHOICES, act_bits: int = VP_ACT_BITS,
    device: torch.device | None = None, start: int | None = None,
) -> VPResult:
    """Part 3: weight errors per layer and bit width, the notebook's greedy path through them, and the smallest
    configuration on it whose accuracy on ``images`` is at least ``min_accuracy`` (``search_path``, from the
    guess ``start`` if given)."""
    sizes = layer_sizes(fp32_model)
    path = greedy_bitwidth_path(sizes, weight_errors(fp32_model, ops, bit_choices), bit_choices)
    oracle = accuracy_oracle(fp32_model, ops, images, labels, calibration, act_bits, device=device)
    chosen, evaluated = search_path(path, oracle, min_accuracy, start=start)
    return VPResult(list(path), evaluated, chosen, min_accuracy, oracle)


def evaluate_bitwidths(
    fp32_model: nn.Module, ops: QuantOps, bitwidths: Mapping[str, int], calibration: torch.Tensor, loader: DataLoader,
    act_bits: int = VP_ACT_BITS, device: torch.device | None = None, simulate: bool = False,
) -> float:
    """Accuracy (%) on ``loader`` of ``fp32_model`` with per-layer weight bits, ``act_bits``-bit inputs and the
    integer path (``quantized_*_function``), calibrated on ``calibration``.

    simulate: run the simulated path instead (the same values up to float rounding). With 16-bit inputs the
    integer kernels split every input into several exact float passes, so the simulated path is about 5x faster.
    """
    model = quantize_model(fp32_model, ops, 8, act_bits, "symmetric", first_last_bits=None, bitwidths=bitwidths)
    calibrate(model, calibration, device=device)
    if simulate:
        for layer in fake_quantized_layers(model).values():
            layer.simulate = True
    return evaluate(model, loader, device=device, progress=False)
