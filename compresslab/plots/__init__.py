"""Plots people compare: every plot of the package lives in this package.

Here, the plots several notebooks share: histograms of weights/activations and accuracy or cost comparisons. A
notebook's own plots are in ``plots/<notebook>.py`` (``kmeans_linear``, ``pruning``, ``sawb_qat``).

Every function draws on a new figure and returns it (the notebook shows it; tests inspect it).
"""

import math
from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

# Line style of each range drawn on a histogram, in the order the ranges are given (cycled).
_RANGE_STYLES = (("black", ":"), ("tab:red", "--"), ("tab:green", "-."))


def _as_numpy(values) -> np.ndarray:
    return torch.as_tensor(values).detach().cpu().flatten().numpy()


def plot_histograms(
    values: Mapping[str, np.ndarray | torch.Tensor],
    title: str = "",
    bins: int = 50,
    xlabel: str = "value",
    ranges: Mapping[str, Callable[[np.ndarray], tuple[float, float]]] | None = None,
    columns: int = 3,
) -> plt.Figure:
    """One histogram per entry of ``values`` (name -> array of any shape), in a grid.

    ranges: label -> function of a flat float64 NumPy array returning ``(low, high)``; each range is drawn on every
    histogram as a pair of vertical lines in its own style and named in the first histogram's legend. The notebooks
    pass the student's functions here (``{"full range": full_range, "3-sigma range": three_sigma_range}``), so the
    plot shows what their code computes.
    """
    rows = math.ceil(len(values) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax, (name, data) in zip(axes.flat, values.items()):
        flat = _as_numpy(data)
        ax.hist(flat, bins=bins, color="tab:blue", alpha=0.8)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        for i, (label, range_of) in enumerate((ranges or {}).items()):
            color, linestyle = _RANGE_STYLES[i % len(_RANGE_STYLES)]
            low, high = range_of(flat.astype(np.float64))
            ax.axvline(float(low), color=color, linestyle=linestyle, linewidth=1, label=label)
            ax.axvline(float(high), color=color, linestyle=linestyle, linewidth=1)
    if ranges:
        axes.flat[0].legend(fontsize="small")
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
