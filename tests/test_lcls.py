"""skspeckle.lcls against psana itself: an xtc2 run written with psana's DgramEdit, read
back through psana.DataSource(files=...), classified with its event timestamps; results
equal to predict_file on the same frames; a failed run resumed."""

import h5py
import numpy as np
import pytest

psana = pytest.importorskip("psana")  # the lcls extra (see docs/cluster.md for CI)

from skspeckle.io.cxi import write_cxi  # noqa: E402
from skspeckle.lcls import iter_psana_frames, predict_psana  # noqa: E402
from skspeckle.streaming import predict_file  # noqa: E402

GROUP = "skspeckle_results"
# Files written here carry no calibration constants, and the LCLS calibration database is
# not reachable from a test: psana is told not to look them up.
NO_CALIB = {"skip_calib_load": "all"}


def write_xtc2(path, frames, first_timestamp=1_000):
    """An xtc2 run of detector "amopnccd" (psana's pnCCD test detector class, whose
    ``raw.calib`` returns the stored array) with one event per frame; returns the event
    timestamps. The transitions are those of a real run: Configure, BeginRun, BeginStep,
    Enable, the events, Disable, EndStep, EndRun."""
    from psana.dgramedit import AlgDef, DetectorDef, DgramEdit
    from psana.psexp import TransitionId

    buf = bytearray(64_000_000)
    stamps = iter(range(first_timestamp, first_timestamp + len(frames) + 100))
    with open(path, "wb") as f:

        def save(dgram):
            dgram.save(buf)
            f.write(buf[: dgram.size])

        config = DgramEdit(transition_id=TransitionId.Configure, ts=next(stamps))
        det = config.Detector(
            DetectorDef("amopnccd", "pnccd", "detnum1234"),
            AlgDef("raw", 1, 2, 3),
            {"calib": (np.float32, 3)},
            nodeId=1,
            namesId=0,
        )
        save(config)
        for transition in (TransitionId.BeginRun, TransitionId.BeginStep, TransitionId.Enable):
            save(DgramEdit(transition_id=transition, config_dgramedit=config, ts=next(stamps)))
        written = []
        for frame in frames:
            written.append(next(stamps))
            event = DgramEdit(
                transition_id=TransitionId.L1Accept, config_dgramedit=config, ts=written[-1]
            )
            det.raw.calib = np.ascontiguousarray(frame[None], dtype=np.float32)
            event.adddata(det.raw)
            save(event)
        for transition in (TransitionId.Disable, TransitionId.EndStep, TransitionId.EndRun):
            save(DgramEdit(transition_id=transition, config_dgramedit=config, ts=next(stamps)))
    return np.array(written, dtype=np.uint64)


def _read(path):
    with h5py.File(path) as h5:
        return {name: h5[GROUP][name][()] for name in h5[GROUP]}, dict(h5[GROUP].attrs)


def test_frames_and_timestamps_through_psana(tmp_path, small_fitted_pipeline):
    pipe, X, _ = small_fitted_pipeline
    stamps = write_xtc2(tmp_path / "run.xtc2", X)
    chunks = list(
        iter_psana_frames(
            "amopnccd", files=tmp_path / "run.xtc2", chunk_frames=10, datasource_kwargs=NO_CALIB
        )
    )
    assert [len(t) for t, _ in chunks] == [10, 10, 4]
    np.testing.assert_array_equal(np.concatenate([t for t, _ in chunks]), stamps)
    np.testing.assert_array_equal(np.concatenate([f for _, f in chunks]), X)

    summary = predict_psana(
        pipe,
        tmp_path / "out.h5",
        detector="amopnccd",
        files=tmp_path / "run.xtc2",
        chunk_frames=10,
        embeddings=True,
        datasource_kwargs=NO_CALIB,
    )
    assert summary["n_frames"] == len(X)
    predict_file(
        pipe, write_cxi(tmp_path / "run.cxi", X), tmp_path / "ref.h5", chunk_frames=10,
        embeddings=True,
    )  # fmt: skip
    data, attrs = _read(tmp_path / "out.h5")
    reference, _ = _read(tmp_path / "ref.h5")
    assert set(data) == {*reference, "timestamp"}
    np.testing.assert_array_equal(data["timestamp"], stamps)
    for name in reference:
        np.testing.assert_array_equal(data[name], reference[name], err_msg=name)
    assert attrs["data_path"] == "amopnccd.raw.calib"
    assert attrs["input_file"] == str((tmp_path / "run.xtc2").resolve())


def test_failed_run_resumes(tmp_path, small_fitted_pipeline):
    pipe, X, _ = small_fitted_pipeline
    frames = X.copy()
    frames[17, 5, 5] = np.inf
    write_xtc2(tmp_path / "run.xtc2", frames)
    options = {
        "detector": "amopnccd",
        "files": tmp_path / "run.xtc2",
        "chunk_frames": 8,
        "datasource_kwargs": NO_CALIB,
    }
    with pytest.raises(ValueError, match="Frame 17 .* non-finite"):
        predict_psana(pipe, tmp_path / "out.h5", nonfinite="error", **options)
    summary = predict_psana(pipe, tmp_path / "out.h5", resume=True, **options)
    assert summary["resumed_frames"] == 16 and summary["nonfinite_frames"] == 1
    predict_file(pipe, write_cxi(tmp_path / "run.cxi", frames), tmp_path / "ref.h5", chunk_frames=8)
    data, _ = _read(tmp_path / "out.h5")
    reference, _ = _read(tmp_path / "ref.h5")
    for name in reference:
        np.testing.assert_array_equal(data[name], reference[name], err_msg=name)


def test_bad_arguments(tmp_path, small_fitted_pipeline):
    pipe = small_fitted_pipeline[0]
    with pytest.raises(ValueError, match="either exp= and run="):
        predict_psana(pipe, tmp_path / "o.h5", detector="d", exp="xpptut15")
    with pytest.raises(ValueError, match="kind must be one of"):
        next(iter_psana_frames("d", files="x.xtc2", kind="assembled"))
    assert not (tmp_path / "o.h5").exists()
