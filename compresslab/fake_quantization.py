"""Fake-quantized ResNet-20 layers that run a notebook's quantization functions, and the plumbing around them.

Convention of seed 003 (the ``sawb_qat`` notebook's): a real tensor ``x`` becomes integers

    x_int = clip(round(x / s) - z; L, U),        x_hat = s * (x_int + z)

with ``L, U = -2**(b-1), 2**(b-1) - 1`` (signed) or ``0, 2**b - 1`` (unsigned). The ``kmeans_linear``
notebook writes ``q = round(r / S) + Z`` instead: the zero points differ in sign.

What lives here (nothing a student writes):

- ``QuantOps``: the notebook's answers bundled, so the layers below (and the hidden tests) run a student's functions.
- ``FakeQuantized`` and its two layers ``FakeQuantizedConv2d`` / ``FakeQuantizedLinear``: float layers that quantize
  their weights (signed) and inputs (unsigned, or signed for the image); trained through quantize-dequantize
  (straight-through estimator), evaluated on the integer path (``quantized_*_function``). ``fake_quantized_layers``
  lists them in a model.
- ``quantize_model``: a copy of a model with every convolution and linear layer replaced by its fake-quantized version.
- ``record_inputs``, ``calibrate``: post-training calibration of the input scales.
- ``quantization_aware_training``: SGD steps through the straight-through estimator (``training.train_steps``)
  with batch norm's running statistics re-estimated over them; ``batchnorm_averaging``, ``reestimate_batchnorm``:
  that re-estimation, with or without training.
- ``save_quantized``: a quantized model's state dict with metadata.
"""

from collections.abc import Callable, Mapping
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .device import get_device
from .training import train_steps


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
        return cls(ns["linear_quantize"], ns["reset_scale_and_zero_point"], ste, ns["quantized_linear_function"],
                   ns["quantized_conv2d_function"])


class FakeQuantized:
    """What ``FakeQuantizedConv2d`` and ``FakeQuantizedLinear`` share: a float layer trained on quantize-dequantize
    values (fake quantization) and evaluated on integers.

    Modes: ``quantize=False`` runs the float layer (and records inputs while ``observer`` is a list, for
    calibration). Otherwise, in training mode the layer runs the *simulated* computation
    ``F.conv2d(x_hat, w_hat)`` on straight-through quantize-dequantize outputs (gradients flow), and in
    eval mode the *integer* computation: ``quantized_conv2d_function`` on the integer input, weight and
    bias (bias at scale ``s_x * s_w``, 32 bits). ``simulate=True`` uses the simulated path in eval too
    (same values up to float rounding, faster: the variable-precision search uses it).
    """

    def _setup(self, ops: QuantOps, weight_bits: int, act_bits: int, method: str, act_signed: bool,
               act_method: str | None) -> None:
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
        bits = f"W{self.weight_bits}A{self.act_bits}"
        return super().extra_repr() + f", {bits}: {self.method} weights, {self.act_method} {kind} input"


class FakeQuantizedConv2d(FakeQuantized, nn.Conv2d):
    """``nn.Conv2d`` with quantized weights and input (see ``FakeQuantized``)."""

    def __init__(self, conv: nn.Conv2d, ops: QuantOps, weight_bits: int, act_bits: int, method: str,
                 act_signed: bool = False, act_method: str | None = None) -> None:
        nn.Conv2d.__init__(self, conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                           conv.dilation, conv.groups, conv.bias is not None, device=conv.weight.device)
        self.load_state_dict(conv.state_dict())
        self._setup(ops, weight_bits, act_bits, method, act_signed, act_method)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def float_op(x, w, b):
            return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, self.groups)

        def integer_op(x_int, w_int, b_int, s_x, s_w):
            return self.ops.quantized_conv2d_function(x_int, w_int, b_int, s_x, s_w, self.stride, self.padding, self.dilation,
                                                      self.groups)

        return self._quantized_forward(x, float_op, integer_op)


class FakeQuantizedLinear(FakeQuantized, nn.Linear):
    """``nn.Linear`` with quantized weights and input (see ``FakeQuantized``)."""

    def __init__(self, linear: nn.Linear, ops: QuantOps, weight_bits: int, act_bits: int, method: str,
                 act_signed: bool = False, act_method: str | None = None) -> None:
        nn.Linear.__init__(self, linear.in_features, linear.out_features, linear.bias is not None,
                           device=linear.weight.device)
        self.load_state_dict(linear.state_dict())
        self._setup(ops, weight_bits, act_bits, method, act_signed, act_method)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._quantized_forward(x, F.linear, self.ops.quantized_linear_function)


def fake_quantized_layers(model: nn.Module) -> dict[str, FakeQuantized]:
    """The fake-quantized layers of ``model`` by name, in forward order (conv1, layer1.0.conv1, ..., fc)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, FakeQuantized)}


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
    """Copy of ``model`` with every ``nn.Conv2d`` / ``nn.Linear`` replaced by its fake-quantized version
    (W``weight_bits``A``act_bits``).

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
        cls = FakeQuantizedConv2d if isinstance(layer, nn.Conv2d) else FakeQuantizedLinear
        first = name == names[0]
        setattr(parent, child, cls(layer, ops, w_bits, a_bits, method, act_signed=first,
                                   act_method=FIRST_INPUT_METHOD if first else None))
    return result


@torch.no_grad()
def record_inputs(model: nn.Module, images: torch.Tensor, batch_size: int = 64,
                  device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """The float inputs every quantized layer of ``model`` sees on ``images`` (N, 3, 32, 32), flattened, by layer name.

    The network runs unquantized meanwhile, so the result is the same for any copy of the same float model.
    """
    device = device or get_device()
    layers = fake_quantized_layers(model)
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
    for name, layer in fake_quantized_layers(model).items():
        scale, _ = layer.ops.reset_scale_and_zero_point(recorded[name], layer.act_bits, layer.act_method,
                                                        layer.act_signed)
        layer.input_scale.fill_(float(scale))
        scales[name] = float(scale)
    return scales


def quantization_aware_training(
    model: nn.Module,
    dataset,
    steps: int,
    lr: float = 0.01,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = False,
) -> list[float]:
    """Quantization-aware fine-tuning of a calibrated ``quantize_model`` model: ``train_steps`` (``steps`` constant-lr
    SGD steps, momentum 0.9, on shuffled ``dataset``) inside ``batchnorm_averaging``; returns the loss of each step.

    The fake-quantized layers run their simulated path in training mode, so gradients pass through the
    notebook's straight-through estimator. Weight scales follow the weights; input scales stay as calibrated.
    Batch norm normalizes with batch statistics while training; its running statistics, which evaluation
    uses, are re-estimated as the plain average over the training batches, so after a few steps they describe
    the quantized network rather than the float one. The model is left in eval mode.
    """
    with batchnorm_averaging(model):
        return train_steps(model, dataset, steps, lr, batch_size, seed, device, progress)


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


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int = 64,
                         device: torch.device | None = None) -> None:
    """Recompute every batch-norm layer's running mean and variance as the average over ``images`` of the
    statistics the (quantized) network produces, without any gradient step. Fake-quantized layers run their
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

