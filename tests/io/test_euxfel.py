"""European XFEL runs: AGIPD 1M frames read from EXtra-data's mock runs filled with simulated
patterns, assembled with EXtra-geom, classified with train and pulse ids; the simulated
detector of an EXtra-geom geometry; ``skspeckle classify RUN_DIR --source euxfel --keep``."""

import csv
import sys

import h5py
import numpy as np
import pytest
from euxfel_mock import (
    DISTANCE,
    MODULE_SHAPE,
    PULSES,
    QUADS,
    TRAINS,
    fill_run,
    module_index,
    to_modules,
)

import skspeckle.streaming
from skspeckle.cli import main
from skspeckle.detector import Detector
from skspeckle.io.cxi import FRAME_INFO_GROUP, MASK_PATH, read_frames
from skspeckle.io.euxfel import EuXFELRun, agipd_geometry
from skspeckle.io.sources import FrameSource, open_frames
from skspeckle.persistence import save_model
from skspeckle.streaming import predict_file

DETECTOR = "SPB_DET_AGIPD1M-1"
N_PIXELS = 16 * 512 * 128
# The mock proc run flags one pixel of module 15 (row 0, column 5) in its first frame.
FLAGGED = 15 * 512 * 128 + 5


@pytest.mark.parametrize("kind", ["AGIPD 1M", "JUNGFRAU"])
def test_detector_from_extra_geom_is_the_geometry(agipd_geom, kind):
    if kind == "JUNGFRAU":  # two 512 x 1024 modules
        from extra_geom import JUNGFRAUGeometry

        geometry = JUNGFRAUGeometry.from_module_positions(offsets=((-1100, -520), (-1100, 30)))
    else:
        geometry = agipd_geom
    detector = Detector.from_extra_geom(geometry, DISTANCE)
    index = module_index(geometry)
    covered = index >= 0
    np.testing.assert_array_equal(detector.mask, covered)
    assert detector.mask.sum() == np.prod(geometry.expected_data_shape) == N_PIXELS
    assert detector.pixel_size == geometry.pixel_size
    # Every module pixel within half a pixel of its EXtra-geom position, in the plane z = d.
    ours = detector.pixel_positions()[covered]
    theirs = geometry.get_pixel_positions().reshape(-1, 3)[index[covered]]
    assert np.abs(ours[:, :2] - theirs[:, :2]).max() <= 0.5 * detector.pixel_size + 1e-12
    np.testing.assert_allclose(ours[:, 2], DISTANCE)
    with pytest.raises(TypeError, match="EXtra-geom detector geometry"):
        Detector.from_extra_geom(object(), DISTANCE)


def test_geometry_from_quadrants_file_or_object(agipd_geom, tmp_path):
    path = tmp_path / "agipd.geom"
    agipd_geom.write_crystfel_geom(str(path))
    reference = agipd_geom.get_pixel_positions()
    np.testing.assert_allclose(agipd_geometry(path).get_pixel_positions(), reference, atol=1e-9)
    np.testing.assert_allclose(agipd_geometry(QUADS).get_pixel_positions(), reference)
    assert agipd_geometry(agipd_geom) is agipd_geom
    with pytest.raises(ValueError, match="4 quadrant positions"):
        agipd_geometry([(0, 0)] * 3)
    with pytest.raises(FileNotFoundError):
        agipd_geometry(tmp_path / "missing.geom")


def test_proc_run_assembled_frames_ids_and_facility_mask(proc_run, agipd_patterns, agipd_geom):
    run_dir, train_ids, pulse_ids = proc_run
    detector, _, (X, _) = agipd_patterns
    flagged = module_index(agipd_geom) == FLAGGED
    with open_frames(
        run_dir, detector=DETECTOR, geometry=QUADS, trains=TRAINS, pulses=PULSES
    ) as run:
        assert isinstance(run, EuXFELRun) and isinstance(run, FrameSource)
        assert run.shape == (12, *detector.shape) and not run.raw and run.chunk_frames == 12
        np.testing.assert_array_equal(run.mask, detector.mask)
        np.testing.assert_array_equal(run.frame_ids["train_id"], train_ids)
        np.testing.assert_array_equal(run.frame_ids["pulse_id"], pulse_ids)
        frames = run[:]
        assert frames.dtype == np.float32
        assert np.isnan(frames[:, ~run.mask]).all()  # the gaps
        # The facility's bad pixel of the first frame is NaN; every other pixel is as written.
        assert np.isnan(frames[0][flagged]).all() and not np.isnan(frames[1:, run.mask]).any()
        good = run.mask & ~flagged
        np.testing.assert_array_equal(frames[:, good], X[:, good])
        np.testing.assert_array_equal(run[[5, 2, 5]], frames[[5, 2, 5]])
        assert run.identity()["input_file"] == str(run_dir.resolve())
    with EuXFELRun(
        run_dir, geometry=agipd_geom, trains=TRAINS, pulses=PULSES, facility_mask=False
    ) as run:
        np.testing.assert_array_equal(run[0][run.mask], X[0][run.mask])


def test_modules_kept_stacked_along_the_rows(proc_run, agipd_patterns, agipd_geom):
    run_dir, _, _ = proc_run
    _, _, (X, _) = agipd_patterns
    with EuXFELRun(run_dir, trains=slice(0, 1), pulses=np.s_[1:3], chunk_frames=1) as run:
        assert run.shape == (2, 16 * 512, 128) and run.mask.all()
        np.testing.assert_array_equal(run.frame_ids["pulse_id"], [1, 2])
        expected = to_modules(X[1:3], module_index(agipd_geom)).reshape(2, 16 * 512, 128)
        np.testing.assert_array_equal(run[:], expected)
        assert [start for start, _ in run.iter_chunks()] == [0, 1]


def test_raw_run_data_plane_and_absent_module(tmp_path):
    make_examples = pytest.importorskip("extra_data.tests.make_examples")
    make_examples.make_spb_run(str(tmp_path))
    (tmp_path / "RAW-R0238-AGIPD03-S00000.h5").unlink()  # a module absent from the run
    modules = np.random.default_rng(0).integers(0, 4000, (2, 16, *MODULE_SHAPE))
    fill_run(tmp_path, modules.astype(np.uint16), [10001, 10001], [4, 7], gain=2)
    with EuXFELRun(tmp_path, DETECTOR, raw=True, trains=slice(1, 2), pulses=[4, 7]) as run:
        assert run.raw and run.shape == (2, 16 * 512, 128)
        rows = np.arange(16 * 512) // 512
        np.testing.assert_array_equal(
            run.mask, np.broadcast_to((rows != 3)[:, None], run.mask.shape)
        )
        frames = run[:]
        assert np.isnan(frames[:, rows == 3]).all()
        expected = modules.reshape(2, -1, 128).astype(np.float32)
        np.testing.assert_array_equal(frames[:, rows != 3], expected[:, rows != 3])
        assert "raw image.data" in run.data_paths[0]


def test_bad_arguments_are_named(proc_run, tmp_path):
    run_dir, _, _ = proc_run
    with pytest.raises(FileNotFoundError, match="run directory"):
        EuXFELRun(tmp_path / "r9999")
    with pytest.raises(KeyError):
        EuXFELRun(run_dir, "SQS_DET_AGIPD1M-9")
    with pytest.raises(ValueError, match="pulses must be"):
        EuXFELRun(run_dir, pulses="all")
    with pytest.raises(ValueError, match="non-negative"):
        EuXFELRun(run_dir, pulses=[-1])
    with pytest.raises(ValueError, match="No frames"):
        EuXFELRun(run_dir, pulses=[100])
    with pytest.raises(ValueError, match="options of European XFEL runs"):
        open_frames(tmp_path / "run.cxi", "cxi", geometry=QUADS)
    with pytest.raises(ValueError, match="data_path is for HDF5"):
        open_frames(run_dir, data_path="entry_1/data_1/data")


def test_predict_file_on_a_run_keys_results_by_train_and_pulse(
    proc_run, agipd_patterns, agipd_model, agipd_geom, tmp_path
):
    run_dir, train_ids, pulse_ids = proc_run
    _, _, (X, y) = agipd_patterns
    with EuXFELRun(run_dir, geometry=QUADS, trains=TRAINS, pulses=PULSES, chunk_frames=5) as run:
        summary = predict_file(agipd_model, run, tmp_path / "out.h5")
    expected = X.copy()
    expected[0][module_index(agipd_geom) == FLAGGED] = 0  # masked, as a gap
    with h5py.File(tmp_path / "out.h5") as h5:
        g = h5["skspeckle_results"]
        labels = g["predicted_label"].asstr()[()]
        np.testing.assert_array_equal(labels, agipd_model.predict(expected))
        np.testing.assert_allclose(g["probabilities"][()], agipd_model.predict_proba(expected))
        np.testing.assert_array_equal(g["train_id"][()], train_ids)
        np.testing.assert_array_equal(g["pulse_id"][()], pulse_ids)
        np.testing.assert_array_equal(g["cell_id"][()], pulse_ids)
        # Only the facility's bad pixel is non-finite: the gaps are masked, not bad.
        np.testing.assert_array_equal(g["nonfinite_pixels"][()], [1] + [0] * 11)
        assert g.attrs["input_file"] == str(run_dir.resolve()) and g["valid"][()].all()
        assert "geometry sha256:" in g.attrs["data_path"][1]
    np.testing.assert_array_equal(labels, y)  # single hits and no hits told apart
    assert summary["class_counts"] == {c: int(np.sum(y == c)) for c in ("no-hit", "single-hit")}
    with EuXFELRun(run_dir, geometry=QUADS, trains=TRAINS, pulses=PULSES) as run:
        with pytest.raises(ValueError, match="in_place"):
            predict_file(agipd_model, run, None, in_place=True)


def test_classify_run_from_the_command_line_with_keep(proc_run, agipd_model, tmp_path, capsys):
    run_dir, train_ids, pulse_ids = proc_run
    geom = tmp_path / "agipd.geom"
    agipd_geometry(QUADS).write_crystfel_geom(str(geom))
    with pytest.warns(UserWarning, match="numpy.reshape"):  # FunctionTransformer(np.reshape)
        model = save_model(agipd_model, tmp_path / "model.skops")
    out = tmp_path / "results.h5"
    argv = ["classify", str(run_dir), "--source", "euxfel", "--detector", DETECTOR]
    argv += ["--geometry", str(geom), "--trains", "0:3", "--pulses", "0,1,2,3"]
    argv += ["--model", str(model), "--trust", "numpy.reshape", "--out", str(out)]
    assert main([*argv, "--keep", "single-hit"]) == 0
    printed = capsys.readouterr().out
    with h5py.File(out) as h5:
        labels = h5["skspeckle_results/predicted_label"].asstr()[()]
        np.testing.assert_array_equal(h5["skspeckle_results/train_id"][()], train_ids)
    kept = np.flatnonzero(labels == "single-hit")
    assert "classified 12 frames" in printed
    assert f"kept {len(kept)} of 12 frames (single-hit)" in printed
    with EuXFELRun(run_dir, geometry=str(geom), trains=TRAINS, pulses=PULSES) as run:
        frames, mask = run[kept], run.mask
    cxi = tmp_path / "results.kept.cxi"
    np.testing.assert_array_equal(read_frames(cxi), frames)  # NaN in the gaps, as read
    with h5py.File(cxi) as h5:
        np.testing.assert_array_equal(h5[MASK_PATH][()] == 0, mask)
        info = h5[FRAME_INFO_GROUP]
        np.testing.assert_array_equal(info["input_index"][()], kept)
        np.testing.assert_array_equal(info["train_id"][()], train_ids[kept])
        np.testing.assert_array_equal(info["pulse_id"][()], pulse_ids[kept])
        assert set(info["predicted_label"].asstr()[()]) == {"single-hit"}
        assert h5.attrs["kept_classes"].tolist() == ["single-hit"]
        assert h5.attrs["source"] == str(run_dir.resolve()) and h5.attrs["n_kept"] == len(kept)
    with open(tmp_path / "results.keep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["keep"]) for r in rows] == (labels == "single-hit").astype(int).tolist()
    assert [int(r["train_id"]) for r in rows] == train_ids.tolist()
    with h5py.File(tmp_path / "results.keep.h5") as h5:
        np.testing.assert_array_equal(h5["keep_list/keep"][()], labels == "single-hit")
        np.testing.assert_array_equal(h5["keep_list/pulse_id"][()], pulse_ids)
    # Options of runs on a file are a one-line error.
    assert main(["classify", str(cxi), "--geometry", str(geom), "--model", str(model),
                 "--out", str(tmp_path / "o.h5")]) == 1  # fmt: skip
    assert "--geometry: options of European XFEL runs" in capsys.readouterr().err


def test_resume_needs_the_same_run_geometry_and_selection(
    proc_run, agipd_model, tmp_path, monkeypatch
):
    run_dir, _, _ = proc_run
    out = tmp_path / "out.h5"
    original, calls = skspeckle.streaming.classify_chunk, []

    def crash_on_second_chunk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args)

    options = {"geometry": QUADS, "trains": TRAINS, "pulses": PULSES, "chunk_frames": 6}
    monkeypatch.setattr(skspeckle.streaming, "classify_chunk", crash_on_second_chunk)
    with EuXFELRun(run_dir, **options) as run, pytest.raises(KeyboardInterrupt):
        predict_file(agipd_model, run, out)
    monkeypatch.undo()
    with EuXFELRun(run_dir, **{**options, "pulses": [0, 1, 2, 5]}) as run:
        with pytest.raises(ValueError, match="Cannot resume.*data path"):
            predict_file(agipd_model, run, out, resume=True)
    with EuXFELRun(run_dir, **options) as run:
        summary = predict_file(agipd_model, run, out, resume=True)
    assert summary["resumed_frames"] == 6 and summary["n_frames"] == 12


def test_missing_extra_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "extra_data", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'skspeckle\[euxfel\]'"):
        EuXFELRun(tmp_path)
