"""Datasets behind one function: ``load_dataset``.

- ``"digits"`` (default, embedded, no download): scikit-learn's ``load_digits``,
  1,797 real 8x8 grey images of the digits 0-9, scaled to [0, 1], resized
  bilinearly to 32x32, repeated over 3 channels so the CIFAR-10 models run
  unchanged, then normalized. Fixed stratified split: 1,437 train / 360 test.
- ``"cifar10"``: ``torchvision.datasets.CIFAR10(root, download=False)`` from a
  local folder (the real course setting).

Images come out as float32 ``(N, 3, 32, 32)``, labels as int64 ``(N,)``.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset, TensorDataset

# (mean, std) per channel. HALF maps [0, 1] to [-1, 1] (EE290-2 Lab 1, seed 001);
# CIFAR10_STATS are the per-channel statistics used with ResNet-20 (seed 002).
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
CIFAR10_STATS = ((0.491, 0.482, 0.447), (0.247, 0.243, 0.262))

DIGITS_TEST_FRACTION = 0.2  # 360 of 1,797 images
SPLIT_SEED = 0  # fixed train/test split; never changes between runs
CIFAR10_FILES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"]
CIFAR10_HELP = (
    "Download 'CIFAR-10 python version' (cifar-10-python.tar.gz, 163 MB) from "
    "https://www.cs.toronto.edu/~kriz/cifar.html and extract it so that "
    "{root}/cifar-10-batches-py/ holds data_batch_1 ... data_batch_5, test_batch and batches.meta; "
    "or set DATASET = 'digits' to use the embedded dataset."
)


@dataclass
class DataLoaders:
    """Train and test loaders of one dataset."""

    train: DataLoader
    test: DataLoader
    name: str
    num_classes: int = 10


def load_dataset(
    name: str = "digits",
    root: str | Path | None = None,
    batch_size: int = 64,
    normalization: tuple = HALF,
    augment: bool = False,
    seed: int = 0,
) -> DataLoaders:
    """Return train/test loaders for ``"digits"`` (embedded) or ``"cifar10"`` (local folder ``root``).

    batch_size: images per batch. normalization: ``(mean, std)`` per channel.
    augment: random crop (padding 4) and horizontal flip on the CIFAR-10 training set.
    seed: seeds the training loader's shuffling, so epochs are reproducible.
    """
    if name == "digits":
        train_set, test_set = _digits(normalization)
    elif name == "cifar10":
        if root is None:
            raise ValueError("dataset 'cifar10' needs root=<folder holding cifar-10-batches-py>. " + CIFAR10_HELP.format(root="<root>"))
        train_set, test_set = _cifar10(Path(root), normalization, augment)
    else:
        raise ValueError(f"unknown dataset {name!r}: use 'digits' (embedded) or 'cifar10' (local folder)")
    generator = torch.Generator().manual_seed(seed)
    train = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator)
    test = DataLoader(test_set, batch_size=256, shuffle=False)
    return DataLoaders(train=train, test=test, name=name)


def first_examples(dataset, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` images ``(count, 3, 32, 32)`` float32 and labels ``(count,)`` int64 of ``dataset``: a fixed
    subset (a calibration set, a hidden test's budget), the same on every run whatever a loader's shuffling."""
    pairs = [dataset[i] for i in range(min(count, len(dataset)))]
    return torch.stack([p[0] for p in pairs]), torch.as_tensor([int(p[1]) for p in pairs])


def first_images(dataset, count: int) -> torch.Tensor:
    """The images of ``first_examples``: ``(count, 3, 32, 32)`` float32 (a calibration set)."""
    return first_examples(dataset, count)[0]


def first_batch(dataset, count: int) -> DataLoader:
    """``first_examples`` as a loader of one batch (for code that takes a loader, e.g. ``training.evaluate``)."""
    return DataLoader(Subset(dataset, range(count)), batch_size=count)


def digits_tensors(normalization: tuple = HALF) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The embedded dataset as tensors: ``x_train (1437, 3, 32, 32)``, ``y_train (1437,)``, ``x_test (360, 3, 32, 32)``,
    ``y_test (360,)``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8) in [0, 1]
    images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)  # (1797, 3, 32, 32)
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in normalization)
    images = (images - mean) / std
    labels = torch.tensor(digits.target, dtype=torch.int64)
    train_idx, test_idx = train_test_split(
        torch.arange(len(labels)).numpy(), test_size=DIGITS_TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels.numpy()
    )
    train_idx, test_idx = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]


def _digits(normalization: tuple) -> tuple[TensorDataset, TensorDataset]:
    x_train, y_train, x_test, y_test = digits_tensors(normalization)
    return TensorDataset(x_train, y_train), TensorDataset(x_test, y_test)


def _cifar10(root: Path, normalization: tuple, augment: bool):
    from torchvision import datasets, transforms

    folder = root / "cifar-10-batches-py"
    missing = [f for f in CIFAR10_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 not found: {folder} lacks {', '.join(missing)}. " + CIFAR10_HELP.format(root=root))
    to_tensor = [transforms.ToTensor(), transforms.Normalize(*normalization)]
    train_tf = transforms.Compose(
        ([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if augment else []) + to_tensor
    )
    try:
        train = datasets.CIFAR10(str(root), train=True, download=False, transform=train_tf)
        test = datasets.CIFAR10(str(root), train=False, download=False, transform=transforms.Compose(to_tensor))
    except RuntimeError as error:  # torchvision verifies every file's md5 against the official release
        raise ValueError(
            f"CIFAR-10 files in {folder} failed torchvision's checksum check ({error}): they are corrupted or not the "
            "official release. " + CIFAR10_HELP.format(root=root)
        ) from None
    return train, test
