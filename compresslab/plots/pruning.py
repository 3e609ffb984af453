"""The ``pruning`` notebook's own plots: the sensitivity scan, the weights kept per layer, and the cost of each model.

Every function draws on a new figure and returns it (the notebook shows it; tests inspect it).
"""

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from torch import nn

from ..pruning_helpers import Cost, prunable_weights


def plot_sensitivity(scan: Mapping[str, Sequence[float]], sparsities: Sequence[float], dense_accuracy: float, tolerance: float = 1.0,
                     columns: int = 3) -> plt.Figure:
    """One panel per weight of ``scan`` (``pruning_helpers.sensitivity_scan``): accuracy against the sparsity of that
    weight alone, with the dense accuracy (dashed) and the dense accuracy minus ``tolerance`` (dotted)."""
    rows = math.ceil(len(scan) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False, sharey=True)
    for ax, (name, accuracies) in zip(axes.flat, scan.items()):
        ax.plot(list(sparsities), list(accuracies), marker="o", color="tab:blue", label="pruned alone")
        ax.axhline(dense_accuracy, color="gray", linestyle="--", label="dense")
        ax.axhline(dense_accuracy - tolerance, color="tab:red", linestyle=":", label=f"dense - {tolerance:g}")
        ax.set_title(name)
        ax.set_xlabel("sparsity")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(scan):]:
        ax.axis("off")
    axes.flat[0].legend(loc="lower left", fontsize="small")
    fig.suptitle("Sensitivity: accuracy when one layer is pruned")
    fig.tight_layout()
    return fig


def plot_layer_weights(model: nn.Module, sparsity_dict: Mapping[str, float] | None = None) -> plt.Figure:
    """Bars of the weights of each prunable layer (log scale): kept weights in blue, stacked on the weights
    ``sparsity_dict`` would prune (grey), each bar labelled with its sparsity."""
    sparsity_dict = sparsity_dict or {}
    params = prunable_weights(model)
    labels = [n.replace("backbone.", "").replace(".weight", "") for n in params]
    totals = [p.numel() for p in params.values()]
    pruned = [round(t * min(max(sparsity_dict.get(n, 0.0), 0.0), 1.0)) for n, t in zip(params, totals)]
    kept = [t - z for t, z in zip(totals, pruned)]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels)), 4))
    ax.bar(labels, kept, color="tab:blue", label="kept")
    bars = ax.bar(labels, pruned, bottom=kept, color="lightgray", label="pruned")
    ax.bar_label(bars, labels=[f"s={sparsity_dict.get(n, 0.0):.2f}" for n in params], fontsize="small")
    ax.set_yscale("log")
    ax.set_ylim(bottom=min(totals) / 10)  # the smallest layer's bar stays visible
    ax.set_ylabel("weights")
    ax.set_title(f"Conv and linear weights per layer: {sum(kept):,} of {sum(totals):,} kept")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def plot_costs(rows: Sequence[Cost]) -> plt.Figure:
    """Four bar panels (accuracy, size, MACs, latency), one bar per model (``pruning_helpers.measure_costs``' rows)."""
    panels = [("accuracy (%)", lambda r: r.accuracy, "%.2f"), ("size (MiB)", lambda r: r.size_mib, "%.3f"),
              ("MACs (M)", lambda r: r.macs / 1e6, "%.1f"), ("latency (ms)", lambda r: r.latency_ms, "%.3f")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4))
    names = [r.name for r in rows]
    colors = ["tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:red"][: len(rows)]
    for ax, (label, value, fmt) in zip(axes, panels):
        bars = ax.bar(names, [value(r) for r in rows], color=colors)
        ax.bar_label(bars, fmt=fmt, fontsize="small")
        ax.set_title(label)
        ax.tick_params(axis="x", rotation=20)
    fig.suptitle("Dense vs pruned")
    fig.tight_layout()
    return fig
