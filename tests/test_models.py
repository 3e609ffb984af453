"""Tests of compresslab.models: Net, NetWithBias, VGG, ResNet-20, ConvStack."""

import pytest
import torch
from torch import nn

from compresslab import models, profiling

from conftest import bn_params, conv_params


@pytest.mark.parametrize(
    "make_model, batch",
    [
        (models.Net, 2),
        (models.NetWithBias, 2),
        (lambda: models.VGG(width=0.25), 2),
        (lambda: models.VGG(width=1.0), 1),
        (models.resnet20, 2),
    ],
    ids=["net", "net_with_bias", "vgg_0.25", "vgg_1.0", "resnet20"],
)
def test_models_map_images_to_ten_logits(make_model, batch):
    model = make_model().eval()
    with torch.no_grad():
        out = model(torch.randn(batch, 3, 32, 32))
    assert out.shape == (batch, 10)


def test_net_has_no_bias():
    model = models.Net()
    assert [name for name, _ in model.named_parameters() if name.endswith("bias")] == []


def test_net_with_bias_has_only_fc3_bias():
    model = models.NetWithBias()
    assert [name for name, _ in model.named_parameters() if name.endswith("bias")] == ["fc3.bias"]


def test_resnet20_has_21_convolutions():
    assert sum(isinstance(m, nn.Conv2d) for m in models.resnet20().modules()) == 21


def test_resnet20_parameter_count():
    stem = conv_params(3, 16, 3) + bn_params(16)
    block = lambda c_in, c_out: conv_params(c_in, c_out, 3) + conv_params(c_out, c_out, 3) + 2 * bn_params(c_out)
    shortcut = lambda c_in, c_out: conv_params(c_in, c_out, 1) + bn_params(c_out)
    stage1 = 3 * block(16, 16)
    stage2 = block(16, 32) + shortcut(16, 32) + 2 * block(32, 32)
    stage3 = block(32, 64) + shortcut(32, 64) + 2 * block(64, 64)
    fc = 64 * 10 + 10
    expected = stem + stage1 + stage2 + stage3 + fc
    assert profiling.count_parameters(models.resnet20()) == expected
    assert expected == pytest.approx(0.27e6, rel=0.01)


@pytest.mark.parametrize("width", [0.25, 1.0])
def test_vgg_width_scales_channels(width):
    model = models.VGG(width=width)
    expected = [int(c * width) for c in (64, 128, 256, 256, 512, 512, 512, 512)]
    convs = [m for m in model.backbone if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == expected
    assert [m.in_channels for m in convs] == [3] + expected[:-1]
    assert model.classifier.in_features == expected[-1]


def test_conv_stack_has_vggs_layer_names_and_draws_the_same_model_per_seed():
    model = models.ConvStack((3, 4, 6, 5), num_classes=3, seed=7)
    assert [name for name, _ in model.backbone.named_children()] == [f"{kind}{i}" for i in range(3) for kind in ("conv", "bn", "relu")]
    assert [m.out_channels for m in model.backbone if isinstance(m, nn.Conv2d)] == [4, 6, 5]
    with torch.no_grad():
        assert model(torch.randn(2, 3, 8, 8)).shape == (2, 3)
    same, other = models.ConvStack((3, 4, 6, 5), num_classes=3, seed=7), models.ConvStack((3, 4, 6, 5), num_classes=3, seed=8)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values()))
    assert not torch.equal(model.backbone.bn0.running_var, other.backbone.bn0.running_var)
