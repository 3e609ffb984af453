"""The files the example submissions hand in beside their notebook (``make release`` writes them with the release).

``example_files(notebook)`` gives ``{example folder: {file name: bytes}}`` for the notebook's outcome-graded questions
(``outcomes``), in the formats ``quantized_handin`` grades: ``reference`` meets every threshold, ``partial`` misses
some, ``blank`` hands in nothing. Release-side only: no student bundle ships this module.
"""

import io

import torch
from torch import nn

from .checkpoints import load_pretrained
from .data import first_images
from .device import torch_threads
from .hidden.common import grading_digits
from .quantized_handin import QUANTIZED_MODEL_FORMAT, bitwidths_json, quantized_layer_names, symmetric_quantization, symmetric_scale

EXAMPLE_SCALE_DIGITS = 4  # significant digits kept of the examples' input scales: the float convolutions behind them
# differ in their last bits between CPU kernels, and ``make release`` must write the same bytes on every machine
CALIBRATION_IMAGES = 128  # first training images of the embedded dataset calibrating the examples' input scales


def example_files(notebook: str) -> dict[str, dict[str, bytes]]:
    """``{example folder: {file name: bytes}}`` handed in beside ``notebook`` by the example submissions: ``reference``
    meets every threshold (post-training quantization: no training, so the same bytes on every machine); ``partial``
    hands in a W4A4 model below its threshold (2-bit weights), a W8A8 model that lies (float weights declared 8-bit)
    and a larger variable-precision choice than the reference's (both rank on the leaderboard); ``blank`` hands in
    nothing. Only sawb_qat has outcome-graded questions."""
    if notebook != "sawb_qat":
        return {}
    fp32_model = load_pretrained("resnet20", torch.device("cpu"))
    calibration = first_images(grading_digits().train.dataset, CALIBRATION_IMAGES)
    names = quantized_layer_names(fp32_model)

    def bitwidths(bits: int) -> bytes:
        return bitwidths_json({n: bits for n in names}).encode()

    with torch_threads(1):
        return {
            "reference": {"ResNet20_W4A4.pt": _example_model_file(fp32_model, calibration, 4, 4, 8),
                          "ResNet20_W8A8.pt": _example_model_file(fp32_model, calibration, 8, 8, 8),
                          "variable_precision.json": bitwidths(3)},
            "partial": {"ResNet20_W4A4.pt": _example_model_file(fp32_model, calibration, 2, 4, 8),
                        "ResNet20_W8A8.pt": _example_model_file(fp32_model, calibration, 8, 8, 8, on_grid=False),
                        "variable_precision.json": bitwidths(4)},
        }


def _example_model_file(fp32_model: nn.Module, calibration: torch.Tensor, weight_bits: int, act_bits: int, edge_bits: int,
                        on_grid: bool = True) -> bytes:
    """A quantized-model file of ``fp32_model`` by post-training quantization (symmetric scales), calibrated on
    ``calibration`` ``(N, 3, 32, 32)``, first and last layer at ``edge_bits``; ``on_grid=False`` keeps the float weights
    while declaring the bits (a file that lies)."""
    names = quantized_layer_names(fp32_model)
    w_bits = {n: edge_bits if n in (names[0], names[-1]) else weight_bits for n in names}
    a_bits = {n: edge_bits if n in (names[0], names[-1]) else act_bits for n in names}
    model, input_scales = symmetric_quantization(fp32_model, w_bits, a_bits, calibration)
    fp32_modules = dict(fp32_model.named_modules())
    layers = {n: {"weight_bits": w_bits[n], "act_bits": a_bits[n],
                  "weight_scale": symmetric_scale(fp32_modules[n].weight.detach(), w_bits[n], True),
                  "input_scale": float(f"{input_scales[n]:.{EXAMPLE_SCALE_DIGITS}g}")} for n in names}
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if not on_grid:
        state |= {f"{n}.weight": fp32_modules[n].weight.detach().cpu().clone() for n in names}
    buffer = io.BytesIO()
    torch.save({"format": QUANTIZED_MODEL_FORMAT, "state_dict": state, "layers": layers}, buffer)
    return buffer.getvalue()
