import pytest
import torch

from skspeckle.nn.device import autocast, resolve_device


def test_auto_and_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_requested_but_unavailable(device):
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device(device)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_out_of_range():
    with pytest.raises(RuntimeError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_bad_device_values():
    with pytest.raises(ValueError, match="not a device"):
        resolve_device("gpu")
    with pytest.raises(TypeError, match="torch.device"):
        resolve_device(0)


def test_autocast_precisions():
    cpu = torch.device("cpu")
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast(cpu, "float32"):
        assert (a @ b).dtype == torch.float32
    with autocast(cpu, "bfloat16"):
        assert (a @ b).dtype == torch.bfloat16
    with pytest.warns(UserWarning, match="emulated and slow"), autocast(cpu, "float16"):
        assert (a @ b).dtype == torch.float16
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast(cpu, "float8")
