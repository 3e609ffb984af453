"""Unit tests of the compresslab library (everything except compresslab.data, see test_data.py)."""

import math
from dataclasses import asdict, replace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from compresslab import checks, models, plots, profiling
from compresslab.checkpoints import PRETRAINED, build_model, get_fp32_model, load_pretrained, normalization_of, pretrained_info
from compresslab.data import DataLoaders, load_dataset
from compresslab.device import get_device
from compresslab.training import TrainConfig, evaluate, set_seed, train

CPU = torch.device("cpu")
CHECKPOINTS = ["net", "net_with_bias", "vgg", "resnet20"]


def conv_params(c_in, c_out, k):
    return c_in * c_out * k * k


def bn_params(c):
    return 2 * c  # weight and bias


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- models


@pytest.mark.parametrize(
    "make_model, batch",
    [
        (models.Net, 2),
        (models.NetWithBias, 2),
        (lambda: models.VGG(width=0.25), 2),
        (lambda: models.VGG(width=1.0), 1),
        (models.resnet20, 2),
    ],
    ids=["net", "net_with_bias", "vgg_0.25", "vgg_1.0", "resnet20"],
)
def test_models_map_images_to_ten_logits(make_model, batch):
    model = make_model().eval()
    with torch.no_grad():
        out = model(torch.randn(batch, 3, 32, 32))
    assert out.shape == (batch, 10)


def test_net_has_no_bias():
    model = models.Net()
    assert [name for name, _ in model.named_parameters() if name.endswith("bias")] == []


def test_net_with_bias_has_only_fc3_bias():
    model = models.NetWithBias()
    assert [name for name, _ in model.named_parameters() if name.endswith("bias")] == ["fc3.bias"]


def test_resnet20_has_21_convolutions():
    assert sum(isinstance(m, nn.Conv2d) for m in models.resnet20().modules()) == 21


def test_resnet20_parameter_count():
    stem = conv_params(3, 16, 3) + bn_params(16)
    block = lambda c_in, c_out: conv_params(c_in, c_out, 3) + conv_params(c_out, c_out, 3) + 2 * bn_params(c_out)
    shortcut = lambda c_in, c_out: conv_params(c_in, c_out, 1) + bn_params(c_out)
    stage1 = 3 * block(16, 16)
    stage2 = block(16, 32) + shortcut(16, 32) + 2 * block(32, 32)
    stage3 = block(32, 64) + shortcut(32, 64) + 2 * block(64, 64)
    fc = 64 * 10 + 10
    expected = stem + stage1 + stage2 + stage3 + fc
    assert profiling.count_parameters(models.resnet20()) == expected
    assert expected == pytest.approx(0.27e6, rel=0.01)


@pytest.mark.parametrize("width", [0.25, 1.0])
def test_vgg_width_scales_channels(width):
    model = models.VGG(width=width)
    expected = [int(c * width) for c in (64, 128, 256, 256, 512, 512, 512, 512)]
    convs = [m for m in model.backbone if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == expected
    assert [m.in_channels for m in convs] == [3] + expected[:-1]
    assert model.classifier.in_features == expected[-1]


# ---------------------------------------------------------------- profiling


def test_count_parameters_of_net():
    expected = conv_params(3, 6, 5) + conv_params(6, 16, 5) + 400 * 120 + 120 * 84 + 84 * 10
    assert profiling.count_parameters(models.Net()) == expected


@pytest.mark.parametrize("width", [0.25, 1.0])
def test_count_parameters_of_vgg(width):
    channels = [3] + [int(c * width) for c in (64, 128, 256, 256, 512, 512, 512, 512)]
    convs = sum(conv_params(c_in, c_out, 3) + bn_params(c_out) for c_in, c_out in zip(channels, channels[1:]))
    assert profiling.count_parameters(models.VGG(width=width)) == convs + channels[-1] * 10 + 10


def test_count_parameters_nonzero_only_skips_zeros():
    model = nn.Linear(10, 4)
    with torch.no_grad():
        model.weight[:2] = 0.0  # 2 rows of 10 weights
    assert profiling.count_parameters(model, nonzero_only=True) == 10 * 4 + 4 - 2 * 10


@pytest.mark.parametrize("bitwidth", [32, 8, 4])
def test_model_size_at_bitwidth(bitwidth):
    model = nn.Linear(3, 5)  # 15 weights + 5 biases
    assert profiling.model_size_bits(model, bitwidth) == 20 * bitwidth
    assert profiling.model_size_bytes(model, bitwidth) == 20 * bitwidth / 8


@pytest.mark.parametrize(
    "model, input_shape, expected",
    [
        (nn.Conv2d(3, 8, 3), (1, 3, 8, 8), 8 * 6 * 6 * 3 * 3 * 3),
        (nn.Conv2d(3, 8, 3, stride=2, bias=False), (2, 3, 9, 9), 2 * 8 * 4 * 4 * 3 * 3 * 3),
        (nn.Conv2d(4, 4, 3, padding=1, groups=4), (1, 4, 5, 5), 4 * 5 * 5 * 3 * 3),
        (nn.Linear(16, 4), (1, 16), 16 * 4),
        (nn.Linear(16, 4), (2, 16), 2 * 16 * 4),
        (nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 5)), (1, 3, 8, 8), 2 * 6 * 6 * 3 * 3 * 3 + 2 * 6 * 6 * 5),
        (models.Net(), (1, 3, 32, 32), 6 * 28 * 28 * 3 * 5 * 5 + 16 * 10 * 10 * 6 * 5 * 5 + 400 * 120 + 120 * 84 + 84 * 10),
    ],
    ids=["conv", "conv_stride2_batch2", "depthwise", "linear", "linear_batch2", "conv_relu_linear", "net"],
)
def test_count_macs(model, input_shape, expected):
    assert profiling.count_macs(model, torch.zeros(input_shape)) == expected


@pytest.mark.parametrize("training", [True, False])
def test_count_macs_keeps_training_mode(training):
    model = models.Net().train(training)
    profiling.count_macs(model, torch.zeros(1, 3, 32, 32))
    assert model.training is training


def test_measure_latency_runs_warmup_plus_repeats_forwards():
    model = nn.Linear(4, 2)
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    seconds = profiling.measure_latency(model, torch.zeros(1, 4), warmup=2, repeats=5)
    assert len(calls) == 2 + 5
    assert isinstance(seconds, float) and math.isfinite(seconds) and seconds >= 0.0


# ---------------------------------------------------------------- training


def separable_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long()
    return TensorDataset(x, y)


def one_hot_loader(labels, predicted, batch_size=4):
    """Inputs are the one-hot codes of ``predicted``, so ``nn.Identity`` predicts ``predicted``."""
    return DataLoader(TensorDataset(F.one_hot(predicted, 10).float(), labels), batch_size=batch_size)


TINY = TrainConfig(epochs=4, lr=0.1, seed=0)


def test_set_seed_makes_training_reproducible():
    def run():
        set_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        train(model, DataLoader(separable_data(), batch_size=16, shuffle=True), TINY, device=CPU, progress=False)
        return model.state_dict()

    first, second = run(), run()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_train_returns_one_decreasing_loss_per_epoch():
    model = nn.Linear(4, 2)
    losses = train(model, DataLoader(separable_data(), batch_size=16, shuffle=True), TINY, device=CPU, progress=False)
    assert len(losses) == TINY.epochs
    assert losses[-1] < losses[0]


def test_train_calls_callbacks_once_per_step():
    loader = DataLoader(separable_data(n=40), batch_size=16)  # 3 batches
    calls = []
    train(nn.Linear(4, 2), loader, TINY, device=CPU, callbacks=[lambda: calls.append(1)], progress=False)
    assert len(calls) == TINY.epochs * 3


def test_train_bounded_by_max_steps_stops_and_anneals_over_them(monkeypatch):
    loader = DataLoader(separable_data(n=40), batch_size=16)  # 3 batches per epoch
    calls, rates = [], []
    original_step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording_step)
    losses = train(nn.Linear(4, 2), loader, TINY, device=CPU, callbacks=[lambda: calls.append(1)], progress=False, max_steps=5)
    assert len(calls) == 5, "max_steps=5 must make exactly 5 optimizer steps"
    assert len(losses) == 2, "5 steps of 3 batches per epoch touch 2 epochs: one mean loss each"
    expected = [TINY.lr * (1 + math.cos(math.pi * step / 5)) / 2 for step in range(5)]  # cosine annealed over the 5 steps
    torch.testing.assert_close(rates, expected, rtol=1e-6, atol=1e-9)


def test_train_callbacks_run_after_the_optimizer_step():
    model = nn.Linear(4, 2)

    def prune_first_input():
        with torch.no_grad():
            model.weight[:, 0] = 0.0

    train(model, DataLoader(separable_data(), batch_size=16), TINY, device=CPU, callbacks=[prune_first_input], progress=False)
    torch.testing.assert_close(model.weight[:, 0], torch.zeros(2), rtol=0, atol=0)


def test_evaluate_is_100_for_perfect_predictions():
    labels = torch.arange(20) % 10
    assert evaluate(nn.Identity(), one_hot_loader(labels, labels), device=CPU, progress=False) == 100.0


def test_evaluate_is_the_percentage_of_correct_predictions():
    labels = torch.arange(20) % 10
    predicted = labels.clone()
    predicted[:7] = (labels[:7] + 1) % 10  # 7 wrong
    assert evaluate(nn.Identity(), one_hot_loader(labels, predicted), device=CPU, progress=False) == pytest.approx(100.0 * 13 / 20, abs=1e-9)


def test_evaluate_max_samples_stops_early():
    labels = torch.arange(20) % 10
    predicted = labels.clone()
    predicted[8:] = (labels[8:] + 1) % 10  # only the first 2 batches of 4 are right
    model = nn.Identity()
    batches = []
    model.register_forward_hook(lambda *_: batches.append(1))
    accuracy = evaluate(model, one_hot_loader(labels, predicted), max_samples=6, device=CPU, progress=False)
    assert len(batches) == 2
    assert accuracy == 100.0


def test_evaluate_applies_extra_preprocess_in_order():
    labels = torch.arange(8) % 10
    log = []

    def shift(x):
        log.append("shift")
        return x.roll(1, dims=1)

    def unshift(x):
        log.append("unshift")
        return x.roll(-1, dims=1)

    accuracy = evaluate(nn.Identity(), one_hot_loader(labels, labels), extra_preprocess=[shift, unshift], device=CPU, progress=False)
    assert log == ["shift", "unshift"] * 2  # 2 batches of 4
    assert accuracy == 100.0


def test_evaluate_feeds_the_preprocessed_inputs_to_the_model():
    labels = torch.arange(8) % 10
    shift = lambda x: x.roll(1, dims=1)  # one-hot of label + 1: always wrong
    assert evaluate(nn.Identity(), one_hot_loader(labels, labels), extra_preprocess=[shift], device=CPU, progress=False) == 0.0


# ---------------------------------------------------------------- plots


def test_plot_histograms_grid():
    rng = np.random.default_rng(0)
    values = {f"layer{i}": rng.normal(size=(3, 7)) for i in range(4)}
    fig = plots.plot_histograms(values, bins=12, columns=3)
    assert isinstance(fig, plt.Figure)
    assert len(fig.axes) == 2 * 3  # 2 rows of 3, 2 left blank
    shown = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in shown] == list(values)
    assert all(len(ax.patches) == 12 for ax in shown)


def test_plot_histograms_draws_each_given_range_with_its_label():
    """The range functions (the student's, in the notebook) get the flat float64 values; each range is a pair of lines."""
    data = np.random.default_rng(0).normal(size=(20, 25)).astype(np.float32)
    seen = []

    def full(values):
        seen.append((values.dtype, values.shape))
        return values.min(), values.max()

    def fixed(values):
        return -1.5, 2.5

    fig = plots.plot_histograms({"w": torch.from_numpy(data)}, ranges={"full range": full, "fixed": fixed}, columns=1)
    ax = fig.axes[0]
    assert seen == [(np.float64, (500,))]
    positions = [line.get_xdata()[0] for line in ax.lines]
    torch.testing.assert_close(torch.tensor(positions, dtype=torch.float64),
                               torch.tensor([data.min(), data.max(), -1.5, 2.5], dtype=torch.float64), rtol=0, atol=0)
    assert [line.get_linestyle() for line in ax.lines][::2] == [":", "--"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["full range", "fixed"]


def test_plot_histograms_without_ranges_draws_no_lines():
    fig = plots.plot_histograms({"a": np.arange(10.0), "b": np.ones(3)}, columns=2)
    assert all(not ax.lines for ax in fig.axes) and fig.axes[0].get_legend() is None


@pytest.mark.parametrize("fp32_accuracy, extra_lines", [(None, 0), (97.5, 1)])
def test_plot_accuracy_vs_bitwidth_lines(fp32_accuracy, extra_lines):
    accuracies = {"linear": {8: 97.0, 2: 40.0, 4: 90.0}, "kmeans": {4: 95.0, 2: 80.0}}
    fig = plots.plot_accuracy_vs_bitwidth(accuracies, fp32_accuracy=fp32_accuracy)
    assert isinstance(fig, plt.Figure)
    (ax,) = fig.axes
    assert len(ax.lines) == len(accuracies) + extra_lines
    linear = ax.lines[0]
    assert list(linear.get_xdata()) == [2, 4, 8]
    assert list(linear.get_ydata()) == [40.0, 90.0, 97.0]


def test_plot_bars_one_labelled_bar_per_entry():
    values = {"fp32": 96.25, "int8": 95.5, "int4": 80.125}
    fig = plots.plot_bars(values, ylabel="accuracy (%)")
    assert isinstance(fig, plt.Figure)
    (ax,) = fig.axes
    assert [bar.get_height() for bar in ax.patches] == list(values.values())
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for v in values.values()]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(values)


# ---------------------------------------------------------------- checks


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


# ---------------------------------------------------------------- device


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_get_device_defaults_to_cpu_without_cuda():
    assert get_device(None) == CPU


def test_get_device_cpu_on_request():
    assert get_device("cpu") == CPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_get_device_cuda_without_gpu_raises():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        get_device("cuda")


# ---------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_pretrained_accuracy_matches_stored_accuracy(name):
    info = pretrained_info(name)
    loaders = load_dataset("digits", normalization=info["normalization"])
    accuracy = evaluate(load_pretrained(name, CPU), loaders.test, device=CPU, progress=False)
    torch.testing.assert_close(accuracy, info["fp32_accuracy"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_pretrained_info_matches_its_spec(name):
    info = pretrained_info(name)
    assert info["kwargs"] == PRETRAINED[name].kwargs
    assert info["config"] == asdict(PRETRAINED[name].config)
    assert info["normalization"] == normalization_of(name)


def test_load_pretrained_returns_eval_model_on_device():
    model = load_pretrained("net", CPU)
    assert isinstance(model, models.Net)
    assert not model.training
    assert all(p.device == CPU for p in model.parameters())


@pytest.mark.parametrize("name, model_type", [("net", models.Net), ("net_with_bias", models.NetWithBias), ("vgg", models.VGG), ("resnet20", models.ResNet)])
def test_build_model_matches_checkpoint_architecture(name, model_type):
    fresh, shipped = build_model(name), load_pretrained(name, CPU)
    assert type(fresh) is model_type
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {k: v.shape for k, v in shipped.state_dict().items()}


@pytest.mark.parametrize(
    "function",
    [
        build_model,
        normalization_of,
        load_pretrained,
        pretrained_info,
    ],
)
def test_unknown_checkpoint_name_raises_key_error(function):
    with pytest.raises(KeyError, match="unknown checkpoint 'resnet18'"):
        function("resnet18")


def test_missing_checkpoint_file_says_how_to_rebuild(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESSLAB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="make checkpoints") as error:
        load_pretrained("net", CPU)
    assert str(tmp_path / "checkpoints" / "net.pt") in str(error.value)


def test_get_fp32_model_on_digits_is_the_shipped_checkpoint():
    model = get_fp32_model("net", load_dataset("digits"), epochs=1, device=CPU)
    shipped = load_pretrained("net", CPU).state_dict()
    assert all(torch.equal(v, shipped[k]) for k, v in model.state_dict().items())


def test_get_fp32_model_elsewhere_trains_a_fresh_model_for_the_given_epochs():
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g))
    loaders = DataLoaders(train=DataLoader(data, batch_size=4), test=DataLoader(data, batch_size=4), name="cifar10")

    torch.manual_seed(1)
    expected = build_model("net")
    train(expected, loaders.train, replace(PRETRAINED["net"].config, epochs=2), device=CPU, progress=False)
    torch.manual_seed(1)
    model = get_fp32_model("net", loaders, epochs=2, device=CPU)

    assert all(torch.equal(v, expected.state_dict()[k]) for k, v in model.state_dict().items())


def test_fixture_differences_exact_for_integers_tolerant_for_last_float_bits():
    import torch

    from compresslab.fixtures import FLOAT_RTOL, differences

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
