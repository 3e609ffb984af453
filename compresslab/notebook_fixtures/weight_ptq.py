"""Hidden-test fixtures of ``weight_ptq``: seeded inputs and the reference answers to them.

Every input differs from the public tests' inputs. Tensors stay below 32,768 elements so that reductions
(the standard deviation of ``weight_alpha``) give the same bits whatever the number of threads.
"""

import torch

from . import SEED, seeded_net
from ..models import resnet20

# Reference answers: zeroed in what the student's process receives (``fixtures.without``); the inputs stay.
SECRETS = ("weight_quantization/*/output", "weight_alpha/*/alpha", "quantize_conv_weights/models/*/state_dict")


def build(ns: dict) -> dict:
    """Cases for every graded function of ``weight_ptq`` (the reference functions are in ``ns``)."""
    g = torch.Generator().manual_seed(SEED)
    return {"weight_quantization": _weight_quantization(ns, g), "weight_alpha": _weight_alpha(ns, g),
            "quantize_conv_weights": _quantize_conv_weights(ns)}


def _weight_quantization(ns: dict, g: torch.Generator) -> list[dict]:
    """Several magnitude bit widths, clipping values inside and outside the weights' range, a 0-dim tensor alpha."""
    cases = []
    for b, shape, spread, alpha in [(7, (16, 3, 3, 3), 0.3, 0.9), (3, (32, 16, 3, 3), 0.1, 0.3), (4, (500,), 0.1, 0.3),
                                    (1, (64, 8), 1.0, 1.5), (2, (200,), 0.05, 0.5)]:
        weights = torch.randn(shape, generator=g) * spread
        cases.append({"b": b, "input": weights, "alpha": alpha, "output": ns["weight_quantization"](b)(weights.clone(), alpha).clone()})
    weights = torch.randn(300, generator=g) * 0.2
    alpha = torch.tensor(0.45)
    cases.append({"b": 3, "input": weights, "alpha": alpha, "output": ns["weight_quantization"](3)(weights.clone(), alpha).clone()})
    return cases


def _weight_alpha(ns: dict, g: torch.Generator) -> list[dict]:
    """Small tensors (where n and n - 1 differ by several percent), a shifted mean, a conv-shaped tensor."""
    inputs = [torch.randn(9, generator=g), torch.randn(3, 3, 3, generator=g) * 0.2 + 0.1, torch.randn(64, 16, 3, 3, generator=g) * 0.05,
              torch.tensor([0.5, -0.25, 2.0, 0.0])]
    return [{"input": w, "alpha": float(ns["weight_alpha"](w.clone()))} for w in inputs]


def _quantize_conv_weights(ns: dict) -> dict:
    """A seeded (untrained) ResNet-20 and the state dict of its 4- and 8-bit weight-quantized copies."""
    state = seeded_net(resnet20, SEED).state_dict()
    models = []
    for w_bit in (4, 8):
        model = resnet20()
        model.load_state_dict(state)
        quantized = ns["quantize_conv_weights"](model.eval(), w_bit)
        models.append({"w_bit": w_bit, "state_dict": {k: v.clone() for k, v in quantized.state_dict().items()}})
    return {"state_dict": state, "models": models}
