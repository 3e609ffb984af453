"""What a handed-in quantized model is, and how the grader measures what was handed in (``outcomes``' questions).

Student-facing: the sawb_qat notebook saves its files with ``save_handed_in`` and ``save_bitwidths`` and checks them
with ``grade_handed_in``, the very function the grader runs (``grading.handed_in``). The example submissions' files
are written by ``handed_in_examples`` (``make release``), not here.

``grade_handed_in(question, path)`` returns a ``HandedInResult``: ``status`` ``missing`` (no file), ``invalid`` (not
loadable, not the declared format, wrong keys or shapes, too large) or ``graded`` (the points, or 0 with the reason:
off the grid, more bits than the question allows, below the threshold), and a message saying which. It runs on the CPU
with one thread against the shipped ResNet-20 checkpoint and the embedded dataset (``checkpoints.embedded_digits``: its
test split): the grader's own reference quantizer (``fake_quantize``), never the student's code.

The quantized-model file (``QUANTIZED_MODEL_FORMAT``), a ``dict`` saved with ``torch.save``
(``save_handed_in`` writes it from the notebook's quantized model):

- ``"format"``: ``QUANTIZED_MODEL_FORMAT``;
- ``"state_dict"``: the fp32 ResNet-20's keys (``compresslab.models.resnet20``), float32 tensors of the same shapes;
  every convolution's and the classifier's ``weight`` holds the de-quantized weights ``s_w * w_int`` (seed 003's
  convention with zero point 0: ``w_int`` whole numbers in ``[-2**(b-1), 2**(b-1) - 1]``, one scale per layer);
  batch norm and the classifier's bias stay float;
- ``"layers"``: for each convolution and the classifier, by module name: ``{"weight_bits": int, "act_bits": int,
  "weight_scale": float, "input_scale": float}``. The layer's input is quantized as ``s_x * clip(round(x / s_x), L, U)``:
  signed for the first convolution (it sees the normalized image), unsigned (``[0, 2**b - 1]``) for every other layer
  (its input follows a ReLU).

The bit-widths file: ``{"bitwidths": {layer name: bits}}`` (``save_bitwidths``), for every convolution and the
classifier; the grader quantizes the checkpoint with it (``quantize_bitwidths``: seed 003's Part 3).
"""

import io
import json
import math
from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from .checkpoints import embedded_digits, load_pretrained, pretrained_info
from .data import first_images
from .device import torch_threads
from .outcomes import MAX_HANDED_IN_BYTES, BitwidthsQuestion, OutcomeQuestion, QuantizedModelQuestion
from .profiling import model_size_bits
from .training import evaluate

QUANTIZED_MODEL_FORMAT = "compresslab quantized resnet20 v1"
# A weight saved as float32(s_w * w_int) has w / s_w within |w_int| * 2**-23 <= 128 * 2**-23 (1.5e-5) of w_int for
# 8 bits, and within a few times that after a float32 division in the student's code; a weight that is not on the grid
# is 0.25 away on average. 1e-3 accepts every honest rounding and nothing else.
GRID_TOLERANCE = 1e-3
INPUT_BITS_FOR_BITWIDTHS = 16  # seed 003, Part 3: activations stay at 16 bits


@dataclass
class HandedInResult:
    status: str  # missing | invalid | graded
    score: float
    message: str  # why points were lost, or what was measured
    accuracy: float | None = None  # test accuracy (%) the grader measured
    size_bits: int | None = None  # model size (BitwidthsQuestion), in bits


class HandedInError(Exception):
    """The handed-in file cannot be graded (status ``invalid``); the message says why."""




# ---------------------------------------------------------------- the reference quantizer


def fake_quantize(x: torch.Tensor, scale: float, bits: int, signed: bool) -> torch.Tensor:
    """``scale * clip(round(x / scale), L, U)`` (seed 003's convention, zero point 0), L, U of a signed or unsigned grid.

    Written out rather than ``torch.fake_quantize_per_tensor_affine``, which multiplies by ``1 / scale`` and so can round
    a value on a half step differently from the notebook's ``round(x / s)``."""
    low, high = grid_range(bits, signed)
    return scale * torch.clamp(torch.round(x / scale), low, high)


def grid_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def quantized_layer_names(model: nn.Module) -> list[str]:
    """Names of the convolutions and linear layers of ``model``, in forward order (the first sees the image)."""
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def quantize_inputs(model: nn.Module, input_scales: Mapping[str, float], input_bits: Mapping[str, int]) -> list:
    """Make every convolution and linear layer of ``model`` quantize its input (forward pre-hooks): signed for the
    first layer, unsigned after. Returns the hook handles (``handle.remove()`` undoes it)."""
    names = quantized_layer_names(model)
    modules = dict(model.named_modules())
    handles = []
    for name in names:
        scale, bits, signed = float(input_scales[name]), int(input_bits[name]), name == names[0]
        handles.append(modules[name].register_forward_pre_hook(
            lambda _, args, s=scale, b=bits, sg=signed: (fake_quantize(args[0], s, b, sg),)))
    return handles


def symmetric_scale(x: torch.Tensor, bits: int, signed: bool) -> float:
    """The notebook's "symmetric" scale: ``max|x| / 2**(b-1)`` (signed) or ``max|x| / 2**b`` (unsigned); 1.0 for all-zero ``x``."""
    max_abs = float(x.abs().max())
    return max_abs / (2 ** (bits - 1) if signed else 2**bits) if max_abs > 0 else 1.0


@torch.no_grad()
def symmetric_quantization(fp32_model: nn.Module, weight_bits: Mapping[str, int], input_bits: Mapping[str, int],
                           calibration: torch.Tensor) -> tuple[nn.Module, dict[str, float]]:
    """A copy of ``fp32_model`` (eval mode, CPU) whose layer ``name`` holds signed symmetric ``weight_bits[name]``-bit
    weights (de-quantized), and the symmetric scales of every layer's ``input_bits[name]``-bit input, calibrated on the
    largest |input| each layer sees on ``calibration`` ``(N, 3, 32, 32)`` (one batch). The inputs are not quantized yet
    (``quantize_inputs`` does it)."""
    model = deepcopy(fp32_model).cpu().eval()
    modules = dict(model.named_modules())
    names = quantized_layer_names(model)
    seen: dict[str, torch.Tensor] = {}
    hooks = [modules[n].register_forward_pre_hook(lambda _, args, n=n: seen.__setitem__(n, args[0].abs().amax())) for n in names]
    model(calibration)
    for hook in hooks:
        hook.remove()
    for name in names:
        weight = modules[name].weight
        weight.copy_(fake_quantize(weight, symmetric_scale(weight, weight_bits[name], True), weight_bits[name], True))
    return model, {n: symmetric_scale(seen[n], input_bits[n], n == names[0]) for n in names}


def quantize_bitwidths(fp32_model: nn.Module, bitwidths: Mapping[str, int], calibration: torch.Tensor,
                       input_bits: int = INPUT_BITS_FOR_BITWIDTHS) -> nn.Module:
    """Seed 003's Part 3 model, computed by the grader alone: ``fp32_model`` with signed symmetric ``bitwidths[name]``-bit
    weights in layer ``name`` and ``input_bits``-bit symmetric inputs calibrated on ``calibration`` (``symmetric_quantization``)."""
    every_input = {name: input_bits for name in bitwidths}
    model, scales = symmetric_quantization(fp32_model, bitwidths, every_input, calibration)
    quantize_inputs(model, scales, every_input)
    return model


# ---------------------------------------------------------------- loading and checking what was handed in


def read_capped(path: Path) -> bytes:
    """The bytes of a handed-in file, or ``HandedInError`` when it is larger than ``MAX_HANDED_IN_BYTES``."""
    with open(path, "rb") as f:
        content = f.read(MAX_HANDED_IN_BYTES + 1)
    if len(content) > MAX_HANDED_IN_BYTES:
        raise HandedInError(f"{path.name} is larger than {MAX_HANDED_IN_BYTES // 2**20} MiB; it was not loaded")
    return content


def load_quantized_model(path: Path, question: QuantizedModelQuestion, reference: nn.Module) -> tuple[nn.Module, dict]:
    """The handed-in model as a copy of ``reference`` (the library's ResNet-20) with the file's state dict, and its
    ``layers`` entry, after checking the format, keys, shapes and dtypes (``HandedInError`` naming what is wrong)."""
    try:
        saved = torch.load(io.BytesIO(read_capped(path)), map_location="cpu", weights_only=True)
    except HandedInError:
        raise
    except Exception as error:  # weights_only refuses code objects (UnpicklingError); a damaged file fails in many other ways
        first = " ".join(str(error).split())[:200]
        raise HandedInError(f"{path.name} could not be loaded with torch.load(weights_only=True): {first}") from None
    if not isinstance(saved, dict) or saved.get("format") != QUANTIZED_MODEL_FORMAT:
        raise HandedInError(f"{path.name} is not a quantized model in the notebook's format: expected a dict with "
                            f"'format': {QUANTIZED_MODEL_FORMAT!r} (save it with save_handed_in)")
    state, layers = saved.get("state_dict"), saved.get("layers")
    expected = reference.state_dict()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HandedInError(f"{path.name}: 'state_dict' is not a dict of tensors")
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise HandedInError(f"{path.name}: the state dict is not ResNet-20's (the architecture must stay unchanged): "
                            + "; ".join(filter(None, [missing and f"missing {_first_three(missing)}",
                                                      extra and f"unexpected {_first_three(extra)}"])))
    for key, value in expected.items():
        if state[key].shape != value.shape or state[key].dtype != value.dtype:
            raise HandedInError(f"{path.name}: {key} has shape {tuple(state[key].shape)} and dtype {state[key].dtype}, "
                                f"ResNet-20's has {tuple(value.shape)} and {value.dtype}")
        if state[key].is_floating_point() and not torch.isfinite(state[key]).all():
            raise HandedInError(f"{path.name}: {key} holds NaN or infinite values")
    names = quantized_layer_names(reference)
    if not isinstance(layers, dict) or set(layers) != set(names):
        raise HandedInError(f"{path.name}: 'layers' must give, for each of the {len(names)} convolutions and the classifier "
                            f"({names[0]}, ..., {names[-1]}), its weight_bits, act_bits, weight_scale and input_scale")
    for name in names:
        entry = layers[name]
        if not (isinstance(entry, dict) and all(isinstance(entry.get(k), int) and not isinstance(entry.get(k), bool) and 1 <= entry[k] <= 32
                                                for k in ("weight_bits", "act_bits"))
                and all(_positive_number(entry.get(k)) for k in ("weight_scale", "input_scale"))):
            raise HandedInError(f"{path.name}: layers[{name!r}] must hold weight_bits and act_bits (whole numbers 1 to 32) "
                                "and weight_scale and input_scale (positive finite numbers)")
    model = deepcopy(reference).cpu()
    model.load_state_dict(state)
    return model.eval(), {name: {k: float(v) if k.endswith("scale") else v for k, v in layers[name].items()} for name in names}


def _first_three(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (" ..." if len(keys) > 3 else "")


def _positive_number(value) -> bool:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or not value.is_floating_point():
            return False
        value = value.item()
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def bit_problems(question: QuantizedModelQuestion, layers: Mapping[str, dict], names: list[str]) -> list[str]:
    """Layers declaring more bits than the question allows (the first and last layer: ``edge_bits``)."""
    problems = []
    for name in names:
        edge = name in (names[0], names[-1])
        allowed_w, allowed_a = (question.edge_bits, question.edge_bits) if edge else (question.weight_bits, question.act_bits)
        if layers[name]["weight_bits"] > allowed_w or layers[name]["act_bits"] > allowed_a:
            problems.append(f"{name} declares W{layers[name]['weight_bits']}A{layers[name]['act_bits']}, "
                            f"more than the W{allowed_w}A{allowed_a} allowed")
    return problems


def grid_problems(model: nn.Module, layers: Mapping[str, dict]) -> list[str]:
    """Layers whose weights are not ``weight_scale`` times whole numbers in the signed ``weight_bits``-bit range
    (within ``GRID_TOLERANCE`` of a whole number, computed in float64)."""
    problems = []
    modules = dict(model.named_modules())
    for name, entry in layers.items():
        steps = modules[name].weight.detach().double() / entry["weight_scale"]
        off = float((steps - steps.round()).abs().max())
        low, high = grid_range(entry["weight_bits"], True)
        outside = int(((steps.round() < low) | (steps.round() > high)).sum())
        if off > GRID_TOLERANCE:
            problems.append(f"{name}: weights are not whole multiples of weight_scale {entry['weight_scale']:.4g} "
                            f"(off by up to {off:.3f} of a step)")
        elif outside:
            problems.append(f"{name}: {outside} weights need more than {entry['weight_bits']} bits at weight_scale "
                            f"{entry['weight_scale']:.4g} (whole numbers outside [{low}, {high}])")
    return problems


@torch.no_grad()
def evaluate_quantized_model(model: nn.Module, layers: Mapping[str, dict], loader: DataLoader) -> float:
    """Accuracy (%) on ``loader`` of a loaded handed-in model with each layer's input quantized as declared (CPU)."""
    handles = quantize_inputs(model, {n: e["input_scale"] for n, e in layers.items()}, {n: e["act_bits"] for n, e in layers.items()})
    try:
        return evaluate(model, loader, device=torch.device("cpu"), progress=False)
    finally:
        for handle in handles:
            handle.remove()


def read_bitwidths(path: Path, question: BitwidthsQuestion, names: list[str]) -> dict[str, int]:
    """The ``bitwidths`` of a handed-in JSON file, checked: one whole number in the allowed range per layer name."""
    try:
        data = json.loads(read_capped(path))
    except (ValueError, RecursionError) as error:
        raise HandedInError(f"{path.name} is not valid JSON: {' '.join(str(error).split())[:200]}") from None
    bitwidths = data.get("bitwidths") if isinstance(data, dict) else None
    if not isinstance(bitwidths, dict) or set(bitwidths) != set(names):
        raise HandedInError(f"{path.name}: expected {{\"bitwidths\": {{layer: bits}}}} with exactly ResNet-20's {len(names)} layers "
                            f"({names[0]}, ..., {names[-1]}); save it with save_bitwidths")
    wrong = [n for n in names if not (isinstance(bitwidths[n], int) and not isinstance(bitwidths[n], bool)
                                      and question.min_bits <= bitwidths[n] <= question.max_bits)]
    if wrong:
        raise HandedInError(f"{path.name}: bits must be whole numbers from {question.min_bits} to {question.max_bits}; "
                            f"{wrong[0]} has {bitwidths[wrong[0]]!r}")
    return {n: bitwidths[n] for n in names}


@torch.no_grad()
def save_handed_in(model: nn.Module, path: str | Path) -> Path:
    """Write a calibrated ``quantize_model`` model in ``QUANTIZED_MODEL_FORMAT``: each layer's weights as
    ``s_w * linear_quantize(w, s_w, 0, weight_bits)`` (its weight scale rule applied now), its bit widths and scales,
    and the float batch-norm parameters; the grader evaluates that file (``grade_handed_in``)."""
    # Imported here, not above: the grader's process, which never saves, skips the layers' heavier imports.
    from .fake_quantization import fake_quantized_layers

    state, layers = {}, {}
    quantized = fake_quantized_layers(model)
    for name, layer in quantized.items():
        if torch.isnan(layer.input_scale):
            raise RuntimeError(f"{name} has no input scale yet: run calibrate(model, images) before saving")
        scale = layer.weight_scale()
        w_int = layer.ops.linear_quantize(layer.weight.detach(), scale, 0.0, layer.weight_bits, True)
        state[f"{name}.weight"] = (w_int * scale).float().cpu()
        layers[name] = {"weight_bits": int(layer.weight_bits), "act_bits": int(layer.act_bits),
                        "weight_scale": float(scale), "input_scale": float(layer.input_scale)}
    for key, value in model.state_dict().items():
        if not key.endswith(".input_scale") and key not in state:
            state[key] = value.detach().cpu()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": QUANTIZED_MODEL_FORMAT, "state_dict": state, "layers": layers}, path)
    return path


def save_bitwidths(bitwidths: Mapping[str, int], path: str | Path) -> Path:
    """Write per-layer weight bit widths as the ``BitwidthsQuestion`` file (``{"bitwidths": {...}}``)."""
    path = Path(path)
    path.write_text(bitwidths_json(bitwidths))
    return path


def bitwidths_json(bitwidths: Mapping[str, int]) -> str:
    """The text of a ``BitwidthsQuestion`` file."""
    return json.dumps({"bitwidths": {name: int(bits) for name, bits in bitwidths.items()}}, indent=1) + "\n"


# ---------------------------------------------------------------- grading


def grade_handed_in(question: OutcomeQuestion, path: Path | None) -> HandedInResult:
    """Grade one handed-in file (``None``: not handed in) on the CPU with one thread, against the shipped ResNet-20
    checkpoint and the embedded dataset with ResNet-20's normalization (``checkpoints.embedded_digits``, loaded once per
    process: its test split measures, its first training images calibrate a ``BitwidthsQuestion``'s inputs). The
    student's self-check and the grader run this same function on the same data."""
    if path is None:
        return HandedInResult("missing", 0.0, f"no {question.file} beside the notebook: save it there and hand it in with the notebook")
    digits = embedded_digits("resnet20")
    reference = load_pretrained("resnet20", torch.device("cpu"))
    threshold = pretrained_info("resnet20")["fp32_accuracy"] - question.max_drop
    try:
        with torch_threads(1):
            if isinstance(question, QuantizedModelQuestion):
                model, layers = load_quantized_model(path, question, reference)
                problems = bit_problems(question, layers, quantized_layer_names(reference)) + grid_problems(model, layers)
                if problems:
                    return HandedInResult("graded", 0.0, f"{question.file} is not the model it claims to be: " + "; ".join(problems[:3])
                                          + (f"; and {len(problems) - 3} more layers" if len(problems) > 3 else ""))
                accuracy, size = evaluate_quantized_model(model, layers, digits.test), None
                what = f"{question.file}: test accuracy {accuracy:.2f}%"
            else:
                bitwidths = read_bitwidths(path, question, quantized_layer_names(reference))
                model = quantize_bitwidths(reference, bitwidths, first_images(digits.train.dataset, question.calibration_images))
                accuracy = evaluate(model, digits.test, device=torch.device("cpu"), progress=False)
                size = model_size_bits(reference, bitwidths)
                what = f"{question.file}: {size / 8192:.1f} KiB, test accuracy {accuracy:.2f}% (measured by the grader)"
    except HandedInError as error:
        return HandedInResult("invalid", 0.0, str(error))
    if accuracy < threshold:
        return HandedInResult("graded", 0.0, f"{what}, below the threshold {threshold:.2f}% (fp32 minus {question.max_drop:g} points)",
                              accuracy, size)
    return HandedInResult("graded", float(question.points), f"{what}, meets the threshold {threshold:.2f}%", accuracy, size)
