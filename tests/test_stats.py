"""Tests of compresslab.stats: value ranges of tensors."""

import numpy as np
import pytest
import torch

from compresslab.stats import value_range


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "torch"])
def test_value_range_matches_numpy(as_tensor):
    data = np.random.default_rng(0).normal(2.0, 3.0, size=(4, 5, 6))
    stats = value_range(torch.from_numpy(data) if as_tensor else data)
    actual = torch.tensor([stats.min, stats.max, stats.mean, stats.std], dtype=torch.float64)
    expected = torch.tensor([data.min(), data.max(), data.mean(), data.std(ddof=0)], dtype=torch.float64)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)


def test_value_range_three_sigma():
    data = np.random.default_rng(1).uniform(-1.0, 5.0, size=100)
    lo, hi = value_range(data).three_sigma
    torch.testing.assert_close(
        torch.tensor([lo, hi], dtype=torch.float64),
        torch.tensor([data.mean() - 3 * data.std(), data.mean() + 3 * data.std()], dtype=torch.float64),
        rtol=1e-12,
        atol=1e-12,
    )
