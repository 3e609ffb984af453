"""Ungraded plumbing of the ``kmeans_linear`` notebook (seed 000's hw10, after MIT 6.5940 Lab 2).

Convention of that lab: a real value ``r`` is represented by an integer ``q`` with a *scale*
``S`` (a real number) and a *zero point* ``Z`` (an integer) as ``r = S (q - Z)``, so
``q = clamp(round(r / S) + Z, qmin, qmax)`` with ``(qmin, qmax) = (-2**(b-1), 2**(b-1) - 1)``.
Weights use ``Z = 0`` and one scale per output channel; biases are int32 with ``Z = 0`` and
``S_bias = S_input * S_weight``.

The notebook's graded functions are *passed in* (never imported from the notebook), so the same
plumbing runs the reference solution, a student's answers and the tests:

- k-means: ``Codebook``, ``kmeans_1d`` (scikit-learn's Lloyd iterations, in 1-D), ``KMeansQuantizer`` (seed's class),
  ``kmeans_inertia`` and ``sklearn_inertia`` (the checks' clustering error), ``kmeans_size_bits``;
- linear: ``fuse_model`` (seed's conv-bn fusion loop), ``record_activations`` (seed's range-recording hooks),
  the seed's integer-only wrappers ``QuantizedConv2d``, ``QuantizedLinear``, ``QuantizedMaxPool2d``,
  ``QuantizedAvgPool2d``, and ``build_int8_model`` (seed's assembly loop).

The notebook's plots are in ``compresslab.plots.kmeans_linear``, the hidden checks' bounded runs in
``compresslab.hidden.kmeans_linear``; its calibration set is ``compresslab.data.first_images``.
"""

import copy
import functools
import warnings
from collections import namedtuple
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

Codebook = namedtuple("Codebook", ["centroids", "labels"])
Codebook.__doc__ = """k-means codebook of one tensor: ``centroids`` (2**bitwidth,) float32, ``labels`` (numel,) int64.
The quantized tensor is ``centroids[labels].view_as(tensor)``."""

KMEANS_SEED = 0  # random_state of scikit-learn's k-means++, the independent reference of the clustering error
KMEANS_MAX_ITER, KMEANS_TOL = 300, 1e-4  # kmeans_1d stops as scikit-learn's KMeans does (its defaults)
INPUT_SCALE = 1 / 128  # the int8 image: q = round(x / INPUT_SCALE) + INPUT_ZERO_POINT for x normalized to [-1, 1]
INPUT_ZERO_POINT = 0


# --------------------------------------------------------------------------------------------
# k-means quantization
# --------------------------------------------------------------------------------------------

def kmeans_1d(values: torch.Tensor, n_clusters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster the elements of ``values`` (any shape, flattened) into ``n_clusters`` 1-D clusters.

    Lloyd's algorithm as scikit-learn's ``KMeans`` runs it, started from *linear* initialization:
    ``n_clusters`` centroids evenly spaced between the smallest and the largest value, the
    initialization Deep Compression (Han et al., 2016) found best, because it keeps centroids on
    the rare large weights. Each iteration gives every value its nearest centroid and moves each
    centroid to the mean of its values; a cluster left empty is moved onto the value farthest from
    its centroid (as scikit-learn relocates it); it stops when the centroids moved by at most
    ``KMEANS_TOL`` times the variance of the values (summed squares), or after ``KMEANS_MAX_ITER``.
    In one dimension, with the values sorted once, the nearest-centroid runs are found by binary
    search on the midpoints between centroids and the means from prefix sums: an iteration costs
    O(n_clusters log N), not scikit-learn's O(n_clusters N), so the whole VGG at 8 bits is 10x
    faster. On the VGG checkpoint's weights at 2, 4 and 8 bits the centroids are scikit-learn's
    (``tests/test_kmeans_linear.py``). Deterministic: float64 NumPy, no random state.

    Returns ``centroids`` (n_clusters,) float32, ascending, and ``labels`` (values.numel(),) int64,
    both on ``values.device``; ``centroids[labels]`` is the quantized tensor (flattened).
    """
    x = values.detach().reshape(-1).cpu().double().numpy()  # (N,)
    if x.size < n_clusters:
        raise ValueError(f"cannot make {n_clusters} clusters from {x.size} values")
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    prefix = np.concatenate(([0.0], np.cumsum(ordered)))  # prefix[j] = sum of the j smallest values

    def runs(sorted_centroids: np.ndarray) -> np.ndarray:
        """Edges (n_clusters + 1,): ``ordered[edges[i]:edges[i + 1]]`` are the values nearest ``sorted_centroids[i]``."""
        cuts = np.searchsorted(ordered, (sorted_centroids[:-1] + sorted_centroids[1:]) / 2, side="right")
        return np.concatenate(([0], cuts, [x.size]))

    centroids = np.linspace(ordered[0], ordered[-1], n_clusters)
    tolerance = KMEANS_TOL * ordered.var()
    for _ in range(KMEANS_MAX_ITER):
        centroids = np.sort(centroids)
        edges = runs(centroids)
        counts = np.diff(edges)
        sums = prefix[edges[1:]] - prefix[edges[:-1]]
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            distances = (ordered - np.repeat(centroids, counts)) ** 2
            farthest = np.argsort(-distances, kind="stable")[:empty.size]
            for cluster, value in zip(empty, farthest[distances[farthest] > 0]):
                donor = np.searchsorted(edges, value, side="right") - 1
                sums[donor] -= ordered[value]
                counts[donor] -= 1
                sums[cluster], counts[cluster] = ordered[value], 1
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        shift = float(((updated - centroids) ** 2).sum())
        centroids = updated
        if shift <= tolerance:
            break
    centroids = np.sort(centroids)
    labels = np.empty(x.size, dtype=np.int64)
    labels[order] = np.repeat(np.arange(n_clusters), np.diff(runs(centroids)))
    return (torch.from_numpy(centroids).to(values.device, torch.float32),
            torch.from_numpy(labels).to(values.device))


def kmeans_inertia(values: torch.Tensor, codebook: Codebook) -> float:
    """Sum of squared distances between the elements of ``values`` and their centroids (float64)."""
    decoded = codebook.centroids.detach().double()[codebook.labels.detach().reshape(-1)]
    return float(((values.detach().double().reshape(-1) - decoded) ** 2).sum())


def sklearn_inertia(values: torch.Tensor, n_clusters: int, seed: int = KMEANS_SEED) -> float:
    """Inertia of scikit-learn's default k-means (k-means++ initialization) on the elements of ``values``:
    the independent reference a codebook is compared with."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    x = values.detach().reshape(-1, 1).cpu().double().numpy()
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        return float(KMeans(n_clusters=n_clusters, n_init=1, random_state=seed).fit(x).inertia_)


class KMeansQuantizer:
    """Seed 000's k-means quantizer of a whole model: one codebook per weight tensor (``param.dim() > 1``).

    k_means_quantize, update_codebook: the notebook's functions (``update_codebook`` is only
    needed for ``apply(model, update_centroids=True)``, i.e. quantization-aware training).
    bitwidth: one bit width for every layer, or ``{parameter name: bit width}``.
    """

    def __init__(self, model: nn.Module, bitwidth: int | dict = 4, k_means_quantize: Callable | None = None,
                 update_codebook: Callable | None = None) -> None:
        if k_means_quantize is None:
            raise TypeError("KMeansQuantizer needs the notebook's k_means_quantize: "
                            "KMeansQuantizer(model, bitwidth, k_means_quantize, update_codebook)")
        self.k_means_quantize = k_means_quantize
        self.update_codebook = update_codebook
        self.codebook = self.quantize(model, bitwidth)

    @torch.no_grad()
    def apply(self, model: nn.Module, update_centroids: bool) -> None:
        """Snap every quantized weight back onto its codebook (after an optimizer step).

        update_centroids: first move each centroid to the mean of the current weights of its cluster.
        """
        for name, param in model.named_parameters():
            if name in self.codebook:
                if update_centroids:
                    self.update_codebook(param, codebook=self.codebook[name])
                self.codebook[name] = self.k_means_quantize(param, codebook=self.codebook[name])

    @torch.no_grad()
    def quantize(self, model: nn.Module, bitwidth: int | dict = 4) -> dict:
        """k-means quantize ``model``'s weights in place; return ``{parameter name: Codebook}``."""
        codebook = dict()
        if isinstance(bitwidth, dict):
            for name, param in model.named_parameters():
                if name in bitwidth:
                    codebook[name] = self.k_means_quantize(param, bitwidth[name])
        else:
            for name, param in model.named_parameters():
                if param.dim() > 1:
                    codebook[name] = self.k_means_quantize(param, bitwidth)
        return codebook


def kmeans_size_bits(model: nn.Module, bitwidth: int, include_codebooks: bool = False) -> int:
    """Size of a k-means quantized model in bits: weight tensors (dim > 1) at ``bitwidth`` bits per
    element (their labels), every other parameter at 32 bits; plus 32 bits per centroid when
    ``include_codebooks``. (Seed 000's table counts every parameter at ``bitwidth`` bits.)"""
    bits = 0
    for param in model.parameters():
        if param.dim() > 1:
            bits += param.numel() * bitwidth + (32 * 2**bitwidth if include_codebooks else 0)
        else:
            bits += param.numel() * 32
    return bits


# --------------------------------------------------------------------------------------------
# linear quantization: fusion, calibration, integer-only model
# --------------------------------------------------------------------------------------------

def fuse_model(model: nn.Module, fuse_conv_bn: Callable[[nn.Conv2d, nn.BatchNorm2d], nn.Conv2d]) -> nn.Module:
    """Seed 000's fusion loop: a deep copy of ``model`` (a ``VGG``) whose backbone has every Conv2d
    followed by a BatchNorm2d replaced by ``fuse_conv_bn(conv, bn)``. The fused backbone is an
    ``nn.Sequential`` with numbered layers (``backbone.0`` is the first conv, ``backbone.1`` its ReLU, ...)."""
    model_fused = copy.deepcopy(model)
    fused_backbone = []
    ptr = 0
    while ptr < len(model_fused.backbone):
        layer = model_fused.backbone[ptr]
        followed_by_bn = ptr + 1 < len(model_fused.backbone) and isinstance(model_fused.backbone[ptr + 1], nn.BatchNorm2d)
        if isinstance(layer, nn.Conv2d) and followed_by_bn:
            fused_backbone.append(fuse_conv_bn(layer, model_fused.backbone[ptr + 1]))
            ptr += 2
        else:
            fused_backbone.append(layer)
            ptr += 1
    model_fused.backbone = nn.Sequential(*fused_backbone)
    return model_fused.eval()


@torch.no_grad()
def record_activations(model: nn.Module, inputs: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Seed 000's range recorder: run ``model`` on ``inputs`` with forward hooks on every Conv2d, Linear
    and ReLU, and return ``(input_activation, output_activation)``, two dicts ``{module name: tensor}``
    holding each such module's input and output on that batch (CPU copies)."""
    input_activation, output_activation = {}, {}

    def record(module, x, y, module_name):
        input_activation[module_name] = x[0].detach().cpu().clone()
        output_activation[module_name] = y.detach().cpu().clone()

    hooks = [m.register_forward_hook(functools.partial(record, module_name=name))
             for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.ReLU))]
    try:
        model.eval()
        device = next(model.parameters()).device
        model(inputs.to(device))
    finally:
        for hook in hooks:
            hook.remove()
    return input_activation, output_activation


class QuantizedConv2d(nn.Module):
    """Seed 000's wrapper: an integer-only Conv2d (int8 in, int8 out) computed by the notebook's ``quantized_conv2d``."""

    def __init__(self, weight, bias, input_zero_point, output_zero_point, input_scale, weight_scale, output_scale,
                 stride, padding, dilation, groups, feature_bitwidth=8, weight_bitwidth=8, quantized_conv2d=None):
        super().__init__()
        # current version PyTorch does not support IntTensor as nn.Parameter
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.input_zero_point = input_zero_point
        self.output_zero_point = output_zero_point
        self.input_scale = input_scale
        self.register_buffer("weight_scale", weight_scale)
        self.output_scale = output_scale
        self.stride = stride
        self.padding = (padding[1], padding[1], padding[0], padding[0])  # (left, right, top, bottom) for F.pad
        self.dilation = dilation
        self.groups = groups
        self.feature_bitwidth = feature_bitwidth
        self.weight_bitwidth = weight_bitwidth
        self.quantized_conv2d = quantized_conv2d

    def forward(self, x):
        return self.quantized_conv2d(
            x, self.weight, self.bias, self.feature_bitwidth, self.weight_bitwidth,
            self.input_zero_point, self.output_zero_point, self.input_scale, self.weight_scale, self.output_scale,
            self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1]}, {self.weight.shape[0]}, kernel_size={tuple(self.weight.shape[2:])}, "
                f"stride={self.stride}, input (S={self.input_scale:.4g}, Z={self.input_zero_point}), "
                f"output (S={self.output_scale:.4g}, Z={self.output_zero_point})")


class QuantizedLinear(nn.Module):
    """Seed 000's wrapper: an integer-only Linear (int8 in, int8 out) computed by the notebook's ``quantized_linear``."""

    def __init__(self, weight, bias, input_zero_point, output_zero_point, input_scale, weight_scale, output_scale,
                 feature_bitwidth=8, weight_bitwidth=8, quantized_linear=None):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.input_zero_point = input_zero_point
        self.output_zero_point = output_zero_point
        self.input_scale = input_scale
        self.register_buffer("weight_scale", weight_scale)
        self.output_scale = output_scale
        self.feature_bitwidth = feature_bitwidth
        self.weight_bitwidth = weight_bitwidth
        self.quantized_linear = quantized_linear

    def forward(self, x):
        return self.quantized_linear(
            x, self.weight, self.bias, self.feature_bitwidth, self.weight_bitwidth,
            self.input_zero_point, self.output_zero_point, self.input_scale, self.weight_scale, self.output_scale)

    def extra_repr(self) -> str:
        return (f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}, "
                f"input (S={self.input_scale:.4g}, Z={self.input_zero_point}), "
                f"output (S={self.output_scale:.4g}, Z={self.output_zero_point})")


class QuantizedMaxPool2d(nn.MaxPool2d):
    def forward(self, x):
        # current version PyTorch does not support integer-based MaxPool
        return super().forward(x.float()).to(torch.int8)


class QuantizedAvgPool2d(nn.AvgPool2d):
    def forward(self, x):
        # current version PyTorch does not support integer-based AvgPool; round the mean
        # (the seed's .to(torch.int8) truncates it towards 0, a bias of up to one step)
        return super().forward(x.float()).round().to(torch.int8)


def build_int8_model(model_fused: nn.Module, output_activation: dict, *,
                     get_quantization_scale_and_zero_point: Callable, linear_quantize_weight_per_channel: Callable,
                     linear_quantize_bias_per_output_channel: Callable, shift_quantized_conv2d_bias: Callable,
                     shift_quantized_linear_bias: Callable, quantized_conv2d: Callable, quantized_linear: Callable,
                     feature_bitwidth: int = 8, weight_bitwidth: int = 8) -> nn.Module:
    """Seed 000's assembly loop: the integer-only copy of a fused ``VGG``.

    Every ``conv, relu`` pair of the fused backbone becomes one ``QuantizedConv2d`` whose output scale
    and zero point come from the ReLU's recorded output range (``output_activation``, from
    ``record_activations``), so the clamp at the output zero point does the ReLU; pools become the
    integer wrappers (they keep their input's scale and zero point); the classifier becomes a
    ``QuantizedLinear`` whose output range is the recorded logits' range.

    Each layer's *input* scale and zero point are those of the int8 tensor it receives: the network
    input's (``INPUT_SCALE``, ``INPUT_ZERO_POINT``: what ``extra_preprocess`` produces), then the
    previous quantized layer's output ones. (The seed calibrates every input separately; after the
    average pool that disagrees with the scale the classifier's int8 input really has.)
    The model takes int8 images ``(N, 3, 32, 32)`` and returns int8 logits ``(N, num_classes)``.
    """
    quantized_model = copy.deepcopy(model_fused)
    backbone = quantized_model.backbone
    quantized_backbone = []
    input_scale, input_zero_point = INPUT_SCALE, INPUT_ZERO_POINT  # of the tensor entering the next layer
    ptr = 0
    while ptr < len(backbone):
        layer = backbone[ptr]
        if isinstance(layer, nn.Conv2d) and ptr + 1 < len(backbone) and isinstance(backbone[ptr + 1], nn.ReLU):
            relu_name = f"backbone.{ptr + 1}"
            output_scale, output_zero_point = get_quantization_scale_and_zero_point(output_activation[relu_name], feature_bitwidth)
            quantized_weight, weight_scale, _ = linear_quantize_weight_per_channel(layer.weight.data, weight_bitwidth)
            quantized_bias, _, _ = linear_quantize_bias_per_output_channel(layer.bias.data, weight_scale, input_scale)
            shifted_quantized_bias = shift_quantized_conv2d_bias(quantized_bias, quantized_weight, input_zero_point)
            quantized_backbone.append(QuantizedConv2d(
                quantized_weight, shifted_quantized_bias, input_zero_point, output_zero_point,
                input_scale, weight_scale, output_scale, layer.stride, layer.padding, layer.dilation, layer.groups,
                feature_bitwidth=feature_bitwidth, weight_bitwidth=weight_bitwidth, quantized_conv2d=quantized_conv2d))
            input_scale, input_zero_point = output_scale, output_zero_point
            ptr += 2
        elif isinstance(layer, nn.MaxPool2d):
            quantized_backbone.append(QuantizedMaxPool2d(kernel_size=layer.kernel_size, stride=layer.stride))
            ptr += 1
        elif isinstance(layer, nn.AvgPool2d):
            quantized_backbone.append(QuantizedAvgPool2d(kernel_size=layer.kernel_size, stride=layer.stride))
            ptr += 1
        else:
            raise NotImplementedError(f"cannot quantize {type(layer).__name__} at backbone.{ptr}: fuse the BatchNorms first")
    quantized_model.backbone = nn.Sequential(*quantized_backbone)

    fc = quantized_model.classifier
    output_scale, output_zero_point = get_quantization_scale_and_zero_point(output_activation["classifier"], feature_bitwidth)
    quantized_weight, weight_scale, _ = linear_quantize_weight_per_channel(fc.weight.data, weight_bitwidth)
    quantized_bias, _, _ = linear_quantize_bias_per_output_channel(fc.bias.data, weight_scale, input_scale)
    shifted_quantized_bias = shift_quantized_linear_bias(quantized_bias, quantized_weight, input_zero_point)
    quantized_model.classifier = QuantizedLinear(
        quantized_weight, shifted_quantized_bias, input_zero_point, output_zero_point,
        input_scale, weight_scale, output_scale, feature_bitwidth=feature_bitwidth, weight_bitwidth=weight_bitwidth,
        quantized_linear=quantized_linear)
    return quantized_model.eval()
