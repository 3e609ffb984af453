"""Summary statistics of weights and activations (full range and 3-sigma range)."""

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ValueRange:
    """Full range and mean +- 3 standard deviations of a set of values."""

    min: float
    max: float
    mean: float
    std: float

    @property
    def three_sigma(self) -> tuple[float, float]:
        """``(mean - 3 std, mean + 3 std)``."""
        return self.mean - 3 * self.std, self.mean + 3 * self.std

    def __str__(self) -> str:
        lo, hi = self.three_sigma
        return f"range ({self.min:.4f}, {self.max:.4f}) = {self.max - self.min:.4f}; 3-sigma ({lo:.4f}, {hi:.4f}) = {hi - lo:.4f}"


def value_range(values: np.ndarray | torch.Tensor) -> ValueRange:
    """Range statistics of ``values`` (any shape, flattened); ``std`` is the population std (numpy's default)."""
    flat = torch.as_tensor(values).detach().cpu().double().flatten().numpy()
    return ValueRange(float(flat.min()), float(flat.max()), float(flat.mean()), float(flat.std()))
