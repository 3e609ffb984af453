"""Tests of compresslab.record_fixtures: how far a re-recorded fixture may move."""

import torch

from compresslab.record_fixtures import FLOAT_RTOL, differences


def test_fixture_differences_exact_for_integers_tolerant_for_last_float_bits():
    def paths(fresh, stored):
        return [d.split(":")[0] for d in differences(fresh, stored)]

    floats = torch.tensor([1.0, -2.0, 3.0])
    assert differences({"f": floats * (1 + FLOAT_RTOL / 10)}, {"f": floats}) == []
    assert paths({"f": floats * 1.001}, {"f": floats}) == ["/f"]
    # the tolerance is relative to the tensor's scale: an element near 0 may drift as much as the largest one (as CPU
    # kernels make it), but not by more
    near_zero = torch.tensor([3.0, 1e-4])
    assert differences({"f": near_zero + torch.tensor([0.0, 3.0 * FLOAT_RTOL / 10])}, {"f": near_zero}) == []
    assert paths({"f": near_zero + torch.tensor([0.0, 3.0 * FLOAT_RTOL * 2])}, {"f": near_zero}) == ["/f"]
    assert paths({"f": torch.tensor([1.0, float("nan")])}, {"f": torch.tensor([1.0, 2.0])}) == ["/f"]
    assert differences({"f": torch.tensor([1.0, float("nan")])}, {"f": torch.tensor([1.0, float("nan")])}) == []
    assert paths({"i": torch.tensor([1, 2])}, {"i": torch.tensor([1, 3])}) == ["/i"]
    assert paths({"i": torch.tensor([1, 2], dtype=torch.int32)}, {"i": torch.tensor([1, 2])}) == ["/i"]
    assert paths({"s": 0.5}, {"s": 0.5 + 1e-3}) == ["/s"]
    assert differences({"s": 0.5 * (1 + FLOAT_RTOL / 10)}, {"s": 0.5}) == []
