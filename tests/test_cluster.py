"""skspeckle.cluster on a real two-process LocalCluster (127.0.0.1, no dashboard): results
identical to predict_file, a worker killed mid-run, resume after a failed run, dask-ml's
ParallelPostFit, the command line's --scheduler, and simulation on the cluster."""

import os
import signal

import h5py
import numpy as np
import pytest
from sklearn.base import clone

distributed = pytest.importorskip("distributed")  # the dask extra (in the test extra)

from skspeckle.cli import main  # noqa: E402
from skspeckle.cluster import (  # noqa: E402
    dask_frames,
    make_speckle_patterns_dask,
    predict_dask,
)
from skspeckle.datasets import make_speckle_patterns  # noqa: E402
from skspeckle.io.cxi import write_cxi  # noqa: E402
from skspeckle.io.journal import journal_path  # noqa: E402
from skspeckle.streaming import RunInterrupted, predict_file  # noqa: E402

GROUP = "skspeckle_results"
# Every wait on the cluster is bounded, so a broken cluster fails the test instead of hanging.
TIMEOUT = 60


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,  # ERROR: the killed worker's warnings are expected
        ) as cluster,
        distributed.Client(cluster, timeout=TIMEOUT) as client,
    ):
        client.wait_for_workers(2, timeout=TIMEOUT)
        yield client


@pytest.fixture(scope="module")
def run(small_fitted_pipeline, tmp_path_factory):
    """The fitted pipeline, a run file of 40 frames (5 chunks of 8) and its in-process
    predict_file results (datasets and attributes)."""
    pipe, X, _ = small_fitted_pipeline
    tmp = tmp_path_factory.mktemp("cluster")
    frames = np.concatenate([X, X[:16]])
    path = write_cxi(tmp / "run.cxi", frames)
    predict_file(pipe, path, tmp / "reference.h5", chunk_frames=8, embeddings=True)
    return pipe, path, _read(tmp / "reference.h5")


def _read(path):
    with h5py.File(path) as h5:
        group = h5[GROUP]
        return {name: group[name][()] for name in group}, dict(group.attrs)


def _assert_identical(results, reference):
    data, attrs = results
    ref_data, ref_attrs = reference
    assert set(data) == set(ref_data)
    for name in ref_data:
        np.testing.assert_array_equal(data[name], ref_data[name], err_msg=name)
    for key in ("input_file", "data_path", "model_sha256", "model_params", "n_frames"):
        assert attrs[key] == ref_attrs[key], key


def test_results_identical_to_predict_file(client, run, tmp_path):
    pipe, path, reference = run
    lines = []
    summary = predict_dask(
        pipe,
        path,
        tmp_path / "out.h5",
        client=client,
        chunk_frames=8,
        embeddings=True,
        verbose=2,
        log=lines.append,
    )
    _assert_identical(_read(tmp_path / "out.h5"), reference)
    assert summary["n_frames"] == 40 and summary["n_workers"] == 2
    assert summary["model_shipping_seconds"] > 0 and sum(summary["class_counts"].values()) == 40
    # One line per chunk (and one every 10 s while the workers start).
    assert len(lines) >= 5 and lines[-1].startswith("predict_dask: 40/40 frames")
    assert not journal_path(tmp_path / "out.h5", GROUP).exists()
    # The plugin is removed after the run: the workers do not keep the model.
    plugins = client.run(lambda dask_worker: list(dask_worker.plugins))
    assert not any(p.startswith("skspeckle-model-") for names in plugins.values() for p in names)


def test_worker_killed_mid_run(client, run, tmp_path):
    pipe, path, reference = run
    pids = client.run(os.getpid)
    victim = next(iter(pids.values()))
    killed = []

    def kill_after_first_chunk(line):
        if not killed and "8/40" in line:  # one chunk committed, the others in flight
            os.kill(victim, signal.SIGKILL)
            killed.append(line)

    predict_dask(
        pipe,
        path,
        tmp_path / "out.h5",
        client=client,
        chunk_frames=8,
        embeddings=True,
        verbose=2,
        log=kill_after_first_chunk,
    )
    assert killed and killed[0].startswith("predict_dask: 8/40 frames")
    _assert_identical(_read(tmp_path / "out.h5"), reference)
    client.wait_for_workers(2, timeout=TIMEOUT)  # the nanny restarted it
    assert victim not in client.run(os.getpid).values()


def test_sigterm_commits_finished_chunks_then_resume_is_identical(client, run, tmp_path):
    pipe, path, reference = run
    out = tmp_path / "out.h5"

    sent = []

    def terminate_after_first_chunk(line):
        # Once: a second SIGTERM acts at once (the default action), as a scheduler's would.
        if "8/40" in line and not sent:
            sent.append(line)
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(RunInterrupted) as info:
        predict_dask(
            pipe, path, out, client=client, chunk_frames=8, embeddings=True, verbose=2,
            log=terminate_after_first_chunk,
        )  # fmt: skip
    assert info.value.signum == signal.SIGTERM and 8 <= info.value.frames_done < 40
    assert not out.exists()
    summary = predict_dask(pipe, path, out, client=client, resume=True, embeddings=True)
    assert summary["resumed_frames"] == info.value.frames_done
    _assert_identical(_read(out), reference)


def test_failed_run_resumes_and_mixes_with_predict_file(client, run, tmp_path):
    pipe, _, _ = run
    frames = h5py.File(run[1])["entry_1/data_1/data"][()]
    frames[37, 3, 4] = np.nan  # in the last chunk
    path = write_cxi(tmp_path / "bad.cxi", frames)
    out = tmp_path / "out.h5"
    with pytest.raises(ValueError, match="Frame 37 .* non-finite") as info:
        predict_dask(pipe, path, out, client=client, chunk_frames=8, nonfinite="error")
    assert any("finished frames are kept" in note for note in info.value.__notes__)
    assert not out.exists() and journal_path(out, GROUP).exists()
    # Chunks finished under "error" may be taken over by "mask"; the journal is predict_file's.
    summary = predict_dask(pipe, path, out, client=client, resume=True, nonfinite="mask")
    assert summary["resumed_frames"] > 0
    predict_file(pipe, path, tmp_path / "reference.h5", chunk_frames=8)
    data, attrs = _read(out)
    _assert_identical((data, attrs), _read(tmp_path / "reference.h5"))
    assert data["nonfinite_pixels"][37] == 1 and attrs["nonfinite_frames"] == 1


# ParallelPostFit puts the fitted pipeline (a few MiB) into its graph, and dask says so.
@pytest.mark.filterwarnings("ignore:Sending large graph:UserWarning")
def test_parallel_post_fit_and_dask_frames(client, run, small_fitted_pipeline, tmp_path):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    pipe, path, reference = run
    wrapped = wrappers.ParallelPostFit(pipe)
    predict_dask(wrapped, path, tmp_path / "out.h5", client=client, chunk_frames=8)
    data, _ = _read(tmp_path / "out.h5")
    for name in ("predicted_label", "probabilities", "valid"):
        np.testing.assert_array_equal(data[name], reference[0][name])
    # dask_frames' array (read on the workers) through ParallelPostFit's own map_blocks, which
    # maps over 2-D blocks: a pipeline fitted on flattened frames (n, H * W).
    X, y = small_fitted_pipeline[1], small_fitted_pipeline[2]
    flat = wrappers.ParallelPostFit(clone(pipe)).fit(X.reshape(len(X), -1), y)
    frames = dask_frames([path, path], chunk_frames=8)
    labels = flat.predict(frames.reshape(len(frames), -1))
    assert labels.numblocks == (10,)
    in_process = flat.predict(frames.compute(scheduler="sync").reshape(len(frames), -1))
    np.testing.assert_array_equal(client.compute(labels).result(timeout=TIMEOUT), in_process)


def test_any_dask_array_and_bad_input(client, run, tmp_path):
    da = pytest.importorskip("dask.array")
    pipe, path, reference = run
    frames = da.from_array(h5py.File(path)["entry_1/data_1/data"][()], chunks=(5, 24, 24))
    summary = predict_dask(pipe, frames, tmp_path / "out.h5", client=client, chunk_frames=8)
    data, attrs = _read(tmp_path / "out.h5")
    np.testing.assert_array_equal(data["probabilities"], reference[0]["probabilities"])
    assert attrs["input_file"] == f"dask array {frames.rechunk((8, 48, 48)).name}"
    assert summary["n_frames"] == 40
    with pytest.raises(TypeError, match="dask.array.from_array"):
        predict_dask(pipe, np.zeros((4, 48, 48)), tmp_path / "x.h5", client=client)
    with pytest.raises(ValueError, match=r"\(n_frames, H, W\)"):
        predict_dask(pipe, da.zeros((2, 2, 48, 48)), tmp_path / "x.h5", client=client)
    with pytest.raises(ValueError, match="only sizes a local cluster"):
        predict_dask(pipe, path, tmp_path / "x.h5", client="tcp://127.0.0.1:1", n_workers=2)
    assert not (tmp_path / "x.h5").exists() and not journal_path(tmp_path / "x.h5", GROUP).exists()


def test_command_line_scheduler(client, run, tmp_path, capsys):
    from skspeckle import save_model

    pipe, path, reference = run
    model = save_model(pipe, tmp_path / "model.skops")
    out = tmp_path / "out.h5"
    argv = ["classify", str(path), "--model", str(model), "--out", str(out)]
    assert main([*argv, "--chunk-frames", "8", "--scheduler", client.scheduler.address]) == 0
    assert "classified 40 frames" in capsys.readouterr().out
    data, _ = _read(out)
    np.testing.assert_array_equal(data["probabilities"], reference[0]["probabilities"])
    assert main([*argv, "--overwrite", "--workers", "2", "--scheduler", "tcp://x:1"]) == 1
    assert "--workers" in capsys.readouterr().err
    # A European XFEL run is read in this process: refused before the model is loaded.
    run_dir = tmp_path / "r0001"
    run_dir.mkdir()
    argv = ["classify", str(run_dir), "--model", "missing.skops", "--out", str(out)]
    assert main([*argv, "--scheduler", client.scheduler.address]) == 1
    assert "European XFEL run" in capsys.readouterr().err and not list(run_dir.iterdir())


def test_simulation_on_the_cluster_equals_in_process(client, amplitude_cache):
    kwargs = {
        "n_per_class": 3,
        "classes": ("single-hit", "no-hit"),
        "cache_dir": amplitude_cache,
        "random_state": 7,
        "return_n_particles": True,
    }
    expected = make_speckle_patterns(["1n7g", "1bxn"], **kwargs)
    got = make_speckle_patterns_dask(["1n7g", "1bxn"], client=client, **kwargs)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="n_jobs is set by the cluster"):
        make_speckle_patterns_dask(["1n7g"], client=client, n_jobs=2)
