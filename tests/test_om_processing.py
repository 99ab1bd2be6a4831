"""The OM (OnDA Monitor) SPI processing layer run by OM itself: OM's file-based data retrieval
(EigerFilesDataRetrieval: frames in ``entry/data/data``) and its multiprocessing
parallelization layer, on two small files of simulated frames; the per-event labels equal the
pipeline's ``predict`` and the broadcast hit rates are the counts of those labels."""

import os
import pickle
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("om")  # the om extra (ondamonitor)
zmq = pytest.importorskip("zmq")

from om.lib.exceptions import OmMissingParameterError  # noqa: E402

from skspeckle.persistence import save_model  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "docs" / "examples" / "om_monitor.yaml"
OM_SECONDS = 120  # no monitor outlives this


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_om_monitor_classifies_every_event_and_broadcasts_hit_rates(
    small_fitted_pipeline, tmp_path
):
    pipe, X, _ = small_fitted_pipeline
    save_model(pipe, tmp_path / "model.skops")
    halves = {"run_0.h5": X[:12], "run_1.h5": X[12:]}
    for name, frames in halves.items():
        with h5py.File(tmp_path / name, "w") as h5:
            h5["entry/data/data"] = frames
    (tmp_path / "files.lst").write_text("".join(f"{name}\n" for name in halves))
    url = f"tcp://127.0.0.1:{_free_port()}"
    # The shipped example configuration, with this test's broadcast address and intervals.
    config = CONFIG.read_text()
    config = config.replace("tcp://127.0.0.1:12321", url)
    config = config.replace("data_broadcast_interval: 10", "data_broadcast_interval: 4")
    assert url in config and "data_broadcast_interval: 4" in config
    (tmp_path / "monitor.yaml").write_text(config)

    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"omdata")
    sub.setsockopt(zmq.RECONNECT_IVL, 20)
    sub.connect(url)  # before OM binds: the processing node's start takes seconds
    try:
        done = subprocess.run(
            [sys.executable, "-m", "skspeckle", "om", "files.lst", "-c", "monitor.yaml", "-n", "2"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=OM_SECONDS,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        messages = []
        while sub.poll(timeout=1000):
            tag, payload = sub.recv_multipart()
            messages.append(pickle.loads(payload))  # OM's send_pyobj, from our own child
    finally:
        sub.close()
        context.term()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    expected = dict(zip(halves, np.split(pipe.predict(X), 2)))

    with h5py.File(tmp_path / "om_results.h5") as h5:
        group = h5["skspeckle_results"]
        events = group["event_id"].asstr()[()]
        labels = group["predicted_label"].asstr()[()]
        assert group["valid"][()].all() and (group["score"][()] > 0).all()
        assert set(group["node_rank"][()]) == {1}
    assert len(events) == len(X)
    for event, label in zip(events, labels):  # OM's event id: "<file> // <index>"
        path, index = event.split(" // ")
        assert label == expected[Path(path).name][int(index)]

    counts = Counter(pipe.predict(X).tolist())
    assert f"skspeckle OM: {len(X)} events in total" in done.stdout
    assert messages, "no broadcast received"
    last = messages[-1]
    assert last["num_events"] == len(X) and last["classes"] == pipe.classes_.tolist()
    assert last["class_counts"] == {c: counts.get(c, 0) for c in pipe.classes_}
    assert sum(last["hit_rate"].values()) == pytest.approx(1.0)
    # Every data_broadcast_interval events, then once at the end (OM's PUB may drop some).
    seen = [m["num_events"] for m in messages]
    assert seen == sorted(seen) and all(n % 4 == 0 for n in seen)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (("nonfinite: mask", "nonfinite: drop"), ValueError, "nonfinite must be one of"),
        (("hit_rate_window: 100", "hit_rate_window: 0"), ValueError, "hit_rate_window must be"),
        (("model_file: model.skops", ""), OmMissingParameterError, "model_file"),
    ],
)
def test_configuration_errors_name_the_parameter(tmp_path, change, error, message):
    from om.lib.parameters import MonitorParameters

    from skspeckle.om_processing import SpiClassificationProcessing

    (tmp_path / "monitor.yaml").write_text(CONFIG.read_text().replace(*change))
    parameters = MonitorParameters(config=str(tmp_path / "monitor.yaml"))
    with pytest.raises(error, match=message):
        SpiClassificationProcessing(monitor_parameters=parameters)
