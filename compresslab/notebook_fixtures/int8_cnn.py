"""Hidden-test fixtures of ``int8_cnn``: seeded inputs and the reference answers to them."""

import numpy as np
import torch

from . import SEED, seeded_net
from ..int8_cnn_helpers import LAYERS_TO_QUANTIZE, copy_model, layers_to_quantize, quantize_layer_weights, quantized_shell
from ..models import Net


# Reference answers: zeroed in what the student's process receives (``fixtures.without``); the inputs stay.
SECRETS = ("quantized_weights/*/output", "quantized_weights/*/scale", "profile/input", "profile/conv1", "profile/conv2",
           "profile/fc1", "profile/fc2", "profile/fc3", "initial_input/*/scale", "activations/*/scale", "forward/output",
           "quantized_bias/*/output", "ranges/*/full_low", "ranges/*/full_high", "ranges/*/three_sigma_low",
           "ranges/*/three_sigma_high")


def build(ns: dict) -> dict:
    """Cases for every graded function of ``int8_cnn``; the seed differs from any public test input."""
    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)  # Laplace.sample draws from the global generator
    weights = {
        "conv_like": torch.randn(6, 3, 5, 5, generator=g) * 0.2,
        "linear_offset": torch.randn(10, 84, generator=g) * 0.1 + 0.05,
        "heavy_tailed": torch.distributions.Laplace(0.0, 0.05).sample((120, 400)),
        "negative_peak": torch.cat([torch.rand(50, generator=g) * 0.3, torch.tensor([-0.9])]),
        "all_zero": torch.zeros(4, 4),
    }
    quantized = {}
    for key, w in weights.items():
        q, scale = ns["quantized_weights"](w.clone())
        quantized[key] = {"input": w, "output": q.clone(), "scale": float(scale)}

    net = seeded_net(Net, SEED)
    images = torch.randn(4, 3, 32, 32, generator=g)
    ns["register_activation_profiling_hooks"](net)
    net.profile_activations = True
    with torch.no_grad():
        net(images)
    profile = {"images": images, "state_dict": net.state_dict(),
               "input": torch.as_tensor(net.input_activations)}
    profile.update({name: torch.as_tensor(layer.activations) for name, layer in zip(LAYERS_TO_QUANTIZE, layers_to_quantize(net))})

    pixels_cases = [np.random.default_rng(SEED).uniform(-1, 1, 1000), np.array([-0.25, 0.5, 3.0, -4.5]), np.array([0.1, 0.2, 0.7]),
                    np.zeros(6)]
    initial = [{"pixels": torch.as_tensor(p), "scale": float(ns["NetQuantized"].quantize_initial_input(p))} for p in pixels_cases]

    rng = np.random.default_rng(SEED + 1)
    activation_cases = [
        (np.maximum(rng.normal(0.5, 1.0, 500), 0), 40.0, 63.5, []),
        (rng.normal(0.0, 3.0, 500), 250.0, 90.0, [(120.0, 0.004), (300.0, 0.002), (80.0, 0.01)]),
        (np.array([-6.0, 2.5, 11.0]), 7.5, 127.0, [(55.0, 0.05)]),
        (np.array([-9.0, 1.5, 4.0]), 2.0, 50.0, [(10.0, 0.02)]),  # the negative extreme sets the range
    ]
    activations = [
        {"activations": torch.as_tensor(a), "n_w": n_w, "n_initial_input": n_in, "ns": [list(p) for p in pairs],
         "scale": float(ns["NetQuantized"].quantize_activations(a, n_w, n_in, pairs))}
        for a, n_w, n_in, pairs in activation_cases
    ]

    forward_net = copy_model(seeded_net(Net, SEED + 2))
    quantize_layer_weights(forward_net, _max_abs_weights)
    scales = {"input": 40.0, "conv1": 0.004, "conv2": 0.0008, "fc1": 0.0009, "fc2": 0.002, "fc3": 0.003}
    forward_images = torch.randn(8, 3, 32, 32, generator=g)
    quantized_net = quantized_shell(ns["NetQuantized"], forward_net, scales)
    with torch.no_grad():
        forward_out = quantized_net(forward_images)
    forward = {"state_dict": forward_net.state_dict(), "scales": scales, "images": forward_images, "output": forward_out}

    bias_cases = [
        (torch.randn(10, generator=g) * 0.1, 50.0, 60.0, [(100.0, 0.01), (200.0, 0.003), (150.0, 0.004), (90.0, 0.02)]),
        (torch.tensor([0.0, -1.5, 2.25, 1e-4]), 3.0, 127.0, [(2.0, 0.5)]),
        (torch.tensor([300.0, -300.0]), 1000.0, 1000.0, [(1000.0, 1.0)]),
    ]
    biases = []
    for bias, n_w, n_in, pairs in bias_cases:
        out = ns["NetQuantizedWithBias"].quantized_bias(bias.clone(), n_w, n_in, pairs)
        biases.append({"bias": bias, "n_w": n_w, "n_initial_input": n_in, "ns": [list(p) for p in pairs], "output": out.clone()})
    ranges = {}
    for key, values in _range_inputs().items():
        full_low, full_high = ns["full_range"](values.copy())
        three_sigma_low, three_sigma_high = ns["three_sigma_range"](values.copy())
        ranges[key] = {"values": torch.from_numpy(values), "full_low": float(full_low), "full_high": float(full_high),
                       "three_sigma_low": float(three_sigma_low), "three_sigma_high": float(three_sigma_high)}
    return {"quantized_weights": quantized, "profile": profile, "initial_input": initial,
            "activations": activations, "forward": forward, "quantized_bias": biases, "ranges": ranges}


def _range_inputs() -> dict[str, np.ndarray]:
    """float64 arrays of several shapes and distributions for ``full_range`` and ``three_sigma_range``.

    Every value is a float32 number, so an answer that works in float32 finds the same extremes.
    """
    rng = np.random.default_rng(SEED + 3)
    arrays = {
        "post_relu": np.maximum(rng.normal(0.3, 1.0, (64, 50)), 0.0),  # (N, features): like conv1..fc2's activations
        "heavy_tailed": rng.laplace(0.02, 0.05, (16, 6, 5, 5)),  # like a conv weight
        "all_negative": rng.uniform(-5.0, -1.0, 200),
        "five_values": np.array([0.5, -1.25, 2.0, 3.5, -0.75]),  # N and N - 1 give stds 12% apart
        "logits": rng.normal(1.5, 4.0, (40, 10)),  # like fc3's output: signed, off-centre
    }
    return {key: a.astype(np.float32).astype(np.float64) for key, a in arrays.items()}


def _max_abs_weights(weights: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Fixed weight quantizer used to prepare the forward-pass fixture (independent of the student's answer)."""
    scale = 127.0 / weights.abs().max().item()
    return torch.clamp((weights * scale).round(), -128, 127), scale
