"""Tests of compresslab.device: CPU or CUDA."""

import pytest
import torch

from compresslab.device import get_device

CPU = torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_get_device_defaults_to_cpu_without_cuda():
    assert get_device(None) == CPU


def test_get_device_cpu_on_request():
    assert get_device("cpu") == CPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_get_device_cuda_without_gpu_raises():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        get_device("cuda")
