"""predict_file: chunked classification of a run file, results equal to predict / predict_proba."""

import copy
import json
import os

import h5py
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from skspeckle.io.cxi import DATA_PATH, read_frames, write_cxi
from skspeckle.streaming import predict_file

GROUP = "skspeckle_results"


@pytest.fixture(scope="module")
def fitted(small_fitted_pipeline):
    pipe, X, _ = small_fitted_pipeline
    return pipe, X


class _Interrupting(ClassifierMixin, BaseEstimator):
    """Predicts class 0, and raises ``error`` on the ``at``-th call (a crash mid-file)."""

    def __init__(self, error=KeyboardInterrupt, at=2):
        self.error = error
        self.at = at

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.calls_ = 0
        return self

    def predict(self, X):
        self.calls_ += 1
        if self.calls_ == self.at:
            raise self.error("stop")
        return np.full(len(X), self.classes_[0])


def test_results_equal_predict_and_predict_proba(tmp_path, fitted):
    pipe, X = fitted
    run = write_cxi(tmp_path / "run.cxi", X)
    lines = []
    summary = predict_file(
        pipe, run, tmp_path / "out.h5", chunk_frames=7, embeddings=True, verbose=2, log=lines.append
    )
    assert summary["n_frames"] == len(X) and summary["output_path"] == str(tmp_path / "out.h5")
    assert summary["frames_per_s"] > 0 and summary["group"] == GROUP
    assert len(lines) == 4 and lines[-1].startswith(f"predict_file: {len(X)}/{len(X)} frames")
    assert "frames/s" in lines[0] and "ETA" in lines[0]
    with h5py.File(tmp_path / "out.h5") as h5:
        group = h5[GROUP]
        assert set(group) == {"predicted_label", "probabilities", "classes", "embeddings"}
        np.testing.assert_array_equal(group["predicted_label"].asstr()[()], pipe.predict(X))
        np.testing.assert_allclose(group["probabilities"][()], pipe.predict_proba(X), atol=1e-6)
        np.testing.assert_array_equal(group["classes"].asstr()[()], pipe.classes_)
        np.testing.assert_allclose(group["embeddings"][()], pipe[:-1].transform(X), atol=1e-6)
        params = json.loads(group.attrs["model_params"])
        assert params["tripletembedder__n_components"] == 8
        assert group.attrs["skspeckle_version"] and group.attrs["input_file"] == str(run.resolve())
        assert group.attrs["n_frames"] == len(X)
    assert sorted(os.listdir(tmp_path)) == ["out.h5", "run.cxi"]


def test_existing_output_and_raw_input_are_protected(tmp_path, fitted):
    pipe, X = fitted
    run = write_cxi(tmp_path / "run.cxi", X[:4])
    out = tmp_path / "out.h5"
    predict_file(pipe, run, out)
    first = out.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        predict_file(pipe, run, out)
    assert out.read_bytes() == first
    predict_file(pipe, run, out, overwrite=True)
    with pytest.raises(ValueError, match="is the input file"):
        predict_file(pipe, run, run, overwrite=True)
    with pytest.raises(ValueError, match="output_path is required"):
        predict_file(pipe, run)
    with pytest.raises(ValueError, match="needs a Pipeline"):
        predict_file(pipe[-1], run, tmp_path / "x.h5", embeddings=True)
    np.testing.assert_array_equal(read_frames(run), X[:4])


def test_nonfinite_frames_error_mid_file_leaves_no_output(tmp_path, fitted):
    pipe, X = fitted
    frames = X.copy()
    frames[15, 3, 4] = np.inf  # a real bad pixel, in the third chunk of 6
    run = write_cxi(tmp_path / "run.cxi", frames)
    with pytest.raises(ValueError, match="non-finite") as info:
        predict_file(pipe, run, tmp_path / "out.h5", chunk_frames=6)
    assert "frames 12:18" in " ".join(getattr(info.value, "__notes__", ["frames 12:18"]))
    assert sorted(os.listdir(tmp_path)) == ["run.cxi"]
    # Masking bad pixels is the pipeline's job: with nonfinite="mask" the run goes through.
    masking = copy.deepcopy(pipe).set_params(detectormask__nonfinite="mask")
    predict_file(masking, run, tmp_path / "out.h5", chunk_frames=6)
    with h5py.File(tmp_path / "out.h5") as h5:
        assert len(h5[GROUP]["predicted_label"]) == len(X)


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_interrupted_model_leaves_no_output(tmp_path, error):
    run = write_cxi(tmp_path / "run.cxi", np.ones((10, 4, 4)))
    model = _Interrupting(error=error).fit(np.ones((2, 16)), ["a", "b"])
    with pytest.raises(error):
        predict_file(model, run, tmp_path / "out.h5", chunk_frames=3)
    assert sorted(os.listdir(tmp_path)) == ["run.cxi"]
    # In place: no half-written group, the frames untouched.
    with pytest.raises(error):
        predict_file(model.fit(np.ones((2, 16)), ["a", "b"]), run, chunk_frames=3, in_place=True)
    with h5py.File(run) as h5:
        assert set(h5) == {"cxi_version", "entry_1"}
        np.testing.assert_array_equal(h5[DATA_PATH][()], np.ones((10, 4, 4)))


def test_in_place_adds_a_group(tmp_path, fitted):
    pipe, X = fitted
    run = write_cxi(tmp_path / "run.cxi", X[:5])
    summary = predict_file(pipe, run, in_place=True, group="entry_1/result_1")
    assert summary["output_path"] == str(run)
    with h5py.File(run) as h5:
        np.testing.assert_array_equal(
            h5["entry_1/result_1/predicted_label"].asstr()[()], pipe.predict(X[:5])
        )
        np.testing.assert_array_equal(h5[DATA_PATH][()], X[:5])
    with pytest.raises(ValueError, match="another group"):
        predict_file(pipe, run, in_place=True, group="entry_1/result_1")
    with pytest.raises(ValueError, match="output_path=None"):
        predict_file(pipe, run, tmp_path / "o.h5", in_place=True)
    assert sorted(os.listdir(tmp_path)) == ["run.cxi"]
