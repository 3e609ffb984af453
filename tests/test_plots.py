"""Tests of compresslab.plots: histograms and comparison plots."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from compresslab import plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


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
