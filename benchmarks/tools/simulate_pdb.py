"""Simulate a paper-scale data set: 400 patterns of every structure of the shared PDB folder.

Usage::

    .venv/bin/python benchmarks/tools/simulate_pdb.py --out sim_pdb.cxi --n-jobs 8
    .venv/bin/python benchmarks/tools/simulate_pdb.py --out /tmp/sim10.cxi --limit 10   # quick

For every entry of ``../shared/data/pdb/MANIFEST.tsv`` (gzip-compressed PDB or mmCIF files;
deposited model 1, see :func:`skspeckle.datasets.load_structure`), ``--per-class`` patterns
(default 100) of each of the four classes (single-hit, multi-hit, non-sample-hit, no-hit),
i.e. 400 per structure, with the defaults of :func:`make_speckle_patterns`: the SpeckleNN
geometry (172 x 172 detector at 0.1 m, 1.66 keV) cropped to 96 x 96 and binned 2 x 2, so
48 x 48 frames in photons. Structures are simulated in parallel (joblib, ``--n-jobs``), each
with its own seed derived from ``--seed`` and its row in the manifest, so a structure's
patterns do not depend on ``--n-jobs`` or ``--limit``.

Writes one CXI/HDF5 file (:class:`skspeckle.io.cxi.CXIWriter`): frames in
``entry_1/data_1/data`` and ``entry_1/labels/{y,groups,n_particles}`` (groups = PDB id), plus
``<out>.json`` with the structures skipped and why, the timings and the provenance. Entries
that fail to load or simulate are skipped and reported, never silently dropped.
"""

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from skspeckle.datasets import CLASSES, load_structure, make_speckle_patterns
from skspeckle.detector import Detector
from skspeckle.io.cxi import CXIWriter

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common


def _entries(pdb_dir):
    with open(Path(pdb_dir) / "MANIFEST.tsv", newline="") as f:
        return [
            (row["id"], Path(pdb_dir) / row["file"], int(row["n_atoms_model1"]))
            for row in csv.DictReader(f, delimiter="\t")
        ]


def _one(path, per_class, seed, cache_dir):
    """X, y, groups, n_particles of one structure, or the reason it failed."""
    t0 = time.perf_counter()
    try:
        structure = load_structure(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable entry is reported, not fatal
        return None, f"load: {type(exc).__name__}: {exc}", time.perf_counter() - t0
    try:
        out = make_speckle_patterns(
            structure,
            n_per_class=per_class,
            classes=CLASSES,
            cache_dir=cache_dir,
            random_state=seed,
            return_n_particles=True,
        )
    except Exception as exc:  # noqa: BLE001
        return None, f"simulate: {type(exc).__name__}: {exc}", time.perf_counter() - t0
    return out, None, time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output .cxi / .h5 file (must not exist)")
    parser.add_argument("--pdb-dir", default=str(_common.SHARED_PDB))
    parser.add_argument("--per-class", type=int, default=100, help="patterns per class")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="only N entries, evenly spaced through the manifest (which is "
        "sorted by size), for a quick representative run",
    )
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="amplitude cache (default: none; each amplitude is used once)",
    )
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    entries = _entries(args.pdb_dir)
    # One seed per manifest row: a structure's patterns do not depend on --limit or --n-jobs.
    seeds = [
        int(s.generate_state(1)[0]) for s in np.random.SeedSequence(args.seed).spawn(len(entries))
    ]
    rows = np.arange(len(entries))
    if args.limit is not None:
        rows = np.unique(np.linspace(0, len(entries) - 1, args.limit).round().astype(int))
    cache_dir = args.cache_dir or False
    frame_shape = Detector.speckle_nn().crop(96).bin(2).shape
    attrs = {
        "classes": list(CLASSES),
        "per_class": args.per_class,
        "seed": args.seed,
        "geometry": "Detector.speckle_nn().crop(96).bin(2), 1.66 keV, photons",
        "source": str(args.pdb_dir),
    }
    skipped, seconds = {}, {}
    entries = [entries[i] for i in rows]
    jobs = (
        delayed(_one)(path, args.per_class, seeds[i], cache_dir)
        for i, (_, path, _) in zip(rows, entries)
    )
    with CXIWriter(
        args.out,
        frame_shape,
        attrs=attrs,
        overwrite=args.overwrite,
        mask=Detector.speckle_nn().crop(96).bin(2).mask,
    ) as writer:
        results = Parallel(n_jobs=args.n_jobs, return_as="generator")(jobs)
        for (pdb_id, _, n_atoms), (out, error, sec) in zip(entries, results):
            seconds[pdb_id] = sec
            if error is not None:
                skipped[pdb_id] = error
                print(f"{pdb_id}: SKIPPED ({error})", flush=True)
                continue
            X, y, _, n_particles = out
            writer.append(X, y=y, groups=np.full(len(y), pdb_id), n_particles=n_particles)
            print(
                f"{pdb_id} ({n_atoms} atoms): {len(X)} patterns in {sec:.1f} s "
                f"[{writer.n_frames} frames, {time.perf_counter() - started:.0f} s]",
                flush=True,
            )
        n_frames = writer.n_frames
    wall = time.perf_counter() - started
    report = {
        "out": os.path.abspath(args.out),
        "n_structures": len(entries),
        "n_simulated": len(entries) - len(skipped),
        "n_frames": n_frames,
        "frame_shape": list(frame_shape),
        "skipped": skipped,
        "wall_seconds": wall,
        "seconds_per_structure": seconds,
        "n_jobs": args.n_jobs,
        "provenance": _common.provenance(
            argparse.Namespace(
                seed=args.seed, scale="limit" if args.limit else "full", device="cpu"
            )
        ),
    }
    Path(args.out + ".json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(
        f"{n_frames} frames of {report['n_simulated']}/{len(entries)} structures in "
        f"{wall:.0f} s -> {args.out} (report {args.out}.json); skipped: {len(skipped)}"
    )
    return report


if __name__ == "__main__":
    main()
