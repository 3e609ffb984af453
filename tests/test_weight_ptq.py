"""weight_ptq: the reference answers against independent implementations (PyTorch's fake quantization for the
sign-magnitude grid, NumPy's ``np.std`` as the seed computes sigma), on random tensors and on the shipped
ResNet-20; the seed student's level-count slip measured on the checkpoint.

The reference functions are taken from the master's definition cells (solution markers removed), without
running its experiment cell. The graded path (the notebook's own tests, through the engine) is exercised by
``make mutation`` and the notebook-wide tests (tests/test_notebooks.py, tests/test_grading.py).
"""

import numpy as np
import pytest
import torch
from torch import nn

from compresslab.checkpoints import load_pretrained, normalization_of
from compresslab.data import load_dataset
from compresslab.training import evaluate

from conftest import reference_definitions

CPU = torch.device("cpu")
IMPORTS = "import copy\nimport torch\nimport torch.nn as nn\n"
TIE = 1e-4  # random inputs keep every |w| / alpha * (2**b - 1) at least this far from a .5 tie


@pytest.fixture(scope="module")
def ref():
    """Namespace holding the master notebook's graded functions and the seed's wrapper (their cells only: the experiment cell's
    helpers need the trained model)."""
    ns = {}
    exec(IMPORTS, ns)
    return reference_definitions("weight_ptq", ns, r"^(def weight_quantization|def weight_alpha|class weight_quantize_fn|def quantize_conv_weights)\(")


def _fake_quantize(weights: torch.Tensor, b: int, alpha: float) -> torch.Tensor:
    """The same grid by PyTorch: step alpha / (2**b - 1), integers in [-(2**b - 1), 2**b - 1], zero point 0."""
    levels = 2**b - 1
    return torch.fake_quantize_per_tensor_affine(weights, alpha / levels, 0, -levels, levels)


def _away_from_ties(weights: torch.Tensor, b: int, alpha: float) -> bool:
    scaled = (weights.double() / alpha).clamp(-1, 1).abs() * (2**b - 1)
    return bool(((scaled - scaled.floor() - 0.5).abs() > TIE).all())


@pytest.mark.parametrize("b, shape, spread, alpha, seed", [(7, (16, 3, 3, 3), 0.3, 0.9, 0), (3, (64, 16, 3, 3), 0.1, 0.3, 1),
                                                           (1, (500,), 1.0, 1.5, 2), (2, (40, 8), 0.05, 0.5, 3)])
def test_weight_quantization_matches_torch_fake_quantize(ref, b, shape, spread, alpha, seed):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(50):
        weights = torch.randn(shape, generator=generator) * spread
        if _away_from_ties(weights, b, alpha):
            break
    else:
        pytest.fail("no draw away from rounding ties")
    ours = ref["weight_quantization"](b)(weights.clone(), alpha)
    torch.testing.assert_close(ours, _fake_quantize(weights, b, alpha), rtol=1e-6, atol=1e-7)
    assert ours.dtype == weights.dtype and ours.shape == weights.shape
    assert ours.unique().numel() <= 2 * (2**b - 1) + 1


@pytest.mark.parametrize("shape, shift, seed", [((9,), 0.0, 0), ((3, 3, 3), 0.1, 1), ((64, 16, 3, 3), -0.02, 2)])
def test_weight_alpha_is_three_numpy_std(ref, shape, shift, seed):
    weights = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.2 + shift
    alpha = ref["weight_alpha"](weights)
    assert isinstance(alpha, float)
    assert alpha == pytest.approx(3 * np.std(weights.numpy().astype(np.float64)), rel=1e-6)


@pytest.fixture(scope="module")
def resnet20():
    return load_pretrained("resnet20", CPU)


@pytest.mark.parametrize("w_bit", [8, 4, 2])
def test_quantize_conv_weights_on_the_checkpoint(ref, resnet20, w_bit):
    """Every one of the 21 convolutions on its own 3-sigma grid with w_bit - 1 magnitude bits; nothing else changes."""
    model = load_pretrained("resnet20", CPU)
    assert ref["quantize_conv_weights"](model, w_bit) is model
    floats, quantized = resnet20.state_dict(), model.state_dict()
    convolutions = {f"{name}.weight" for name, layer in resnet20.named_modules() if isinstance(layer, nn.Conv2d)}
    assert len(convolutions) == 21
    for name, original in floats.items():
        if name not in convolutions:
            assert torch.equal(quantized[name], original), f"{name} changed"
            continue
        alpha = 3 * float(np.std(original.numpy().astype(np.float64)))
        expected = _fake_quantize(original, w_bit - 1, alpha)
        differs = ~torch.isclose(quantized[name], expected, rtol=1e-6, atol=1e-7)
        scaled = (original.double()[differs] / alpha).abs() * (2 ** (w_bit - 1) - 1)
        assert ((scaled - scaled.floor() - 0.5).abs() < 1e-4).all(), f"{name}: differs from torch's fake quantization away from a .5 tie"
        assert quantized[name].unique().numel() <= 2**w_bit - 1, f"{name}: more than 2**{w_bit} - 1 levels"


def test_seed_slip_doubles_the_levels(ref, resnet20):
    """Seed 002's "4-bit" cell, weight_quantization(b=4), puts 31 levels in a layer; the wrapper weight_quantize_fn(4), 15."""
    weights = resnet20.layer3[0].conv2.weight.data
    alpha = ref["weight_alpha"](weights)
    quantizer = ref["weight_quantize_fn"](4)
    quantizer.wgt_alpha = alpha
    assert quantizer(weights).unique().numel() == 15
    assert ref["weight_quantization"](b=4)(weights, alpha).unique().numel() == 31


def test_four_bit_weights_keep_the_accuracy(ref):
    """What q3's hidden accuracy check asks of a correct answer: within 2 points of fp32 on the digits test set."""
    test = load_dataset("digits", normalization=normalization_of("resnet20")).test
    fp32 = evaluate(load_pretrained("resnet20", CPU), test, device=CPU, progress=False)
    four_bit = evaluate(ref["quantize_conv_weights"](load_pretrained("resnet20", CPU), 4), test, device=CPU, progress=False)
    assert four_bit >= fp32 - 2.0, f"4-bit weights: {four_bit:.2f}% against fp32 {fp32:.2f}%"
