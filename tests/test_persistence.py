"""Saved models load with identical predictions; other versions and damaged files are refused."""

import json
import os

import joblib
import numpy as np
import pytest
import torch

import skspeckle
from skspeckle import FewShotCentroidClassifier
from skspeckle.persistence import _compatible, load_model, read_model_header, save_model


@pytest.fixture(scope="module")
def fitted(small_fitted_pipeline):
    pipe, X, _ = small_fitted_pipeline
    return pipe, X


def _rewrite_header(path, **changes):
    lines = path.read_bytes().split(b"\n", 2)
    header = json.loads(lines[1])
    header.update(changes)
    path.write_bytes(lines[0] + b"\n" + json.dumps(header).encode() + b"\n" + lines[2])


def test_round_trip_identical_predictions(tmp_path, fitted):
    pipe, X = fitted
    path = save_model(pipe, tmp_path / "model.joblib")
    assert os.listdir(tmp_path) == ["model.joblib"]
    header = read_model_header(path)
    assert header["skspeckle"] == skspeckle.__version__
    assert header["sklearn"] and header["torch"] and header["estimator"] == "Pipeline"
    loaded = load_model(path)
    assert loaded is not pipe
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    tensors = list(loaded[1].module_.parameters()) + list(loaded[1].module_.buffers())
    assert tensors and all(t.device.type == "cpu" for t in tensors)


def test_modules_are_saved_from_cpu(tmp_path, fitted, monkeypatch):
    # No GPU here: stand in for a module left on another device by recording the call.
    pipe, _ = fitted
    moved = []
    monkeypatch.setattr(torch.nn.Module, "cpu", lambda self: moved.append(self) or self)
    save_model(pipe, tmp_path / "m.joblib")
    assert moved == [pipe[1].module_]


def test_version_rule(tmp_path, fitted):
    assert _compatible("0.1.0", "0.1.7") and _compatible("0.1.0rc1", "0.1.0")
    assert not _compatible("0.2.0", "0.1.0") and not _compatible("1.0.0", "0.1.0")
    assert _compatible("1.2.0", "1.5.1") and not _compatible("2.0", "1.9")
    assert not _compatible("unknown", "0.1.0")
    path = save_model(fitted[0], tmp_path / "m.joblib")
    major, minor = (int(v) for v in skspeckle.__version__.split(".")[:2])
    _rewrite_header(path, skspeckle=f"{major}.{minor}.99")
    load_model(path)  # a patch release of the same major.minor loads
    other = f"{major}.{minor + 1}.0"
    _rewrite_header(path, skspeckle=other)
    with pytest.raises(ValueError, match="Refit") as info:
        load_model(path)
    assert other in str(info.value) and skspeckle.__version__ in str(info.value)
    _rewrite_header(path, skspeckle=skspeckle.__version__, format_version=99)
    with pytest.raises(ValueError, match="file format 99"):
        load_model(path)


def test_damaged_and_foreign_files(tmp_path, fitted):
    foreign = tmp_path / "plain.joblib"
    joblib.dump(fitted[0], foreign)
    with pytest.raises(ValueError, match="not a skspeckle model file"):
        load_model(foreign)
    path = save_model(fitted[0], tmp_path / "m.joblib")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_model(path)
    path.write_bytes(data.split(b"\n", 1)[0] + b"\n{not json\n")
    with pytest.raises(ValueError, match="damaged"):
        load_model(path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.joblib")


def test_overwrite_protection_and_interrupted_save(tmp_path, fitted, monkeypatch):
    path = save_model(fitted[0], tmp_path / "m.joblib")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(FewShotCentroidClassifier(), path)
    assert path.read_bytes() == before
    save_model(FewShotCentroidClassifier(k=3), path, overwrite=True)
    assert load_model(path).k == 3

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(joblib, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(fitted[0], path, overwrite=True)
    with pytest.raises(KeyboardInterrupt):
        save_model(fitted[0], tmp_path / "new.joblib")
    assert os.listdir(tmp_path) == ["m.joblib"] and load_model(path).k == 3
