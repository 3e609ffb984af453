"""Model cost: parameters, size at a bit width, MACs (torchprofile) and latency."""

import statistics
import time
from collections.abc import Mapping

import torch
from torch import nn
from torchprofile import profile_macs

BYTE = 8  # bits
FLOAT_BITS = 32  # a parameter left in float32
KiB = 1024 * BYTE
MiB = 1024 * KiB


def count_parameters(model: nn.Module, nonzero_only: bool = False) -> int:
    """Number of parameter elements (``nonzero_only``: count only the non-zero ones, e.g. after pruning)."""
    if nonzero_only:
        return sum(int(p.count_nonzero()) for p in model.parameters())
    return sum(p.numel() for p in model.parameters())


def model_size_bits(model: nn.Module, bitwidth: int | Mapping[str, int] = 32, nonzero_only: bool = False) -> int:
    """Model size in bits: every counted parameter takes ``bitwidth`` bits (seed 000's ``get_model_size``); or, for
    variable precision (seed 003, Part 3), ``bitwidth`` maps layer names to bits: that layer's weight takes its bits,
    every other parameter (batch norm, biases, layers not named) 32.

    nonzero_only: count only the non-zero elements (e.g. after pruning)."""
    if not isinstance(bitwidth, Mapping):
        return count_parameters(model, nonzero_only) * bitwidth
    modules = dict(model.named_modules())
    weights = [(modules[name].weight, bits) for name, bits in bitwidth.items()]
    counted = (lambda p: int(p.count_nonzero())) if nonzero_only else (lambda p: p.numel())
    named = sum(counted(weight) * bits for weight, bits in weights)
    return named + (count_parameters(model, nonzero_only) - sum(counted(weight) for weight, _ in weights)) * FLOAT_BITS


def model_size_bytes(model: nn.Module, bitwidth: int = 32, nonzero_only: bool = False) -> float:
    """Model size in bytes when every counted parameter takes ``bitwidth`` bits."""
    return model_size_bits(model, bitwidth, nonzero_only) / BYTE


def count_macs(model: nn.Module, inputs: torch.Tensor) -> int:
    """Multiply-accumulate operations of one forward pass on ``inputs`` (``(N, C, H, W)``), counted by torchprofile."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        macs = profile_macs(model, inputs)
    model.train(was_training)
    return int(macs)


@torch.inference_mode()
def measure_latency(model: nn.Module, inputs: torch.Tensor, warmup: int = 3, repeats: int = 20) -> float:
    """Median wall-clock seconds of one forward pass on ``inputs`` over ``repeats`` runs, after ``warmup`` runs."""
    model.eval()
    for _ in range(warmup):
        model(inputs)
    times = []
    for _ in range(repeats):
        if inputs.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        model(inputs)
        if inputs.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
