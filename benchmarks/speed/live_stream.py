"""Live vetoes from a replayed karabo-bridge stream: sustained frames/s and latency per train.

A mock corrected AGIPD run (one module, ``SPB_DET_AGIPD1M-1/DET/0CH0:xtdf``, written by
EXtra-data's own mock-data generator with ``--pulses`` frames per train) is filled with
simulated 512 x 128 SPI frames (1n7g, three classes, tiled with a random fluence factor) and
replayed on the loopback by ``karabo-bridge-serve-files`` (REP socket, as fast as the client
asks). :class:`skspeckle.live.LiveClassifier` classifies it train by train with a fitted
``PixelBinning -> TripletEmbedder -> FewShotCentroidClassifier`` pipeline (the embedder
trained for one epoch: the speed does not depend on the weights), publishes the vetoes on a
loopback PUB socket and keeps them in a results file.

Measured: the sustained rate (frames from the first train received to the last published,
bounded by the replay's own rate), the classifier's rate (frames per second of classifying and
publishing alone), the latency per train (from receiving a train to its vetoes being
published; the first train, which warms torch up, is left out of the statistics), and the
replay's rate with a client that only receives (the ceiling of the source on this machine).
The same pipeline's ``predict_proba`` on one train's frames already in memory gives the
model's share. The facility's reference: AGIPD records up to 352 pulses per train at 10 Hz,
3,520 frames/s for each of its 16 modules (European XFEL delivers up to 27,000 pulses/s).
The replay server, the client and the network share this machine's cores.

Usage::

    .venv/bin/python benchmarks/speed/live_stream.py --scale full
    .venv/bin/python benchmarks/speed/live_stream.py --scale full --pulses 64 --trains 40
"""

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from sklearn.pipeline import make_pipeline

from skspeckle import FewShotCentroidClassifier, PixelBinning, TripletEmbedder
from skspeckle.datasets import make_speckle_patterns
from skspeckle.detector import Detector
from skspeckle.live import LiveClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "live_stream"
SOURCE = "SPB_DET_AGIPD1M-1/DET/0CH0"
FACILITY_FRAMES_PER_S = 3520  # AGIPD: 352 pulses per train at 10 Hz, per module
SERVER_SECONDS = 300  # no replay outlives this


def write_mock_run(run_dir, pool, pulses, trains, seed):
    """One corrected AGIPD module file (EXtra-data's mock generator) filled from ``pool``."""
    from extra_data.tests.mockdata import write_file
    from extra_data.tests.mockdata.detectors import AGIPDModule

    path = run_dir / "CORR-R0001-AGIPD00-S00000.h5"
    write_file(
        str(path),
        [AGIPDModule(SOURCE, raw=False, frames_per_train=pulses)],
        ntrains=trains,
        chunksize=32,
    )
    rng = np.random.default_rng(seed)
    with h5py.File(path, "r+") as h5:
        data = h5[f"INSTRUMENT/{SOURCE}:xtdf/image/data"]
        for start in range(0, len(data), pulses):
            pick = rng.integers(len(pool), size=pulses)
            data[start : start + pulses] = pool[pick] * rng.uniform(0.5, 1.5, (pulses, 1, 1))


class Replay:
    """``karabo-bridge-serve-files`` of the run on ``tcp://127.0.0.1:*`` in a child process."""

    def __init__(self, run_dir):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "extra_data.cli.serve_files",
                str(run_dir),
                "tcp://127.0.0.1:*",
                "--source",
                f"{SOURCE}:xtdf",
                "--key",
                "image.[dp]*",
            ],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.endpoint = None
        deadline = time.monotonic() + 60
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while self.endpoint is None and time.monotonic() < deadline:
                if sel.select(timeout=1.0):
                    line = self.proc.stdout.readline().decode()
                    if not line:
                        break
                    if line.startswith("Streamer started on:"):
                        self.endpoint = line.partition(":")[2].strip()
        if self.endpoint is None:
            self.close()
            raise RuntimeError("karabo-bridge-serve-files did not start")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def receive_only(endpoint, trains):
    """Seconds for a plain karabo-bridge client to receive ``trains`` trains."""
    from karabo_bridge import Client

    with Client(endpoint, timeout=60) as client:
        client.next()  # the first train: the server opens its files
        t0 = time.perf_counter()
        for _ in range(trains - 1):
            client.next()
        return time.perf_counter() - t0


def main(argv=None):
    def extra(parser):
        parser.add_argument("--pulses", type=int, default=None, help="frames per train")
        parser.add_argument("--trains", type=int, default=None, help="trains replayed")
        parser.add_argument(
            "--binning", type=int, default=4, help="PixelBinning factor of the model (4)"
        )

    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv, extra=extra)
    started = time.perf_counter()
    quick = args.scale == "quick"
    pulses = args.pulses or (16 if quick else 352)
    trains = args.trains or (4 if quick else 24)

    module = Detector((512, 128), pixel_size=2e-4, distance=0.13)
    X, y, _ = make_speckle_patterns(
        ["1n7g"], n_per_class=4 if quick else 16, detector=module, binning=1,
        random_state=args.seed,
    )  # fmt: skip
    pipe = make_pipeline(
        PixelBinning(args.binning),
        TripletEmbedder(
            max_epochs=1, validation_fraction=0, device=args.device, random_state=args.seed
        ),
        FewShotCentroidClassifier(k=2, random_state=args.seed),
    ).fit(X, y)
    import extra_data
    import torch

    with tempfile.TemporaryDirectory(prefix="skspeckle-bench-") as tmp:
        run_dir = Path(tmp) / "r0001"
        run_dir.mkdir()
        write_mock_run(run_dir, X, pulses, trains, args.seed)
        with Replay(run_dir) as replay:
            with LiveClassifier(
                pipe, replay.endpoint, source=f"{SOURCE}:xtdf", publish="tcp://127.0.0.1:*",
                output_path=Path(tmp) / "vetoes.h5", log=lambda line: None,
            ) as live:  # fmt: skip
                summary = live.run(max_trains=trains, timeout=SERVER_SECONDS, report_seconds=1e9)
        with Replay(run_dir) as replay:
            source_s = receive_only(replay.endpoint, trains)
        # The same pipeline on one train's frames already in memory: the model's share.
        with extra_data.H5File(run_dir / "CORR-R0001-AGIPD00-S00000.h5") as run:
            frames = run[f"{SOURCE}:xtdf", "image.data"][1].ndarray()
        pipe.predict_proba(frames)  # warm-up
        t0 = time.perf_counter()
        for _ in range(3):
            pipe.predict_proba(frames)
        in_memory_s = (time.perf_counter() - t0) / 3

    steady = summary["latency_s"][1:]  # the first train warms torch up
    frames_steady = (summary["n_trains"] - 1) * pulses
    # The sustained rate after the first train: from its end to the last train's.
    steady_seconds = summary["seconds"] - summary["latency_s"][0]
    result = {
        "source": f"{SOURCE}:xtdf",
        "frame_shape": [512, 128],
        "model_input_shape": [512 // args.binning, 128 // args.binning],
        "pulses_per_train": pulses,
        "trains": summary["n_trains"],
        "frames": summary["n_frames"],
        "torch_threads": torch.get_num_threads(),
        "sustained_frames_per_s": summary["n_frames"] / summary["seconds"],
        "sustained_frames_per_s_after_first_train": frames_steady / steady_seconds,
        "classifier_frames_per_s": frames_steady / float(steady.sum()),
        "latency_ms_median": 1e3 * float(np.median(steady)),
        "latency_ms_p99": 1e3 * float(np.percentile(steady, 99)),
        "latency_ms_max": 1e3 * float(steady.max()),
        "first_train_latency_ms": 1e3 * float(summary["latency_s"][0]),
        "replay_only_frames_per_s": (trains - 1) * pulses / source_s,
        "in_memory_predict_frames_per_s": pulses / in_memory_s,
        "facility_frames_per_s_per_module": FACILITY_FRAMES_PER_S,
    }
    result["classifier_to_facility"] = result["classifier_frames_per_s"] / FACILITY_FRAMES_PER_S
    print(
        f"{pulses} pulses x {summary['n_trains']} trains: sustained "
        f"{result['sustained_frames_per_s_after_first_train']:.0f} frames/s (replay alone "
        f"{result['replay_only_frames_per_s']:.0f}, in-memory predict "
        f"{result['in_memory_predict_frames_per_s']:.0f}), classifier "
        f"{result['classifier_frames_per_s']:.0f} frames/s = "
        f"{result['classifier_to_facility']:.2f} x the facility's "
        f"{FACILITY_FRAMES_PER_S}/s per module; latency per train median "
        f"{result['latency_ms_median']:.0f} ms, p99 {result['latency_ms_p99']:.0f} ms"
    )

    fig, ax = _common.figure(1, 1, figsize=(5, 3.5))
    ax.plot(np.arange(2, summary["n_trains"] + 1), 1e3 * steady, "o-", ms=3)
    ax.axhline(100, color="grey", ls="--", lw=1, label="train period (10 Hz)")
    ax.set_xlabel("train")
    ax.set_ylabel("latency per train (ms)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    _common.save_figure(fig, NAME, args)
    return _common.write_result(NAME, args, result, started)


if __name__ == "__main__":
    main()
