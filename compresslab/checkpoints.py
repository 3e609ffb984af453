"""The shipped fp32 checkpoints for the embedded dataset: load them, or rebuild them deterministically.

``python -m compresslab.checkpoints --all`` (``make checkpoints``) trains every model
in ``PRETRAINED`` on the digits dataset with a fixed seed and writes
``data/checkpoints/<name>.pt`` holding the state dict, the constructor arguments,
the normalization and the measured fp32 test accuracy.
"""

import argparse
import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from . import models
from .data import CIFAR10_STATS, HALF, DataLoaders, load_dataset
from .device import get_device
from .paths import course
from .training import TrainConfig, evaluate, set_seed, train


@dataclass
class Pretrained:
    """How one checkpoint is built."""

    factory: Callable[..., nn.Module]  # model constructor
    kwargs: dict = field(default_factory=dict)  # constructor arguments
    normalization: tuple = HALF  # input normalization the model was trained with
    config: TrainConfig = field(default_factory=TrainConfig)  # training hyper-parameters


PRETRAINED: dict[str, Pretrained] = {
    "net": Pretrained(models.Net, config=TrainConfig(epochs=30, lr=0.02)),
    "net_with_bias": Pretrained(models.NetWithBias, config=TrainConfig(epochs=30, lr=0.02)),
    "vgg": Pretrained(models.VGG, kwargs={"width": 0.25}, config=TrainConfig(epochs=15, lr=0.05)),
    "resnet20": Pretrained(models.resnet20, normalization=CIFAR10_STATS, config=TrainConfig(epochs=15, lr=0.05)),
}


def build_model(name: str) -> nn.Module:
    """A freshly initialized (untrained) model of checkpoint ``name``."""
    spec = _spec(name)
    return spec.factory(**spec.kwargs)


def load_pretrained(name: str, device: torch.device | None = None) -> nn.Module:
    """The shipped fp32 model ``name`` (one of ``PRETRAINED``), in eval mode on ``device``."""
    model = build_model(name)
    model.load_state_dict(_load(name)["state_dict"])
    return model.to(device or get_device()).eval()


def get_fp32_model(name: str, loaders: DataLoaders, epochs: int, device: torch.device | None = None) -> nn.Module:
    """The fp32 model a notebook starts from: the shipped checkpoint on the embedded dataset,
    otherwise (CIFAR-10) a fresh model trained for ``epochs`` on ``loaders.train``."""
    if loaders.name == "digits":
        return load_pretrained(name, device)
    model = build_model(name)
    train(model, loaders.train, replace(_spec(name).config, epochs=epochs), device=device)
    return model


def pretrained_info(name: str) -> dict:
    """Metadata stored with checkpoint ``name``: ``fp32_accuracy``, ``normalization``, ``kwargs``, ``config``."""
    return {k: v for k, v in _load(name).items() if k != "state_dict"}


def normalization_of(name: str) -> tuple:
    """Input normalization ``(mean, std)`` the checkpoint ``name`` expects."""
    return _spec(name).normalization


@functools.lru_cache(maxsize=None)
def embedded_digits(name: str) -> DataLoaders:
    """The embedded dataset with checkpoint ``name``'s normalization (``load_dataset("digits", ...)``), loaded once per
    process: resizing the 1,797 images takes about a second, and the hidden tests and the handed-in files' grading use
    it several times. Shared: never modify it."""
    return load_dataset("digits", normalization=normalization_of(name))


def rebuild(name: str) -> float:
    """Train checkpoint ``name`` from scratch on the embedded dataset, save it, return its test accuracy (%)."""
    spec = _spec(name)
    loaders = load_dataset("digits", normalization=spec.normalization, seed=spec.config.seed)
    set_seed(spec.config.seed)
    model = spec.factory(**spec.kwargs)
    device = torch.device("cpu")  # CPU kernels give the same bytes on every machine
    train(model, loaders.train, spec.config, device=device)
    accuracy = evaluate(model, loaders.test, device=device)
    path = course().checkpoint(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "kwargs": spec.kwargs,
            "normalization": spec.normalization,
            "config": asdict(spec.config),
            "fp32_accuracy": accuracy,
        },
        path,
    )
    return accuracy


def _load(name: str) -> dict:
    """The saved checkpoint dict of a known ``name``; a clear error when the file is missing."""
    _spec(name)
    path = course().checkpoint(name)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} is missing: run `make checkpoints` to rebuild it")
    return torch.load(path, map_location="cpu", weights_only=True)


def _spec(name: str) -> Pretrained:
    if name not in PRETRAINED:
        raise KeyError(f"unknown checkpoint {name!r}; known: {', '.join(PRETRAINED)}")
    return PRETRAINED[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"checkpoints to rebuild (default with --all: {', '.join(PRETRAINED)})")
    parser.add_argument("--all", action="store_true", help="rebuild every checkpoint")
    args = parser.parse_args()
    names = list(PRETRAINED) if args.all else args.names
    if not names:
        parser.error("name a checkpoint or pass --all")
    torch.set_num_threads(1)
    print("| checkpoint | parameters | fp32 test accuracy (digits) |\n| --- | --- | --- |")
    for name in names:
        accuracy = rebuild(name)
        params = sum(p.numel() for p in build_model(name).parameters())
        print(f"| {name} | {params:,} | {accuracy:.2f}% |", flush=True)


if __name__ == "__main__":
    main()
