"""Plots people compare: histograms of weights/activations and accuracy or cost comparisons.

Every function draws on a new figure and returns it (the notebook shows it; tests inspect it).
"""

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from .stats import value_range


def _as_numpy(values) -> np.ndarray:
    return torch.as_tensor(values).detach().cpu().flatten().numpy()


def plot_histograms(
    values: Mapping[str, np.ndarray | torch.Tensor],
    title: str = "",
    bins: int = 50,
    xlabel: str = "value",
    show_three_sigma: bool = False,
    columns: int = 3,
) -> plt.Figure:
    """One histogram per entry of ``values`` (name -> array of any shape), in a grid.

    show_three_sigma: draw dashed lines at mean +- 3 std and dotted lines at the full range.
    """
    rows = math.ceil(len(values) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax, (name, data) in zip(axes.flat, values.items()):
        flat = _as_numpy(data)
        ax.hist(flat, bins=bins, color="tab:blue", alpha=0.8)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        if show_three_sigma:
            stats = value_range(flat)
            for x in stats.three_sigma:
                ax.axvline(x, color="tab:red", linestyle="--", linewidth=1)
            for x in (stats.min, stats.max):
                ax.axvline(x, color="black", linestyle=":", linewidth=1)
    for ax in list(axes.flat)[len(values):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_bitwidth(
    accuracies: Mapping[str, Mapping[int, float]], fp32_accuracy: float | None = None, title: str = "Accuracy vs bit width"
) -> plt.Figure:
    """Lines of accuracy (%) against bit width, one per method (method -> {bitwidth: accuracy})."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, by_bits in accuracies.items():
        bits = sorted(by_bits)
        ax.plot(bits, [by_bits[b] for b in bits], marker="o", label=method)
    if fp32_accuracy is not None:
        ax.axhline(fp32_accuracy, color="gray", linestyle="--", label="fp32")
    ax.set_xlabel("bit width")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_bars(values: Mapping[str, float], ylabel: str, title: str = "") -> plt.Figure:
    """A labelled bar per entry (name -> value), e.g. accuracy of fp32 vs quantized models."""
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(values)), 4))
    bars = ax.bar(list(values), list(values.values()), color="tab:blue")
    ax.bar_label(bars, fmt="%.2f")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig
