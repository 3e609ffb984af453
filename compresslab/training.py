"""Seeded training and evaluation loops with progress bars (one copy, shared by every notebook).

- ``train``: epochs of SGD with a cosine schedule over a loader (the checkpoints, pruning's fine-tuning);
- ``train_steps``: a fixed number of constant-lr SGD steps on a shuffled dataset, cycling over it (quantization-aware
  training wraps it, ``fake_quantization.quantization_aware_training``);
- ``evaluate``: top-1 accuracy; ``set_seed``: seed every generator.
"""

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .device import get_device


@dataclass
class TrainConfig:
    """Hyper-parameters of ``train``; the defaults train the embedded-dataset checkpoints."""

    epochs: int = 10  # passes over the training set
    lr: float = 0.05  # peak learning rate of SGD, annealed to 0 with a cosine schedule
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty on all parameters
    seed: int = 0  # seeds torch, numpy and random before the first batch


def set_seed(seed: int) -> None:
    """Seed ``random``, NumPy and torch (CPU and CUDA) and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def train(
    model: nn.Module,
    loader: DataLoader,
    config: TrainConfig = TrainConfig(),
    device: torch.device | None = None,
    callbacks: Iterable[Callable[[], None]] = (),
    progress: bool = True,
    max_steps: int | None = None,
) -> list[float]:
    """Train ``model`` in place with SGD + cosine schedule and cross-entropy; return the mean loss per epoch.

    callbacks: called after every optimizer step (e.g. to re-apply pruning masks or snap weights to a codebook).
    max_steps: stop after this many optimizer steps (a bounded run, e.g. in a hidden test); ``None``: all
    epochs. A bounded run anneals the learning rate over those steps and stops after
    them; the first batches are the same as in the full run (same seed).
    """
    device = device or get_device()
    set_seed(config.seed)
    model.to(device).train()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    remaining = config.epochs * len(loader) if max_steps is None else min(max_steps, config.epochs * len(loader))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, remaining))
    losses = []
    for epoch in tqdm(range(config.epochs), desc="train", disable=not progress, leave=False):
        total, count = 0.0, 0
        for inputs, targets in loader:
            if remaining == 0:
                break
            remaining -= 1
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            scheduler.step()
            for callback in callbacks:
                callback()
            total += loss.item() * len(targets)
            count += len(targets)
        if count:
            losses.append(total / count)
    model.eval()
    return losses


def train_steps(
    model: nn.Module,
    dataset: Dataset,
    steps: int,
    lr: float = 0.01,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = False,
) -> list[float]:
    """Train ``model`` in place for ``steps`` SGD steps (constant ``lr``, momentum 0.9, no weight decay, cross-entropy)
    on batches of ``batch_size`` from ``dataset``; return the loss of each step.

    The batches come from a loader shuffled by ``torch.Generator().manual_seed(seed)`` (incomplete last batch dropped),
    restarted as often as ``steps`` needs; torch, NumPy and ``random`` are seeded with ``seed`` first. The model is
    left in eval mode.
    """
    device = device or get_device()
    set_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator, drop_last=True)
    if steps > 0 and len(loader) == 0:
        raise ValueError(f"train_steps: the dataset holds {len(dataset)} examples, fewer than one batch of {batch_size}")
    model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    criterion, losses = nn.CrossEntropyLoss(), []
    with tqdm(total=steps, desc="train steps", disable=not progress, leave=False) as bar:
        while len(losses) < steps:
            for inputs, targets in loader:
                if len(losses) == steps:
                    break
                optimizer.zero_grad()
                loss = criterion(model(inputs.to(device)), targets.to(device))
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                bar.update()
    model.eval()
    return losses


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    extra_preprocess: Iterable[Callable[[torch.Tensor], torch.Tensor]] = (),
    max_samples: int | None = None,
    device: torch.device | None = None,
    progress: bool = True,
) -> float:
    """Top-1 accuracy of ``model`` on ``loader`` in percent (0-100).

    extra_preprocess: functions applied to each input batch, in order (e.g. quantize the input).
    max_samples: stop after at least this many images (``None``: the whole loader).
    """
    device = device or get_device()
    model.to(device).eval()
    correct, seen = 0, 0
    for inputs, targets in tqdm(loader, desc="eval", disable=not progress, leave=False):
        inputs, targets = inputs.to(device), targets.to(device)
        for preprocess in extra_preprocess:
            inputs = preprocess(inputs)
        predictions = model(inputs).argmax(dim=1)
        correct += (predictions == targets).sum().item()
        seen += len(targets)
        if max_samples is not None and seen >= max_samples:
            break
    return 100.0 * correct / seen
