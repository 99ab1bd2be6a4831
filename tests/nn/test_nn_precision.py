"""precision="auto" and the warning for emulated bfloat16 (skspeckle/nn/device.py)."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from skspeckle.embedding import TripletEmbedder
from skspeckle.nn import device as device_module
from skspeckle.nn import inference, training
from skspeckle.nn.device import autocast, native_bfloat16, resolve_precision

CPU = torch.device("cpu")


def _cpuinfo_flags():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads Linux's /proc/cpuinfo")
def test_native_bfloat16_on_the_cpu_agrees_with_the_kernels_flags(monkeypatch):
    flags = _cpuinfo_flags()
    expected = bool({"avx512_bf16", "amx_bf16"} & flags)
    assert native_bfloat16(CPU) == expected
    # The fallback for a torch without its CPU queries reads the same flags.
    monkeypatch.setattr(device_module, "_CPU_BF16_CHECKS", ("_no_such_query",))
    assert native_bfloat16(CPU) == expected


def test_auto_precision_picks_bfloat16_only_with_native_support(monkeypatch):
    monkeypatch.setattr(device_module, "native_bfloat16", lambda device: True)
    assert resolve_precision("auto", CPU) == "bfloat16"
    monkeypatch.setattr(device_module, "native_bfloat16", lambda device: False)
    assert resolve_precision("auto", CPU) == "float32"
    assert resolve_precision("float16", CPU) == "float16"  # explicit values stay
    with pytest.raises(ValueError, match="precision must be 'auto' or one of"):
        resolve_precision("float8", CPU)


def test_explicit_bfloat16_warns_only_without_native_support(monkeypatch):
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    monkeypatch.setattr(device_module, "native_bfloat16", lambda device: False)
    with pytest.warns(UserWarning, match=r"emulated: measured .* slower than float32"):
        with autocast(CPU, "bfloat16"):
            assert (a @ b).dtype == torch.bfloat16
    monkeypatch.setattr(device_module, "native_bfloat16", lambda device: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with autocast(CPU, "bfloat16"):
            assert (a @ b).dtype == torch.bfloat16


def test_an_estimator_with_auto_precision_fits_and_embeds(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, size=(24, 16, 16)).astype(np.float32)
    y = np.repeat([0, 1], 12)
    seen = []
    real = device_module.autocast

    def spy(device, precision="float32"):
        seen.append(precision)
        return real(device, precision)

    monkeypatch.setattr(device_module, "native_bfloat16", lambda device: False)
    monkeypatch.setattr(training, "autocast", spy)
    monkeypatch.setattr(inference, "autocast", spy)
    emb = TripletEmbedder(
        n_components=4, max_epochs=1, precision="auto", inference_backend="torch", random_state=0
    ).fit(X, y)
    Z = emb.transform(X)
    assert set(seen) == {"float32"}  # resolved before it reached autocast, in fit and after
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
