"""End-to-end veto throughput from a CXI file, and how it scales with the run size.

A fitted SpeckleNN pipeline (``DetectorMask(0.25) -> TripletEmbedder ->
FewShotCentroidClassifier(k=5)``) classifies every frame of a CXI run file with
``skspeckle.streaming.predict_file`` (chunked HDF5 reads, results written atomically to a new
file), against the same pipeline's ``predict`` on the frames already in memory (read with
``skspeckle.io.cxi.read_frames``, so the in-memory run pays neither reading nor writing).
Runs of increasing size show whether the streaming throughput stays flat and its memory
bounded: each size is also streamed once in a fresh Python process that loads the saved model
(:func:`skspeckle.save_model`), and that process's peak resident memory (``ru_maxrss``) is
recorded with its resident memory just before ``predict_file``, so the numbers of different
sizes do not share one process's high-water mark.

The run files are built by tiling a pool of simulated frames (3jb9, three classes, gzip level
1 as ``CXIWriter`` writes by default) into a temporary folder that is deleted afterwards. The
embedder is trained for 2 epochs only: the speed does not depend on the weights.

The frames are the demo's 48 x 48 (the 96 x 96 crop binned 2 x 2) by default; ``--binning 1``
streams the unbinned 96 x 96 crop. ``--precision bfloat16|float16`` runs the network in mixed
precision. Either writes ``streaming_veto_<H>x<W>_<precision>.{json,png}`` instead of
``streaming_veto.{json,png}``; ``--sizes`` replaces the run sizes. ``--inference-backend
torch|onnxruntime`` replaces the default ``"auto"`` of ``TripletEmbedder`` and adds
``_<backend>`` to the name (``auto`` runs onnxruntime on every chunk: chunks of 64 MiB are far
above its 2**20-pixel threshold).

Usage::

    .venv/bin/python benchmarks/speed/streaming_veto.py --scale full [--device cuda]
    .venv/bin/python benchmarks/speed/streaming_veto.py --scale full --binning 1 --sizes 1000 10000
    .venv/bin/python benchmarks/speed/streaming_veto.py --scale full --precision float16
    .venv/bin/python benchmarks/speed/streaming_veto.py --scale full --inference-backend torch
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline

from skspeckle import save_model
from skspeckle.datasets import make_speckle_patterns
from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.io.cxi import CXIWriter, read_frames
from skspeckle.preprocessing import DetectorMask
from skspeckle.streaming import predict_file

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "streaming_veto"


# Streams one file in a fresh interpreter: argv = model, run file, output file, threads.
_CHILD = """
import json, os, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[4]))
from skspeckle import load_model, predict_file
model = load_model(sys.argv[1])
before = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
t0 = time.perf_counter()
predict_file(model, sys.argv[2], sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - t0, "rss_before_mib": before / 2**20,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10}))
"""


def streamed_in_fresh_process(model, run, out):
    """Time and peak resident memory (Linux: ru_maxrss in KiB) of one ``predict_file`` call."""
    import torch

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(model),
            str(run),
            str(out),
            str(torch.get_num_threads()),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out.unlink()
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_run(path, pool, n_frames):
    """A CXI file of ``n_frames`` frames cycling through ``pool``."""
    with CXIWriter(path, pool.shape[1:]) as writer:
        for start in range(0, n_frames, len(pool)):
            writer.append(pool[: min(len(pool), n_frames - start)])


def main(argv=None):
    def extra(parser):
        parser.add_argument(
            "--binning",
            type=int,
            default=2,
            help="2: the demo's 48 x 48 frames; 1: the unbinned 96 x 96 crop",
        )
        _common.add_precision_argument(parser)
        parser.add_argument(
            "--inference-backend",
            choices=("auto", "torch", "onnxruntime"),
            default="auto",
            help="TripletEmbedder(inference_backend=...)",
        )
        parser.add_argument(
            "--sizes", type=int, nargs="+", default=None, help="frames per run (default by scale)"
        )

    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv, extra=extra)
    started = time.perf_counter()
    quick = args.scale == "quick"
    sizes = args.sizes or ((200, 600) if quick else (1_000, 10_000, 100_000))
    repeats = 1 if quick else 3
    in_memory_limit = 20_000  # frames: larger runs are compared only by streaming

    X, y, _ = make_speckle_patterns(
        ["3jb9"], n_per_class=100, binning=args.binning, random_state=args.seed
    )
    name = NAME
    if args.binning != 2 or args.precision != "float32":
        name = f"{NAME}_{X.shape[1]}x{X.shape[2]}_{args.precision}"
    if args.inference_backend != "auto":
        name = f"{NAME}_{X.shape[1]}x{X.shape[2]}_{args.precision}_{args.inference_backend}"
    pipe = make_pipeline(
        DetectorMask(0.25),
        TripletEmbedder(
            max_epochs=2,
            device=args.device,
            precision=args.precision,
            inference_backend=args.inference_backend,
            random_state=args.seed,
        ),
        FewShotCentroidClassifier(k=5, random_state=args.seed),
    ).fit(X, y)
    rows = []
    with tempfile.TemporaryDirectory(prefix="skspeckle-bench-") as tmp:
        model = Path(tmp) / "pipeline.skspeckle"
        save_model(pipe, model)
        for n in sizes:
            run = Path(tmp) / f"run_{n}.cxi"
            write_run(run, X, n)
            row = {"n_frames": n, "file_mib": run.stat().st_size / 2**20}
            stream_s = []
            for r in range(repeats):
                out = Path(tmp) / f"results_{n}_{r}.h5"
                t0 = time.perf_counter()
                predict_file(pipe, run, out)
                stream_s.append(time.perf_counter() - t0)
                out.unlink()
            row["streaming_frames_per_s"] = n / float(np.median(stream_s))
            row["streaming_seconds"] = stream_s
            fresh = streamed_in_fresh_process(model, run, Path(tmp) / f"results_{n}.h5")
            row["fresh_process_seconds"] = fresh["seconds"]
            row["fresh_process_rss_before_mib"] = fresh["rss_before_mib"]
            row["peak_rss_mib"] = fresh["peak_rss_mib"]
            if n <= in_memory_limit:
                frames = read_frames(run)
                mem_s = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    pipe.predict(frames)
                    mem_s.append(time.perf_counter() - t0)
                del frames
                row["in_memory_frames_per_s"] = n / float(np.median(mem_s))
                row["in_memory_seconds"] = mem_s
                row["streaming_to_in_memory"] = (
                    row["streaming_frames_per_s"] / row["in_memory_frames_per_s"]
                )
            rows.append(row)
            print(
                f"{n:7d} frames: streaming {row['streaming_frames_per_s']:7.0f} frames/s, "
                f"in memory {row.get('in_memory_frames_per_s', float('nan')):7.0f} frames/s, "
                f"peak RSS {row['peak_rss_mib']:.0f} MiB (fresh process; "
                f"{row['fresh_process_rss_before_mib']:.0f} MiB before)",
                flush=True,
            )
            run.unlink()

    fig, (ax, ax2) = _common.figure(1, 2, figsize=(9, 3.5))
    ns = [r["n_frames"] for r in rows]
    ax.plot(ns, [r["streaming_frames_per_s"] for r in rows], "o-", label="predict_file (CXI)")
    mem = [r for r in rows if "in_memory_frames_per_s" in r]
    ax.plot(
        [r["n_frames"] for r in mem],
        [r["in_memory_frames_per_s"] for r in mem],
        "s--",
        label="pipeline.predict (in memory)",
    )
    ax.set_xscale("log")
    ax.set_xlabel("frames in the run")
    ax.set_ylabel("frames / s")
    ax.legend(fontsize=7)
    ax2.plot(ns, [r["peak_rss_mib"] for r in rows], "o-", label="peak")
    ax2.plot(
        ns,
        [r["fresh_process_rss_before_mib"] for r in rows],
        "s--",
        label="model loaded, before streaming",
    )
    ax2.legend(fontsize=7)
    ax2.set_ylim(bottom=0)
    ax2.set_xscale("log")
    ax2.set_xlabel("frames in the run")
    ax2.set_ylabel("resident memory, fresh process (MiB)")
    _common.save_figure(fig, name, args)
    return _common.write_result(
        name,
        args,
        {
            "frame_shape": list(X.shape[1:]),
            "precision": args.precision,
            "inference_backend": args.inference_backend,
            "repeats": repeats,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
