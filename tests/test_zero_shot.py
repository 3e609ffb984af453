"""sawb_qat Part 4 (zero-shot calibration): the reference ``bn_statistics_loss`` against independent computations
(float64 NumPy, PyTorch's own batch norm, autograd's gradcheck), the distillation loop of ``compresslab.zero_shot``,
the accuracy relation the notebook states (measured), and which of q10's checks catch the catalog's mutants, as the
real grading path recorded it (``make fixtures``: ``data/fixtures/sawb_qat.mistakes.pt``)."""

import numpy as np
import pytest
import torch
from torch import nn

from otter.test_files import ExceptionTestFile

from compresslab import fixtures, mutation, zero_shot
from compresslab.grading.autograders import otter_tests
from compresslab.paths import course
from compresslab.checkpoints import load_pretrained
from compresslab.device import torch_threads
from compresslab.data import first_images
from compresslab.fake_quantization import QuantOps
from compresslab.hidden.common import grading_digits
from compresslab.hidden.sawb_qat import GRADED_ZERO_SHOT_MAX_DROP, graded_zero_shot
from compresslab.training import evaluate

from test_sawb_qat import ref  # noqa: F401 (the master's graded functions, a fixture)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def resnet():
    return load_pretrained("resnet20", CPU)


def _numpy_loss(features: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float) -> float:
    """The notebook's formula in float64 NumPy: per channel over (N, H, W), biased variance, mean over channels."""
    by_channel = features.transpose(1, 0, 2, 3).reshape(features.shape[1], -1)  # (C, N * H * W)
    std = np.sqrt(by_channel.var(axis=1) + eps)
    return float(np.mean((by_channel.mean(axis=1) - mean) ** 2 + (std - np.sqrt(var + eps)) ** 2))


@pytest.mark.parametrize("shape, eps", [((4, 3, 5, 5), 1e-5), ((1, 6, 2, 7), 0.1), ((8, 2, 1, 1), 1e-3)])
def test_loss_matches_float64_numpy(ref, shape, eps):
    g = torch.Generator().manual_seed(sum(shape))
    features = torch.randn(shape, generator=g) * 2 + 0.5
    mean, var = torch.randn(shape[1], generator=g), torch.rand(shape[1], generator=g) + 0.1
    loss = ref["bn_statistics_loss"](features, mean, var, eps)
    expected = _numpy_loss(features.double().numpy(), mean.double().numpy(), var.double().numpy(), eps)
    assert loss.dim() == 0
    assert abs(float(loss) - expected) <= 1e-5 * max(1.0, expected)


def test_loss_is_zero_for_the_statistics_batch_norm_measures(ref):
    """nn.BatchNorm2d in training mode with momentum 1 stores the batch mean and the unbiased variance: rescaled to
    the biased one (what it normalizes with), the loss against them is zero, and positive for the unbiased one."""
    features = torch.randn(5, 4, 3, 3, generator=torch.Generator().manual_seed(1))
    norm = nn.BatchNorm2d(4, momentum=1.0).train()
    norm(features)
    count = 5 * 3 * 3
    biased = norm.running_var * (count - 1) / count
    assert float(ref["bn_statistics_loss"](features, norm.running_mean, biased, norm.eps)) < 1e-10
    assert float(ref["bn_statistics_loss"](features, norm.running_mean, norm.running_var, norm.eps)) > 1e-5


def test_loss_gradient_passes_gradcheck(ref):
    g = torch.Generator().manual_seed(2)
    features = torch.randn(3, 2, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    mean, var = torch.randn(2, generator=g, dtype=torch.float64), torch.rand(2, generator=g, dtype=torch.float64) + 0.5
    assert torch.autograd.gradcheck(lambda x: ref["bn_statistics_loss"](x, mean, var, 1e-3), (features,))


def test_gaussian_images_are_seeded_standard_normal():
    a, b = zero_shot.gaussian_images(64, seed=5), zero_shot.gaussian_images(64, seed=5)
    assert a.shape == (64, 3, 32, 32) and a.dtype == torch.float32 and torch.equal(a, b)
    assert not torch.equal(a, zero_shot.gaussian_images(64, seed=6))
    assert abs(float(a.mean())) < 0.01 and abs(float(a.std()) - 1) < 0.01


def test_distillation_lowers_the_loss_is_seeded_and_leaves_the_model_alone(ref, resnet):
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    with torch_threads(1):
        images, losses = zero_shot.distill_images(resnet, ref["bn_statistics_loss"], count=4, steps=6, device=CPU)
        again, _ = zero_shot.distill_images(resnet, ref["bn_statistics_loss"], count=4, steps=6, device=CPU)
    assert images.shape == (4, 3, 32, 32) and not images.requires_grad and torch.equal(images, again)
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]
    # the first loss is the reference loss summed over the 21 batch norms on the starting noise
    assert len(zero_shot.batch_norms(resnet)) == 21  # one after each convolution
    inputs = {}
    hooks = [n.register_forward_hook(lambda layer, args, out: inputs.__setitem__(layer, args[0])) for n in zero_shot.batch_norms(resnet)]
    with torch.no_grad():
        resnet(zero_shot.gaussian_images(4))
    for hook in hooks:
        hook.remove()
    first = sum(float(ref["bn_statistics_loss"](inputs[n], n.running_mean, n.running_var, n.eps)) for n in zero_shot.batch_norms(resnet))
    assert abs(losses[0] - first) <= 1e-4 * first
    assert all(torch.equal(before[k], v) for k, v in resnet.state_dict().items()), "distillation changed the model"
    assert all(p.requires_grad and p.grad is None for p in resnet.parameters()), "distillation left gradients or frozen parameters"
    assert not resnet.training


def test_distilled_images_calibrate_w4a4_as_well_as_real_ones_and_far_better_than_noise(ref, resnet):
    """The relation the notebook states (Part 4), measured on the full test set of the embedded dataset."""
    ops, digits = QuantOps.from_namespace(ref), grading_digits()
    with torch_threads(1):  # PyTorch's threads only wait for each other on a shared 2-core machine
        distilled, _ = zero_shot.distill_images(resnet, ref["bn_statistics_loss"], device=CPU)
        sets = {"real": first_images(digits.train.dataset, zero_shot.ZERO_SHOT_IMAGES), "Gaussian": zero_shot.gaussian_images(), "distilled": distilled}
        table = zero_shot.zero_shot_table(resnet, ops, sets, digits.test, configs=((4, 4),), device=CPU)
        fp32 = evaluate(resnet, digits.test, device=CPU, progress=False)
    real, noise, ours = (float(table.loc["W4A4", name]) for name in sets)
    assert ours >= noise + 20, f"distilled {ours:.2f}% vs Gaussian {noise:.2f}%"
    assert ours >= real - 2 and ours >= fp32 - 5, f"distilled {ours:.2f}% vs real {real:.2f}%, fp32 {fp32:.2f}%"


def test_hidden_accuracy_check_passes_the_reference_and_fails_undistilled_noise(ref):
    ops = QuantOps.from_namespace(ref)
    accuracy, fp32 = graded_zero_shot(ops, ref["bn_statistics_loss"])
    assert accuracy >= fp32 - GRADED_ZERO_SHOT_MAX_DROP

    def no_loss(features, running_mean, running_var, eps):  # leaves the starting Gaussian noise as it is
        return features.sum() * 0

    noise_accuracy, _ = graded_zero_shot(ops, no_loss)
    assert noise_accuracy < fp32 - GRADED_ZERO_SHOT_MAX_DROP, "the hidden check cannot tell distilled data from noise"


def test_fixtures_hold_the_reference_losses(ref):
    cases = fixtures.load("sawb_qat")["bn_statistics_loss"]
    assert len(cases) >= 4 and any(case["eps"] >= 0.1 for case in cases)
    for case in cases:
        features = case["features"].clone().requires_grad_(True)
        loss = ref["bn_statistics_loss"](features, case["running_mean"], case["running_var"], case["eps"])
        loss.backward()
        assert torch.allclose(loss.detach(), case["loss"], rtol=1e-5) and torch.allclose(features.grad, case["grad"], rtol=1e-4, atol=1e-7)


BN_MUTANTS = [m for m in mutation.catalog("sawb_qat") if m.function == "bn_statistics_loss"]


def test_catalog_has_five_mutants_of_the_loss():
    assert len(BN_MUTANTS) >= 5


def _q10_cases() -> dict[str, str]:
    """q10's test functions by their case names in the autograder ("q10 - 1": "test_q10_small_batches", ...)."""
    test_file = ExceptionTestFile.from_string(otter_tests(course().autograder("sawb_qat"))["tests/q10.py"], path="tests/q10.py")
    return {case.name: getattr(case.body, "test_func", case.body).__name__ for case in test_file.test_cases}


@pytest.mark.parametrize("mutant", BN_MUTANTS, ids=[m.description for m in BN_MUTANTS])
def test_q10_checks_catch_the_mutant(mutant):
    """Graded through the real path (the zygote, the grader's verdicts), each mistake fails a public check and the
    hidden one; the accuracy check is not meant to catch slips in the loss."""
    stored = torch.load(course().mistakes("sawb_qat"), weights_only=True)
    index = [m["description"] for m in stored["mistakes"]].index(mutant.description)
    names = _q10_cases()
    failed = {names[case] for case, entries in stored["cases"].get("q10", {}).items() if any(e["mistake"] == index for e in entries)}
    assert failed & {"test_q10_small_batches", "test_q10_gradient"}, "no public check catches it"
    assert "test_q10_hidden_losses" in failed, "the hidden check does not catch it"
