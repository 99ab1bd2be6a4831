"""predict_file: chunked classification of a run file, results equal to predict / predict_proba;
non-finite pixels frame by frame; the journal of finished chunks, resumes and signals."""

import copy
import hashlib
import json
import os
import signal
import time

import h5py
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

import skspeckle._run_control
import skspeckle.streaming
from skspeckle.io.cxi import DATA_PATH, read_frames, write_cxi
from skspeckle.io.journal import Journal
from skspeckle.streaming import RunInterrupted, predict_file

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
        assert set(group) == {
            "predicted_label",
            "probabilities",
            "classes",
            "embeddings",
            "valid",
            "nonfinite_pixels",
        }
        assert group["valid"][()].all() and not group["nonfinite_pixels"][()].any()
        assert group.attrs["nonfinite"] == "mask" and group.attrs["nonfinite_frames"] == 0
        np.testing.assert_array_equal(group["predicted_label"].asstr()[()], pipe.predict(X))
        np.testing.assert_allclose(group["probabilities"][()], pipe.predict_proba(X), atol=1e-6)
        np.testing.assert_array_equal(group["classes"].asstr()[()], pipe.classes_)
        np.testing.assert_allclose(group["embeddings"][()], pipe[:-1].transform(X), atol=1e-6)
        params = json.loads(group.attrs["model_params"])
        assert params["tripletembedder__n_components"] == 8
        assert group.attrs["skspeckle_version"] and group.attrs["input_file"] == str(run.resolve())
        assert group.attrs["n_frames"] == len(X)
    assert sorted(os.listdir(tmp_path)) == ["out.h5", "run.cxi"]  # the journal is removed
    assert sum(summary["class_counts"].values()) == len(X)
    assert list(summary["class_counts"]) == list(pipe.classes_)


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


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _datasets(path):
    with h5py.File(path) as h5:
        return {name: ds[()] for name, ds in h5[GROUP].items()}


def _assert_same_results(a, b):
    """Bit-identical datasets (NaN equal to NaN)."""
    a, b = _datasets(a), _datasets(b)
    assert set(a) == set(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name, strict=True)


def test_nonfinite_frame_mid_run(tmp_path, fitted):
    pipe, X = fitted
    frames = X.copy()
    frames[15, 3, 4], frames[15, 40, 40] = np.inf, np.nan  # real bad pixels, third chunk of 6
    run = write_cxi(tmp_path / "run.cxi", frames)
    raw = _sha256(run)
    out = tmp_path / "out.h5"
    # error: stops at the frame, named by its index in the file; the two finished chunks stay.
    with pytest.raises(ValueError, match=r"^Frame 15 of .*run\.cxi' has 2 non-finite") as info:
        predict_file(pipe, run, out, chunk_frames=6, nonfinite="error")
    assert "nonfinite='mask'" in str(info.value) and "--nonfinite mask" in str(info.value)
    assert "12 finished frames are kept" in " ".join(info.value.__notes__)
    assert (
        not out.exists() and len(Journal(tmp_path / ".out.h5.partial").lock().read().finished) == 2
    )
    # mask: the run completes, as a pipeline masking them itself would classify the frames.
    masked = predict_file(pipe, run, out, chunk_frames=6, nonfinite="mask", resume=True)
    assert masked["resumed_frames"] == 12 and masked["nonfinite_frames"] == 1
    masking = copy.deepcopy(pipe).set_params(detectormask__nonfinite="mask")
    result = _datasets(out)
    np.testing.assert_array_equal(result["predicted_label"].astype(str), masking.predict(frames))
    np.testing.assert_allclose(result["probabilities"], masking.predict_proba(frames), atol=1e-6)
    assert result["valid"].all() and np.flatnonzero(result["nonfinite_pixels"]).tolist() == [15]
    with h5py.File(out) as h5:
        attrs = h5[GROUP].attrs
        assert (attrs["nonfinite_frames"], attrs["nonfinite_pixels"], attrs["skipped_frames"]) == (
            1,
            2,
            0,
        )
    # skip: the frame is left out and flagged; the others are classified as with mask.
    skipped = predict_file(pipe, run, out, chunk_frames=6, nonfinite="skip", overwrite=True)
    assert skipped["skipped_frames"] == 1 and sum(skipped["class_counts"].values()) == len(X) - 1
    result_skip = _datasets(out)
    assert np.flatnonzero(~result_skip["valid"]).tolist() == [15]
    assert (
        result_skip["predicted_label"][15] == b""
        and np.isnan(result_skip["probabilities"][15]).all()
    )
    keep = np.arange(len(X)) != 15
    np.testing.assert_array_equal(
        result_skip["predicted_label"][keep], result["predicted_label"][keep]
    )
    np.testing.assert_allclose(
        result_skip["probabilities"][keep], result["probabilities"][keep], atol=1e-6
    )
    assert sorted(os.listdir(tmp_path)) == ["out.h5", "run.cxi"]
    assert _sha256(run) == raw


def test_sigterm_commits_the_chunk_and_resume_is_bit_identical(tmp_path, fitted, monkeypatch):
    pipe, X = fitted
    run = write_cxi(tmp_path / "run.cxi", X)
    raw = _sha256(run)
    reference = tmp_path / "reference.h5"
    predict_file(pipe, run, reference, chunk_frames=5, embeddings=True)
    original, calls = skspeckle.streaming.classify_chunk, []

    def signalled(*args, **kwargs):  # SIGTERM arrives while the second chunk is being classified
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(skspeckle.streaming, "classify_chunk", signalled)
    out = tmp_path / "out.h5"
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunInterrupted, match="stopped by SIGTERM after 10 of 24 frames") as info:
        predict_file(pipe, run, out, chunk_frames=5, embeddings=True)
    assert info.value.signum == signal.SIGTERM and info.value.frames_done == 10
    assert signal.getsignal(signal.SIGTERM) is handler  # the handlers are given back
    assert not out.exists() and not list(tmp_path.rglob("*.tmp"))
    assert sorted(p.name for p in info.value.journal.iterdir()) == [
        "chunk_000000000000.npz",
        "chunk_000000000005.npz",
        "lock",
        "manifest.json",
    ]
    with pytest.raises(FileExistsError, match="unfinished results of an earlier run"):
        predict_file(pipe, run, out, chunk_frames=5, embeddings=True)
    summary = predict_file(pipe, run, out, embeddings=True, resume=True)  # chunk size kept
    assert summary["resumed_frames"] == 10
    _assert_same_results(out, reference)
    assert sorted(os.listdir(tmp_path)) == ["out.h5", "reference.h5", "run.cxi"]
    assert _sha256(run) == raw


def test_resume_refused_on_changed_input_or_model(tmp_path, fitted):
    pipe, X = fitted
    run = write_cxi(tmp_path / "run.cxi", X[:10])
    out = tmp_path / "out.h5"
    model = _Interrupting(error=RuntimeError, at=3).fit(np.ones((2, 16)), ["a", "b"])
    with pytest.raises(RuntimeError):
        predict_file(model, run, out, chunk_frames=3, model_sha256="aa" * 32)
    journal = tmp_path / ".out.h5.partial"
    assert journal.is_dir()
    with pytest.raises(ValueError, match=r"Cannot resume .*model \(SHA-256\): 'aaaa"):
        predict_file(pipe, run, out, chunk_frames=3, resume=True, model_sha256="bb" * 32)
    write_cxi(tmp_path / "run.cxi", X[:12], overwrite=True)
    raw = _sha256(run)
    with pytest.raises(ValueError, match="Cannot resume .*input file's size") as info:
        predict_file(model, run, out, chunk_frames=3, resume=True, model_sha256="aa" * 32)
    assert "--overwrite" in str(info.value)
    assert journal.is_dir() and not out.exists()
    # overwrite discards the stale journal, and a killed writer's temporary file.
    stale = tmp_path / ".out.h5.0123456789ab.tmp"
    stale.write_bytes(b"half a file")
    lines = []
    predict_file(pipe, run, out, chunk_frames=3, overwrite=True, log=lines.append)
    assert any("discarded the unfinished run" in line for line in lines)
    assert any("left by a killed writer" in line for line in lines)
    assert sorted(os.listdir(tmp_path)) == ["out.h5", "run.cxi"]
    assert _sha256(run) == raw


def test_journal_lock_refuses_a_second_writer(tmp_path):
    first = Journal(tmp_path / ".o.h5.partial").lock()
    with pytest.raises(BlockingIOError, match="Another process is writing"):
        Journal(tmp_path / ".o.h5.partial").lock()
    first.remove()
    assert not (tmp_path / ".o.h5.partial").exists()


def test_progress_within_a_long_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(skspeckle._run_control, "PROGRESS_SECONDS", 0.01)

    class Slow(_Interrupting):
        def predict(self, X):
            time.sleep(0.3)
            return super().predict(X)

    run = write_cxi(tmp_path / "run.cxi", np.ones((10, 4, 4)))
    lines = []
    model = Slow(at=0).fit(np.ones((2, 16)), ["a", "b"])
    predict_file(model, run, tmp_path / "out.h5", verbose=1, log=lines.append)
    assert any(line.endswith("ETA unknown, on frames 0:10") for line in lines)
    assert lines[-1].startswith("predict_file: 10/10 frames")


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_interrupted_model_leaves_no_output(tmp_path, error):
    run = write_cxi(tmp_path / "run.cxi", np.ones((10, 4, 4)))
    model = _Interrupting(error=error).fit(np.ones((2, 16)), ["a", "b"])
    with pytest.raises(error) as info:
        predict_file(model, run, tmp_path / "out.h5", chunk_frames=3)
    # No output; the first chunk is kept in the journal for a resume.
    assert sorted(os.listdir(tmp_path)) == [".out.h5.partial", "run.cxi"]
    assert "3 finished frames are kept" in " ".join(info.value.__notes__)
    # In place: no half-written group, the frames untouched.
    with pytest.raises(error):
        predict_file(model.fit(np.ones((2, 16)), ["a", "b"]), run, chunk_frames=3, in_place=True)
    assert (tmp_path / ".run.cxi.partial").is_dir()
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
