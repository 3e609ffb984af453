"""Exact integer matrix products and convolutions: the kernels the ``sawb_qat`` notebook's integer-only layers
(``quantized_linear_function`` / ``quantized_conv2d_function``) must compute their sums with.

- ``integer_linear(input, weight)``: exact ``F.linear`` without bias on integer-valued tensors;
- ``integer_conv2d(input, weight, stride, padding, dilation, groups)``: exact ``F.conv2d`` without bias.

Both take integer tensors (or float tensors holding whole numbers) and return the exact accumulators: int32, or
int64 when an int32 accumulator could overflow. They run float kernels on digits small enough to stay exact.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

FLOAT32_EXACT = 2**24  # every integer of magnitude <= 2**24 is exact in float32, and so is every sum of such products below it
INT32_MAX = 2**31 - 1
INTEGER_DTYPES = (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)


def _as_integers(t: torch.Tensor, name: str) -> torch.Tensor:
    """``t`` checked to hold whole numbers (any integer dtype, or a float dtype holding whole numbers)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of integers, got {type(t).__name__}")
    if t.dtype in INTEGER_DTYPES:
        return t
    if not torch.is_floating_point(t):
        raise TypeError(f"{name}: expected an integer tensor, got dtype {t.dtype}")
    if not torch.isfinite(t).all() or not torch.equal(t, t.round()):
        raise ValueError(f"{name}: expected whole numbers (quantize it first), got non-integer values")
    return t


def _max_abs(t: torch.Tensor) -> int:
    """max|t| as a Python int (0 for an empty tensor), in one pass."""
    if t.numel() == 0:
        return 0
    low, high = torch.aminmax(t)
    return int(max(-low.item(), high.item()))


def _exact(op: Callable, x: torch.Tensor, w: torch.Tensor, fan_in: int) -> torch.Tensor:
    """``op(x, w)`` (a linear or convolution, i.e. sums of ``fan_in`` products) computed exactly.

    The float32 kernel is exact while every partial sum stays within 2**24, which the bound
    ``max|x| * l1`` guarantees, ``l1`` being the largest sum of ``|w|`` over the ``fan_in`` weights of one output
    (at most ``fan_in * max|w|``). When the bound is larger, ``x`` is split into base-``B`` digits
    (``x = sum_i B**i d_i``), each digit small enough for an exact float32 pass, and the passes are
    combined in int64. Returns int32 accumulators when ``fan_in * max|x| * max|w|`` fits in int32, else int64.
    """
    w_max, x_max = _max_abs(w), _max_abs(x)
    dtype = torch.int32 if fan_in * w_max * x_max <= INT32_MAX else torch.int64
    l1 = int(w.abs().to(torch.int64).flatten(1).sum(1).max()) if w.numel() else 0  # w: (out, fan_in) or (C_out, C_in / groups, kH, kW)
    if x.device.type != "cpu" or l1 > FLOAT32_EXACT:
        # GPUs may run float32 convolutions in TF32 or with Winograd/FFT algorithms, which are not exact;
        # float64 keeps every sum below 2**53 exact up to a rounding error far below 0.5
        return op(x.double(), w.double()).round().to(dtype)
    w32 = w.float()
    budget = FLOAT32_EXACT // max(1, l1)  # largest |digit| that keeps every partial sum exact
    if x_max <= budget:
        return op(x.float(), w32).to(dtype)
    base = 2 ** int(math.floor(math.log2(budget + 1)))  # digits in [0, base - 1] <= budget
    rest = x.to(torch.int64)
    out, weight = None, 1
    while True:
        last = _max_abs(rest) <= budget
        digit = rest if last else torch.remainder(rest, base)
        part = op(digit.float(), w32).to(torch.int64) * weight
        out = part if out is None else out + part
        if last:
            return out.to(dtype)
        rest = torch.div(rest - digit, base, rounding_mode="floor")
        weight *= base


def integer_linear(input: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Exact ``F.linear(input, weight)`` on integers, without bias.

    input: (N, in_features) integers (int32, int64, or a float dtype holding whole numbers).
    weight: (out_features, in_features) integers.
    Returns: (N, out_features) integer accumulators, exactly ``sum_k input[n, k] * weight[o, k]``: int32 when
    ``in_features * max|input| * max|weight|`` fits in int32 (always for 8-bit operands), else int64.
    Raises ``ValueError`` when an input holds non-integer values.
    """
    input, weight = _as_integers(input, "integer_linear input"), _as_integers(weight, "integer_linear weight")
    return _exact(lambda x, w: F.linear(x, w), input, weight, weight.shape[-1])


def integer_conv2d(input: torch.Tensor, weight: torch.Tensor, stride=1, padding=0, dilation=1, groups: int = 1) -> torch.Tensor:
    """Exact ``F.conv2d(input, weight, None, stride, padding, dilation, groups)`` on integers.

    input: (N, C_in, H, W) integers; weight: (C_out, C_in / groups, kH, kW) integers.
    Returns: (N, C_out, H_out, W_out) integer accumulators: int32 when ``fan_in * max|input| * max|weight|``
    fits in int32 (``fan_in = C_in / groups * kH * kW``), else int64. Raises ``ValueError`` on non-integer values.
    """
    input, weight = _as_integers(input, "integer_conv2d input"), _as_integers(weight, "integer_conv2d weight")
    fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3]
    return _exact(lambda x, w: F.conv2d(x, w, None, stride, padding, dilation, groups), input, weight, fan_in)

