"""The inference backends of TripletEmbedder (skspeckle/_inference.py)."""

import copy
import pickle

import numpy as np
import pytest
import torch

from skspeckle import _inference
from skspeckle._inference import choose_backend
from skspeckle.embedding import TripletEmbedder
from skspeckle.persistence import load_model, save_model
from skspeckle.preprocessing import DetectorMask

CPU = torch.device("cpu")


def _frames(n_per_class=20, shape=(20, 20), seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n_per_class)
    X = rng.poisson(3.0, size=(len(y), *shape)).astype(np.float32)
    X[y == 1, 4:12, 4:12] += 5
    X[y == 2, 10:18, :] += 4
    return X, y


@pytest.fixture(scope="module")
def data():
    return _frames()


@pytest.fixture(scope="module")
def ort_embedder(data):
    """Fitted, inference_backend="onnxruntime", in batches of 7; exported at its first use."""
    X, y = data
    return TripletEmbedder(
        n_components=8,
        max_epochs=1,
        random_state=0,
        device="cpu",
        inference_backend="onnxruntime",
        inference_batch_size=7,
    ).fit(X, y)


def _torch_path(embedder, X):
    """The same weights through eager torch (a deep copy: its own, empty engine)."""
    return copy.deepcopy(embedder).set_params(inference_backend="torch").transform(X)


def test_onnxruntime_matches_torch_for_any_batch_size(ort_embedder, data):
    X, _ = data
    Z = ort_embedder.transform(X)  # batches of 7, 7, ..., 4: one graph, dynamic batch axis
    assert ort_embedder.inference_backend_ == "onnxruntime"
    reference = _torch_path(ort_embedder, X)
    assert Z.dtype == np.float32 and Z.shape == (60, 8)
    np.testing.assert_allclose(Z, reference, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ort_embedder.transform(X[:1]), reference[:1], rtol=0, atol=1e-5)
    # Not just equal to itself: the graph computes what the module computes, per frame.
    assert np.abs(reference[0] - reference[30]).max() > 1e-2


def test_onnxruntime_matches_torch_on_masked_frames_with_bad_pixels(ort_embedder, data):
    X, _ = data
    X = X.copy()
    X[::5, 15, 15] = np.nan  # in the visible quadrant: masked like the hidden pixels
    masked = DetectorMask(0.25, nonfinite="mask").fit(X).transform(X)
    Z = ort_embedder.transform(masked)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z, _torch_path(ort_embedder, masked), rtol=0, atol=1e-5)


def test_the_exported_graph_is_never_pickled(ort_embedder, data):
    X, _ = data
    ort_embedder.transform(X[:3])
    assert ort_embedder._inference_engine.onnx_bytes()  # exported and cached
    assert "_inference_engine" not in ort_embedder.__getstate__()
    restored = pickle.loads(pickle.dumps(ort_embedder))
    assert restored._inference_engine._onnx is None  # rebuilt lazily
    assert restored._inference_engine.module is restored.module_
    assert len(pickle.dumps(ort_embedder)) < len(ort_embedder._inference_engine._onnx) * 1.5


def test_save_load_round_trip_and_refit_rebuild_the_graph(ort_embedder, data, tmp_path):
    X, y = data
    path = save_model(ort_embedder, tmp_path / "emb.skops")
    loaded = load_model(path)
    assert loaded._inference_engine._onnx is None
    np.testing.assert_allclose(loaded.transform(X), _torch_path(ort_embedder, X), rtol=0, atol=1e-5)
    old_engine = loaded._inference_engine
    loaded.set_params(random_state=1).fit(X, y)  # new weights: the old graph must not serve
    assert loaded._inference_engine is not old_engine
    Z = loaded.transform(X)
    np.testing.assert_allclose(Z, _torch_path(loaded, X), rtol=0, atol=1e-5)
    assert np.abs(Z - ort_embedder.transform(X)).max() > 1e-3


def test_auto_uses_onnxruntime_for_large_calls_only(ort_embedder, data, monkeypatch):
    X, _ = data
    monkeypatch.setattr(_inference, "AUTO_MIN_PIXELS", 30 * 20 * 20)  # 30 frames
    auto = copy.deepcopy(ort_embedder).set_params(inference_backend="auto")
    small = auto.transform(X[:29])  # torch, no export
    assert auto.inference_backend_ == "onnxruntime" and auto._inference_engine._onnx is None
    large = auto.transform(X)  # exported
    assert auto._inference_engine._onnx is not None
    np.testing.assert_allclose(small, large[:29], rtol=0, atol=1e-5)
    # A small call after the export stays on torch: the size of a call alone decides.
    np.testing.assert_array_equal(auto.transform(X[:29]), small)


def test_auto_falls_back_to_torch_without_onnxruntime(monkeypatch):
    real_import, real_installed = _inference.import_optional, _inference._installed

    def missing(module, extra, *, purpose=None):
        if module == "onnxruntime":
            return real_import("no_such_module_xyz", extra, purpose=purpose)
        return real_import(module, extra, purpose=purpose)

    monkeypatch.setattr(_inference, "import_optional", missing)
    monkeypatch.setattr(
        _inference, "_installed", lambda name: name != "onnxruntime" and real_installed(name)
    )
    assert choose_backend("auto", CPU, "float32") == "torch"
    with pytest.raises(ImportError, match=r"skspeckle\[onnx\]"):
        choose_backend("onnxruntime", CPU, "float32")


def test_cuda_without_the_cuda_execution_provider_falls_back_to_torch():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA execution provider")
    cuda = torch.device("cuda")
    assert choose_backend("auto", cuda, "float32") == "torch"
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        choose_backend("onnxruntime", cuda, "float32")


def test_mixed_precision_runs_on_torch():
    assert choose_backend("auto", CPU, "bfloat16") == "torch"
    assert choose_backend("auto", CPU, "auto") == "onnxruntime"
    assert choose_backend("torch", CPU, "float32") == "torch"
    with pytest.raises(ValueError, match="float32 graph"):
        choose_backend("onnxruntime", CPU, "float16")


def test_session_threads_follow_torch(ort_embedder, data):
    engine = ort_embedder._inference_engine
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = engine.session(CPU)
        assert two.get_session_options().intra_op_num_threads == 2
        assert engine.session(CPU) is two  # cached while the setting holds
        torch.set_num_threads(1)
        one = engine.session(CPU)
        assert one is not two and one.get_session_options().intra_op_num_threads == 1
    finally:
        torch.set_num_threads(before)


def test_default_inference_batch_is_not_the_training_batch(data, monkeypatch):
    X, y = data
    seen = []
    real = _inference.predict_batched

    def spy(module, X, batch_size, *args, **kwargs):
        seen.append(batch_size)
        return real(module, X, batch_size, *args, **kwargs)

    monkeypatch.setattr(_inference, "predict_batched", spy)
    emb = TripletEmbedder(
        n_components=4, max_epochs=0, batch_size=16, inference_backend="torch", random_state=0
    ).fit(X, y)
    emb.transform(X)
    emb.set_params(inference_batch_size=5).transform(X)
    assert seen == [_inference.DEFAULT_INFERENCE_BATCH["torch"], 5]


def test_predict_file_runs_the_onnxruntime_backend(ort_embedder, data, tmp_path):
    import h5py
    from sklearn.pipeline import make_pipeline

    from skspeckle.few_shot import FewShotCentroidClassifier
    from skspeckle.io.cxi import CXIWriter
    from skspeckle.streaming import predict_file

    X, y = data
    mask = DetectorMask(0.5).fit(X)
    head = FewShotCentroidClassifier(k=3, random_state=0).fit(
        _torch_path(ort_embedder, mask.transform(X)), y
    )
    pipe = make_pipeline(mask, ort_embedder, head)  # fitted steps
    run = tmp_path / "run.cxi"
    with CXIWriter(run, X.shape[1:]) as writer:
        writer.append(X)
    engine = ort_embedder._inference_engine
    session_before = engine._session
    predict_file(pipe, run, tmp_path / "out.h5", chunk_frames=16)
    assert engine._session is not None and engine.backend == "onnxruntime"
    assert session_before is None or engine._session is session_before
    with h5py.File(tmp_path / "out.h5") as h5:
        proba = h5["skspeckle_results/probabilities"][()]
    reference = make_pipeline(
        mask, copy.deepcopy(ort_embedder).set_params(inference_backend="torch"), head
    )
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=0, atol=1e-5)
