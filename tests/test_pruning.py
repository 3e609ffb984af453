"""The pruning notebook's reference functions against independent implementations, and its helpers.

The reference functions are taken from the master notebook (solution/pruning.ipynb): its graded cells,
with the prompts and solution markers removed, are executed on their own, without running the notebook.
Oracles: ``torch.nn.utils.prune.l1_unstructured`` (fine-grained masks), a NumPy sort (thresholds),
torchprofile MACs written as conv formulas, ``torch.linalg.vector_norm`` (channel importance), and the
dense model itself (sorting must not change its function).
"""

import copy
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from compresslab import fixtures
from compresslab.checkpoints import load_pretrained, normalization_of, pretrained_info
from compresslab.data import load_dataset
from compresslab.device import torch_threads
from compresslab.hidden.pruning import SORTING_TOLERANCE
from compresslab.models import VGG, ConvStack
from compresslab.notebook_fixtures.pruning import randomize_batchnorm
from compresslab.plots.pruning import plot_costs, plot_layer_weights, plot_sensitivity
from compresslab.profiling import count_macs, count_parameters
from compresslab.pruning_helpers import (CHANNEL_PRUNE_RATIO, CHANNEL_TOLERANCE, FINE_GRAINED_TOLERANCE, FINETUNE, GRADED_SPARSE_ACCURACY,
                                         MACS_TARGET, SIZE_TARGET, bounded_fine_tune_accuracy, channel_counts, conv_bn_pairs,
                                         expected_size_fraction, fine_tune, format_costs, measure_costs, prunable_weights, sensitivity_scan,
                                         size_fraction, sparsity, weight_values)
from compresslab.training import TrainConfig, evaluate

from conftest import ROOT, reference_definitions

CPU = torch.device("cpu")
MASTER = ROOT / "solution" / "pruning.ipynb"
GRADED = ("def fine_grained_prune(", "class FineGrainedPruner:", "def get_num_channels_to_keep(", "def channel_prune(",
          "def get_input_channel_importance(", "def apply_channel_sorting(", "sparsity_dict = {}")
PREAMBLE = "import copy\nfrom typing import Dict, List, Union\nimport numpy as np\nimport torch\nimport torch.nn as nn\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def ref():
    """Namespace holding the master's graded code (its cells only, as the reference solution wrote them)."""
    ns: dict = {}
    exec(PREAMBLE, ns)
    ns = reference_definitions("pruning", ns, "^(" + "|".join(re.escape(prefix) for prefix in GRADED) + ")")
    assert {"fine_grained_prune", "FineGrainedPruner", "get_num_channels_to_keep", "channel_prune", "get_input_channel_importance",
            "apply_channel_sorting", "sparsity_dict"} <= ns.keys(), "a graded cell of the master was not found"
    return ns


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", normalization=normalization_of("vgg"))


@pytest.fixture(scope="module")
def dense():
    return load_pretrained("vgg", CPU)


def _numpy_mask(weight: torch.Tensor, sparsity_: float) -> torch.Tensor:
    """Independent oracle: keep |w| strictly above the num_zeros-th smallest magnitude (NumPy sort)."""
    magnitudes = np.abs(weight.numpy()).ravel()
    num_zeros = round(weight.numel() * sparsity_)
    if num_zeros == 0:
        return torch.ones_like(weight, dtype=torch.bool)
    threshold = np.sort(magnitudes)[num_zeros - 1]
    return torch.from_numpy(np.abs(weight.numpy()) > threshold)


# ---------------------------------------------------------------- fine_grained_prune


@pytest.mark.parametrize("shape", [(64, 32, 3, 3), (10, 128), (1000,), (5, 7, 9)])
@pytest.mark.parametrize("amount", [0.0, 0.1, 0.5, 0.73, 0.95, 1.0])
def test_fine_grained_prune_matches_torch_l1_unstructured(ref, shape, amount):
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(hash((shape, amount)) % 2**31))
    holder = nn.Module()
    holder.weight = nn.Parameter(weight.clone())
    torch_prune.l1_unstructured(holder, "weight", amount=amount)
    tensor = weight.clone()
    mask = ref["fine_grained_prune"](tensor, amount)
    assert mask.dtype == torch.bool and mask.shape == weight.shape
    assert torch.equal(mask, holder.weight_mask.bool())
    assert torch.equal(tensor, weight * mask)
    assert int((~mask).sum()) == round(weight.numel() * amount)  # no ties: exactly round(numel * sparsity) zeros


@pytest.mark.parametrize("values, sparsity_, kept", [
    ([0.5, -0.1, 0.1, 0.3, -0.1, 0.2], 0.3, [True, False, False, True, False, True]),  # 2 zeros asked, 3 ties pruned
    ([0.2, 0.2, 0.2, 0.2], 0.5, [False, False, False, False]),  # all tied: everything goes
    ([1.0, -2.0, 3.0], 0.1, [True, True, True]),  # round(0.3) = 0 zeros
    ([1.0, -2.0, 3.0], 0.2, [False, True, True]),  # round(0.6) = 1 zero
    ([1.0, -2.0, 3.0], 1.0, [False, False, False]),
    ([1.0, -2.0, 3.0], 1.5, [False, False, False]),  # clamped to 1
    ([1.0, -2.0, 3.0], -0.5, [True, True, True]),  # clamped to 0
])
def test_fine_grained_prune_ties_and_edges(ref, values, sparsity_, kept):
    tensor = torch.tensor(values)
    mask = ref["fine_grained_prune"](tensor, sparsity_)
    assert mask.tolist() == kept
    assert torch.equal(tensor, torch.tensor(values) * torch.tensor(kept))


@pytest.mark.parametrize("seed", range(5))
def test_fine_grained_prune_matches_a_numpy_sort_with_ties(ref, seed):
    g = torch.Generator().manual_seed(seed)
    weight = (torch.randint(-6, 7, (12, 9), generator=g) / 4.0)  # many repeated magnitudes
    sparsity_ = float(torch.rand(1, generator=g))
    mask = ref["fine_grained_prune"](weight.clone(), sparsity_)
    assert torch.equal(mask, _numpy_mask(weight, sparsity_))


def test_fixture_edge_cases_are_what_their_names_say():
    cases = fixtures.load("pruning")["fine_grained_prune"]
    assert not bool(cases["three_dims"]["mask"].any())
    assert all(round(case["input"].numel() * case["sparsity"]) > 0 for case in cases.values())  # the no-zero edge case has its own test
    for case in cases.values():
        assert case["mask"].dtype == torch.bool
        assert torch.equal(case["mask"], _numpy_mask(case["input"], case["sparsity"]))


# ---------------------------------------------------------------- FineGrainedPruner


def test_pruner_prunes_named_weights_and_keeps_zeros_through_fine_tuning(ref):
    torch.manual_seed(0)
    model = randomize_batchnorm(VGG(width=1 / 16), 0)
    sparsity_dict = {"backbone.conv2.weight": 0.7, "backbone.conv7.weight": 0.9, "classifier.weight": 0.5, "classifier.bias": 0.5}
    before = copy.deepcopy(model.state_dict())
    pruner = ref["FineGrainedPruner"](model, sparsity_dict)
    assert set(pruner.masks) == {"backbone.conv2.weight", "backbone.conv7.weight", "classifier.weight"}  # 1-D bias ignored
    for name, mask in pruner.masks.items():
        assert torch.equal(mask, _numpy_mask(before[name], sparsity_dict[name]))
    images = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(2))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=16)
    fine_tune(model, loader, TrainConfig(epochs=2, lr=0.1), device=CPU, callbacks=[lambda: pruner.apply(model)], progress=False)
    state = model.state_dict()
    for name, mask in pruner.masks.items():
        assert not state[name][~mask].any(), f"{name}: pruned weights moved during fine-tuning"
        assert not torch.equal(state[name][mask], before[name][mask]), f"{name}: kept weights were not trained"
    assert not torch.equal(state["classifier.bias"], before["classifier.bias"])


# ---------------------------------------------------------------- channel pruning


@pytest.mark.parametrize("channels, ratio, expected", [(16, 0.3, 11), (64, 0.3, 45), (128, 0.3, 90), (10, 0.0, 10), (10, 1.0, 0), (3, 0.5, 2)])
def test_num_channels_to_keep(ref, channels, ratio, expected):
    n = ref["get_num_channels_to_keep"](channels, ratio)
    assert isinstance(n, int) and n == expected


def _vgg_macs(channels):
    """torchprofile's MACs of a VGG with conv output channels ``channels`` on one 32x32 image: each 3x3 conv
    c_in * c_out * 9 * H * W, each BN one per output element, the 2x2 average pool one per output, the classifier."""
    sizes = [32, 32, 16, 16, 8, 8, 4, 4]  # spatial size of conv i's output
    c_in = [3] + channels[:-1]
    conv = sum(ci * co * 3 * 3 * s * s for ci, co, s in zip(c_in, channels, sizes))
    bn = sum(co * s * s for co, s in zip(channels, sizes))
    return conv + bn + channels[-1] * 1 * 1 + channels[-1] * 10


@pytest.mark.parametrize("ratio, channels", [
    (0.0, [16, 32, 64, 64, 128, 128, 128, 128]),
    (0.3, [11, 22, 45, 45, 90, 90, 90, 128]),
    (0.5, [8, 16, 32, 32, 64, 64, 64, 128]),
    ([0.25, 0.5, 0.0, 0.5, 0.75, 0.5, 0.25], [12, 16, 64, 32, 32, 64, 96, 128]),
])
def test_channel_prune_shapes_and_macs_match_the_conv_formula(ref, dense, ratio, channels):
    pruned = ref["channel_prune"](dense, ratio)
    assert channel_counts(pruned) == channels
    assert channel_counts(dense) == [16, 32, 64, 64, 128, 128, 128, 128]  # the input model is left dense
    assert count_macs(pruned, torch.randn(1, 3, 32, 32)) == _vgg_macs(channels)
    for conv, bn in conv_bn_pairs(pruned):
        assert conv.out_channels == conv.weight.shape[0] == bn.num_features == bn.running_var.shape[0]


def test_dense_vgg_macs_formula():
    assert count_macs(VGG(width=0.25), torch.randn(1, 3, 32, 32)) == _vgg_macs([16, 32, 64, 64, 128, 128, 128, 128]) == 38_294_912


def test_channel_importance_is_the_l2_norm_per_input_channel(ref):
    weight = torch.randn(12, 7, 3, 3, generator=torch.Generator().manual_seed(0))
    expected = torch.linalg.vector_norm(weight, ord=2, dim=(0, 2, 3))
    torch.testing.assert_close(ref["get_input_channel_importance"](weight), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_sorting_keeps_the_function_of_a_vgg(ref, seed):
    torch.manual_seed(seed)
    model = randomize_batchnorm(VGG(width=1 / 8), seed).eval()
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model(x)
        sorted_model = ref["apply_channel_sorting"](model)
        out = sorted_model(x)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    assert not torch.equal(sorted_model.backbone.conv0.weight, model.backbone.conv0.weight)  # something was permuted


def test_sorted_then_pruned_keeps_the_most_important_channels(ref):
    """After sorting, channel_prune keeps, for conv i, the rows of the original weight whose channels have the
    largest L2 norm in conv i+1, in decreasing order (computed here with torch.topk on the original model)."""
    torch.manual_seed(5)
    model = randomize_batchnorm(VGG(width=1 / 16), 5).eval()
    pruned = ref["channel_prune"](ref["apply_channel_sorting"](model), 0.3)
    original, result = conv_bn_pairs(model), conv_bn_pairs(pruned)
    keep_prev = torch.arange(3)
    for i in range(len(original) - 1):
        (conv, bn), (next_conv, _) = original[i], original[i + 1]
        n_keep = round(conv.out_channels * 0.7)
        top = torch.topk(torch.linalg.vector_norm(next_conv.weight.detach(), dim=(0, 2, 3)), n_keep).indices
        torch.testing.assert_close(result[i][0].weight, conv.weight[top][:, keep_prev], rtol=0, atol=0)
        for t in ("weight", "bias", "running_mean", "running_var"):
            torch.testing.assert_close(getattr(result[i][1], t), getattr(bn, t)[top], rtol=0, atol=0)
        keep_prev = top


# ---------------------------------------------------------------- the thresholds, with the reference


def _epoch_and_bounded_accuracy(ref, digits, dense, sparsity_dict):
    """Test accuracy (%) of the checkpoint pruned to ``sparsity_dict`` after the question's epoch of fine-tuning and after
    the hidden check's bounded run; both with the masks re-applied, the size checked after each."""
    accuracies = []
    for bounded in (False, True):
        model = copy.deepcopy(dense)
        pruner = ref["FineGrainedPruner"](model, sparsity_dict)
        assert size_fraction(model, dense) == pytest.approx(expected_size_fraction(dense, sparsity_dict))
        if bounded:
            accuracies.append(bounded_fine_tune_accuracy(model, digits, [lambda: pruner.apply(model)]))
        else:
            with torch_threads(1):
                fine_tune(model, digits.train, FINETUNE, device=CPU, callbacks=[lambda: pruner.apply(model)], progress=False)
                accuracies.append(evaluate(model, digits.test, device=CPU, progress=False))
        assert size_fraction(model, dense) == pytest.approx(expected_size_fraction(dense, sparsity_dict))
    return accuracies


def test_reference_fine_grained_meets_the_goal_and_the_bounded_check_with_margin(ref, digits, dense):
    assert expected_size_fraction(dense, ref["sparsity_dict"]) <= SIZE_TARGET
    epoch, bounded = _epoch_and_bounded_accuracy(ref, digits, dense, ref["sparsity_dict"])
    assert epoch >= pretrained_info("vgg")["fp32_accuracy"] - FINE_GRAINED_TOLERANCE
    assert bounded >= GRADED_SPARSE_ACCURACY + 10.0, "the reference's margin over the hidden check's threshold"


def test_a_choice_that_misses_the_goal_fails_the_bounded_check_too(ref, digits, dense):
    uniform = {name: 0.7 for name in prunable_weights(dense)}  # within the size target, but prunes the sensitive layers alike
    assert expected_size_fraction(dense, uniform) <= SIZE_TARGET
    epoch, bounded = _epoch_and_bounded_accuracy(ref, digits, dense, uniform)
    assert epoch < pretrained_info("vgg")["fp32_accuracy"] - FINE_GRAINED_TOLERANCE
    assert bounded < GRADED_SPARSE_ACCURACY


def test_reference_channel_pruning_meets_macs_and_accuracy(ref, digits, dense):
    sorted_model = ref["apply_channel_sorting"](dense)
    fp32 = pretrained_info("vgg")["fp32_accuracy"]
    assert abs(evaluate(sorted_model, digits.test, device=CPU, progress=False) - fp32) < SORTING_TOLERANCE
    model = ref["channel_prune"](sorted_model, CHANNEL_PRUNE_RATIO)
    x = torch.randn(1, 3, 32, 32)
    assert count_macs(model, x) <= MACS_TARGET * count_macs(dense, x)
    with torch_threads(1):  # as the hidden test
        fine_tune(model, digits.train, FINETUNE, device=CPU, progress=False)
        accuracy = evaluate(model, digits.test, device=CPU, progress=False)
    assert accuracy >= fp32 - CHANNEL_TOLERANCE


# ---------------------------------------------------------------- helpers


def test_sensitivity_scan_restores_each_weight_and_matches_manual_pruning(ref):
    model = ConvStack((3, 4, 6, 5), seed=4)
    images = torch.randn(40, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        labels = model(images).argmax(1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=16)
    before = copy.deepcopy(model.state_dict())
    scan = sensitivity_scan(model, loader, ref["fine_grained_prune"], [0.0, 0.5, 0.9], device=CPU, progress=False)
    assert list(scan) == list(prunable_weights(model))
    assert all(len(v) == 3 and v[0] == 100.0 for v in scan.values())
    for name, value in before.items():
        assert torch.equal(model.state_dict()[name], value)
    manual = copy.deepcopy(model)
    ref["fine_grained_prune"](dict(manual.named_parameters())["backbone.conv1.weight"].data, 0.9)
    assert scan["backbone.conv1.weight"][2] == evaluate(manual, loader, device=CPU, progress=False)
    assert len(plot_sensitivity(scan, [0.0, 0.5, 0.9], 100.0).axes) == 6  # 4 panels + 2 switched off


def test_sensitivity_scan_restores_the_weight_when_pruning_raises():
    model = ConvStack(seed=1)
    before = copy.deepcopy(model.state_dict())

    def broken(tensor, s):
        tensor.zero_()
        raise NotImplementedError

    loader = [(torch.randn(2, 3, 8, 8), torch.zeros(2, dtype=torch.int64))]
    with pytest.raises(NotImplementedError):
        sensitivity_scan(model, loader, broken, [0.5], device=CPU, progress=False)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_expected_size_fraction_counts_rounded_zeros_and_rejects_unknown_names():
    model = ConvStack((3, 4, 6, 5), seed=0)
    total = count_parameters(model)
    assert expected_size_fraction(model, {}) == 1.0
    assert expected_size_fraction(model, {"backbone.conv1.weight": 0.5}) == (total - 108) / total
    with pytest.raises(KeyError, match="conv9"):
        expected_size_fraction(model, {"backbone.conv9.weight": 0.5})


def test_weight_values_and_sparsity():
    model = ConvStack((3, 4, 6, 5), seed=0)
    with torch.no_grad():
        model.backbone.conv0.weight[:2] = 0
    values = weight_values(model, nonzero_only=True)
    assert values["backbone.conv0.weight"].numel() == 2 * 3 * 9
    assert sparsity(model.backbone.conv0.weight) == 0.5
    assert len(plot_layer_weights(model, {"backbone.conv0.weight": 0.5}).axes[0].patches) == 2 * 4  # kept and pruned bar per layer


def test_fine_tune_is_reproducible_however_often_the_loader_was_used(digits):
    first, second = ConvStack(seed=0), ConvStack(seed=0)
    config = TrainConfig(epochs=1, lr=0.01, seed=3)
    small = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 3, 8, 8), torch.randint(0, 3, (64,))),
                                        batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    fine_tune(first, small, config, device=CPU, progress=False)
    list(small)  # the loader is used once more in between
    fine_tune(second, small, config, device=CPU, progress=False)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


def test_measure_costs_table_and_plot(ref):
    dense = ConvStack((3, 8, 8, 4), seed=0)
    pruned = ref["channel_prune"](dense, 0.5)
    threads = torch.get_num_threads()
    with torch_threads(3):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == threads
    rows = measure_costs({"dense": dense, "pruned": pruned}, {"dense": 90.0, "pruned": 85.0}, torch.randn(1, 3, 8, 8), rounds=2, repeats=3)
    assert torch.get_num_threads() == threads
    assert [r.name for r in rows] == ["dense", "pruned"]
    assert rows[0].parameters == count_parameters(dense, nonzero_only=True) and rows[1].parameters == count_parameters(pruned, nonzero_only=True)
    assert rows[1].macs < rows[0].macs and all(r.latency_ms > 0 for r in rows)
    table = format_costs(rows).splitlines()
    assert len(table) == 4 and table[2].startswith("| dense | 90.00 |") and "(100%)" in table[2]
    assert len(plot_costs(rows).axes) == 4


def test_answer_cells_have_unique_first_lines():
    """The release fills a stub cell with the solved cell of the same first line: two answer cells starting
    alike (e.g. both with ``@torch.no_grad()``) would get the same reference code."""
    nb = nbformat.read(MASTER, as_version=4)
    firsts = [c.source.split("\n", 1)[0] for c in nb.cells if c.cell_type == "code" and "# BEGIN SOLUTION" in c.source]
    assert len(firsts) == 7 and len(set(firsts)) == len(firsts), firsts
