"""Fixed test tensors for the hidden tests: inputs and the reference solution's outputs.

``python -m compresslab.fixtures NOTEBOOK`` (``make fixtures``) executes
``solution/NOTEBOOK.ipynb`` and, in its kernel, calls ``record`` on the
notebook's globals: the builder of that notebook draws seeded inputs, feeds them
to the reference functions and saves inputs and outputs to
``data/fixtures/NOTEBOOK.pt``. Hidden tests ``load`` that file and compare the
student's outputs with it. The file is never shipped to students.
"""

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .paths import PACKAGE_DIR, data_dir

SEED = 20261123  # seeds every fixture input; changing it changes the hidden tests


def fixture_path(notebook: str) -> Path:
    return data_dir() / "fixtures" / f"{notebook}.pt"


def load(notebook: str) -> dict:
    """The stored fixtures of ``notebook`` (nested dicts of tensors, floats and lists)."""
    path = fixture_path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"fixture file {path} is missing: run `make fixtures`")
    return torch.load(path, map_location="cpu", weights_only=True)


def seeded_net(model_class: type, seed: int) -> nn.Module:
    """A model of ``model_class`` with weights drawn from ``torch.manual_seed(seed)``, in eval mode."""
    torch.manual_seed(seed)
    return model_class().eval()


def compute(notebook: str, namespace: dict) -> dict:
    """Run the fixture builder of ``notebook`` on the functions in ``namespace`` (a notebook's globals)."""
    return BUILDERS[notebook](namespace)


def record(notebook: str, namespace: dict) -> Path:
    """Compute and save the fixtures of ``notebook`` from the reference functions in ``namespace``."""
    path = fixture_path(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(compute(notebook, namespace), path)
    return path


def differences(fresh, stored, where: str = "") -> list[str]:
    """Paths at which two fixture trees differ (tensors exactly, with dtype; floats exactly)."""
    if isinstance(stored, dict):
        if not isinstance(fresh, dict) or fresh.keys() != stored.keys():
            return [f"{where or '/'}: keys differ"]
        return [d for key in stored for d in differences(fresh[key], stored[key], f"{where}/{key}")]
    if isinstance(stored, (list, tuple)):
        if not isinstance(fresh, (list, tuple)) or len(fresh) != len(stored):
            return [f"{where}: lengths differ"]
        return [d for i, (a, b) in enumerate(zip(fresh, stored)) for d in differences(a, b, f"{where}[{i}]")]
    if isinstance(stored, torch.Tensor):
        same = isinstance(fresh, torch.Tensor) and fresh.dtype == stored.dtype and fresh.shape == stored.shape and torch.equal(fresh, stored)
        return [] if same else [f"{where}: tensors differ"]
    return [] if fresh == stored else [f"{where}: {fresh!r} != {stored!r}"]


def _int8_cnn(ns: dict) -> dict:
    """Cases for every graded function of ``int8_cnn``; the seed differs from any public test input."""
    from .int8_helpers import copy_model, quantize_layer_weights, quantized_layers
    from .models import Net

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
    profile.update({name: torch.as_tensor(layer.activations) for name, layer in zip(("conv1", "conv2", "fc1", "fc2", "fc3"), quantized_layers(net))})

    pixels_cases = [np.random.default_rng(SEED).uniform(-1, 1, 1000), np.array([-0.25, 0.5, 3.0, -4.5]), np.array([0.1, 0.2, 0.7])]
    initial = [{"pixels": torch.as_tensor(p), "scale": float(ns["NetQuantized"].quantize_initial_input(p))} for p in pixels_cases]

    rng = np.random.default_rng(SEED + 1)
    activation_cases = [
        (np.maximum(rng.normal(0.5, 1.0, 500), 0), 40.0, 63.5, []),
        (rng.normal(0.0, 3.0, 500), 250.0, 90.0, [(120.0, 0.004), (300.0, 0.002), (80.0, 0.01)]),
        (np.array([-6.0, 2.5, 11.0]), 7.5, 127.0, [(55.0, 0.05)]),
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
    return {"quantized_weights": quantized, "profile": profile, "initial_input": initial,
            "activations": activations, "forward": forward, "quantized_bias": biases}


def _max_abs_weights(weights: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Fixed weight quantizer used to prepare the forward-pass fixture (independent of the student's answer)."""
    scale = 127.0 / weights.abs().max().item()
    return torch.clamp((weights * scale).round(), -128, 127), scale


def quantized_shell(quantized_net_class: type, weights_quantized: nn.Module, scales: dict) -> nn.Module:
    """An instance of the notebook's ``NetQuantized`` holding ``weights_quantized``'s layers and the given scales,
    built without calling its ``__init__`` (so ``forward`` is tested alone)."""
    from .int8_helpers import QUANTIZED_LAYERS

    shell = quantized_net_class.__new__(quantized_net_class)
    nn.Module.__init__(shell)
    shell.pool = weights_quantized.pool
    for name in QUANTIZED_LAYERS:
        layer = getattr(weights_quantized, name)
        layer.output_scale = scales[name]
        setattr(shell, name, layer)
    shell.input_scale = scales["input"]
    return shell.eval()


BUILDERS: dict[str, Callable[[dict], dict]] = {"int8_cnn": _int8_cnn}


def main() -> None:
    from .notebooks import execute_notebook

    parser = argparse.ArgumentParser(description="Regenerate data/fixtures/NOTEBOOK.pt from solution/NOTEBOOK.ipynb")
    parser.add_argument("notebooks", nargs="+", choices=sorted(BUILDERS))
    args = parser.parse_args()
    for notebook in args.notebooks:
        master = PACKAGE_DIR.parent / "solution" / f"{notebook}.ipynb"
        execute_notebook(master, extra_source=f"import compresslab.fixtures\ncompresslab.fixtures.record({notebook!r}, globals())")
        print(f"wrote {fixture_path(notebook)}")


if __name__ == "__main__":
    main()
