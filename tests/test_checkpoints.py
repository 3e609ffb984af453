"""Tests of compresslab.checkpoints: the shipped fp32 checkpoints."""

from dataclasses import asdict, replace

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from compresslab import models
from compresslab.checkpoints import PRETRAINED, build_model, get_fp32_model, load_pretrained, normalization_of, pretrained_info
from compresslab.data import DataLoaders, load_dataset
from compresslab.training import evaluate, train

CPU = torch.device("cpu")
CHECKPOINTS = ["net", "net_with_bias", "vgg", "resnet20"]


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_pretrained_accuracy_matches_stored_accuracy(name):
    info = pretrained_info(name)
    loaders = load_dataset("digits", normalization=info["normalization"])
    accuracy = evaluate(load_pretrained(name, CPU), loaders.test, device=CPU, progress=False)
    torch.testing.assert_close(accuracy, info["fp32_accuracy"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_pretrained_info_matches_its_spec(name):
    info = pretrained_info(name)
    assert info["kwargs"] == PRETRAINED[name].kwargs
    assert info["config"] == asdict(PRETRAINED[name].config)
    assert info["normalization"] == normalization_of(name)


def test_load_pretrained_returns_eval_model_on_device():
    model = load_pretrained("net", CPU)
    assert isinstance(model, models.Net)
    assert not model.training
    assert all(p.device == CPU for p in model.parameters())


@pytest.mark.parametrize("name, model_type", [("net", models.Net), ("net_with_bias", models.NetWithBias), ("vgg", models.VGG), ("resnet20", models.ResNet)])
def test_build_model_matches_checkpoint_architecture(name, model_type):
    fresh, shipped = build_model(name), load_pretrained(name, CPU)
    assert type(fresh) is model_type
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {k: v.shape for k, v in shipped.state_dict().items()}


@pytest.mark.parametrize(
    "function",
    [
        build_model,
        normalization_of,
        load_pretrained,
        pretrained_info,
    ],
)
def test_unknown_checkpoint_name_raises_key_error(function):
    with pytest.raises(KeyError, match="unknown checkpoint 'resnet18'"):
        function("resnet18")


def test_missing_checkpoint_file_says_how_to_rebuild(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESSLAB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="make checkpoints") as error:
        load_pretrained("net", CPU)
    assert str(tmp_path / "checkpoints" / "net.pt") in str(error.value)


def test_get_fp32_model_on_digits_is_the_shipped_checkpoint():
    model = get_fp32_model("net", load_dataset("digits"), epochs=1, device=CPU)
    shipped = load_pretrained("net", CPU).state_dict()
    assert all(torch.equal(v, shipped[k]) for k, v in model.state_dict().items())


def test_get_fp32_model_elsewhere_trains_a_fresh_model_for_the_given_epochs():
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g))
    loaders = DataLoaders(train=DataLoader(data, batch_size=4), test=DataLoader(data, batch_size=4), name="cifar10")

    torch.manual_seed(1)
    expected = build_model("net")
    train(expected, loaders.train, replace(PRETRAINED["net"].config, epochs=2), device=CPU, progress=False)
    torch.manual_seed(1)
    model = get_fp32_model("net", loaders, epochs=2, device=CPU)

    assert all(torch.equal(v, expected.state_dict()[k]) for k, v in model.state_dict().items())
