"""Training and inference throughput of TripletEmbedder on simulated frames.

Usage::

    .venv/bin/python benchmarks/throughput.py [--device cpu] [--n 600] [--epochs 3]

Writes ``benchmarks/results/throughput.json``: triplets per second while training (mined
triplets over the epochs' wall time, from ``history_``), patterns per second of ``transform``
(best of three passes) and of the whole ``pipeline.predict``, with the machine, package version
and seed. Timings are absolute and machine-specific: quote them with the machine.
"""

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import make_pipeline

import skspeckle
from skspeckle import DetectorMask, FewShotCentroidClassifier, TripletEmbedder
from skspeckle.datasets import list_structures, make_speckle_patterns


def _best_rate(fn, n, repeats=3):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=600, help="patterns per class")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "throughput.json"))
    args = parser.parse_args(argv)

    structure = max(list_structures(), key=lambda s: s["n_atoms"])["id"]
    X, y, _ = make_speckle_patterns([structure], n_per_class=args.n, random_state=args.seed)
    embedder = TripletEmbedder(max_epochs=args.epochs, n_iter_no_change=args.epochs + 1,
                               device=args.device, random_state=args.seed)
    pipe = make_pipeline(DetectorMask(0.25), embedder, FewShotCentroidClassifier(k=5))
    pipe.fit(X, y)
    hist = embedder.history_
    triplets = sum(h["n_triplets"] for h in hist)
    seconds = sum(h["seconds"] for h in hist)
    masked = pipe[0].transform(X)
    result = {
        "frame_shape": list(X.shape[1:]),
        "n_patterns": int(len(X)),
        "train_triplets_per_s": triplets / seconds,
        "train_epochs": len(hist),
        "transform_patterns_per_s": _best_rate(lambda: embedder.transform(masked), len(X)),
        "predict_patterns_per_s": _best_rate(lambda: pipe.predict(X), len(X)),
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                     cwd=Path(__file__).parent).stdout.strip() or None,
        "torch": torch.__version__,
        "skspeckle": skspeckle.__version__,
        "seed": args.seed,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
