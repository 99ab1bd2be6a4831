"""What comes out: the kept frames of the named classes in a new CXI file and a keep/drop list
(CSV, HDF5), from a classified HDF5 / CXI file; the input is never modified."""

import csv
import hashlib

import h5py
import numpy as np
import pytest

from skspeckle.cli import main
from skspeckle.io.cxi import FRAME_INFO_GROUP, MASK_PATH, FrameReader, read_frames, write_cxi
from skspeckle.io.keep import keep_frames, parse_classes
from skspeckle.persistence import save_model
from skspeckle.streaming import predict_file

KEEP = ["single-hit", "non-sample-hit"]


@pytest.fixture(scope="module")
def classified(tmp_path_factory, small_fitted_pipeline):
    """A CXI run of 24 frames with a detector mask, and its results file."""
    pipe, X, _ = small_fitted_pipeline
    directory = tmp_path_factory.mktemp("keep")
    mask = np.ones(X.shape[1:], dtype=bool)
    mask[:4] = False
    run = write_cxi(directory / "run.cxi", X, mask=mask)
    predict_file(pipe, run, directory / "results.h5", chunk_frames=10)
    with h5py.File(directory / "results.h5") as h5:
        labels = h5["skspeckle_results/predicted_label"].asstr()[()]
        proba = h5["skspeckle_results/probabilities"][()]
    return pipe, X, mask, run, directory / "results.h5", labels, proba


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parse_classes():
    assert parse_classes(["single-hit,multi-hit", "single-hit", " no-hit ", ""]) == [
        "single-hit",
        "multi-hit",
        "no-hit",
    ]


def test_kept_frames_and_keep_list(classified, tmp_path):
    pipe, X, mask, run, results, labels, proba = classified
    before = _sha256(run)
    frames, table, listing = tmp_path / "kept.cxi", tmp_path / "keep.csv", tmp_path / "keep.h5"
    with FrameReader(run, mask=mask, chunk_frames=3) as source:
        summary = keep_frames(
            source, results, KEEP, frames_path=frames, list_paths=[table, listing]
        )
    keep = np.isin(labels, KEEP)
    kept = np.flatnonzero(keep)
    assert 0 < len(kept) < len(X)  # both kept and dropped frames are checked
    assert summary == {
        "n_frames": len(X),
        "n_kept": len(kept),
        "kept_classes": KEEP,
        "frames_path": str(frames),
        "list_paths": [str(table), str(listing)],
    }
    np.testing.assert_array_equal(read_frames(frames), X[kept].astype(np.float32))
    score = proba[np.arange(len(X)), [list(pipe.classes_).index(c) for c in labels]]
    with h5py.File(frames) as h5:
        np.testing.assert_array_equal(h5[MASK_PATH][()] == 0, mask)
        info = h5[FRAME_INFO_GROUP]
        assert set(info) == {"input_index", "predicted_label", "probability"}
        np.testing.assert_array_equal(info["input_index"][()], kept)
        np.testing.assert_array_equal(info["predicted_label"].asstr()[()], labels[kept])
        np.testing.assert_allclose(info["probability"][()], score[kept])
        assert h5.attrs["source"] == str(run.resolve()) and h5.attrs["n_kept"] == len(kept)
        assert h5.attrs["results_file"] == str(results.resolve())
        assert h5.attrs["kept_classes"].tolist() == KEEP and h5.attrs["model_sha256"]
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["input_index", "predicted_label", "probability", "keep"]
    assert [int(r["keep"]) for r in rows] == keep.astype(int).tolist()
    assert [r["predicted_label"] for r in rows] == labels.tolist()
    with h5py.File(listing) as h5:
        np.testing.assert_array_equal(h5["keep_list/keep"][()], keep)
        np.testing.assert_array_equal(h5["keep_list/input_index"][()], np.arange(len(X)))
    assert _sha256(run) == before  # the raw data are only read


def test_bad_requests_write_nothing(classified, tmp_path):
    pipe, X, _, run, results, _, _ = classified
    frames = tmp_path / "kept.cxi"
    with FrameReader(run) as source:
        with pytest.raises(ValueError, match=r"\['single_hit'\] not among the model's classes"):
            keep_frames(source, results, ["single_hit"], frames_path=frames)
        with pytest.raises(ValueError, match="at least one class"):
            keep_frames(source, results, [" , "], frames_path=frames)
        with pytest.raises(ValueError, match="frames_path"):
            keep_frames(source, results, KEEP)
        (tmp_path / "keep.csv").write_text("old")
        with pytest.raises(FileExistsError):
            keep_frames(
                source, results, KEEP, frames_path=frames, list_paths=[tmp_path / "keep.csv"]
            )
    other = write_cxi(tmp_path / "other.cxi", X[:5])
    with FrameReader(other) as source:
        with pytest.raises(ValueError, match="keep frames from the source that was classified"):
            keep_frames(source, results, KEEP, frames_path=frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv", "other.cxi"]
    assert (tmp_path / "keep.csv").read_text() == "old"


def test_classify_keep_from_the_command_line(classified, tmp_path, capsys):
    pipe, X, _, run, _, _, _ = classified
    model = save_model(pipe, tmp_path / "model.skops")
    out = tmp_path / "results.h5"
    argv = ["classify", str(run), "--model", str(model), "--out", str(out)]
    assert main([*argv, "--keep", "single-hit", "--keep", "non-sample-hit"]) == 0
    with h5py.File(out) as h5:
        labels = h5["skspeckle_results/predicted_label"].asstr()[()]
    kept = np.flatnonzero(np.isin(labels, KEEP))
    assert (
        f"kept {len(kept)} of {len(X)} frames (single-hit, non-sample-hit)"
        in capsys.readouterr().out
    )
    np.testing.assert_array_equal(read_frames(tmp_path / "results.kept.cxi"), X[kept])
    assert (tmp_path / "results.keep.csv").is_file() and (tmp_path / "results.keep.h5").is_file()
    # Existing outputs are refused before the run starts (the results file is not rewritten).
    stamp = out.stat().st_mtime_ns
    argv[-1] = str(tmp_path / "again.h5")
    assert main([*argv, "--keep", "single-hit", "--kept-frames", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err and out.stat().st_mtime_ns == stamp
    assert not (tmp_path / "again.h5").exists()
