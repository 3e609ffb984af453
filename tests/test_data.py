"""Tests of compresslab.data: the embedded digits dataset and CIFAR-10 from a local folder."""

import os
import pickle

import numpy as np
import pytest
import torch
import torchvision
import torch.nn.functional as F
from sklearn.datasets import load_digits

from compresslab.data import CIFAR10_STATS, HALF, digits_tensors, load_dataset

IDENTITY = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # no normalization: pixels in [0, 1]
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR_BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
CIFAR_FILES = CIFAR_BATCHES + ["batches.meta"]
PER_BATCH = 4


@pytest.fixture(scope="module")
def digits():
    return digits_tensors()


@pytest.fixture(scope="module")
def raw_digits():
    return digits_tensors(IDENTITY)


# ---------------------------------------------------------------- digits


def test_digits_shapes_and_dtypes(digits):
    x_train, y_train, x_test, y_test = digits
    assert x_train.shape == (1437, 3, 32, 32) and x_train.dtype == torch.float32
    assert x_test.shape == (360, 3, 32, 32) and x_test.dtype == torch.float32
    assert y_train.shape == (1437,) and y_train.dtype == torch.int64
    assert y_test.shape == (360,) and y_test.dtype == torch.int64


def test_digits_split_covers_every_label_of_sklearn(digits):
    _, y_train, _, y_test = digits
    assert 0 <= min(y_train.min(), y_test.min()) and max(y_train.max(), y_test.max()) <= 9
    expected = torch.bincount(torch.as_tensor(load_digits().target), minlength=10)
    assert torch.equal(torch.bincount(y_train, minlength=10) + torch.bincount(y_test, minlength=10), expected)


def test_digits_images_are_sklearn_images_with_their_labels(raw_digits):
    sk = load_digits()
    resized = F.interpolate(torch.tensor(sk.images, dtype=torch.float32).unsqueeze(1) / 16.0, size=(32, 32), mode="bilinear")
    reference = resized.flatten(1)
    x_train, y_train, x_test, y_test = raw_digits
    matched = []
    for x, y in [(x_train, y_train), (x_test, y_test)]:
        distances = torch.cdist(x[:, 0].flatten(1), reference, compute_mode="donot_use_mm_for_euclid_dist")  # exact, not via matmul
        distance, index = distances.min(dim=1)
        torch.testing.assert_close(distance, torch.zeros_like(distance), rtol=0, atol=1e-4)
        assert torch.equal(torch.as_tensor(sk.target)[index], y)
        matched.append(index)
    assert sorted(torch.cat(matched).tolist()) == list(range(len(sk.target)))  # disjoint split of all images


def test_digits_channels_are_identical(raw_digits):
    x_train = raw_digits[0]
    assert torch.equal(x_train[:, 1], x_train[:, 0]) and torch.equal(x_train[:, 2], x_train[:, 0])


@pytest.mark.parametrize("normalization", [HALF, CIFAR10_STATS], ids=["half", "cifar10_stats"])
def test_digits_normalization_is_per_channel(raw_digits, normalization):
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in normalization)
    for normalized, raw in zip(digits_tensors(normalization)[::2], raw_digits[::2]):
        torch.testing.assert_close(normalized, (raw - mean) / std, rtol=1e-6, atol=1e-6)


def test_digits_half_normalization_maps_unit_interval_to_plus_minus_one(raw_digits, digits):
    raw, half = raw_digits[0], digits[0]
    assert raw.min() >= 0.0 and raw.max() <= 1.0
    assert half.min() >= -1.0 and half.max() <= 1.0
    torch.testing.assert_close(half, 2.0 * raw - 1.0, rtol=0, atol=1e-6)


def test_digits_split_is_fixed(digits):
    again = digits_tensors()
    assert all(torch.equal(a, b) for a, b in zip(digits, again))


def test_digits_loaders_serve_the_split(digits):
    loaders = load_dataset("digits", batch_size=32)
    assert loaders.name == "digits" and loaders.num_classes == 10
    x, y = next(iter(loaders.train))
    assert x.shape == (32, 3, 32, 32)
    assert len(loaders.train.dataset) == len(digits[0])
    test_labels = torch.cat([y for _, y in loaders.test])
    assert torch.equal(test_labels, digits[3])  # test loader is not shuffled


def epoch_labels(seed):
    return torch.cat([y for _, y in load_dataset("digits", seed=seed).train])


def test_train_loader_shuffling_is_reproducible_for_a_seed():
    assert torch.equal(epoch_labels(3), epoch_labels(3))


def test_train_loader_shuffling_depends_on_the_seed():
    assert not torch.equal(epoch_labels(3), epoch_labels(4))


# ---------------------------------------------------------------- CIFAR-10 from a local folder


def make_fake_cifar10(root):
    """A tiny folder in the CIFAR-10 python layout: PER_BATCH random images per batch file.

    The real files are Python 2 pickles whose keys torchvision reads (encoding="latin1") as the
    str keys "data", "labels" and "label_names", so those are the keys written here.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in CIFAR_BATCHES:
        batch = {"data": rng.integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, PER_BATCH).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    return folder


def test_cifar10_loads_from_a_local_folder(tmp_path, monkeypatch):
    # torchvision verifies each file's md5 against the official release, which generated files cannot match:
    # the check is stubbed here (its failure path is tested below); everything else is torchvision's real reader.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    make_fake_cifar10(tmp_path)
    loaders = load_dataset("cifar10", root=tmp_path, batch_size=8)
    assert len(loaders.train.dataset) == 5 * PER_BATCH and len(loaders.test.dataset) == PER_BATCH
    x, y = next(iter(loaders.train))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_cifar10_checksum_failure_is_a_clear_error(tmp_path):
    make_fake_cifar10(tmp_path)
    with pytest.raises(ValueError, match="checksum.*cifar-10-python.tar.gz"):
        load_dataset("cifar10", root=tmp_path)


def test_cifar10_missing_folder_names_folder_files_and_download(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("cifar10", root=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert all(name in message for name in CIFAR_FILES)
    assert CIFAR_URL in message


@pytest.mark.parametrize("missing", ["data_batch_3", "test_batch", "batches.meta"])
def test_cifar10_missing_file_is_named(tmp_path, missing):
    folder = make_fake_cifar10(tmp_path)
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("cifar10", root=tmp_path)
    message = str(error.value)
    assert f"{folder} lacks {missing}." in message
    assert CIFAR_URL in message


def test_cifar10_without_root_raises_value_error():
    with pytest.raises(ValueError, match="root="):
        load_dataset("cifar10")


def test_unknown_dataset_raises_value_error():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")
