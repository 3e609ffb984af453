"""Ungraded plumbing of the ``sawb_qat`` notebook (seed 003's quantization assignment, seed 002's ResNet-20 PTQ).

Convention of seed 003 (and of this module): a real tensor ``x`` becomes integers

    x_int = clip(round(x / s) - z; L, U),        x_hat = s * (x_int + z)

with ``L, U = -2**(b-1), 2**(b-1) - 1`` (signed) or ``0, 2**b - 1`` (unsigned). The ``kmeans_linear``
notebook writes ``q = round(r / S) + Z`` instead: the zero points differ in sign.

What lives here (nothing a student writes):

- ``integer_linear`` / ``integer_conv2d``: the integer kernels the notebook's ``quantized_*_function``
  must be built on. They take integer-valued tensors and return the exact accumulators (int32, or
  int64 when an int32 accumulator could overflow).
- ``QuantOps``: the notebook's answers bundled, so the layers below (and the hidden tests) run a
  student's functions.
- ``QuantizedConv2d`` / ``QuantizedLinear`` and ``quantize_model``: ResNet-20 with every convolution
  and the classifier replaced by layers that quantize weights (signed) and inputs (unsigned, or signed
  for the image) and compute with the integer kernels.
- ``calibrate``, ``fine_tune``, ``run_table1``: post-training calibration, quantization-aware fine-tuning
  (straight-through estimator) and the seed's Table 1.
- ``layer_sizes``, ``weight_errors``, ``search_path``: the variable-precision search around the
  notebook's ``greedy_bitwidth_path``.
- ``load_datasets`` / ``make_datasets``: the two calibration datasets of Part 1 (``data/sawb_qat``).
- ``SAWB_COEFFICIENTS``: the (c1, c2) table of SAWB, with its sources.
- ``torch_threads``: a thread limit for the hidden tests' training and evaluation.
- ``grading_digits``: the embedded dataset, loaded once per grading process for the hidden tests.
"""

import functools
import math
from contextlib import contextmanager
from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from .data import first_batch, first_examples, first_images  # noqa: F401 (first_examples: the notebook imports it from here until its helpers move)
from .device import get_device, torch_threads  # noqa: F401 (torch_threads: the notebook's hidden tests import it from here)
from .hidden.common import GRADED_TEST_IMAGES, graded_test_subset, grading_digits  # noqa: F401 (until the masters import them from there)
from .paths import course
from .profiling import model_size_bits
from .training import evaluate, set_seed


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

# ---------------------------------------------------------------- integer kernels

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


# ---------------------------------------------------------------- quantized layers


@dataclass
class QuantOps:
    """The notebook's answers the quantized layers call (so a test can run a student's functions)."""

    linear_quantize: Callable  # (input, scale, zero_point, N_bits, signed) -> whole numbers in [L, U]
    reset_scale_and_zero_point: Callable  # (input, N_bits, method, signed) -> (scale, zero_point)
    quantize_ste: Callable  # _quantize_func_STE.apply: (input, scale, zero_point, N_bits, signed) -> x_hat
    quantized_linear_function: Callable  # (input, weight, bias, input_scale, weight_scale) -> real output
    quantized_conv2d_function: Callable  # (..., stride, padding, dilation, groups) -> real output

    @classmethod
    def from_namespace(cls, ns: Mapping) -> "QuantOps":
        """The functions of that name in a notebook's globals (``linear_quantize_STE`` or ``_quantize_func_STE.apply``)."""
        ste = ns["linear_quantize_STE"] if "linear_quantize_STE" in ns else ns["_quantize_func_STE"].apply
        return cls(ns["linear_quantize"], ns["reset_scale_and_zero_point"], ste, ns["quantized_linear_function"], ns["quantized_conv2d_function"])


class _Quantized:
    """What QuantizedConv2d and QuantizedLinear share.

    Modes: ``quantize=False`` runs the float layer (and records inputs while ``observer`` is a list, for
    calibration). Otherwise, in training mode the layer runs the *simulated* computation
    ``F.conv2d(x_hat, w_hat)`` on straight-through quantize-dequantize outputs (gradients flow), and in
    eval mode the *integer* computation: ``quantized_conv2d_function`` on the integer input, weight and
    bias (bias at scale ``s_x * s_w``, 32 bits). ``simulate=True`` uses the simulated path in eval too
    (same values up to float rounding, faster: the variable-precision search uses it).
    """

    def _setup(self, ops: QuantOps, weight_bits: int, act_bits: int, method: str, act_signed: bool, act_method: str | None) -> None:
        self.ops = ops
        self.weight_bits, self.act_bits, self.method, self.act_signed = weight_bits, act_bits, method, act_signed
        self.act_method = act_method or method
        self.register_buffer("input_scale", torch.tensor(float("nan")))  # set by ``calibrate``
        self.quantize, self.simulate, self.observer = True, False, None

    def weight_scale(self) -> torch.Tensor:
        """Scale of the signed weights: ``reset_scale_and_zero_point(weight, weight_bits, method)`` (zero point 0)."""
        scale, _ = self.ops.reset_scale_and_zero_point(self.weight.detach(), self.weight_bits, self.method, True)
        return torch.as_tensor(scale, dtype=torch.float32, device=self.weight.device)

    def _quantized_forward(self, x: torch.Tensor, float_op: Callable, integer_op: Callable) -> torch.Tensor:
        if not self.quantize:
            if self.observer is not None:
                self.observer.append(x.detach().flatten().cpu())
            return float_op(x, self.weight, self.bias)
        if torch.isnan(self.input_scale):
            raise RuntimeError("this quantized layer has no input scale yet: run calibrate(model, images) first")
        s_w, s_x, ops = self.weight_scale(), self.input_scale, self.ops
        if self.training or self.simulate:
            w_hat = ops.quantize_ste(self.weight, s_w, 0.0, self.weight_bits, True)
            x_hat = ops.quantize_ste(x, s_x, 0.0, self.act_bits, self.act_signed)
            return float_op(x_hat, w_hat, self.bias)
        w_int = ops.linear_quantize(self.weight.detach(), s_w, 0.0, self.weight_bits, True).to(torch.int32)
        x_int = ops.linear_quantize(x, s_x, 0.0, self.act_bits, self.act_signed).to(torch.int32)
        b_int = None
        if self.bias is not None:
            b_int = ops.linear_quantize(self.bias.detach(), s_x * s_w, 0.0, 32, True).to(torch.int32)
        return integer_op(x_int, w_int, b_int, s_x, s_w)

    def extra_repr(self) -> str:
        kind = "signed" if self.act_signed else "unsigned"
        return super().extra_repr() + f", W{self.weight_bits}A{self.act_bits}: {self.method} weights, {self.act_method} {kind} input"


class QuantizedConv2d(_Quantized, nn.Conv2d):
    """``nn.Conv2d`` with quantized weights and input (see ``_Quantized``)."""

    def __init__(self, conv: nn.Conv2d, ops: QuantOps, weight_bits: int, act_bits: int, method: str, act_signed: bool = False,
                 act_method: str | None = None) -> None:
        nn.Conv2d.__init__(self, conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                           conv.dilation, conv.groups, conv.bias is not None, device=conv.weight.device)
        self.load_state_dict(conv.state_dict())
        self._setup(ops, weight_bits, act_bits, method, act_signed, act_method)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def float_op(x, w, b):
            return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, self.groups)

        def integer_op(x_int, w_int, b_int, s_x, s_w):
            return self.ops.quantized_conv2d_function(x_int, w_int, b_int, s_x, s_w, self.stride, self.padding, self.dilation, self.groups)

        return self._quantized_forward(x, float_op, integer_op)


class QuantizedLinear(_Quantized, nn.Linear):
    """``nn.Linear`` with quantized weights and input (see ``_Quantized``)."""

    def __init__(self, linear: nn.Linear, ops: QuantOps, weight_bits: int, act_bits: int, method: str, act_signed: bool = False,
                 act_method: str | None = None) -> None:
        nn.Linear.__init__(self, linear.in_features, linear.out_features, linear.bias is not None, device=linear.weight.device)
        self.load_state_dict(linear.state_dict())
        self._setup(ops, weight_bits, act_bits, method, act_signed, act_method)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._quantized_forward(x, F.linear, self.ops.quantized_linear_function)


def quantized_layers(model: nn.Module) -> dict[str, _Quantized]:
    """The quantized layers of ``model`` by name, in forward order (conv1, layer1.0.conv1, ..., fc)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, _Quantized)}


FIRST_INPUT_METHOD = "symmetric"  # the image is two spikes (background, strokes), outside SAWB's fitted family


def quantize_model(
    model: nn.Module,
    ops: QuantOps,
    weight_bits: int,
    act_bits: int,
    method: str = "sawb",
    first_last_bits: int | None = 8,
    bitwidths: Mapping[str, int] | None = None,
) -> nn.Module:
    """Copy of ``model`` with every ``nn.Conv2d`` / ``nn.Linear`` replaced by its quantized version (W``weight_bits``A``act_bits``).

    method: scale rule of weights and activations (``"sawb"``, ``"symmetric"``, ...: ``reset_scale_and_zero_point``).
    first_last_bits: bits of the first convolution and the last linear layer (weights and input); ``None``:
    the same as the others. The first convolution sees the normalized image, so its input is signed; every
    other layer's input follows a ReLU (or an average of ReLUs) and is unsigned. The image's scale always uses
    the symmetric rule (``FIRST_INPUT_METHOD``): its values cluster at two points, where SAWB's fit fails.
    bitwidths: per-layer weight bits by name (variable precision), overriding ``weight_bits``.
    The copy needs ``calibrate`` before it runs quantized.
    """
    result = deepcopy(model)
    names = [name for name, m in result.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = result.get_submodule(parent_name) if parent_name else result
        layer = getattr(parent, child)
        edge = first_last_bits is not None and name in (names[0], names[-1])
        w_bits = first_last_bits if edge else weight_bits
        a_bits = first_last_bits if edge else act_bits
        if bitwidths is not None and name in bitwidths:
            w_bits = bitwidths[name]
        cls = QuantizedConv2d if isinstance(layer, nn.Conv2d) else QuantizedLinear
        first = name == names[0]
        setattr(parent, child, cls(layer, ops, w_bits, a_bits, method, act_signed=first, act_method=FIRST_INPUT_METHOD if first else None))
    return result


# ---------------------------------------------------------------- calibration, fine-tuning, Table 1


@torch.no_grad()
def record_inputs(model: nn.Module, images: torch.Tensor, batch_size: int = 64, device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """The float inputs every quantized layer of ``model`` sees on ``images`` (N, 3, 32, 32), flattened, by layer name.

    The network runs unquantized meanwhile, so the result is the same for any copy of the same float model.
    """
    device = device or get_device()
    layers = quantized_layers(model)
    model.to(device).eval()
    for layer in layers.values():
        layer.quantize, layer.observer = False, []
    try:
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size].to(device))
        return {name: torch.cat(layer.observer) for name, layer in layers.items()}
    finally:
        for layer in layers.values():
            layer.quantize, layer.observer = True, None


@torch.no_grad()
def calibrate(model: nn.Module, images: torch.Tensor | None, batch_size: int = 64, device: torch.device | None = None,
              recorded: Mapping[str, torch.Tensor] | None = None) -> dict[str, float]:
    """Set every quantized layer's input scale from the float inputs it sees on ``images`` (post-training calibration).

    Calls ``reset_scale_and_zero_point(inputs, act_bits, method, act_signed)`` on each layer's recorded inputs
    (``record_inputs``; pass ``recorded`` to reuse a recording). Returns the scales by layer name.
    """
    if recorded is None:
        recorded = record_inputs(model, images, batch_size, device)
    scales = {}
    for name, layer in quantized_layers(model).items():
        scale, _ = layer.ops.reset_scale_and_zero_point(recorded[name], layer.act_bits, layer.act_method, layer.act_signed)
        layer.input_scale.fill_(float(scale))
        scales[name] = float(scale)
    return scales


def fine_tune(
    model: nn.Module,
    dataset,
    batches: int,
    lr: float = 0.01,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = False,
) -> list[float]:
    """Quantization-aware fine-tuning: ``batches`` SGD steps (momentum 0.9) on shuffled ``dataset``; returns the losses.

    The quantized layers run their simulated path in training mode, so gradients pass through the
    notebook's straight-through estimator. Weight scales follow the weights; input scales stay as calibrated.
    Batch norm normalizes with batch statistics while training; its running statistics, which evaluation
    uses, are re-estimated as the plain average over the fine-tuning batches (``momentum=None``), so after
    a few steps they describe the quantized network rather than the float one.
    """
    device = device or get_device()
    set_seed(seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed), drop_last=True)
    model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    criterion, losses = nn.CrossEntropyLoss(), []
    batches_done = 0
    with batchnorm_averaging(model), tqdm(total=batches, desc="QAT", disable=not progress, leave=False) as bar:
        while batches_done < batches:
            for inputs, targets in loader:
                if batches_done == batches:
                    break
                optimizer.zero_grad()
                loss = criterion(model(inputs.to(device)), targets.to(device))
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                batches_done += 1
                bar.update()
    model.eval()
    return losses


@contextmanager
def batchnorm_averaging(model: nn.Module):
    """While inside, every batch-norm layer of ``model`` accumulates its running mean and variance afresh as the plain
    average over the batches it sees (``momentum=None``); on leaving, momentum is back to PyTorch's 0.1."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    try:
        yield
    finally:
        for norm in norms:
            norm.momentum = 0.1


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
    fine_tune(model, train_dataset, config.batches, config.lr, config.batch_size, config.seed, device)
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
            ptq, qat, model = ptq_and_qat(fp32_model, ops, weight_bits, act_bits, method, train_dataset, test_loader, config, device, recorded)
            row[("PTQ", method)], row[("QAT", method)] = ptq, qat
            if best is None or qat > best[0]:
                best = (qat, method, model)
        rows[label] = row
        if save_dir is not None:
            info = {"weight_bits": weight_bits, "act_bits": act_bits, "method": best[1], "accuracy": best[0]}
            saved[label] = save_quantized(best[2], Path(save_dir) / f"ResNet20_{label}.pt", info)
    return pd.DataFrame.from_dict(rows, orient="index")[columns], saved


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int = 64, device: torch.device | None = None) -> None:
    """Recompute every batch-norm layer's running mean and variance as the average over ``images`` of the
    statistics the (quantized) network produces, without any gradient step. Quantized layers run their
    simulated path meanwhile (training mode)."""
    device = device or get_device()
    model.to(device).train()
    with batchnorm_averaging(model):
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size].to(device))
    model.eval()


def save_quantized(model: nn.Module, path: str | Path, info: dict) -> Path:
    """Save a quantized model's state dict (weights, batch-norm statistics, input scales) with ``info``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, **info}, path)
    return path


def plot_table1(table: pd.DataFrame, fp32_accuracy: float, title: str = "Quantized ResNet-20") -> plt.Figure:
    """Grouped bars of Table 1: one group per configuration, one bar per (PTQ/QAT, method)."""
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(table.columns)
    x = np.arange(len(table.index))
    for i, column in enumerate(table.columns):
        ax.bar(x + (i - (len(table.columns) - 1) / 2) * width, table[column].values, width, label=" ".join(column))
    ax.axhline(fp32_accuracy, color="gray", linestyle="--", label="fp32")
    ax.set_xticks(x, table.index)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(ncol=5, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    return fig


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
    layers = quantized_layers(model)
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


GRADED_VP_IMAGES = 128  # the hidden variable-precision check: first test images searched on, first training images calibrating
GRADED_VP_MAX_DROP = 2.0  # ... and the points of accuracy below fp32 (the checkpoint's, full test set) the result may lose


def graded_variable_precision(ops: QuantOps, greedy_bitwidth_path: Callable, start: int | None = None) -> tuple[VPResult, float]:
    """The hidden variable-precision check's search, on the CPU with one thread: ResNet-20's checkpoint, the first
    ``GRADED_VP_IMAGES`` test images of ``grading_digits()`` searched on, as many training images calibrating, and the
    constraint ``fp32 - GRADED_VP_MAX_DROP``. start: the guess ``search_path`` tries first. Returns (result, fp32 accuracy)."""
    from .checkpoints import load_pretrained, pretrained_info

    cpu, digits = torch.device("cpu"), grading_digits()
    fp32 = pretrained_info("resnet20")["fp32_accuracy"]
    images, labels = first_examples(digits.test.dataset, GRADED_VP_IMAGES)
    calibration = first_images(digits.train.dataset, GRADED_VP_IMAGES)
    with torch_threads(1):
        result = variable_precision_search(load_pretrained("resnet20", cpu), ops, greedy_bitwidth_path, images, labels, calibration,
                                           fp32 - GRADED_VP_MAX_DROP, device=cpu, start=start)
    return result, fp32


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
        for layer in quantized_layers(model).values():
            layer.simulate = True
    return evaluate(model, loader, device=device, progress=False)


def plot_tradeoff(model: nn.Module, path: Sequence[Mapping[str, int]], evaluated: Mapping[int, float], chosen: int,
                  min_accuracy: float, fp32_accuracy: float) -> plt.Figure:
    """Accuracy against model size (KiB) along the greedy path, with the constraint and the chosen model."""
    kib = 8 * 1024
    idx = sorted(evaluated)
    sizes = [model_size_bits(model, path[i]) / kib for i in idx]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(sizes, [evaluated[i] for i in idx], marker="o", label="greedy path (search subset)")
    ax.plot([model_size_bits(model, path[chosen]) / kib], [evaluated[chosen]], marker="*", markersize=16, color="tab:red", linestyle="", label="chosen")
    uniform8 = model_size_bits(model, {name: 8 for name in path[0]}) / kib
    ax.axvline(uniform8, color="tab:green", linestyle=":", label="uniform 8-bit")
    ax.axhline(min_accuracy, color="tab:red", linestyle="--", label="constraint")
    ax.axhline(fp32_accuracy, color="gray", linestyle="--", label="fp32")
    ax.set_xlabel("model size (KiB)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Variable precision: accuracy vs size")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_bitwidths(bitwidths: Mapping[str, int], sizes: Mapping[str, int]) -> plt.Figure:
    """Bars of the chosen weight bits per layer (bar width ~ nothing; labels give the layer's weights)."""
    fig, ax = plt.subplots(figsize=(10, 3.5))
    names = list(bitwidths)
    ax.bar(range(len(names)), [bitwidths[n] for n in names], color="tab:blue")
    ax.set_xticks(range(len(names)), [f"{n}\n({sizes[n]:,})" for n in names], rotation=90, fontsize="x-small")
    ax.set_ylabel("weight bits")
    ax.set_title("Chosen weight bit width per layer (number of weights)")
    fig.tight_layout()
    return fig


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


def plot_mse_table(table: pd.DataFrame, title: str = "Quantization MSE by calibration method") -> plt.Figure:
    """One panel per dataset: grouped bars of MSE (log scale) per bit width, one bar per method."""
    names = list(dict.fromkeys(table.columns.get_level_values(0)))
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes.flat, names):
        sub = table[name]
        x = np.arange(len(sub.columns))
        width = 0.8 / len(sub.index)
        for i, method in enumerate(sub.index):
            ax.bar(x + (i - (len(sub.index) - 1) / 2) * width, sub.loc[method].values, width, label=method)
        ax.set_xticks(x, [f"{b} bits" for b in sub.columns])
        ax.set_yscale("log")
        ax.set_ylabel("MSE")
        ax.set_title(f"dataset {name}")
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
