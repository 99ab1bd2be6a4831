"""The calibrate -> veto -> report walk-through of docs/veto_and_report.rst, end to end.

Usage::

    .venv/bin/python benchmarks/tools/report_example.py --out-dir /tmp/example [--epochs 20]

Simulates the online scenario (3jb9, single / multi / non-sample hits, 60 labelled frames per
class) and a "run" of 600 frames whose single-hit fraction rises from 10 % to 60 %; trains
``DetectorMask(0.25) -> TripletEmbedder -> FewShotCentroidClassifier(k=5)``, calibrates it on
30 more labelled frames per class (``CalibratedClassifierCV(FrozenEstimator(pipe[-1]),
method="temperature")`` after ``FrozenEstimator(pipe[:-1])``), saves it, and runs the command
line on it::

    skspeckle classify run.cxi --model calibrated.skops --out results.h5 \\
        --min-precision 0.95 --validation validation.cxi
    skspeckle report results.h5 -o report.html

Writes into ``--out-dir``: the CXI files, the models, ``results.h5``, ``report.html``,
``supports.png`` (the support gallery) and ``embedding_map.png``; with ``--screenshot`` also
``report.png``, rendered by headless Chromium (``/usr/bin/chromium``) when it is installed.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline, make_pipeline

from skspeckle import DetectorMask, FewShotCentroidClassifier, save_model
from skspeckle.cli import main as skspeckle
from skspeckle.datasets import make_speckle_patterns
from skspeckle.io.cxi import write_cxi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _scenarios


def _run_frames(n, seed):
    """A run whose single-hit fraction rises from 10 % to 60 % (multi and non-sample hits
    share the rest), in run order."""
    X, y, _ = make_speckle_patterns(
        [_scenarios.STRUCTURE], n_per_class=n, classes=_scenarios.CLASSES, random_state=seed
    )
    rng = np.random.default_rng(seed)
    pools = {c: list(rng.permutation(np.flatnonzero(y == c))) for c in _scenarios.CLASSES}
    order = []
    for t in np.linspace(0, 1, n):
        p_single = 0.1 + 0.5 * t
        p = np.array([p_single, (1 - p_single) / 2, (1 - p_single) / 2])
        alive = np.array([len(pools[c]) > 0 for c in _scenarios.CLASSES])
        c = rng.choice(np.asarray(_scenarios.CLASSES)[alive], p=p[alive] / p[alive].sum())
        order.append(pools[c].pop())
    return X[order], y[order]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--screenshot", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    X_lab, y_lab, X_val, y_val, _ = _scenarios.online_data(30, _scenarios.BASE_PHOTONS, args.seed)
    pipe = make_pipeline(
        DetectorMask(0.25),
        _scenarios.speckle_embedder(args.epochs, "cpu", args.seed, verbose=1),
        FewShotCentroidClassifier(k=5, random_state=args.seed),
    ).fit(X_lab, y_lab)
    # The last step calibrated, the pipeline's shape kept: classify embeds each chunk once.
    calibrated = Pipeline(
        [
            ("embed", FrozenEstimator(pipe[:-1])),
            ("calibrated", CalibratedClassifierCV(FrozenEstimator(pipe[-1]), method="temperature")),
        ]
    ).fit(X_val, y_val)
    save_model(calibrated, out / "calibrated.skops", overwrite=True)
    X_run, y_run = _run_frames(600, args.seed + 7)
    X_check, y_check, _ = make_speckle_patterns(
        [_scenarios.STRUCTURE],
        n_per_class=40,
        classes=_scenarios.CLASSES,
        random_state=args.seed + 11,
    )
    # The run's labels go into its file too (a simulated run knows them): the report then
    # compares the predictions and the veto with them.
    for name, X, y in (("run", X_run, y_run), ("validation", X_check, y_check)):
        (out / f"{name}.cxi").unlink(missing_ok=True)
        write_cxi(out / f"{name}.cxi", X, y)

    import matplotlib

    matplotlib.use("Agg")
    from skspeckle.plot import EmbeddingMapDisplay, FrameGalleryDisplay

    disp = FrameGalleryDisplay.from_estimator(pipe, X_lab)
    disp.figure_.savefig(out / "supports.png", dpi=100, bbox_inches="tight")
    disp = EmbeddingMapDisplay.from_estimator(pipe, X_check, y_check)
    disp.figure_.savefig(out / "embedding_map.png", dpi=100, bbox_inches="tight")

    results = out / "results.h5"
    common = ["--overwrite", "--no-progress"]
    status = skspeckle(
        ["classify", str(out / "run.cxi"), "--model", str(out / "calibrated.skops")]
        + ["--out", str(results), "--min-precision", "0.95"]
        + ["--validation", str(out / "validation.cxi"), *common]
    )
    status = status or skspeckle(
        ["report", str(results), "-o", str(out / "report.html")] + ["--overwrite"]
    )
    if args.screenshot and shutil.which("chromium") and not status:
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
            + [f"--screenshot={out / 'report.png'}", "--window-size=1150,2300"]
            + [(out / "report.html").resolve().as_uri()],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
