"""Shared plumbing of the benchmark scripts: flags, provenance, result files, timing, statistics.

Every script ``benchmarks/<kind>/<name>.py`` (``paper/``, ``speed/``) takes ``--device``,
``--scale {quick,full}`` and ``--seed``, and writes ``<name>.json`` (numbers plus provenance:
package versions, git commit, machine, seeds, command line) and ``<name>.png`` (its figure)
into ``benchmarks/results/<name>/``; quick-scale runs write into
``benchmarks/results/<name>/quick/`` instead (ignored by git), so that a smoke run never
overwrites the figures quoted in ``docs/results.md``. The scripts import this module by path:
they put ``benchmarks/`` on ``sys.path`` first.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: The structures of the Protein Data Bank shared with the project (read by the full-scale
#: offline benchmarks only; the package never depends on this folder).
SHARED_PDB = ROOT.parent / "shared" / "data" / "pdb"


def results_dir(name, scale):
    """Default folder of the result files of script ``name`` at ``scale`` ("quick" or "full")."""
    return RESULTS / name / "quick" if scale == "quick" else RESULTS / name


def parse_args(name, description, argv=None, extra=None):
    """The common flags, plus ``extra(parser)`` for script-specific ones.

    Parameters
    ----------
    name : str or None
        The script's name: ``--out-dir`` defaults to :func:`results_dir` of it. None (the
        driver, ``run_all.py``) leaves ``--out-dir`` None unless it is given.
    description : str
    argv : list of str, optional
        Defaults to ``sys.argv[1:]``.
    extra : callable, optional
        ``extra(parser)`` adds the script's own flags.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--device",
        default="auto",
        help="torch device: auto (CUDA when available), cpu, cuda, cuda:1 ...",
    )
    parser.add_argument(
        "--scale",
        choices=("quick", "full"),
        default="quick",
        help="quick: a smoke run in seconds (numbers not meaningful); "
        "full: the figures of docs/results.md",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data, splits and training")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's choice, the core count)",
    )
    parser.add_argument(
        "--out-dir",
        default=None,
        help="where to write <name>.json / .png (default benchmarks/results/<name>, "
        "or benchmarks/results/<name>/quick at --scale quick)",
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    # Other processes distort timings: record the machine's load at the start and the end.
    args.load_at_start = _load_average()
    # The code that runs is the checkout at the start; commits made during a long run must not
    # be credited with its results.
    args.git_at_start = _git_state()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.out_dir is None and name is not None:
        args.out_dir = str(results_dir(name, args.scale))
    return args


def add_precision_argument(parser):
    """``--precision``, the network's compute precision (``TripletEmbedder(precision=...)``),
    for the scripts that time inference."""
    from skspeckle.nn.device import PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="compute precision of the network (mixed precision: bfloat16, float16)",
    )


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_state():
    def git(*cmd):
        out = subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=ROOT)
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def _load_average():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def machine(device="cpu"):
    """Where the numbers were measured: CPU, cores, torch threads, GPU."""
    import torch

    from skspeckle.nn.device import resolve_device

    dev = resolve_device(device)
    info = {
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "device": str(dev),
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
    }
    return info


def provenance(args):
    """Versions, commit, seeds and the exact command of a run."""
    import sklearn
    import torch

    import skspeckle

    return {
        "skspeckle": skspeckle.__version__,
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        **(getattr(args, "git_at_start", None) or _git_state()),
        "seed": args.seed,
        "scale": args.scale,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(args.device),
        "load_average_1_5_15min_at_start": getattr(args, "load_at_start", None),
        "load_average_1_5_15min_at_end": _load_average(),
    }


def _atomic_write(path, write):
    """Write through a temporary file and rename, so no partial result is left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN
    return value


def write_result(name, args, results, started):
    """Write ``<out_dir>/<name>.json`` with the results and the provenance of the run."""
    payload = {
        "benchmark": name,
        "wall_seconds": round(time.perf_counter() - started, 2),
        **provenance(args),
        "results": results,
    }
    path = _atomic_write(
        Path(args.out_dir) / f"{name}.json",
        lambda p: p.write_text(json.dumps(_jsonable(payload), indent=2) + "\n"),
    )
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return payload


def save_figure(fig, name, args):
    """Save a matplotlib figure as ``<out_dir>/<name>.png`` and close it."""
    import matplotlib.pyplot as plt

    path = _atomic_write(
        Path(args.out_dir) / f"{name}.png",
        lambda p: fig.savefig(p, dpi=120, bbox_inches="tight", format="png"),
    )
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def figure(*args, **kwargs):
    """A matplotlib figure on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def interleaved_times(functions, repeats, warmup=1):
    """Wall times of each function, run round-robin ``repeats`` times.

    Interleaving exposes every variant to the same drift of machine load, so per-round
    ratios stay meaningful on a busy machine; the start of the round-robin order rotates so
    that no variant always runs first.

    Parameters
    ----------
    functions : dict of str -> callable
    repeats : int
    warmup : int
        Untimed rounds first (allocator, thread pools, caches).

    Returns
    -------
    dict of str -> ndarray of shape (repeats,)
        Seconds per call.
    """
    names = list(functions)
    for _ in range(warmup):
        for name in names:
            functions[name]()
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            functions[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: np.asarray(t) for name, t in times.items()}


def ratio_summary(times, reference):
    """Median and quartiles of the per-round speed ratio of each variant to ``reference``.

    A ratio > 1 means faster than the reference (``t_ref / t``).
    """
    out = {}
    for name, t in times.items():
        r = times[reference] / t
        out[name] = {
            "median_ratio": float(np.median(r)),
            "q25_ratio": float(np.percentile(r, 25)),
            "q75_ratio": float(np.percentile(r, 75)),
        }
    return out


def bootstrap_interval(statistic, n, n_boot=1000, seed=0, level=0.95):
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n`` test samples.

    ``statistic`` receives an index array (a resample with replacement of ``range(n)``) and
    returns a float or an array of floats (one interval each); resampling the test set is
    what makes the interval reflect how many test patterns there are.

    Returns
    -------
    lo, hi : float or ndarray
    """
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)])
    lo, hi = np.nanpercentile(values, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return lo, hi
