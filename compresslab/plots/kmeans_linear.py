"""Plots of the ``kmeans_linear`` notebook, seed 000's two helpers:

- ``plot_matrix``: a small 2-D tensor as a grid of cells labelled with their values (on a given axes);
- ``plot_weight_distribution``: one histogram per weight tensor of a model (a new figure, returned).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from torch import nn


def plot_matrix(tensor: torch.Tensor, ax, title: str, vmin: float = -0.5, vmax: float = 0.5, cmap=None) -> None:
    """Draw a 2-D tensor (any dtype) on ``ax`` as a grid of coloured cells, each labelled with its value: floats with
    two decimals, integers as they are. ``vmin``/``vmax`` bound the colour scale; without ``cmap`` every cell is white."""
    tensor = tensor.detach().cpu()
    ax.imshow(tensor.float().numpy(), vmin=vmin, vmax=vmax, cmap=cmap or ListedColormap(["white"]))
    ax.set_title(title)
    ax.set_yticklabels([])
    ax.set_xticklabels([])
    for i in range(tensor.shape[0]):
        for j in range(tensor.shape[1]):
            datum = tensor[i, j].item()
            ax.text(j, i, f"{datum:.2f}" if isinstance(datum, float) else f"{datum}", ha="center", va="center", color="k")


def plot_weight_distribution(model: nn.Module, bitwidth: int = 32) -> plt.Figure:
    """Histogram of every weight tensor (``dim > 1``) of ``model``, three per row; for ``bitwidth <= 8`` the weights
    are expected to hold integers and get one bin per integer of the signed range. Returns the figure."""
    if bitwidth <= 8:
        qmin, qmax = -(1 << (bitwidth - 1)), (1 << (bitwidth - 1)) - 1
        bins, align = np.arange(qmin, qmax + 2), "left"
    else:
        bins, align = 256, "mid"
    weights = [(name, param) for name, param in model.named_parameters() if param.dim() > 1]
    columns = 3
    rows = -(-len(weights) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(10, 2 * rows + 0.5), squeeze=False)
    for ax, (name, param) in zip(axes.ravel(), weights):
        ax.hist(param.detach().view(-1).float().cpu(), bins=bins, density=True, align=align, color="blue", alpha=0.5,
                edgecolor="black" if bitwidth <= 4 else None)
        if bitwidth <= 4:
            ax.set_xticks(np.arange(start=qmin, stop=qmax + 1))
        ax.set_xlabel(name)
        ax.set_ylabel("density")
    for ax in list(axes.ravel())[len(weights):]:
        ax.axis("off")
    fig.suptitle(f"Histogram of Weights (bitwidth={bitwidth} bits)")
    fig.tight_layout()
    return fig
