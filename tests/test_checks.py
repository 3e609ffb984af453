"""Tests of compresslab.checks: the public checks' assertions and their messages."""

import math

import numpy as np
import pytest
import torch

from compresslab import checks


def test_check_tensor_accepts_matching_tensor():
    x = torch.zeros(2, 3, dtype=torch.int8)
    assert checks.check_tensor(x, "q", shape=(2, 3), dtype=torch.int8) is x


def test_check_tensor_rejects_non_tensor():
    with pytest.raises(AssertionError, match=r"q: expected a torch.Tensor, got a float32 array of shape \(2, 3\)"):
        checks.check_tensor(np.zeros((2, 3), dtype=np.float32), "q")


def test_check_tensor_wrong_shape_names_both_shapes():
    with pytest.raises(AssertionError, match=r"expected shape \(3, 2\), got .* of shape \(2, 3\)"):
        checks.check_tensor(torch.zeros(2, 3), "q", shape=(3, 2))


def test_check_tensor_wrong_dtype_names_expected_dtype_and_shape():
    with pytest.raises(AssertionError, match=r"expected dtype torch.int8, got a float32 tensor of shape \(2, 3\)"):
        checks.check_tensor(torch.zeros(2, 3), "q", dtype=torch.int8)


@pytest.mark.parametrize(
    "x, dtype",
    [(torch.tensor([-128.0, 0.0, 127.0]), None), (torch.tensor([-128, 0, 127], dtype=torch.int8), torch.int8)],
    ids=["float", "int8"],
)
def test_check_integer_valued_accepts_whole_numbers_in_range(x, dtype):
    checks.check_integer_valued(x, "q", -128, 127, shape=(3,), dtype=dtype)


def test_check_integer_valued_reports_a_non_integer():
    with pytest.raises(AssertionError, match=r"non-integers such as \[3\.5\].*did you round"):
        checks.check_integer_valued(torch.tensor([1.0, 3.5, 2.0]), "q", -128, 127)


def test_check_integer_valued_out_of_range_asks_about_clamping():
    with pytest.raises(AssertionError, match=r"expected whole numbers in \[-128, 127\], got .*\[-3, 200\]; did you clamp"):
        checks.check_integer_valued(torch.tensor([-3.0, 200.0]), "q", -128, 127)


def test_check_integer_valued_rejects_integer_dtype_when_none_requested():
    with pytest.raises(AssertionError, match="expected a floating-point tensor"):
        checks.check_integer_valued(torch.tensor([1, 2]), "q", -128, 127)


@pytest.mark.parametrize("x", [0.25, np.float32(0.25), torch.tensor([0.25])], ids=["float", "numpy", "tensor"])
def test_check_scalar_returns_a_float(x):
    value = checks.check_scalar(x, "s")
    assert type(value) is float and value == 0.25


@pytest.mark.parametrize(
    "x, message",
    [([1.0, 2.0], "expected a number"), (torch.zeros(2), "expected a number"), (float("nan"), "expected a finite number"), (math.inf, "expected a finite number")],
    ids=["list", "tensor", "nan", "inf"],
)
def test_check_scalar_rejects(x, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_scalar(x, "s")


def test_check_scalar_rejects_a_string():
    with pytest.raises(AssertionError, match="expected a number"):
        checks.check_scalar("0.5", "s")


def test_check_close_accepts_values_within_tolerance():
    expected = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    checks.check_close(expected + 1e-7, expected, "x", rtol=0, atol=1e-6)
    checks.check_close(0.1 + 0.2, 0.3, "y")


def test_check_close_counts_and_shows_mismatches():
    with pytest.raises(AssertionError, match=r"x: .*1 of 3 differ, e\.g\. \[2\] got 5 expected 3"):
        checks.check_close(torch.tensor([1.0, 2.0, 5.0]), torch.tensor([1.0, 2.0, 3.0]), "x")


def test_check_close_rejects_a_different_scalar():
    with pytest.raises(AssertionError, match="got 0.5 expected 0.3"):
        checks.check_close(0.5, 0.3, "y")


def test_check_close_counts_only_elements_outside_tolerance():
    expected = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    actual = torch.tensor([1.0, 2.0 + 1e-9, 5.0], dtype=torch.float64)
    with pytest.raises(AssertionError, match=r"1 of 3 differ"):
        checks.check_close(actual, expected, "x")


def test_check_equal_accepts_equal_tensors():
    checks.check_equal(torch.tensor([1, 2, 3], dtype=torch.int8), torch.tensor([1, 2, 3], dtype=torch.int8), "q", dtype=torch.int8)


def test_check_equal_counts_mismatches():
    with pytest.raises(AssertionError, match=r"2 of 4 differ, e\.g\. \[1\] got 9 expected 2, \[3\] got 0 expected 4"):
        checks.check_equal(torch.tensor([1, 9, 3, 0]), torch.tensor([1, 2, 3, 4]), "q")


def test_check_equal_wrong_dtype_names_expected_dtype():
    with pytest.raises(AssertionError, match="expected dtype torch.int8"):
        checks.check_equal(torch.tensor([1, 2]), torch.tensor([1, 2], dtype=torch.int8), "q", dtype=torch.int8)


def test_check_equal_rejects_fractional_values_against_integer_expected():
    with pytest.raises(AssertionError, match="1 of 1 differ"):
        checks.check_equal(torch.tensor([3.5]), torch.tensor([3]), "q")
