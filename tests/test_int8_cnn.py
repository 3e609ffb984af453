"""int8_cnn: the reference functions of solution/int8_cnn.ipynb against independent implementations:
torch's quantization ops and observers, and the float network the int8 one stands for.

The notebook multiplies by its scales (``q = round(w * n_w)``, ``n_w = 127 / max|w|``); torch divides
(``q = round(w / s)``), so ``s = 1 / n``. Both round half to even; they may differ only where
``w * n_w`` lies within float rounding of a .5 tie, so the random tensors are drawn away from ties
and on the checkpoint's weights every difference must sit on a tie.

The reference functions are taken from the master's definition cells (solution markers removed),
without running its training or plotting cells.
"""

import numpy as np
import pytest
import torch
from torch.ao.quantization.observer import MinMaxObserver

from compresslab.checkpoints import load_pretrained
from compresslab.data import first_batch, load_dataset
from compresslab.int8_cnn_helpers import build_quantized_net
from compresslab.training import evaluate

from conftest import reference_definitions

CPU = torch.device("cpu")
IMPORTS = """
from typing import List, Tuple
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from compresslab.int8_cnn_helpers import copy_model, register_int8_input_checks
from compresslab.models import Net, NetWithBias
"""
TIE = 3e-5  # random inputs keep every w * n at least this far from a .5 tie (several float32 ulps at 127)
pytestmark = pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions:UserWarning")  # torch.quantize_per_* deprecation notice


@pytest.fixture(scope="module")
def ref():
    """Namespace holding the master notebook's reference functions and classes (its definition cells, tests excluded)."""
    ns = {}
    exec(IMPORTS, ns)
    return reference_definitions("int8_cnn", ns, r"^(def |class )")


def _torch_int(values: torch.Tensor, scale: float, dtype: torch.dtype) -> torch.Tensor:
    """round(values * scale) by torch: quantize_per_tensor with torch's scale 1 / scale, as integers."""
    return torch.quantize_per_tensor(values, 1.0 / scale, 0, dtype).int_repr().to(torch.float32)


def _away_from_ties(values: torch.Tensor, scale: float) -> bool:
    scaled = values.double() * scale
    return bool(((scaled - scaled.floor() - 0.5).abs() > TIE).all())


@pytest.mark.parametrize("shape, spread, seed", [((6, 3, 5, 5), 0.2, 0), ((120, 40), 0.05, 1), ((10, 84), 1.5, 2), ((16,), 3.0, 3)])
def test_quantized_weights_match_torch_quantize_per_tensor(ref, shape, spread, seed):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(50):
        weights = torch.randn(shape, generator=generator) * spread
        q, scale = ref["quantized_weights"](weights)
        if _away_from_ties(weights, scale):
            break
    else:
        pytest.fail("no draw away from rounding ties")
    torch.testing.assert_close(q, _torch_int(weights, scale, torch.qint8), rtol=0, atol=0)
    assert q.abs().max().item() == 127 and q.dtype == weights.dtype


def test_quantized_weights_of_the_checkpoint_differ_from_torch_only_on_ties(ref):
    for name, weights in load_pretrained("net", CPU).state_dict().items():
        if not name.endswith("weight"):
            continue
        q, scale = ref["quantized_weights"](weights)
        differs = q != _torch_int(weights, scale, torch.qint8)
        scaled = weights.double()[differs] * scale
        assert ((scaled - scaled.floor() - 0.5).abs() < 1e-4).all(), f"{name}: differences from torch away from a .5 tie"
        assert (q - _torch_int(weights, scale, torch.qint8)).abs().max() <= 1


def test_quantized_bias_matches_torch_qint32_with_clamping(ref):
    generator = torch.Generator().manual_seed(7)
    ns = [(40.0, 0.5), (80.0, 0.25)]
    for n_w, n_in, spread in [(60.0, 127.0, 0.3), (500.0, 2000.0, 40.0)]:  # the second overflows int32 for some entries
        for _ in range(50):
            bias = torch.randn(10, generator=generator) * spread
            scale = n_in * n_w * 40.0 * 0.5 * 80.0 * 0.25
            if _away_from_ties(bias, scale):
                break
        q = ref["NetQuantizedWithBias"].quantized_bias(bias, n_w, n_in, ns)
        torch.testing.assert_close(q, _torch_int(bias, scale, torch.qint32), rtol=0, atol=0)
    assert q.abs().max().item() >= 2**31 - 1, "the second case should reach the int32 range"


def test_input_and_activation_scales_use_the_observed_range(ref):
    """n = 127 / max|x| for the range torch.ao's MinMaxObserver records, and a layer's n_out maps its largest
    recorded activation, carried through every preceding scale, onto 127."""
    generator = torch.Generator().manual_seed(11)
    pixels = (torch.rand(4, 3, 32, 32, generator=generator) * 1.8 - 0.7).numpy()
    observer = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    observer(torch.from_numpy(pixels))
    largest = max(-observer.min_val.item(), observer.max_val.item())
    n_in = ref["NetQuantized"].quantize_initial_input(pixels)
    assert n_in == pytest.approx(127.0 / largest, rel=1e-6)
    activations = torch.randn(500, generator=generator).numpy() * 3.0
    ns = [(90.0, 0.02), (150.0, 0.3)]
    n_out = ref["NetQuantized"].quantize_activations(activations, 70.0, n_in, ns)
    carried = float(np.abs(activations).max()) * n_in * 70.0 * (90.0 * 0.02) * (150.0 * 0.3)
    assert carried * n_out == pytest.approx(127.0, rel=1e-6)


@pytest.mark.parametrize("checkpoint, quantized_class", [("net", "NetQuantized"), ("net_with_bias", "NetQuantizedWithBias")])
def test_int8_network_predicts_as_the_float_network(ref, checkpoint, quantized_class):
    digits = load_dataset("digits")
    net = load_pretrained(checkpoint, CPU)
    quantized = build_quantized_net(net, ref["quantized_weights"], ref["register_activation_profiling_hooks"], ref[quantized_class],
                                    digits.train, 400, CPU)
    loader = first_batch(digits.test.dataset, 256)
    inputs, _ = next(iter(loader))
    with torch.no_grad():
        agree = (quantized(inputs).argmax(1) == net(inputs).argmax(1)).float().mean().item()
    assert agree >= 0.97, f"the int8 {checkpoint} predicts as the float one on only {agree:.1%} of 256 test images"
    fp32, int8 = (evaluate(model, loader, device=CPU, progress=False) for model in (net, quantized))
    assert int8 >= fp32 - 1.0, f"int8 {int8:.2f}% vs fp32 {fp32:.2f}% on 256 test images"


# ---------------------------------------------------------------- the ranges (seeds' Questions 1 and 3)

RANGE_INPUTS = [
    np.random.default_rng(0).normal(0.4, 2.0, (32, 40)),  # signed, off-centre, 2-D
    np.maximum(np.random.default_rng(1).normal(0.3, 1.0, (8, 6, 14, 14)), 0.0),  # post-ReLU, 4-D
    np.random.default_rng(2).laplace(0.0, 0.05, 600).astype(np.float32),  # a float32 weight vector
    np.array([0.5, -1.25, 2.0, 3.5, -0.75]),  # five values: N and N - 1 differ by 12%
]


@pytest.mark.parametrize("values", RANGE_INPUTS, ids=["signed", "post_relu", "float32", "five"])
def test_ranges_match_torch(ref, values):
    """(min, max) and mean +- 3 population std, computed by torch from the same values in float64 as the oracle."""
    t = torch.from_numpy(values).double().flatten()
    std, mean = torch.std_mean(t, correction=0)
    low, high = ref["full_range"](values)
    assert (low, high) == (t.min().item(), t.max().item())
    torch.testing.assert_close(torch.tensor(ref["three_sigma_range"](values), dtype=torch.float64),
                               torch.stack([mean - 3 * std, mean + 3 * std]), rtol=1e-12, atol=1e-12)
    assert all(type(x) is float for x in (low, high, *ref["three_sigma_range"](values)))


def test_the_hidden_range_cases_tell_the_sample_std_from_the_population_std(ref):
    """The 'five_values' fixture case is what catches torch's default (N - 1) std: there the two differ far beyond the
    check's tolerance (rtol 1e-6)."""
    from compresslab.notebook_fixtures.int8_cnn import _range_inputs

    five = _range_inputs()["five_values"]
    population, sample = ref["three_sigma_range"](five), (five.mean() - 3 * five.std(ddof=1), five.mean() + 3 * five.std(ddof=1))
    assert abs(sample[1] - population[1]) > 1e-2 * abs(population[1])
