"""The models of the course, one definition each (the labs copied them around).

- ``Net`` / ``NetWithBias``: the LeNet-like CNN of EE290-2 Lab 1 (seeds 001, 004);
  no biases, except ``fc3`` in ``NetWithBias``.
- ``VGG``: the VGG of MIT 6.5940 used in seed 000, with a width multiplier so it
  trains on a CPU (``width=1.0`` is the original 64..512 channels).
- ``resnet20``: ResNet-20 for CIFAR-10 (seeds 002, 003): 3 stages of 3 basic
  blocks, 16/32/64 channels, 1x1-conv shortcuts when the shape changes
  (21 convolutions in all, as seed 002 counts).
- ``ConvStack``: a small VGG-like model with ``VGG``'s layer names and random
  batch-norm statistics, drawn the same on every CPU, for the pruning checks.

All take ``(N, 3, 32, 32)`` images (``ConvStack``: ``(N, channels[0], H, W)``,
any size) and return ``(N, num_classes)`` logits.
"""

from collections import OrderedDict, defaultdict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import portable_random


class Net(nn.Module):
    """EE290-2 Lab 1 CNN: conv(3->6,5) pool conv(6->16,5) pool fc 400->120->84->10, all without bias."""

    def __init__(self, num_classes: int = 10, fc3_bias: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5, bias=False)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5, bias=False)
        self.fc1 = nn.Linear(16 * 5 * 5, 120, bias=False)
        self.fc2 = nn.Linear(120, 84, bias=False)
        self.fc3 = nn.Linear(84, num_classes, bias=fc3_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))  # (N, 6, 14, 14)
        x = self.pool(F.relu(self.conv2(x)))  # (N, 16, 5, 5)
        x = x.view(-1, 16 * 5 * 5)  # (N, 400)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class NetWithBias(Net):
    """``Net`` with a bias on ``fc3`` only (Question 5 of Lab 1)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes=num_classes, fc3_bias=True)


class VGG(nn.Module):
    """VGG of seed 000: conv-bn-relu blocks named ``conv0, bn0, relu0, ...`` in ``self.backbone``.

    width: channel multiplier applied to ``ARCH`` (1.0 = 64..512 channels; 0.25 trains on a CPU).
    """

    ARCH = [64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]

    def __init__(self, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        self.width = width
        layers = []
        counts = defaultdict(int)

        def add(name: str, layer: nn.Module) -> None:
            layers.append((f"{name}{counts[name]}", layer))
            counts[name] += 1

        in_channels = 3
        for x in self.ARCH:
            if x == "M":
                add("pool", nn.MaxPool2d(2))
                continue
            out_channels = max(1, int(round(x * width)))
            add("conv", nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False))
            add("bn", nn.BatchNorm2d(out_channels))
            add("relu", nn.ReLU(True))
            in_channels = out_channels
        add("avgpool", nn.AvgPool2d(2))
        self.backbone = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone(x)  # (N, C, 1, 1)
        x = x.view(x.shape[0], -1)  # (N, C)
        return self.classifier(x)


class BasicBlock(nn.Module):
    """Two 3x3 conv-bn layers with a residual connection (1x1 conv-bn shortcut when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet: conv 3->16, stages of ``blocks_per_stage`` blocks at 16/32/64 channels, global pool, fc."""

    def __init__(self, blocks_per_stage: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, in_channels = [], 16
        for out_channels, stride in [(16, 1), (32, 2), (64, 2)]:
            blocks = []
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(in_channels, out_channels, stride if i == 0 else 1))
                in_channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))  # (N, 16, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, 64, 8, 8)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # (N, 64)
        return self.fc(x)


def resnet20(num_classes: int = 10) -> ResNet:
    """ResNet-20 (He et al., 2016): 6n+2 layers with n = 3."""
    return ResNet(blocks_per_stage=3, num_classes=num_classes)


class ConvStack(nn.Module):
    """A small VGG-like model for checks: ``backbone`` = conv-bn-relu blocks named like ``VGG``'s
    (``conv0, bn0, relu0, ...``; 3x3 convs, no bias), then global average pooling and a linear classifier.

    channels: ``(in, out0, out1, ...)``. The BN statistics and affine parameters are drawn at random
    (seeded by ``seed``) so that channel permutations and pruning show in the output. Every value is drawn
    with ``portable_random``: tests compare pruned and permuted weights of this model exactly with those
    the reference recorded, possibly on another CPU.
    """

    def __init__(self, channels: Sequence[int] = (3, 4, 6, 5), num_classes: int = 3, seed: int = 0) -> None:
        super().__init__()
        rng = portable_random.generator(seed)
        layers = []
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
            bn = nn.BatchNorm2d(c_out)
            with torch.no_grad():
                conv.weight.copy_(portable_random.randn(conv.weight.shape, generator=rng) * 0.5)
                bn.weight.copy_(portable_random.rand(c_out, generator=rng) + 0.5)
                bn.bias.copy_(portable_random.randn(c_out, generator=rng) * 0.1)
                bn.running_mean.copy_(portable_random.randn(c_out, generator=rng) * 0.1)
                bn.running_var.copy_(portable_random.rand(c_out, generator=rng) + 0.5)
            layers += [(f"conv{i}", conv), (f"bn{i}", bn), (f"relu{i}", nn.ReLU(True))]
        self.backbone = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(channels[-1], num_classes)
        with torch.no_grad():
            self.classifier.weight.copy_(portable_random.randn(self.classifier.weight.shape, generator=rng))
            self.classifier.bias.zero_()
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone(x)  # (N, C, H, W)
        return self.classifier(x.mean(dim=(2, 3)))  # (N, num_classes)
