"""Classification of a run on a dask cluster: frames/s for 1 and 2 workers, model shipping.

A fitted SpeckleNN pipeline (``DetectorMask(0.25) -> TripletEmbedder ->
FewShotCentroidClassifier(k=5)``) classifies every frame of a CXI run file with
``skspeckle.cluster.predict_dask`` on a local cluster started by
``skspeckle.cluster.connect("local", n_workers=...)`` (worker processes on 127.0.0.1, one
thread each) with 1, then 2 workers, against ``predict_file`` in this process with one torch
thread (the same work on one core). On each cluster the run is classified twice: the first
(cold) run includes the workers' first imports of torch and the package when the model
arrives; the second (warm) is the steady rate. Recorded:

- frames/s, cold and warm, and the scaling efficiency ``fps(2) / (2 fps(1))`` (warm);
- the model-shipping cost: the pickled model's size, and the seconds to register it on every
  worker (``model_shipping_seconds``: transfer plus unpickling, warm);
- the CPU seconds of the client's process per chunk: the client, and, in a local cluster,
  the scheduler and the nannies too, including their periodic work (heartbeats, monitors);
  an upper bound of the serial work per chunk that bounds a large cluster;
- at full scale, one worker started with dask's default worker environment
  (``MALLOC_TRIM_THRESHOLD_=65536``, which ``connect`` leaves out), for comparison;
- an EXTRAPOLATION, not a measurement, to 32 workers:
  ``min(32 * fps_1 * efficiency, chunk_frames / client_cpu_per_chunk)``, i.e. 32 workers
  that each run as fast as one worker here, at the measured 2-worker efficiency, unless the
  client's serial work per chunk caps the rate first. It leaves out the file system (all
  workers reading one run), the scheduler's own overhead per task at that size and the
  network.

On a 2-core machine two workers share the cores with the client and the scheduler (and, on
the project's machine, with other jobs: the load average is recorded), so the 2-worker
efficiency measured here is a lower bound of a cluster's, whose workers have their own cores.

Usage::

    .venv/bin/python benchmarks/speed/dask_scaling.py --scale full
"""

import pickle
import sys
import tempfile
import time
from pathlib import Path

from sklearn.pipeline import make_pipeline

from skspeckle.datasets import make_speckle_patterns
from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.io.cxi import CXIWriter
from skspeckle.preprocessing import DetectorMask
from skspeckle.streaming import predict_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "dask_scaling"
EXTRAPOLATED_WORKERS = 32


def write_run(path, pool, n_frames):
    """A CXI file of ``n_frames`` frames cycling through ``pool``."""
    with CXIWriter(path, pool.shape[1:]) as writer:
        for start in range(0, n_frames, len(pool)):
            writer.append(pool[: min(len(pool), n_frames - start)])


def classify(predict_dask, pipe, run, out, client, chunk_frames):
    """One predict_dask run: wall seconds, its summary and the client's CPU seconds."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = predict_dask(pipe, run, out, client=client, chunk_frames=chunk_frames)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    out.unlink()
    return seconds, summary, cpu


def main(argv=None):
    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv)
    started = time.perf_counter()
    import distributed
    import torch

    from skspeckle.cluster import connect, predict_dask

    if args.threads is None:
        torch.set_num_threads(1)  # the baseline: one core, as one worker has
    quick = args.scale == "quick"
    n_frames, chunk_frames = (256, 32) if quick else (4_000, 250)
    X, y, _ = make_speckle_patterns(
        ["1n7g"], n_per_class=20 if quick else 100, random_state=args.seed
    )
    pipe = make_pipeline(
        DetectorMask(0.25),
        TripletEmbedder(max_epochs=1 if quick else 2, device="cpu", random_state=args.seed),
        FewShotCentroidClassifier(k=5, random_state=args.seed),
    ).fit(X, y)
    model_bytes = len(pickle.dumps(pipe))
    rows = []
    with tempfile.TemporaryDirectory(prefix="skspeckle-bench-") as tmp:
        run, out = Path(tmp) / "run.cxi", Path(tmp) / "results.h5"
        write_run(run, X, n_frames)
        t0 = time.perf_counter()
        predict_file(pipe, run, out, chunk_frames=chunk_frames)
        in_process_fps = n_frames / (time.perf_counter() - t0)
        out.unlink()
        print(f"predict_file, this process, 1 thread: {in_process_fps:7.0f} frames/s", flush=True)
        for n_workers in (1, 2):
            t0 = time.perf_counter()
            with connect("local", n_workers=n_workers) as client:
                client.wait_for_workers(n_workers, timeout=120)
                start_s = time.perf_counter() - t0
                cold_s, _, _ = classify(predict_dask, pipe, run, out, client, chunk_frames)
                warm_s, summary, cpu = classify(predict_dask, pipe, run, out, client, chunk_frames)
            row = {
                "n_workers": n_workers,
                "cluster_start_seconds": start_s,
                "cold_frames_per_s": n_frames / cold_s,
                "warm_frames_per_s": n_frames / warm_s,
                "model_shipping_seconds": summary["model_shipping_seconds"],
                "client_process_cpu_seconds_per_chunk": cpu / -(-n_frames // chunk_frames),
            }
            rows.append(row)
            print(
                f"{n_workers} worker(s): {row['warm_frames_per_s']:7.0f} frames/s warm, "
                f"{row['cold_frames_per_s']:7.0f} cold; model shipped in "
                f"{row['model_shipping_seconds']:.3f} s; client process "
                f"{1e3 * row['client_process_cpu_seconds_per_chunk']:.1f} ms CPU per chunk",
                flush=True,
            )
        dask_default = None
        if not quick:  # one worker as dask's nanny starts it, MALLOC_TRIM_THRESHOLD_=65536
            with (
                distributed.LocalCluster(
                    n_workers=1,
                    threads_per_worker=1,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=40,
                ) as cluster,
                distributed.Client(cluster) as client,
            ):
                classify(predict_dask, pipe, run, out, client, chunk_frames)
                dask_default = (
                    n_frames / classify(predict_dask, pipe, run, out, client, chunk_frames)[0]
                )
            print(f"1 worker, dask's default environment: {dask_default:7.0f} frames/s warm")
    one, two = rows
    efficiency = two["warm_frames_per_s"] / (2 * one["warm_frames_per_s"])
    client_cap = chunk_frames / max(two["client_process_cpu_seconds_per_chunk"], 1e-9)
    extrapolated = min(EXTRAPOLATED_WORKERS * one["warm_frames_per_s"] * efficiency, client_cap)
    print(
        f"scaling efficiency 1 -> 2 workers: {efficiency:.2f}; EXTRAPOLATED to "
        f"{EXTRAPOLATED_WORKERS} workers (not measured): {extrapolated:.0f} frames/s "
        f"(client cap {client_cap:.0f} frames/s)",
        flush=True,
    )
    fig, ax = _common.figure(figsize=(4.5, 3.5))
    workers = [r["n_workers"] for r in rows]
    ax.plot(workers, [r["warm_frames_per_s"] for r in rows], "o-", label="predict_dask, warm")
    ax.plot(workers, [r["cold_frames_per_s"] for r in rows], "s--", label="predict_dask, cold")
    ax.plot(
        workers,
        [n * one["warm_frames_per_s"] for n in workers],
        ":",
        color="grey",
        label="linear from 1 worker",
    )
    ax.axhline(in_process_fps, color="k", lw=0.8, label="predict_file, 1 thread")
    ax.set_xticks(workers)
    ax.set_xlabel("dask workers (1 thread each)")
    ax.set_ylabel("frames / s")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    _common.save_figure(fig, NAME, args)
    return _common.write_result(
        NAME,
        args,
        {
            "n_frames": n_frames,
            "chunk_frames": chunk_frames,
            "frame_shape": list(X.shape[1:]),
            "model_pickle_bytes": model_bytes,
            "in_process_frames_per_s": in_process_fps,
            "dask_default_environ_1_worker_warm_frames_per_s": dask_default,
            "rows": rows,
            "scaling_efficiency_1_to_2": efficiency,
            "client_cap_frames_per_s": client_cap,
            f"extrapolated_{EXTRAPOLATED_WORKERS}_workers_frames_per_s": extrapolated,
            "extrapolation": (
                f"min({EXTRAPOLATED_WORKERS} * fps_1 * efficiency, chunk_frames / "
                "client_process_cpu_seconds_per_chunk): not measured"
            ),
        },
        started,
    )


if __name__ == "__main__":
    main()
