"""Hidden-test fixtures of ``sawb_qat``: seeded inputs and the reference answers to them.

Every input differs from the public tests' inputs. Tensors stay below 32,768 elements so that reductions
(means, sums) give the same bits whatever the number of threads.
"""

import math

import torch

from . import SEED
from ..fake_quantization import QuantOps
from ..hidden.sawb_qat import graded_variable_precision


# Reference answers: zeroed in what the student's process receives (``fixtures.without``); the inputs stay.
# (``mse_search/*/mse`` is the threshold q2's hidden check holds a student's MSE to, which the student's process checks first.)
SECRETS = ("linear_quantize/*/output", "linear_dequantize/*/output", "get_scale/*/scale", "mse_search/*/scale",
           "reset_scale_and_zero_point/*/scale", "reset_scale_and_zero_point/*/zero_point", "ste/*/output", "ste/*/grad_input",
           "quantized_linear/*/output", "quantized_conv2d/*/output", "greedy_path/*/path", "variable_precision/chosen",
           "bn_statistics_loss/*/loss", "bn_statistics_loss/*/grad")


def build(ns: dict) -> dict:
    """Cases for every graded function of ``sawb_qat`` (the reference functions are in ``ns``)."""
    g = torch.Generator().manual_seed(SEED)
    return {
        "linear_quantize": _linear_quantize(ns, g),
        "linear_dequantize": _linear_dequantize(ns, g),
        "get_scale": _get_scale(ns, g),
        "mse_search": _mse_search(ns, g),
        "reset_scale_and_zero_point": _reset(ns, g),
        "ste": _ste(ns, g),
        "quantized_linear": _quantized_linear(ns, g),
        "quantized_conv2d": _quantized_conv2d(ns, g),
        "greedy_path": _greedy_path(ns, g),
        "variable_precision": _variable_precision(ns),
        # its own stream: the cases above stay as they were
        "bn_statistics_loss": _bn_statistics_loss(ns, torch.Generator().manual_seed(SEED + 10)),
    }


def _laplace(g: torch.Generator, n: int, std: float) -> torch.Tensor:
    u = torch.rand(n, generator=g, dtype=torch.float64) - 0.5
    return (-(std / math.sqrt(2)) * torch.sign(u) * torch.log1p(-2 * u.abs())).float()


def _linear_quantize(ns: dict, g: torch.Generator) -> list:
    cases = []
    specs = [  # (input, scale, zero point, bits, signed)
        (torch.randn(40, generator=g) * 1.5, 0.1, 0.0, 4, True),  # clips at both ends
        (torch.randn(6, 7, generator=g) * 5.0, 0.03, 0.0, 8, True),
        (torch.rand(50, generator=g) * 2.0 - 0.6, 0.25, -3.0, 3, False),  # unsigned with a zero point
        (torch.randn(3, 4, 5, generator=g) * 0.2, 0.05, 2.0, 2, True),  # signed with a zero point
        (torch.relu(torch.randn(64, generator=g)), 0.02, 0.0, 5, False),  # post-ReLU values, top clipped
        (torch.arange(-9, 10, dtype=torch.float32) * 0.125, 0.25, 0.0, 3, True),  # exact halves: round half to even
        (torch.randn(30, generator=g).double() * 3, 0.5, 1.0, 6, False),  # float64 input keeps its dtype
        # halves, odd zero point: round(x / s - z) != round(x / s) - z
        (torch.arange(-9, 10, dtype=torch.float32) * 0.125, 0.25, 1.0, 4, True),
    ]
    for x, scale, zero_point, bits, signed in specs:
        out = ns["linear_quantize"](x.clone(), scale, zero_point, bits, signed)
        cases.append({"input": x, "scale": scale, "zero_point": zero_point, "bits": bits, "signed": signed, "output": out.clone()})
    return cases


def _linear_dequantize(ns: dict, g: torch.Generator) -> list:
    cases = []
    for low, high, scale, zero_point in [(-8, 7, 0.37, 0.0), (0, 255, 0.013, -17.0), (-2, 1, torch.tensor(2.5), torch.tensor(1.0))]:
        q = torch.randint(low, high + 1, (5, 6), generator=g).float()
        out = ns["linear_dequantize"](q.clone(), scale, zero_point)
        cases.append({"input": q, "scale": scale, "zero_point": zero_point, "output": out.clone()})
    return cases


def _scale_inputs(g: torch.Generator) -> dict:
    return {
        "gaussian": torch.randn(4000, generator=g) * 0.07,
        "laplace": _laplace(g, 5000, 0.03),
        "post_relu": torch.relu(torch.randn(3000, generator=g) * 0.8 + 0.1),
        "uniform": torch.rand(2000, generator=g) * 0.6 - 0.3,
        "tiny_gaussian": torch.randn(12, generator=g) * 0.5,  # SAWB's alpha exceeds max|x| at 8 bits: falls back
        "equal_magnitudes": torch.tensor([0.4, -0.4, 0.4, 0.4, -0.4, -0.4]),  # SAWB's alpha <= 0: falls back
        "zeros": torch.zeros(10),
    }


def _get_scale(ns: dict, g: torch.Generator) -> list:
    inputs, cases = _scale_inputs(g), []
    for name, x in inputs.items():
        signed = name != "post_relu"
        for method in ("symmetric", "sawb", "3sigma"):
            for bits in ((2, 3, 4, 5, 8) if signed else (2, 4, 8)):
                scale = ns["get_scale"](x.clone(), bits, method, signed)
                cases.append({"name": name, "input": x, "bits": bits, "method": method, "signed": signed, "scale": float(scale)})
    return cases


def _mse_search(ns: dict, g: torch.Generator) -> list:
    inputs, cases = _scale_inputs(g), []
    for name, bits, signed in [("gaussian", 2, True), ("gaussian", 4, True), ("laplace", 3, True), ("laplace", 8, True),
                               ("post_relu", 2, False), ("post_relu", 4, False), ("uniform", 2, True)]:
        x = inputs[name]
        scale = float(ns["get_scale"](x.clone(), bits, "mse", signed))
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        error = float(((torch.clamp(torch.round(x / scale), low, high) * scale - x) ** 2).mean())
        symmetric = float(ns["get_scale"](x.clone(), bits, "symmetric", signed))
        cases.append({"name": name, "input": x, "bits": bits, "signed": signed, "scale": scale, "mse": error, "symmetric_scale": symmetric})
    return cases


def _reset(ns: dict, g: torch.Generator) -> list:
    cases = []
    specs = [
        (torch.randn(500, generator=g) * 0.3 + 0.2, 8, "asymmetric", False),
        (torch.rand(300, generator=g) * 1.7 - 1.1, 4, "asymmetric", True),
        (torch.rand(200, generator=g) * 0.5 + 0.25, 2, "asymmetric", False),  # positive range: the zero point is positive
        (torch.full((7,), -0.35), 4, "asymmetric", False),  # max == min
        (torch.randn(800, generator=g) * 0.05, 4, "sawb", True),
        (torch.relu(torch.randn(800, generator=g)), 8, "symmetric", False),
        (_laplace(g, 900, 0.1), 3, "3sigma", True),
    ]
    for x, bits, method, signed in specs:
        scale, zero_point = ns["reset_scale_and_zero_point"](x.clone(), bits, method, signed)
        cases.append({"input": x, "bits": bits, "method": method, "signed": signed, "scale": float(scale), "zero_point": float(zero_point)})
    return cases


def _ste(ns: dict, g: torch.Generator) -> list:
    cases = []
    for shape, spread, scale, zero_point, bits, signed in [((5, 8), 1.0, 0.15, 0.0, 4, True), ((64,), 2.0, 0.3, -2.0, 3, False),
                                                            ((2, 3, 4), 0.5, 0.01, 0.0, 8, True), ((40,), 1.0, 0.4, 1.0, 2, True)]:
        x = torch.randn(shape, generator=g) * spread
        grad_output = torch.randn(shape, generator=g)
        leaf = x.clone().requires_grad_(True)
        out = ns["linear_quantize_STE"](leaf, scale, zero_point, bits, signed)
        out.backward(grad_output)
        cases.append({"input": x, "scale": scale, "zero_point": zero_point, "bits": bits, "signed": signed,
                      "output": out.detach().clone(), "grad_output": grad_output, "grad_input": leaf.grad.clone()})
    return cases


def _integer_operands(g: torch.Generator, x_shape: tuple, w_shape: tuple, x_bits: int, w_bits: int, bias: bool) -> tuple:
    x = torch.randint(0, 2**x_bits, x_shape, generator=g, dtype=torch.int32)
    w = torch.randint(-(2 ** (w_bits - 1)), 2 ** (w_bits - 1), w_shape, generator=g, dtype=torch.int32)
    b = torch.randint(-20000, 20001, (w_shape[0],), generator=g, dtype=torch.int32) if bias else None
    return x, w, b


def _quantized_linear(ns: dict, g: torch.Generator) -> list:
    cases = []
    for n, fan_in, fan_out, x_bits, w_bits, bias, s_x, s_w in [(5, 17, 6, 8, 8, True, 0.0123, 0.0047),
                                                               (3, 64, 10, 4, 4, True, 0.21, torch.tensor(0.013)),
                                                               (4, 30, 7, 2, 2, False, torch.tensor(0.7), 0.05)]:
        x, w, b = _integer_operands(g, (n, fan_in), (fan_out, fan_in), x_bits, w_bits, bias)
        out = ns["quantized_linear_function"](x.clone(), w.clone(), None if b is None else b.clone(), s_x, s_w)
        cases.append({"input": x, "weight": w, "bias": b, "input_scale": s_x, "weight_scale": s_w, "output": out.clone()})
    return cases


def _quantized_conv2d(ns: dict, g: torch.Generator) -> list:
    cases = []
    specs = [  # x shape, w shape, stride, padding, dilation, groups, bits, bias, scales
        ((2, 4, 7, 6), (6, 4, 3, 3), 2, 1, 1, 1, 8, True, (0.021, 0.0033)),
        ((1, 6, 9, 9), (4, 3, 3, 3), 1, 2, 2, 2, 4, False, (0.4, 0.02)),
        ((2, 8, 8, 8), (16, 8, 1, 1), 2, 0, 1, 1, 2, True, (torch.tensor(0.9), torch.tensor(0.11))),
        ((1, 16, 6, 6), (16, 16, 3, 3), 1, 1, 1, 1, 8, False, (0.05, 0.002)),
        # per-channel weight scales; W_out == C_out, so scales broadcast along the width axis give wrong values, not an error
        ((1, 3, 4, 4), (4, 3, 3, 3), 1, 1, 1, 1, 8, True, (0.03, torch.tensor([0.002, 0.005, 0.001, 0.004]))),
    ]
    for x_shape, w_shape, stride, padding, dilation, groups, bits, bias, (s_x, s_w) in specs:
        x, w, b = _integer_operands(g, x_shape, w_shape, bits, bits, bias)
        out = ns["quantized_conv2d_function"](x.clone(), w.clone(), None if b is None else b.clone(), s_x, s_w, stride, padding, dilation,
                                              groups)
        cases.append({"input": x, "weight": w, "bias": b, "input_scale": s_x, "weight_scale": s_w, "stride": stride, "padding": padding,
                      "dilation": dilation, "groups": groups, "output": out.clone()})
    return cases


def _greedy_path(ns: dict, g: torch.Generator) -> list:
    cases = []
    for layers, bit_choices in [(7, (8, 6, 5, 4, 3, 2)), (12, (8, 4, 2)), (4, (6, 3))]:
        names = [f"layer{i}" for i in range(layers)]
        sizes = {name: int(torch.randint(10, 5000, (1,), generator=g)) for name in names}
        errors = {}
        for name in names:
            # error grows as bits drop: about 4x per bit, with a per-layer sensitivity
            sensitivity = float(torch.rand(1, generator=g)) * 3 + 0.1
            errors[name] = {bits: sensitivity * 4.0 ** (-bits) * (1 + 0.2 * float(torch.rand(1, generator=g))) for bits in bit_choices}
        cases.append(_path_case(ns, sizes, errors, bit_choices))
    # ties: twin layers (same size, same errors) are lowered in layer_sizes order, here c, then a, then b
    twin_errors = {8: 0.0, 4: 0.01, 2: 0.2}
    errors = {"d": {8: 0.0, 4: 0.02, 2: 0.3}, "c": dict(twin_errors), "a": dict(twin_errors), "b": dict(twin_errors)}
    cases.append(_path_case(ns, {"d": 3000, "c": 1000, "a": 1000, "b": 1000}, errors, (8, 4, 2)))
    return cases


def _path_case(ns: dict, sizes: dict, errors: dict, bit_choices: tuple) -> dict:
    path = ns["greedy_bitwidth_path"](dict(sizes), {k: dict(v) for k, v in errors.items()}, bit_choices)
    return {"layer_sizes": sizes, "errors": errors, "bit_choices": list(bit_choices), "path": [dict(p) for p in path]}


def _variable_precision(ns: dict) -> dict:
    """The reference's answer to the hidden variable-precision search (``graded_variable_precision``), which the
    hidden test tries first: two evaluations instead of the whole search when the submission agrees."""
    result, _ = graded_variable_precision(QuantOps.from_namespace(ns), ns["greedy_bitwidth_path"])
    return {"chosen": result.chosen}


def _bn_statistics_loss(ns: dict, g: torch.Generator) -> list:
    """Batches whose per-image statistics differ from the batch's (so per-image statistics give another loss),
    with an eps large enough to matter in one case and running statistics away from the batch's."""
    cases = []
    specs = [  # (features shape, spread, offset, eps)
        ((4, 3, 5, 5), 1.0, 0.0, 1e-5),
        ((3, 6, 4, 2), 2.5, 0.7, 1e-5),
        ((2, 5, 3, 3), 0.3, -0.2, 0.1),
        ((1, 4, 6, 6), 1.5, 0.0, 1e-3),
    ]
    for shape, spread, offset, eps in specs:
        n, c = shape[0], shape[1]
        per_image = torch.randn(n, c, 1, 1, generator=g) * spread  # a shift per image and channel
        features = torch.randn(shape, generator=g) * spread + per_image + offset
        running_mean = torch.randn(c, generator=g) * spread
        running_var = torch.rand(c, generator=g) * 2 * spread**2 + 0.05
        leaf = features.clone().requires_grad_(True)
        loss = ns["bn_statistics_loss"](leaf, running_mean.clone(), running_var.clone(), eps)
        loss.backward()
        cases.append({"features": features, "running_mean": running_mean, "running_var": running_var, "eps": eps,
                      "loss": loss.detach().clone(), "grad": leaf.grad.clone()})
    return cases
