"""The ``sawb_qat`` notebook's own plots: the MSE table of Part 1, Table 1, the variable-precision trade-off and bit
widths of Part 3, the zero-shot table of Part 4.

Every function draws on a new figure and returns it (the notebook shows it; tests inspect it).
"""

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from torch import nn

from ..profiling import model_size_bits


def plot_mse_table(table: pd.DataFrame, title: str = "Quantization MSE by calibration method") -> plt.Figure:
    """One panel per dataset: grouped bars of MSE (log scale) per bit width, one bar per method."""
    names = list(dict.fromkeys(table.columns.get_level_values(0)))
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes.flat, names):
        sub = table[name]
        x = np.arange(len(sub.columns))
        width = 0.8 / len(sub.index)
        for i, method in enumerate(sub.index):
            ax.bar(x + (i - (len(sub.index) - 1) / 2) * width, sub.loc[method].values, width, label=method)
        ax.set_xticks(x, [f"{b} bits" for b in sub.columns])
        ax.set_yscale("log")
        ax.set_ylabel("MSE")
        ax.set_title(f"dataset {name}")
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _accuracy_groups(table: pd.DataFrame, fp32_accuracy: float, title: str, labels: list[str], figsize: tuple[float, float],
                     **legend) -> plt.Figure:
    """Grouped bars of test accuracy (%): one group per row of ``table``, one bar per column (labelled ``labels``),
    the fp32 accuracy as a dashed line; ``legend``: where matplotlib puts the legend."""
    fig, ax = plt.subplots(figsize=figsize)
    width = 0.8 / len(table.columns)
    x = np.arange(len(table.index))
    for i, (column, label) in enumerate(zip(table.columns, labels)):
        ax.bar(x + (i - (len(table.columns) - 1) / 2) * width, table[column].values, width, label=label)
    ax.axhline(fp32_accuracy, color="gray", linestyle="--", label="fp32")
    ax.set_xticks(x, table.index)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize="small", **legend)
    fig.tight_layout()
    return fig


def plot_table1(table: pd.DataFrame, fp32_accuracy: float, title: str = "Quantized ResNet-20") -> plt.Figure:
    """Grouped bars of Table 1: one group per configuration, one bar per (PTQ/QAT, method)."""
    labels = [" ".join(column) for column in table.columns]
    return _accuracy_groups(table, fp32_accuracy, title, labels, (9, 4), ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.1))


def plot_tradeoff(model: nn.Module, path: Sequence[Mapping[str, int]], evaluated: Mapping[int, float], chosen: int,
                  min_accuracy: float, fp32_accuracy: float) -> plt.Figure:
    """Accuracy against model size (KiB) along the greedy path, with the constraint and the chosen model."""
    kib = 8 * 1024
    idx = sorted(evaluated)
    sizes = [model_size_bits(model, path[i]) / kib for i in idx]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(sizes, [evaluated[i] for i in idx], marker="o", label="greedy path (search subset)")
    ax.plot([model_size_bits(model, path[chosen]) / kib], [evaluated[chosen]], marker="*", markersize=16, color="tab:red", linestyle="",
            label="chosen")
    uniform8 = model_size_bits(model, {name: 8 for name in path[0]}) / kib
    ax.axvline(uniform8, color="tab:green", linestyle=":", label="uniform 8-bit")
    ax.axhline(min_accuracy, color="tab:red", linestyle="--", label="constraint")
    ax.axhline(fp32_accuracy, color="gray", linestyle="--", label="fp32")
    ax.set_xlabel("model size (KiB)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Variable precision: accuracy vs size")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_bitwidths(bitwidths: Mapping[str, int], sizes: Mapping[str, int]) -> plt.Figure:
    """Bars of the chosen weight bits per layer (bar width ~ nothing; labels give the layer's weights)."""
    fig, ax = plt.subplots(figsize=(10, 3.5))
    names = list(bitwidths)
    ax.bar(range(len(names)), [bitwidths[n] for n in names], color="tab:blue")
    ax.set_xticks(range(len(names)), [f"{n}\n({sizes[n]:,})" for n in names], rotation=90, fontsize="x-small")
    ax.set_ylabel("weight bits")
    ax.set_title("Chosen weight bit width per layer (number of weights)")
    fig.tight_layout()
    return fig


def plot_zero_shot(table: pd.DataFrame, fp32_accuracy: float, title: str = "Calibration data for PTQ") -> plt.Figure:
    """Grouped bars: one group per configuration, one bar per calibration set, the fp32 accuracy as a line."""
    return _accuracy_groups(table, fp32_accuracy, title, list(table.columns), (8, 4), loc="lower left")
