"""Tests of compresslab.profiling: parameters, size at a bit width, MACs, latency."""

import math

import pytest
import torch
from torch import nn

from compresslab import models, profiling

from conftest import bn_params, conv_params


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


def test_model_size_with_bits_per_layer():
    """Variable precision: each named layer's weight at its bits, every other parameter (biases, batch norm) at 32."""
    model = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 4))  # 54, 6, 48 + 4
    assert profiling.model_size_bits(model, {"0": 4, "3": 2}) == 54 * 4 + 48 * 2 + (6 + 4) * 32
    assert profiling.model_size_bits(model, {"0": 32, "3": 32}) == profiling.model_size_bits(model, 32)
    with torch.no_grad():
        model[0].weight[0].zero_()  # 18 of the conv's weights
    assert profiling.model_size_bits(model, {"0": 4}, nonzero_only=True) == 36 * 4 + (3 + 52) * 32  # batch norm's bias starts at 0


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
