"""Live vetoes from a karabo-bridge stream: a mock European XFEL run (EXtra-data's own example
generator) filled with simulated SPI frames is replayed on the loopback by EXtra-data's
``karabo-bridge-serve-files``; the streamed vetoes equal ``predict_file`` of the same frames,
frame for frame, with their train and pulse ids. Every server is bounded (trains and seconds)
and stopped by the test."""

import os
import selectors
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from skspeckle.cli import main
from skspeckle.io.cxi import write_cxi
from skspeckle.live import VETO_SOURCE, LiveClassifier, frames_of_train
from skspeckle.persistence import load_model, save_model
from skspeckle.streaming import predict_file

extra_data = pytest.importorskip("extra_data")  # the euxfel extra
zmq = pytest.importorskip("zmq")

SOURCE = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"  # AGIPD module 0 of make_spb_run
FILLED_TRAINS = 3  # trains of module 0 that hold simulated frames (64 pulses each)
SERVER_SECONDS = 60  # no server outlives this


@pytest.fixture(scope="module")
def mock_run(tmp_path_factory, amplitude_cache):
    """(run directory, model file, offline frames, their train ids, their pulse ids): a
    corrected SPB run of make_spb_run whose module 0 holds simulated 512 x 128 SPI frames in
    its first trains, and a small pipeline fitted on such frames."""
    from extra_data.tests.make_examples import make_spb_run
    from sklearn.pipeline import make_pipeline

    from skspeckle import FewShotCentroidClassifier, PixelBinning, TripletEmbedder
    from skspeckle.datasets import make_speckle_patterns
    from skspeckle.detector import Detector

    tmp = tmp_path_factory.mktemp("live")
    module = Detector((512, 128), pixel_size=2e-4, distance=0.13)  # an AGIPD module
    X, y, _ = make_speckle_patterns(
        ["1n7g"], n_per_class=8, detector=module, binning=1, cache_dir=amplitude_cache,
        random_state=0,
    )  # fmt: skip
    pipe = make_pipeline(
        PixelBinning(16),
        TripletEmbedder(n_components=8, max_epochs=1, batch_size=16, device="cpu", random_state=0),
        FewShotCentroidClassifier(k=2, random_state=0),
    ).fit(X, y)
    model = save_model(pipe, tmp / "model.skops")

    run_dir = tmp / "r0238"
    run_dir.mkdir()
    make_spb_run(run_dir, raw=False)
    rng = np.random.default_rng(0)
    n = FILLED_TRAINS * 64
    # Every frame different: a drawn pattern at a drawn fluence, one NaN pixel in frame 5
    # (masked alike online and offline).
    frames = X[rng.integers(len(X), size=n)] * rng.uniform(0.5, 1.5, size=(n, 1, 1))
    frames = frames.astype(np.float32)
    frames[5, 100, 50] = np.nan
    with h5py.File(run_dir / "CORR-R0238-AGIPD00-S00000.h5", "r+") as h5:
        h5[f"INSTRUMENT/{SOURCE}/image/data"][:n] = frames
    with extra_data.RunDirectory(run_dir) as run:
        image = run[SOURCE, "image.data"].select_trains(np.s_[:FILLED_TRAINS])
        offline = image.ndarray()
        train_ids = image.train_id_coordinates()
        pulse_ids = run[SOURCE, "image.pulseId"][:FILLED_TRAINS].ndarray().ravel()
    np.testing.assert_array_equal(np.isnan(offline), np.isnan(frames))
    return run_dir, model, offline, train_ids, pulse_ids


class _Bridge:
    """``karabo-bridge-serve-files RUN tcp://127.0.0.1:*`` in a child process (REP socket,
    one module's data and pulse ids); :attr:`endpoint` is the port the child chose."""

    def __init__(self, run_dir):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "extra_data.cli.serve_files", str(run_dir),
             "tcp://127.0.0.1:*", "--source", SOURCE, "--key", "image.[dp]*"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self.endpoint = None
        deadline = time.monotonic() + SERVER_SECONDS
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while self.endpoint is None and time.monotonic() < deadline:
                if not sel.select(timeout=1.0):
                    continue
                line = self.proc.stdout.readline().decode()
                if not line:
                    break
                if line.startswith("Streamer started on:"):
                    self.endpoint = line.partition(":")[2].strip()
        if self.endpoint is None:
            self.stop()
            pytest.fail(f"the bridge did not start: {self.proc.stderr.read().decode()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def bridge(mock_run):
    served = _Bridge(mock_run[0])
    yield served.endpoint
    served.stop()


def _offline(mock_run, tmp_path):
    """``predict_file`` (what ``skspeckle classify`` runs) of the filled trains' frames."""
    _, model, frames, _, _ = mock_run
    run = write_cxi(tmp_path / "offline.cxi", frames)
    predict_file(load_model(model), run, tmp_path / "offline.h5")
    with h5py.File(tmp_path / "offline.h5") as h5:
        group = h5["skspeckle_results"]
        return group["predicted_label"].asstr()[()], group["probabilities"][()]


def test_streamed_vetoes_equal_offline_classify(mock_run, bridge, tmp_path):
    _, model, frames, train_ids, pulse_ids = mock_run
    labels, probabilities = _offline(mock_run, tmp_path)
    out, lines = tmp_path / "live.h5", []
    with LiveClassifier(
        load_model(model), bridge, source=SOURCE, publish="tcp://127.0.0.1:*",
        output_path=out, log=lines.append,
    ) as live:  # fmt: skip
        assert live.publish_endpoint.startswith("tcp://127.0.0.1:")
        sub = live._context.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.RCVTIMEO, 5000)
        sub.connect(live.publish_endpoint)
        time.sleep(0.5)  # a PUB drops what it sends before the subscription arrives
        summary = live.run(max_trains=FILLED_TRAINS, timeout=SERVER_SECONDS, report_seconds=0)
        messages = []
        from karabo_bridge.serializer import deserialize

        for _ in range(FILLED_TRAINS):
            messages.append(deserialize(sub.recv_multipart(copy=False)))
        sub.close()
    n = len(frames)
    assert summary["n_trains"] == FILLED_TRAINS and summary["n_frames"] == n
    assert summary["stopped_by"] == "max_trains" and summary["output_path"] == str(out)
    assert len(summary["latency_s"]) == FILLED_TRAINS and summary["frames_per_s"] > 0
    expected = dict(zip(*np.unique(labels, return_counts=True)))
    assert {k: v for k, v in summary["class_counts"].items() if v} == expected
    assert any("frames/s" in line and "latency per train" in line for line in lines)
    with h5py.File(out) as h5:
        group = h5["skspeckle_results"]
        np.testing.assert_array_equal(group["train_id"][()], train_ids)
        np.testing.assert_array_equal(group["pulse_id"][()], pulse_ids)
        np.testing.assert_array_equal(group["predicted_label"].asstr()[()], labels)
        np.testing.assert_allclose(group["probabilities"][()], probabilities, atol=1e-6)
        assert group["valid"][()].all() and group["nonfinite_pixels"][5] == 1
        assert group.attrs["source"] == SOURCE and group.attrs["n_trains"] == FILLED_TRAINS
    assert not (tmp_path / ".live.h5.partial").exists()
    # The published vetoes: one karabo-bridge message per train, in order.
    for i, (data, meta) in enumerate(messages):
        veto, rows = data[VETO_SOURCE], slice(64 * i, 64 * (i + 1))
        assert veto["trainId"] == meta[VETO_SOURCE]["timestamp.tid"] == train_ids[64 * i]
        np.testing.assert_array_equal(veto["pulseId"], pulse_ids[rows])
        assert veto["label"] == labels[rows].tolist()
        np.testing.assert_allclose(veto["score"], probabilities[rows].max(axis=1), atol=1e-6)
        assert veto["valid"].all() and veto["classes"] == sorted(set(veto["classes"]))


def test_cli_stream_writes_results_and_prints_rates(
    mock_run, bridge, tmp_path, capsys, small_fitted_pipeline
):
    out = tmp_path / "vetoes.h5"
    argv = ["stream", bridge, "--model", str(mock_run[1]), "--source", SOURCE,
            "--out", str(out), "--max-trains", "2", "--timeout", str(SERVER_SECONDS)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "classified 128 frames of 2 trains" in printed and "99th percentile" in printed
    assert "predicted classes: " in printed and "stopped by max_trains" in printed
    with h5py.File(out) as h5:
        np.testing.assert_array_equal(h5["skspeckle_results/train_id"][()], mock_run[3][:128])
    # The output exists now: a second stream refuses to replace it, in one line.
    assert main(argv) == 1
    assert "already exists" in capsys.readouterr().err
    # A wrong key, and a model fitted on other frames: one line each, naming the problem.
    argv[argv.index("--out") + 1] = str(tmp_path / "other.h5")
    assert main([*argv, "--key", "image.nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("skspeckle stream: error: Key 'image.nope' is not in source")
    assert "image.data" in err and "Traceback" not in err
    assert not (tmp_path / ".other.h5.partial").exists()  # no train done: nothing kept
    save_model(small_fitted_pipeline[0], tmp_path / "48x48.skops")  # fitted on 48 x 48 frames
    argv[argv.index("--model") + 1] = str(tmp_path / "48x48.skops")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("skspeckle stream: error: ") and "frames of shape (512, 128)" in err


def test_cli_stream_stops_on_sigterm_with_everything_written(mock_run, bridge, tmp_path):
    out = tmp_path / "vetoes.h5"
    child = subprocess.Popen(
        [sys.executable, "-m", "skspeckle", "stream", bridge, "--model", str(mock_run[1]),
         "--source", SOURCE, "--out", str(out), "--report-seconds", "0.01",
         "--timeout", str(SERVER_SECONDS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd(), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        for line in child.stdout:  # the first progress line: a train is done
            if "frames/s" in line:
                break
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=SERVER_SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, stderr
    assert "stopped by SIGTERM" in stdout
    with h5py.File(out) as h5:
        train_ids = h5["skspeckle_results/train_id"][()]
        n_trains = h5["skspeckle_results"].attrs["n_trains"]
    assert n_trains >= 1 and len(train_ids) == 64 * n_trains
    np.testing.assert_array_equal(np.unique(train_ids), 10000 + np.arange(n_trains))


def _message(frames, **keys):
    return {"DET": {"image.data": frames, **keys}}, {"DET": {"timestamp.tid": 42}}


def test_frames_of_train_layouts():
    modules = np.arange(3 * 2 * 4 * 5, dtype=np.uint16).reshape(3, 2, 4, 5)  # pulses first
    tid, pids, frames = frames_of_train(*_message(modules), "DET")
    assert tid == 42 and frames.shape == (3, 8, 5) and frames.dtype == np.float32
    np.testing.assert_array_equal(frames[1], np.concatenate(modules[1]))
    np.testing.assert_array_equal(pids, [0, 1, 2])
    last = np.moveaxis(modules, 0, -1)  # a pulse-last layout
    data, meta = _message(last, **{"image.pulseId": np.array([[7], [8], [9]])})
    _, pids, again = frames_of_train(data, meta, "DET", pulse_axis=-1)
    np.testing.assert_array_equal(again, frames)
    np.testing.assert_array_equal(pids, [7, 8, 9])
    data = {"CAM": {"data.image.pixels": np.ones((4, 5)), "metadata": {"timestamp.tid": 9}}}
    tid, pids, one = frames_of_train(data, {}, "CAM", key="data.image.pixels")
    assert tid == 9 and one.shape == (1, 4, 5) and pids.tolist() == [0]


def test_frames_of_train_stacks_per_module_sources():
    rng = np.random.default_rng(0)
    modules = rng.normal(size=(3, 4, 2, 5)).astype(np.float32)  # modules, pulses, rows, cols
    data = {
        f"M{i}": {"image.data": m, "image.pulseId": np.arange(4)} for i, m in enumerate(modules)
    }
    meta = {name: {"timestamp.tid": 7} for name in data}
    tid, pids, frames = frames_of_train(data, meta, ["M0", "M1", "M2"])
    assert tid == 7 and frames.shape == (4, 6, 5) and pids.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(frames[3], np.concatenate(modules[:, 3]))
    meta["M2"]["timestamp.tid"] = 8
    with pytest.raises(ValueError, match="different trains or pulses"):
        frames_of_train(data, meta, ["M0", "M2"])


@pytest.mark.parametrize(
    ("source", "key", "extra", "error", "message"),
    [
        ("NOPE", "image.data", {}, KeyError, "the stream sends ['DET']"),
        ("DET", "image.nope", {}, KeyError, "it has ['image.data']"),
        ("DET", "image.data", {"image.pulseId": np.arange(2)}, ValueError, "2 pulse ids"),
    ],
)
def test_frames_of_train_errors(source, key, extra, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        frames_of_train(*_message(np.zeros((3, 4, 5)), **extra), source, key)


def test_live_classifier_rejects_bad_arguments(small_fitted_pipeline, tmp_path):
    pipe = small_fitted_pipeline[0]
    with pytest.raises(ValueError, match="Nothing would be kept"):
        LiveClassifier(pipe, "tcp://127.0.0.1:1", source="DET")
    with pytest.raises(ValueError, match="ZMQ endpoint"):
        LiveClassifier(pipe, "127.0.0.1:1", source="DET", publish="tcp://127.0.0.1:*")
    with pytest.raises(ValueError, match="sock must be"):
        LiveClassifier(pipe, "tcp://127.0.0.1:1", source="D", output_path="o.h5", sock="REP")
    (tmp_path / "o.h5").touch()
    with pytest.raises(FileExistsError, match="already exists"):
        LiveClassifier(pipe, "tcp://127.0.0.1:1", source="DET", output_path=tmp_path / "o.h5")


def _serve_trains(frames_per_train, n_trains, first=1):
    """An in-process karabo bridge (REP, loopback, free port) holding ``n_trains`` trains of
    48 x 48 frames; the caller stops it."""
    from karabo_bridge import ServerInThread

    server = ServerInThread("tcp://127.0.0.1:*", maxlen=n_trains)
    server.start()
    rng = np.random.default_rng(1)
    for tid in range(first, first + n_trains):
        frames = rng.poisson(3.0, (frames_per_train, 48, 48)).astype(np.float32)
        meta = {"source": "DET", "timestamp": 0.0, "timestamp.sec": "0",
                "timestamp.frac": "0", "timestamp.tid": tid}  # fmt: skip
        server.feed({"DET": {"image.data": frames}}, {"DET": meta})
    return server


def test_resume_appends_to_the_journal_of_a_stream_stopped_at_once(small_fitted_pipeline, tmp_path):
    pipe = small_fitted_pipeline[0]
    out = tmp_path / "vetoes.h5"
    server = _serve_trains(4, 3)
    try:
        endpoint = server.endpoint

        def second_ctrl_c(line):  # after the first train, as a second Ctrl-C would
            if "frames/s" in line:
                raise KeyboardInterrupt

        live = LiveClassifier(pipe, endpoint, source="DET", output_path=out, log=second_ctrl_c)
        with pytest.raises(KeyboardInterrupt) as stopped, live:
            live.run(max_trains=3, timeout=SERVER_SECONDS, report_seconds=0)
        assert "vetoes of 4 frames are kept" in " ".join(stopped.value.__notes__)
        assert not out.exists()
        with pytest.raises(FileExistsError, match="--resume"):
            LiveClassifier(pipe, endpoint, source="DET", output_path=out).__enter__()
        with pytest.raises(ValueError, match="key differ"):
            LiveClassifier(
                pipe, endpoint, source="DET", key="x", output_path=out, resume=True
            ).__enter__()
        with LiveClassifier(pipe, endpoint, source="DET", output_path=out, resume=True) as live:
            summary = live.run(max_trains=2, timeout=SERVER_SECONDS)
    finally:
        server.stop()
    assert summary["n_trains"] == 2 and summary["n_frames"] == 8
    with h5py.File(out) as h5:
        np.testing.assert_array_equal(h5["skspeckle_results/train_id"][()], np.repeat([1, 2, 3], 4))
        assert h5["skspeckle_results"].attrs["n_trains"] == 3
