"""Zero-shot calibration of the ``sawb_qat`` notebook (Part 4): activation scales set on synthetic images.

Seed 003 names zero-shot quantization: calibrating the activations of the quantized model on a small set of
synthetic data instead of real images. Two kinds of synthetic images are compared here with real ones:

- ``gaussian_images``: plain N(0, 1) noise in the network's normalized input space;
- ``distill_images``: ZeroQ's "distilled data" (Cai et al., *ZeroQ: A Novel Zero Shot Quantization
  Framework*, CVPR 2020): Gaussian noise optimized with Adam so that, at every batch-norm layer of the fp32
  model, the statistics of the batch-norm's input match the running mean and variance the layer stored
  during training. The per-layer loss is the notebook's ``bn_statistics_loss`` (Question 10); this module
  holds the loop around it.

Convention (the notebook's): the statistics of a batch are taken per channel over the batch and the
spatial axes ``(N, H, W)``, as batch norm computes them, with the biased variance; the official ZeroQ code
compares per-image statistics instead (``distill_images`` sums the notebook's loss over the layers).

``zero_shot_accuracy`` calibrates a quantized ResNet-20 (``fake_quantization.quantize_model``) on one calibration set
and measures test accuracy; ``zero_shot_table`` does so for each set. The table's plot is
``plots.sawb_qat.plot_zero_shot``, the hidden check's run ``hidden.sawb_qat.graded_zero_shot``.
"""

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from .device import get_device
from .fake_quantization import QuantOps, calibrate, quantize_model
from .training import evaluate

ZERO_SHOT_IMAGES = 16  # images in each calibration set (real, Gaussian, distilled), so the three compare alike
DISTILL_STEPS = 40  # Adam steps of the distillation (ZeroQ's code runs hundreds on ImageNet; here the loss falls from 31 to 1.5)
DISTILL_LR = 0.1  # Adam's learning rate on the image pixels (public ZeroQ code uses 0.1 to 0.5, with a plateau schedule)
ZERO_SHOT_SEED = 0  # seeds the Gaussian images and the distillation's starting noise
ZERO_SHOT_METHOD = "mse"  # scale rule of weights and inputs: the MSE search fits the shape of the calibration data
# (weight bits, activation bits), rows of the zero-shot table (at W8A8 all three sets give fp32 accuracy)
ZERO_SHOT_CONFIGS = ((4, 4), (8, 2))
IMAGE_SHAPE = (3, 32, 32)  # ResNet-20's input


def gaussian_images(count: int = ZERO_SHOT_IMAGES, seed: int = ZERO_SHOT_SEED, shape: tuple = IMAGE_SHAPE) -> torch.Tensor:
    """``count`` images of N(0, 1) noise, ``(count, *shape)`` float32, from ``torch.Generator().manual_seed(seed)``.

    The values live in the normalized input space the network sees (after the dataset's mean/std normalization).
    """
    return torch.randn(count, *shape, generator=torch.Generator().manual_seed(seed))


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The batch-norm layers of ``model``, in forward order (ResNet-20: 21, one after each convolution)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def distill_images(
    model: nn.Module, bn_statistics_loss: Callable, count: int = ZERO_SHOT_IMAGES, steps: int = DISTILL_STEPS,
    lr: float = DISTILL_LR, seed: int = ZERO_SHOT_SEED, device: torch.device | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """ZeroQ's distilled data: ``gaussian_images(count, seed)`` optimized so that every batch norm's input matches
    the statistics stored in the layer.

    model: the fp32 network, in eval mode (its batch norms use, and keep, their running statistics); not changed.
    bn_statistics_loss(features (N, C, H, W), running_mean (C,), running_var (C,), eps) -> 0-dim tensor: one layer's loss.
    Each step: one forward pass, the loss summed over the batch-norm layers, one Adam step (``lr``) on the pixels.
    Returns the images ``(count, 3, 32, 32)`` float32 on the CPU and the loss before each step.
    """
    device = device or get_device()
    model = model.to(device).eval()
    images = gaussian_images(count, seed).to(device).requires_grad_(True)
    norms, inputs = batch_norms(model), {}
    hooks = [norm.register_forward_hook(lambda layer, args, output: inputs.__setitem__(layer, args[0])) for norm in norms]
    optimizer, losses = torch.optim.Adam([images], lr=lr), []
    parameters = [p for p in model.parameters() if p.requires_grad]
    for p in parameters:  # gradients go to the pixels only
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            optimizer.zero_grad()
            model(images)
            loss = sum(bn_statistics_loss(inputs[norm], norm.running_mean, norm.running_var, norm.eps) for norm in norms)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    finally:
        for hook in hooks:
            hook.remove()
        for p in parameters:
            p.requires_grad_(True)
    return images.detach().cpu(), losses


def zero_shot_accuracy(fp32_model: nn.Module, ops: QuantOps, weight_bits: int, act_bits: int, images: torch.Tensor, loader: DataLoader,
                       method: str = ZERO_SHOT_METHOD, device: torch.device | None = None) -> float:
    """Accuracy (%) on ``loader`` of ``fp32_model`` quantized at W``weight_bits``A``act_bits`` (``quantize_model`` with
    ``method``, first and last layer at 8 bits) after calibrating its input scales on ``images`` (N, 3, 32, 32)."""
    model = quantize_model(fp32_model, ops, weight_bits, act_bits, method)
    calibrate(model, images, device=device)
    return evaluate(model, loader, device=device, progress=False)


def zero_shot_table(fp32_model: nn.Module, ops: QuantOps, calibration_sets: Mapping[str, torch.Tensor], loader: DataLoader,
                    configs: Sequence[tuple[int, int]] = ZERO_SHOT_CONFIGS, method: str = ZERO_SHOT_METHOD,
                    device: torch.device | None = None) -> pd.DataFrame:
    """Test accuracy (%) per configuration (rows ``W8A8`` ...) and calibration set (columns, in the order given)."""
    rows = {f"W{w}A{a}": {name: zero_shot_accuracy(fp32_model, ops, w, a, images, loader, method, device)
                          for name, images in calibration_sets.items()} for w, a in configs}
    return pd.DataFrame.from_dict(rows, orient="index")[list(calibration_sets)]
