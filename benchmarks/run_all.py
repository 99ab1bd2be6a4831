"""Run every benchmark script, each in its own process, and summarise.

Usage::

    .venv/bin/python benchmarks/run_all.py --scale quick   # smoke run (make bench-quick)
    .venv/bin/python benchmarks/run_all.py --scale full    # the figures (make bench)

The scripts: ``paper/`` reproduces the papers' tables and figures (and two sanity checks the
results page quotes beside them, ``baselines_overview`` and ``real_frames``), ``speed/``
measures throughput; ``tools/`` holds utilities that are not benchmarks (``simulate_pdb``) and
are not run here.

``--scale quick`` runs every script on a few dozen patterns and 1-2 epochs: it checks that the
scripts work (CI), and its numbers mean nothing; each script writes into
``benchmarks/results/<name>/quick/``. ``--scale full`` writes the JSON files and figures quoted
in ``docs/results.md`` into ``benchmarks/results/<name>/``. How long each takes is on that
page. ``--out-dir DIR`` sends each script's files to ``DIR/<name>/`` instead. ``--only`` picks
scripts by name. The exit status is non-zero when any script failed.
"""

import subprocess
import sys
import time
from pathlib import Path

import _common

HERE = Path(__file__).resolve().parent
#: Script name -> its folder under benchmarks/, in order of increasing cost.
SCRIPTS = {
    "inference_speed": "speed",
    "inference_backends": "speed",
    "training_speed": "speed",
    "simulator_speed": "speed",
    "streaming_veto": "speed",
    "live_stream": "speed",
    "euxfel_read": "speed",
    "dask_scaling": "speed",
    "latency": "speed",
    "gpu_check": "speed",  # skips at once without CUDA (the CPU dry run is in the tests)
    "real_frames": "paper",
    "baselines_overview": "paper",
    "shape_robustness": "paper",
    "online_table1": "paper",
    "manifold_baselines": "paper",
    "ablation": "paper",
    "sfx_crossdataset": "paper",
    "offline": "paper",
    "open_set": "paper",
    "calibration": "paper",
    "active_learning": "paper",
    "small_network": "paper",
    "pretrained_offline": "paper",
    "geometry_transfer": "paper",
    "pretrained_q_scale": "paper",
    "online_q_scale": "paper",
    "learning_curve": "paper",
}


def main(argv=None):
    def extra(parser):
        parser.add_argument(
            "--only", nargs="+", choices=list(SCRIPTS), default=None, help="run only these scripts"
        )

    args = _common.parse_args(None, __doc__.splitlines()[0], argv, extra=extra)
    summary = []
    for name in args.only or SCRIPTS:
        cmd = [
            sys.executable,
            str(HERE / SCRIPTS[name] / f"{name}.py"),
            "--scale",
            args.scale,
            "--device",
            args.device,
            "--seed",
            str(args.seed),
        ]
        if args.out_dir is not None:
            cmd += ["--out-dir", str(Path(args.out_dir) / name)]
        if args.threads is not None:
            cmd += ["--threads", str(args.threads)]
        print(f"=== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd).returncode
        summary.append((name, rc, time.perf_counter() - t0))
    print("\n=== summary")
    for name, rc, seconds in summary:
        print(f"{name:18s} {'ok' if rc == 0 else f'FAILED (exit {rc})':16s} {seconds:7.1f} s")
    print(f"{'total':18s} {'':16s} {sum(s for _, _, s in summary):7.1f} s")
    return 1 if any(rc for _, rc, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
