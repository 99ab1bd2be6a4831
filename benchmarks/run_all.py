"""Run every benchmark script, each in its own process, and summarise.

Usage::

    .venv/bin/python benchmarks/run_all.py --scale quick   # smoke run (make bench-quick)
    .venv/bin/python benchmarks/run_all.py --scale full    # the figures (make bench)

``--scale quick`` runs every script on a few dozen patterns and 1-2 epochs: it checks that the
scripts work (CI), and its numbers mean nothing; it writes into ``benchmarks/results/quick/``.
On an idle 2-core CPU machine it took 132 s (8.5 minutes when the machine was loaded by other
jobs). ``--scale full`` writes the JSON files and figures quoted in ``docs/results.md`` into
``benchmarks/results/``; on a 2-core CPU the separate full-scale runs quoted there add up to
about 2 h 45 min (per-script times on that page); GPU time not measured yet.
``--only`` picks scripts by name. The exit status is non-zero when any script failed.
"""

import subprocess
import sys
import time
from pathlib import Path

import _common

HERE = Path(__file__).resolve().parent
#: In order of increasing cost.
SCRIPTS = (
    "inference_speed",
    "training_speed",
    "simulator_speed",
    "streaming_veto",
    "real_frames",
    "baselines_overview",
    "shape_robustness",
    "online_table1",
    "ablation",
    "sfx_crossdataset",
    "offline",
)


def main(argv=None):
    def extra(parser):
        parser.add_argument(
            "--only", nargs="+", choices=SCRIPTS, default=None, help="run only these scripts"
        )

    args = _common.parse_args(__doc__.splitlines()[0], argv, extra=extra)
    summary = []
    for name in args.only or SCRIPTS:
        cmd = [
            sys.executable,
            str(HERE / f"{name}.py"),
            "--scale",
            args.scale,
            "--device",
            args.device,
            "--seed",
            str(args.seed),
            "--out-dir",
            args.out_dir,
        ]
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
