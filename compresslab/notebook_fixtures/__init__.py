"""Fixture builders, one module per notebook (``build(namespace)`` and ``SECRETS``), run by ``make fixtures``.

Every builder draws its inputs from ``SEED`` and feeds them to the reference functions of the executed master.
"""

import torch
from torch import nn

SEED = 20261123  # seeds every fixture input; changing it changes the hidden tests


def seeded_net(model_class: type, seed: int) -> nn.Module:
    """A model of ``model_class`` with weights drawn from ``torch.manual_seed(seed)``, in eval mode."""
    torch.manual_seed(seed)
    return model_class().eval()
