"""Train the pretrained SpeckleNN embedder shipped in ``skspeckle/pretrained/data/``.

SpeckleNN's offline scenario (Wang et al., Sec. IV.A) as a one-off training run: one
:class:`~skspeckle.embedding.TripletEmbedder` learns the four hit classes (single hit, multi
hit of 2-4 particles, non-sample hit, no hit) of many PDB particles of the shared collection
(``../shared/data/pdb``), so that a scientist can classify a new particle from a few labelled
frames without training (:func:`skspeckle.pretrained.load_embedder`).

Choices, from what the earlier runs showed (docs/results.md, Fig. 6 and the ablation):

- input scaling ``normalize="standardize"``: the flattest 5-shot accuracy over 10^-0.5 to
  10^2 x the baseline fluence on never-seen particles;
- fluence: every particle simulated at 10^-0.5, 1, 10^0.5, 10, 10^1.5 and 100 x the baseline
  pulse (1e12 photons), each with the simulator's log-normal per-pulse jitter (sigma 0.5);
- detector area: half of the frames through ``DetectorMask(0.25)`` (the quadrant of the
  online scenario), so that the same weights serve 100 % and 25 % of the detector;
- rotation augmentation (``RandomRotation``), groups = particle (anchor and positive share it).

Held out (never simulated here, so that the zero-training evaluation is honest): every
structure bundled with the package (the demo's particles, among them its never-seen 4v4r)
and the never-seen half of the offline benchmark's full-scale split at its default seed
(``benchmarks/paper/offline.py --scale full``: 1e4 to 1e5 atoms, ``GroupShuffleSplit``
seed 0). Trained on: the other entries of at least ``--min-atoms`` atoms. The offline
benchmark at ``--seed 1`` or ``2`` splits differently, so its test particles there overlap this
training set; that benchmark trains its own embedders and does not use these weights.

Output: ``speckle_net.safetensors`` (the network's ``state_dict`` in float16) and
``speckle_net.json`` (the provenance: command, seed, structures, held-out structures,
estimator parameters, versions, date, wall time, SHA-256 of the weights file). Both are written
to temporary files and renamed, so an interrupted run leaves no partial file.

Usage: the shipped weights came from (provenance in ``speckle_net.json``; 1,080 s with one
torch thread on 2 CPU cores shared with other jobs, early-stopped after 14 of 30 epochs)::

    .venv/bin/python benchmarks/tools/train_pretrained.py --n-per-class 5 --max-epochs 30 \
        --threads 1 --n-jobs 1

The first shipped weights (0.4.0) came from ``--n-per-class 1 --max-epochs 12 --threads 2``.

``--sizes-only`` trains nothing: it adds the training particles' radii of gyration
(``data.radius_of_gyration_angstrom``, which :func:`skspeckle.pretrained.q_scale_for` reads)
to an existing ``speckle_net.json`` in ``--out-dir``, for weights trained before the field
existed; the weights file and its SHA-256 are untouched.
"""

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.model_selection import GroupShuffleSplit

import skspeckle
from skspeckle.augmentation import RandomRotation
from skspeckle.datasets import list_structures, make_speckle_patterns
from skspeckle.embedding import TripletEmbedder
from skspeckle.preprocessing import DetectorMask
from skspeckle.simulation.structures import load_structure

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

CLASSES = ("single-hit", "multi-hit", "non-sample-hit", "no-hit")
FLUENCE_EXPONENTS = (-0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
BASE_PHOTONS = 1e12
OUT = _common.ROOT / "skspeckle" / "pretrained" / "data"


def split_structures(pdb_dir, min_atoms):
    """(training file names, held-out ids) of the shared collection (see the docstring)."""
    with open(Path(pdb_dir) / "MANIFEST.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    held_out = {s["id"] for s in list_structures()}
    # The never-seen half of benchmarks/paper/offline.py --scale full at its default seed:
    # the same rows, order and splitter.
    mid = [r for r in rows if 1e4 <= int(r["n_atoms_model1"]) <= 1e5]
    ids = np.array([r["file"].split(".")[0] for r in mid])
    _, test = next(
        GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=0).split(ids, groups=ids)
    )
    held_out |= set(ids[test].tolist())
    train = [
        r["file"]
        for r in rows
        if r["file"].split(".")[0] not in held_out and int(r["n_atoms_model1"]) >= min_atoms
    ]
    return sorted(train), sorted(held_out)


def training_sizes(pdb_dir, files):
    """Quantiles of the training particles' electron-weighted radii of gyration (Å), as the
    simulator's ``load_structure`` builds them (model 1, no waters)."""
    rg = np.array([load_structure(str(Path(pdb_dir) / f)).radius_of_gyration for f in files])
    return {
        "median": float(np.median(rg)),
        "p10": float(np.percentile(rg, 10)),
        "p90": float(np.percentile(rg, 90)),
        "min": float(rg.min()),
        "max": float(rg.max()),
        "n_structures": int(len(rg)),
    }


def simulate(pdb_dir, files, n_per_class, seed, n_jobs):
    """Frames of every training particle at every fluence; half of them quadrant-masked."""
    paths = [str(Path(pdb_dir) / f) for f in files]
    parts = [
        make_speckle_patterns(
            paths,
            n_per_class=n_per_class,
            classes=CLASSES,
            n_photons=BASE_PHOTONS * 10.0**e,
            n_jobs=n_jobs,
            random_state=seed + i,
        )
        for i, e in enumerate(FLUENCE_EXPONENTS)
    ]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    groups = np.concatenate([p[2] for p in parts])
    masked = np.random.default_rng(seed).random(len(X)) < 0.5
    X[masked] = DetectorMask(0.25).fit_transform(X[masked])
    return X, y, groups


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-per-class", type=int, default=5, help="per particle and fluence")
    parser.add_argument("--min-atoms", type=int, default=4000)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--n-jobs", type=int, default=2, help="simulation workers")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out-dir", default=str(OUT))
    parser.add_argument(
        "--pdb-dir", default=str(_common.SHARED_PDB), help="the shared PDB collection"
    )
    parser.add_argument(
        "--sizes-only",
        action="store_true",
        help="add the training radii of gyration to --out-dir's speckle_net.json; no training",
    )
    args = parser.parse_args(argv)
    if args.sizes_only:
        path = Path(args.out_dir) / "speckle_net.json"
        provenance = json.loads(path.read_text())
        files = split_structures(args.pdb_dir, args.min_atoms)[0]
        if [f.split(".")[0] for f in files] != provenance["structures"]:
            raise ValueError(
                f"{path} was trained on other structures than --pdb-dir / --min-atoms give; "
                "pass the collection and --min-atoms of its training run."
            )
        provenance["data"]["radius_of_gyration_angstrom"] = training_sizes(args.pdb_dir, files)
        _common._atomic_write(
            path, lambda tmp: tmp.write_text(json.dumps(provenance, indent=1) + "\n")
        )
        print(json.dumps(provenance["data"]["radius_of_gyration_angstrom"]))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    git_at_start, load_at_start = _common._git_state(), list(os.getloadavg())
    train, held_out = split_structures(args.pdb_dir, args.min_atoms)
    print(f"{len(train)} training structures, {len(held_out)} held out", flush=True)
    X, y, groups = simulate(args.pdb_dir, train, args.n_per_class, args.seed, args.n_jobs)
    simulated = time.perf_counter() - started
    print(f"[{simulated:6.0f} s] simulated {X.shape} frames", flush=True)
    params = dict(
        n_components=128,
        margin=0.5,
        normalize="standardize",
        max_epochs=args.max_epochs,
        n_iter_no_change=5,
        validation_fraction=0.1,
    )
    emb = TripletEmbedder(
        **params, augment=RandomRotation(), device=args.device, random_state=args.seed, verbose=1
    ).fit(X, y, groups=groups)
    wall = time.perf_counter() - started
    print(f"[{wall:6.0f} s] trained {emb.n_iter_} epochs", flush=True)

    out = Path(args.out_dir)
    weights = out / "speckle_net.safetensors"
    # float16 halves the file (2.7e6 weights); integer buffers (batch-norm counters) as they are.
    state = {
        k: (v.to(torch.float16) if v.is_floating_point() else v).detach().contiguous()
        for k, v in emb.module_.network.state_dict().items()
    }
    _common._atomic_write(weights, lambda tmp: save_file(state, str(tmp)))
    provenance = {
        "script": "benchmarks/tools/train_pretrained.py",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seed": args.seed,
        "skspeckle_version": skspeckle.__version__,
        **git_at_start,
        "torch": torch.__version__,
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _common.machine(args.device),
        "load_average_1_5_15min_at_start": load_at_start,
        "load_average_1_5_15min_at_end": list(os.getloadavg()),
        "wall_seconds": round(wall, 1),
        "simulation_seconds": round(simulated, 1),
        "data": {
            "source": "../shared/data/pdb (MANIFEST.tsv)",
            "classes": list(CLASSES),
            "fluence_exponents": list(FLUENCE_EXPONENTS),
            "base_photons_per_pulse": BASE_PHOTONS,
            "fluence_jitter": 0.5,
            "n_per_class_per_fluence": args.n_per_class,
            "frames": int(len(X)),
            "image_shape": list(X.shape[1:]),
            "detector": "Detector.speckle_nn().crop(96), binning 2 (make_speckle_patterns)",
            "quadrant_masked_fraction": 0.5,
            "min_atoms": args.min_atoms,
            "radius_of_gyration_angstrom": training_sizes(args.pdb_dir, train),
        },
        "structures": [f.split(".")[0] for f in train],
        "held_out_structures": held_out,
        "estimator": {
            "class": "TripletEmbedder",
            "params": params,
            "augment": "RandomRotation()",
        },
        "classes": emb.classes_.tolist(),
        "n_epochs": emb.n_iter_,
        "history": _common._jsonable(
            [
                {k: h[k] for k in ("loss", "val_loss", "active_fraction", "seconds")}
                for h in emb.history_
            ]
        ),
        "weights_file": weights.name,
        "weights_dtype": "float16",
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    _common._atomic_write(
        out / "speckle_net.json",
        lambda tmp: tmp.write_text(json.dumps(provenance, indent=1) + "\n"),
    )
    print(json.dumps({k: provenance[k] for k in ("wall_seconds", "n_epochs", "sha256")}))


if __name__ == "__main__":
    main()
