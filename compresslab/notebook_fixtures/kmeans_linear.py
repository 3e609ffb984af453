"""Hidden-test fixtures of ``kmeans_linear``: seeded inputs and the reference answers to them.

Every input differs from the public tests'. Integer outputs are compared exactly by the hidden
tests, so the inputs are drawn such that no value lands within ``TIE_MARGIN`` of a rounding
boundary (x.5): a correct answer that orders its float operations differently (``x / S`` vs
``x * (1 / S)``, ``acc * S_in * S_w / S_out`` vs ``acc * (S_in * S_w / S_out)``) rounds the same way.
The one exception is the ties case: exact halves at a power-of-two scale, where every correct order of
operations gives the exact tie and ``torch.round`` must round it to even.
k-means codebooks of the hidden tensors are not stored (the clustering is checked by its properties
and against scikit-learn in the test itself); only inputs are. The bounded QAT check stores the
reference's centroids after ``hidden.kmeans_linear.bounded_qat`` of the shipped VGG and its logits on the first test images.
"""

import torch
import torch.nn.functional as F

from ..checkpoints import load_pretrained
from ..data import load_dataset
from ..device import torch_threads
from ..hidden.kmeans_linear import bounded_qat
from ..kmeans_linear_helpers import Codebook
from . import SEED

QAT_LOGIT_IMAGES = 64  # test images whose logits after the bounded QAT run are stored
TIE_MARGIN = 1e-3  # minimum distance of every pre-rounding value (in quantization steps) from x.5


# Reference answers: zeroed in what the student's process receives (``fixtures.without``); the inputs stay.
SECRETS = ("k_means_codebook/*/output", "update_codebook/*/output", "linear_quantize/*/output", "linear_quantize_ties/output",
           "linear_quantize_clamp/*/output",
           "scale_and_zero_point/*/scale", "scale_and_zero_point/*/zero_point", "weight_scale/*/scale", "bias/*/output",
           "bias/*/bias_scale", "shift_linear/*/output", "shift_conv2d/*/output", "quantized_linear/*/output",
           "quantized_conv2d/*/output", "quantized_linear_clamp/*/output", "quantized_conv2d_clamp/*/output", "fuse/*/fused_weight",
           "fuse/*/fused_bias", "extra_preprocess/output", "qat/centroids", "qat/logits", "choices")


def build(ns: dict) -> dict:
    """Cases for every graded function of ``kmeans_linear`` (reference functions taken from ``ns``)."""
    g = torch.Generator().manual_seed(SEED)
    out = {}

    # ---- k-means: inputs only -------------------------------------------------------------
    laplace = torch.distributions.Laplace(0.0, 0.04)
    torch.manual_seed(SEED)
    out["k_means"] = [
        {"tensor": torch.randn(30, 40, generator=g) * 0.08, "bitwidth": 3},
        {"tensor": laplace.sample((8, 6, 3, 3)), "bitwidth": 4},
        {"tensor": torch.rand(300, generator=g) * 2 - 1, "bitwidth": 1},
        {"tensor": torch.cat([torch.randn(400, generator=g) * 0.02 - 0.3, torch.randn(200, generator=g) * 0.05 + 0.2]), "bitwidth": 5},
        {"tensor": torch.randn(10, 64, generator=g) * 0.05 + 0.01, "bitwidth": 2},
    ]

    cases = []
    for shape, bits in [((7, 9), 3), ((4, 3, 3, 3), 2), ((50,), 4)]:
        tensor = torch.randn(*shape, generator=g)
        centroids = torch.sort(torch.randn(2**bits, generator=g) * 0.3).values
        labels = torch.randint(0, 2**bits, (tensor.numel(),), generator=g)
        decoded = tensor.clone()
        ns["k_means_quantize"](decoded, bitwidth=bits, codebook=Codebook(centroids.clone(), labels.clone()))
        cases.append({"tensor": tensor, "bitwidth": bits, "centroids": centroids, "labels": labels, "output": decoded})
    out["k_means_codebook"] = cases

    cases = []  # every cluster has an element: the empty cluster is the public check's case, not these
    for numel, clusters in [(60, 4), (200, 16), (33, 8)]:
        tensor = torch.randn(numel, generator=g) * 0.1
        centroids = torch.randn(clusters, generator=g) * 0.1
        labels = torch.randint(0, clusters, (numel,), generator=g)
        labels[:clusters] = torch.arange(clusters)
        codebook = Codebook(centroids.clone(), labels.clone())
        ns["update_codebook"](tensor.clone(), codebook)
        cases.append({"tensor": tensor, "centroids": centroids, "labels": labels, "output": codebook.centroids.clone()})
    out["update_codebook"] = cases

    # ---- linear quantization ----------------------------------------------------------------
    cases = []
    specs = [
        ((6, 5), 4, 0.07, 3, "int8"),
        ((3, 4, 2, 2), 8, "per_channel", 0, "int8"),
        ((100,), 2, 0.25, -1, "int8"),
        ((8, 8), 6, 0.011, -9, "int8"),
        ((12,), 32, "per_channel", 0, "int32"),
    ]
    for shape, bits, scale, zero_point, dtype in specs:
        for _ in range(100):
            tensor = torch.randn(*shape, generator=g) * 0.5
            if scale == "per_channel":
                s = torch.rand(shape[0], generator=g) * 0.02 + (1e-4 if bits == 32 else 0.005)
                s = s.view([-1] + [1] * (len(shape) - 1))
            else:
                s = scale
            if _far_from_ties(tensor.double() / (s.double() if torch.is_tensor(s) else s)):
                break
        else:
            raise RuntimeError("could not draw a linear_quantize case away from rounding ties")
        output = ns["linear_quantize"](tensor.clone(), bits, s.clone() if torch.is_tensor(s) else s, zero_point,
                                       dtype=getattr(torch, dtype))
        cases.append({"tensor": tensor, "bitwidth": bits, "scale": s, "zero_point": zero_point, "dtype": dtype, "output": output})
    out["linear_quantize"] = cases

    cases = []
    for bits, scale, zero_point, spread in [(8, 0.01, 5, 4.0), (4, 0.05, -3, 3.0)]:
        for _ in range(100):
            tensor = torch.randn(200, generator=g) * spread  # r / S reaches a few hundred: far outside the range
            if _far_from_ties(tensor.double() / scale):
                break
        cases.append({"tensor": tensor, "bitwidth": bits, "scale": scale, "zero_point": zero_point,
                      "output": ns["linear_quantize"](tensor.clone(), bits, scale, zero_point)})
    out["linear_quantize_clamp"] = cases

    # exact ties: x / 0.5 is k + 0.5 exactly, which torch.round rounds to the even neighbour (floor(x + 0.5) does not)
    tensor = torch.tensor([0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 3.25, -3.75, 0.0, 0.4])
    # (an even zero point: adding it before rounding, round(r / S + Z), then ties the same way; not a mistake here)
    out["linear_quantize_ties"] = {"tensor": tensor, "bitwidth": 8, "scale": 0.5, "zero_point": 4,
                                   "output": ns["linear_quantize"](tensor.clone(), 8, 0.5, 4)}

    cases = []
    for tensor, bits in [
        (torch.randn(50, generator=g) * 0.4 - 0.1, 8),  # range contains 0
        (torch.rand(40, generator=g) * 0.5 + 0.3, 8),  # all positive: zero point clamped to q_min
        (-torch.rand(40, generator=g) * 2 - 1, 4),  # all negative: zero point clamped to q_max
        (torch.randn(3, 5, 5, generator=g) * 2 + 1, 2),
        (torch.rand(30, generator=g) * 6, 8),  # post-ReLU-like, min close to 0
    ]:
        scale, zero_point = ns["get_quantization_scale_and_zero_point"](tensor.clone(), bits)
        cases.append({"tensor": tensor, "bitwidth": bits, "scale": float(scale), "zero_point": int(zero_point)})
    out["scale_and_zero_point"] = cases
    out["choices"] = {"scale": ns["scale_choice"], "zero_point": ns["zero_point_choice"]}  # the letters of Questions 5.1 and 5.2

    cases = []
    for tensor, bits in [(torch.randn(4, 3, 3, 3, generator=g) * 0.2, 8), (torch.randn(10, 7, generator=g) * 0.05 - 0.02, 4),
                         (torch.zeros(5), 8), (torch.randn(16, generator=g), 2)]:
        cases.append({"tensor": tensor, "bitwidth": bits, "scale": float(ns["get_quantization_scale_for_weight"](tensor.clone(), bits))})
    out["weight_scale"] = cases

    # ---- integer-only layers --------------------------------------------------------------------
    cases = []
    for oc, weight_shape, input_scale, magnitude in [(6, (6, 1, 1, 1), 0.013, 0.3), (10, (10, 1), 0.0425, 2.0),
                                                     (4, (4, 1, 1, 1), 0.5, 50.0)]:
        for _ in range(100):
            bias = torch.randn(oc, generator=g) * magnitude
            weight_scale = (torch.rand(*weight_shape, generator=g) * 0.02 + 0.001)
            if _far_from_ties(bias.double() / (weight_scale.double().view(-1) * input_scale)):
                break
        quantized, bias_scale, _ = ns["linear_quantize_bias_per_output_channel"](bias.clone(), weight_scale.clone(), input_scale)
        cases.append({"bias": bias, "weight_scale": weight_scale, "input_scale": input_scale, "output": quantized,
                      "bias_scale": torch.as_tensor(bias_scale).view(-1).clone()})
    out["bias"] = cases

    cases = []
    for oc, ic, zero_point in [(5, 9, -128), (3, 16, 17), (7, 4, 0)]:
        bias = torch.randint(-10000, 10000, (oc,), generator=g, dtype=torch.int32)
        weight = torch.randint(-127, 128, (oc, ic), generator=g, dtype=torch.int8)
        cases.append({"bias": bias, "weight": weight, "input_zero_point": zero_point,
                      "output": ns["shift_quantized_linear_bias"](bias.clone(), weight.clone(), zero_point)})
    out["shift_linear"] = cases

    cases = []
    for oc, ic, k, zero_point in [(4, 3, 3, -128), (2, 5, 1, 9), (6, 2, 5, -1)]:
        bias = torch.randint(-10000, 10000, (oc,), generator=g, dtype=torch.int32)
        weight = torch.randint(-127, 128, (oc, ic, k, k), generator=g, dtype=torch.int8)
        cases.append({"bias": bias, "weight": weight, "input_zero_point": zero_point,
                      "output": ns["shift_quantized_conv2d_bias"](bias.clone(), weight.clone(), zero_point)})
    out["shift_conv2d"] = cases

    cases = []
    for batch, ic, oc, bits, input_zero_point, output_zero_point, input_scale, output_scale, with_bias in [
        (5, 12, 6, 8, -128, -20, 0.04, 0.25, True),
        (3, 30, 4, 8, 9, 0, 0.01, 0.08, True),
        (4, 8, 8, 4, -3, 2, 0.1, 0.9, False),
    ]:
        qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        for _ in range(200):
            q_input = torch.randint(qmin, qmax + 1, (batch, ic), generator=g, dtype=torch.int8)
            weight = torch.randint(-127, 128, (oc, ic), generator=g, dtype=torch.int8)
            bias = torch.randint(-3000, 3000, (oc,), generator=g, dtype=torch.int32) if with_bias else None
            weight_scale = torch.rand(oc, 1, generator=g) * 0.004 + 0.001
            acc = q_input.double() @ weight.double().t() + (0 if bias is None else bias.double())
            real = acc * (input_scale * weight_scale.double().view(1, -1) / output_scale) + output_zero_point
            if _far_from_ties(real) and _mostly_in_range(real, qmin, qmax):
                break
        else:
            raise RuntimeError("could not draw a quantized_linear case away from rounding ties")
        output = ns["quantized_linear"](q_input.clone(), weight.clone(), None if bias is None else bias.clone(), bits, 8,
                                        input_zero_point, output_zero_point, input_scale, weight_scale.clone(), output_scale)
        cases.append({"input": q_input, "weight": weight, "bias": bias, "feature_bitwidth": bits, "weight_bitwidth": 8,
                      "input_zero_point": input_zero_point, "output_zero_point": output_zero_point, "input_scale": input_scale,
                      "weight_scale": weight_scale, "output_scale": output_scale, "output": output})
    out["quantized_linear"] = cases

    cases = []
    for shape, oc, k, stride, padding, groups, input_zero_point, output_zero_point, input_scale, output_scale, with_bias in [
        ((2, 4, 6, 6), 3, 3, (1, 1), (1, 1, 1, 1), 1, -128, 40, 0.02, 0.25, True),
        ((1, 4, 9, 9), 6, 3, (2, 2), (0, 0, 0, 0), 2, 5, 3, 0.05, 0.5, True),
        ((2, 2, 5, 5), 4, 1, (1, 1), (0, 1, 1, 0), 1, 0, -10, 0.1, 0.3, False),
    ]:
        for _ in range(200):
            q_input = torch.randint(-128, 128, shape, generator=g, dtype=torch.int8)
            weight = torch.randint(-127, 128, (oc, shape[1] // groups, k, k), generator=g, dtype=torch.int8)
            bias = torch.randint(-3000, 3000, (oc,), generator=g, dtype=torch.int32) if with_bias else None
            weight_scale = torch.rand(oc, 1, 1, 1, generator=g) * 0.004 + 0.001
            padded = F.pad(q_input.double(), padding, "constant", input_zero_point)
            acc = F.conv2d(padded, weight.double(), None, stride, 0, (1, 1), groups)
            if bias is not None:
                acc = acc + bias.double().view(1, -1, 1, 1)
            real = acc * (input_scale * weight_scale.double().view(1, -1, 1, 1) / output_scale) + output_zero_point
            if _far_from_ties(real) and _mostly_in_range(real, -128, 127):
                break
        else:
            raise RuntimeError("could not draw a quantized_conv2d case away from rounding ties")
        output = ns["quantized_conv2d"](q_input.clone(), weight.clone(), None if bias is None else bias.clone(), 8, 8,
                                        input_zero_point, output_zero_point, input_scale, weight_scale.clone(), output_scale,
                                        stride, padding, (1, 1), groups)
        cases.append({"input": q_input, "weight": weight, "bias": bias, "feature_bitwidth": 8, "weight_bitwidth": 8,
                      "input_zero_point": input_zero_point, "output_zero_point": output_zero_point, "input_scale": input_scale,
                      "weight_scale": weight_scale, "output_scale": output_scale, "stride": list(stride), "padding": list(padding),
                      "dilation": [1, 1], "groups": groups, "output": output})
    out["quantized_conv2d"] = cases
    out.update(_clamping_layers(ns))

    cases = []
    for oc, ic, k, eps in [(4, 3, 3, 1e-5), (6, 2, 1, 1e-3)]:
        weight = torch.randn(oc, ic, k, k, generator=g) * 0.3
        case = {"weight": weight, "eps": eps, "bn_weight": torch.rand(oc, generator=g) * 1.5 + 0.25,
                "bn_bias": torch.randn(oc, generator=g) * 0.5,
                "bn_running_mean": torch.randn(oc, generator=g) * 0.4, "bn_running_var": torch.rand(oc, generator=g) * 2 + 0.05}
        conv = torch.nn.Conv2d(ic, oc, k, bias=False)
        bn = torch.nn.BatchNorm2d(oc, eps=eps)
        with torch.no_grad():
            conv.weight.copy_(weight)
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, name).copy_(case[f"bn_{name}"])
            bn.eval()
            fused = ns["fuse_conv_bn"](conv, bn)
        case.update({"fused_weight": fused.weight.detach().clone(), "fused_bias": fused.bias.detach().clone()})
        cases.append(case)
    out["fuse"] = cases

    for _ in range(100):
        images = (torch.rand(3, 3, 8, 8, generator=g) * 2.2 - 1.1)  # slightly beyond [-1, 1]: exercises the clamp
        if _far_from_ties(images.double() * 128):
            break
    out["extra_preprocess"] = {"input": images, "output": ns["extra_preprocess"](images.clone())}
    out["qat"] = _bounded_qat_case(ns)
    return out


def _bounded_qat_case(ns: dict) -> dict:
    """The reference's 2-bit centroids after ``bounded_qat`` of the shipped VGG, and its logits on the first test images."""
    cpu = torch.device("cpu")
    digits = load_dataset("digits")
    model = load_pretrained("vgg", cpu)
    with torch_threads(1):
        quantizer = bounded_qat(model, digits.train, ns["k_means_quantize"], ns["update_codebook"], device=cpu)
        with torch.no_grad():
            logits = model(digits.test.dataset.tensors[0][:QAT_LOGIT_IMAGES])
    return {"centroids": {name: codebook.centroids.clone() for name, codebook in quantizer.codebook.items()}, "logits": logits}


def _clamping_layers(ns: dict) -> dict:
    """Layers whose outputs partly fall outside the feature range, so that the given clamp must act: a 4-bit
    ``quantized_linear`` (unclamped values would stay in int8 but outside [-8, 7]) and an 8-bit ``quantized_conv2d``
    (unclamped values would wrap around in the int8 cast). Drawn from their own generator, so that adding them
    left every other case unchanged."""
    g = torch.Generator().manual_seed(SEED + 1)
    out = {}
    for _ in range(200):
        q_input = torch.randint(-8, 8, (6, 10), generator=g, dtype=torch.int8)
        weight = torch.randint(-127, 128, (5, 10), generator=g, dtype=torch.int8)
        bias = torch.randint(-300, 300, (5,), generator=g, dtype=torch.int32)
        weight_scale = torch.rand(5, 1, generator=g) * 0.004 + 0.002
        acc = q_input.double() @ weight.double().t() + bias.double()
        real = acc * (0.3 * weight_scale.double().view(1, -1) / 0.25) + 1
        if _far_from_ties(real) and _mostly_in_range(real, -8, 7, at_most=0.85):
            break
    else:
        raise RuntimeError("could not draw a clamping quantized_linear case")
    output = ns["quantized_linear"](q_input.clone(), weight.clone(), bias.clone(), 4, 8, -2, 1, 0.3, weight_scale.clone(), 0.25)
    out["quantized_linear_clamp"] = [{"input": q_input, "weight": weight, "bias": bias, "feature_bitwidth": 4, "weight_bitwidth": 8,
                                      "input_zero_point": -2, "output_zero_point": 1, "input_scale": 0.3,
                                      "weight_scale": weight_scale, "output_scale": 0.25, "output": output}]
    stride, padding = (1, 1), (1, 1, 1, 1)
    for _ in range(200):
        q_input = torch.randint(-128, 128, (2, 3, 5, 5), generator=g, dtype=torch.int8)
        weight = torch.randint(-127, 128, (4, 3, 3, 3), generator=g, dtype=torch.int8)
        bias = torch.randint(-3000, 3000, (4,), generator=g, dtype=torch.int32)
        weight_scale = torch.rand(4, 1, 1, 1, generator=g) * 0.004 + 0.002
        padded = F.pad(q_input.double(), padding, "constant", 3)
        acc = F.conv2d(padded, weight.double(), None, stride, 0, (1, 1), 1) + bias.double().view(1, -1, 1, 1)
        real = acc * (0.05 * weight_scale.double().view(1, -1, 1, 1) / 0.05) - 5
        if _far_from_ties(real) and _mostly_in_range(real, -128, 127, at_most=0.85):
            break
    else:
        raise RuntimeError("could not draw a clamping quantized_conv2d case")
    output = ns["quantized_conv2d"](q_input.clone(), weight.clone(), bias.clone(), 8, 8, 3, -5, 0.05, weight_scale.clone(), 0.05,
                                    stride, padding, (1, 1), 1)
    out["quantized_conv2d_clamp"] = [{"input": q_input, "weight": weight, "bias": bias, "feature_bitwidth": 8, "weight_bitwidth": 8,
                                      "input_zero_point": 3, "output_zero_point": -5, "input_scale": 0.05,
                                      "weight_scale": weight_scale, "output_scale": 0.05, "stride": list(stride),
                                      "padding": list(padding), "dilation": [1, 1], "groups": 1, "output": output}]
    return out


def _far_from_ties(real: torch.Tensor) -> bool:
    """Whether no value of ``real`` lies within ``TIE_MARGIN`` of a rounding boundary (k + 0.5)."""
    frac = (real - torch.floor(real)).abs()
    return bool(((frac - 0.5).abs() > TIE_MARGIN).all())


def _mostly_in_range(real: torch.Tensor, low: int, high: int, at_most: float = 1.0) -> bool:
    """Whether at least 70% of the values fall inside the integer range (so the case tests more than the clamp),
    and at most ``at_most`` of them (below 1: some values must clamp, on both sides)."""
    inside = ((real >= low) & (real <= high)).double().mean().item()
    both_sides = bool((real < low - 0.5).any() and (real > high + 0.5).any()) if at_most < 1.0 else True
    return 0.7 <= inside <= at_most and both_sides
