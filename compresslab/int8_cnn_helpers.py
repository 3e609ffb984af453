"""Ungraded plumbing of the ``int8_cnn`` notebook (EE290-2 Lab 1, seeds 001/004).

Convention of that lab: a *scale* is the factor a real value is **multiplied**
by to become an integer (``q = clamp(round(r * scale), -128, 127)``), stored as
``layer.weight.scale`` for weights and ``layer.output_scale`` for activations.

The notebook's answers are *passed in*, so the same plumbing runs the reference, a student's answers and the tests:

- ``LAYERS_TO_QUANTIZE``, ``layers_to_quantize``: the conv/linear layers of a ``Net``, in forward order;
- ``copy_model``: a deep copy that keeps the lab's metadata (weight scales, recorded activations, output scales);
- ``quantize_layer_weights``: every weight through the notebook's ``quantized_weights``, checked to be int8;
- ``profile_activations``, ``recorded_activations``, ``merge_profiles``: run the profiling hooks, read what they
  recorded, carry it onto the weight-quantized copy;
- ``register_int8_input_checks``: make each layer refuse an input that is not int8-valued;
- ``build_quantized_net``: the whole pipeline, fp32 ``Net`` to the notebook's int8 network;
- ``quantized_shell``: the notebook's ``NetQuantized`` with given scales, to test its ``forward`` alone.
"""
from collections.abc import Callable
from copy import deepcopy

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .training import evaluate

LAYERS_TO_QUANTIZE = ("conv1", "conv2", "fc1", "fc2", "fc3")
INT8_MIN, INT8_MAX = -128, 127


def layers_to_quantize(model: nn.Module) -> list[nn.Module]:
    """The conv/linear layers of a ``Net`` in forward order: conv1, conv2, fc1, fc2, fc3."""
    return [getattr(model, name) for name in LAYERS_TO_QUANTIZE]


def copy_model(model: nn.Module) -> nn.Module:
    """Deep copy of ``model`` that keeps the lab's metadata (weight scales, recorded activations, output scales)."""
    result = deepcopy(model)
    if hasattr(model, "input_activations"):
        result.input_activations = deepcopy(model.input_activations)
    for result_layer, original_layer in zip(result.children(), model.children()):
        if isinstance(result_layer, (nn.Conv2d, nn.Linear)):
            if hasattr(original_layer.weight, "scale"):
                result_layer.weight.scale = deepcopy(original_layer.weight.scale)
            for attribute in ("activations", "output_scale"):
                if hasattr(original_layer, attribute):
                    setattr(result_layer, attribute, deepcopy(getattr(original_layer, attribute)))
    return result


def quantize_layer_weights(model: nn.Module, quantized_weights: Callable) -> None:
    """Replace every conv/linear weight of ``model`` by ``quantized_weights(weight)`` and store its scale.

    Raises ``ValueError`` naming the layer when the result is not integer-valued in [-128, 127].
    """
    for name, layer in model.named_children():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            q_weight, scale = quantized_weights(layer.weight.data)
            q_weight = q_weight.to(layer.weight.device)
            if (q_weight < INT8_MIN).any() or (q_weight > INT8_MAX).any():
                raise ValueError(f"quantized weights of layer {name} include values outside [-128, 127]")
            if (q_weight != q_weight.round()).any():
                raise ValueError(f"quantized weights of layer {name} include non-integer values")
            layer.weight.data = q_weight
            layer.weight.scale = scale


def profile_activations(model: nn.Module, loader: DataLoader, max_samples: int, device: torch.device | None = None) -> None:
    """Run ``model`` (with profiling hooks registered) over ``max_samples`` images, then stop profiling."""
    model.profile_activations = True
    evaluate(model, loader, max_samples=max_samples, device=device, progress=False)
    model.profile_activations = False


def recorded_activations(model: nn.Module) -> dict[str, np.ndarray]:
    """The activations the profiling hooks recorded: input, then the output of each layer."""
    values = {"input": model.input_activations}
    values.update({f"{name} output": getattr(model, name).activations for name in LAYERS_TO_QUANTIZE})
    return values


def merge_profiles(weights_quantized: nn.Module, profiled: nn.Module) -> nn.Module:
    """Copy of ``weights_quantized`` carrying the activations recorded on ``profiled`` (the seed's ``net_init``)."""
    merged = copy_model(weights_quantized)
    merged.input_activations = deepcopy(profiled.input_activations)
    for name in LAYERS_TO_QUANTIZE:
        getattr(merged, name).activations = deepcopy(getattr(profiled, name).activations)
    return merged


def register_int8_input_checks(model: nn.Module) -> None:
    """Make each quantized layer raise ``ValueError`` when its input is not integer-valued in [-128, 127]."""
    for name in LAYERS_TO_QUANTIZE:

        def pre_hook(layer, inputs, name=name):
            x = inputs[0]
            if (x < INT8_MIN).any() or (x > INT8_MAX).any():
                raise ValueError(f"input to layer {name} is out of bounds for an 8-bit signed integer")
            if (x != x.round()).any():
                raise ValueError(f"input to layer {name} has non-integer values")

        getattr(model, name).register_forward_pre_hook(pre_hook)


def build_quantized_net(
    net: nn.Module,
    quantized_weights: Callable,
    register_activation_profiling_hooks: Callable,
    quantized_net_class: type,
    loader: DataLoader,
    profile_samples: int,
    device: torch.device | None = None,
) -> nn.Module:
    """The whole Lab 1 pipeline on an fp32 ``net``: quantize weights, profile activations, build the int8 network.

    The three callables are the notebook's answers, so a test can run a student's pipeline end to end.
    """
    weights_quantized = copy_model(net)
    quantize_layer_weights(weights_quantized, quantized_weights)
    profiled = copy_model(net)
    register_activation_profiling_hooks(profiled)
    profile_activations(profiled, loader, profile_samples, device)
    return quantized_net_class(merge_profiles(weights_quantized, profiled))


def quantized_shell(quantized_net_class: type, weights_quantized: nn.Module, scales: dict) -> nn.Module:
    """An instance of the notebook's ``NetQuantized`` holding ``weights_quantized``'s layers and the given scales,
    built without calling its ``__init__`` (so ``forward`` is tested alone)."""
    shell = quantized_net_class.__new__(quantized_net_class)
    nn.Module.__init__(shell)
    shell.pool = weights_quantized.pool
    for name in LAYERS_TO_QUANTIZE:
        layer = getattr(weights_quantized, name)
        layer.output_scale = scales[name]
        setattr(shell, name, layer)
    shell.input_scale = scales["input"]
    return shell.eval()
