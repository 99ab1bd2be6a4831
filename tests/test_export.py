"""Whole-pipeline export (skspeckle/export.py): the ONNX file run by onnxruntime, and the
TorchScript file, against the pipeline itself."""

import json

import numpy as np
import onnxruntime
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skspeckle._version import __version__
from skspeckle.datasets._pr772 import load_pr772_frames
from skspeckle.embedding import TripletEmbedder
from skspeckle.export import to_onnx, to_torchscript
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.io._atomic import stale_temporaries
from skspeckle.preprocessing import DetectorMask, PixelBinning

EMBEDDER = dict(n_components=8, max_epochs=1, random_state=0, device="cpu")


def _run(path, frames):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    out = session.run(None, {"frames": np.ascontiguousarray(frames, dtype=np.float32)})
    return dict(zip(names, out)), session.get_modelmeta().custom_metadata_map


def _check_against(pipe, out, frames):
    np.testing.assert_allclose(out["decision_function"], pipe.decision_function(frames), atol=1e-5)
    np.testing.assert_allclose(out["probabilities"], pipe.predict_proba(frames), atol=1e-5)
    np.testing.assert_allclose(out["embeddings"], pipe[:-1].transform(frames), atol=1e-5)
    np.testing.assert_array_equal(pipe.classes_[out["label"]], pipe.predict(frames))


@pytest.fixture(scope="module")
def simulated(three_class_patterns):
    """3 classes of 48 x 48 simulated patterns; bad pixels in a few query frames."""
    X, y, _ = three_class_patterns
    queries = X.copy()
    queries[::7, 30, 30] = np.nan  # visible pixel, masked by nonfinite="mask"
    queries[1::7, 40, 41] = np.inf
    return X, y, queries


@pytest.mark.parametrize("aggregation", ["mean", "min"])
def test_onnx_graph_matches_the_pipeline_on_simulated_frames(simulated, tmp_path, aggregation):
    X, y, queries = simulated
    pipe = make_pipeline(
        DetectorMask(0.25, nonfinite="mask"),
        TripletEmbedder(**EMBEDDER),
        FewShotCentroidClassifier(k=5, aggregation=aggregation, random_state=0),
    ).fit(X, y)
    path = to_onnx(pipe, tmp_path / "veto.onnx")
    out, meta = _run(path, queries)
    assert out["label"].dtype == np.int64 and out["decision_function"].shape == (len(X), 3)
    assert out["valid"].all()
    _check_against(pipe, out, queries)
    assert json.loads(meta["classes"]) == pipe.classes_.tolist()
    assert meta["skspeckle_version"] == __version__
    assert json.loads(meta["input_shape"]) == ["batch", 48, 48]
    assert "TripletEmbedder" in meta["model"] and len(meta["model_sha256"]) == 64
    # One graph for every batch size.
    one, _ = _run(path, queries[:1])
    np.testing.assert_allclose(one["probabilities"], out["probabilities"][:1], atol=1e-6)


def test_onnx_graph_matches_the_pipeline_on_real_pr772_frames(tmp_path):
    X, mask = load_pr772_frames()  # 260 x 257 ADU, +inf bad pixels, negative noise
    y = np.array(["single", "multi"]).repeat(5)
    pipe = make_pipeline(
        DetectorMask(mask=mask, nonfinite="mask"),
        PixelBinning(4),
        TripletEmbedder(**{**EMBEDDER, "validation_fraction": 0.0}),
        FewShotCentroidClassifier(k=3, random_state=0),
    ).fit(X, y)
    path = to_onnx(pipe, tmp_path / "pr772.onnx")
    out, meta = _run(path, X)
    assert out["decision_function"].shape == (10,)  # two classes: d0 - d1, as sklearn's
    assert out["valid"].all() and np.isfinite(out["probabilities"]).all()
    _check_against(pipe, out, X)
    assert json.loads(meta["input_shape"]) == ["batch", 260, 257]

    ts = torch.jit.load(str(to_torchscript(pipe, tmp_path / "pr772.pt")))
    label, decision, proba, *_ = ts(torch.from_numpy(X[:3]))
    np.testing.assert_allclose(decision.numpy(), pipe.decision_function(X[:3]), atol=1e-5)
    np.testing.assert_array_equal(pipe.classes_[label.numpy()], pipe.predict(X[:3]))


def test_frames_the_pipeline_refuses_are_flagged_not_classified(tmp_path, simulated):
    X, y, queries = simulated
    pipe = make_pipeline(
        DetectorMask(0.25),  # nonfinite="error": the pipeline raises on NaN
        FrozenEstimator(make_pipeline(TripletEmbedder(**EMBEDDER)).fit(X, y)),
    ).fit(X, y)
    out, meta = _run(to_onnx(pipe, tmp_path / "embed.onnx"), queries)
    assert json.loads(meta["outputs"]) == ["embeddings", "valid"]
    bad = ~np.isfinite(queries).all(axis=(1, 2))
    np.testing.assert_array_equal(out["valid"], ~bad)
    with pytest.raises(ValueError, match="non-finite"):
        pipe.transform(queries)
    np.testing.assert_allclose(out["embeddings"][~bad], pipe.transform(queries[~bad]), atol=1e-5)


def test_what_cannot_be_exported_is_refused_clearly(simulated, small_fitted_pipeline, tmp_path):
    X, y, _ = simulated
    with pytest.raises(NotFittedError):
        to_onnx(make_pipeline(DetectorMask(0.25), TripletEmbedder()), tmp_path / "a.onnx")
    scaled = make_pipeline(StandardScaler(), FewShotCentroidClassifier(k=2)).fit(
        X.reshape(len(X), -1), y
    )
    with pytest.raises(TypeError, match=r"StandardScaler, which cannot be exported. Known"):
        to_onnx(scaled, tmp_path / "b.onnx")
    pipe, X_small, y_small = small_fitted_pipeline
    rejecting = make_pipeline(
        FrozenEstimator(pipe[:-1]), FewShotCentroidClassifier(k=2, rejection_rate=0.1)
    ).fit(X_small, y_small)
    with pytest.raises(ValueError, match="open-set rejection rules"):
        to_onnx(rejecting, tmp_path / "c.onnx")
    with pytest.raises(ValueError, match="no TripletEmbedder"):
        to_onnx(make_pipeline(DetectorMask(0.25)).fit(X), tmp_path / "d.onnx")
    assert not list(tmp_path.iterdir())  # nothing written, no temporary left behind


def test_existing_files_are_kept_unless_overwrite(small_fitted_pipeline, tmp_path):
    pipe = small_fitted_pipeline[0]
    target = tmp_path / "veto.onnx"
    target.write_bytes(b"older model")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        to_onnx(pipe, target)
    assert target.read_bytes() == b"older model"
    to_torchscript(pipe, target, overwrite=True)  # the same atomic writer, without the export
    assert torch.jit.load(str(target)) is not None and not stale_temporaries(target)
