"""Xie et al. (SFX, weakly supervised) Tables 1, 2, 4, 5 and 7 on simulated SFX frames.

The paper classifies frames of three LCLS experiments (LN83, LN84, LO19) as "hit or maybe"
vs "miss". Here the three presets of :func:`skspeckle.datasets.sfx.make_sfx_frames` stand in
for them (``cxi-cspad``, ``mfx-rayonix``, ``sacla-mpccd``: different photon energy, detector,
background and spot statistics), with the labels ``hit`` and ``maybe`` merged. Per dataset the
last ``n_test`` frames are the test set of every model; the others are the labelled pool.

- Table 1 / 7 (2-D CNN, sufficient labels): ``HitFinderCNN`` trained on the whole pool
  (1600 frames at full scale, a quarter held out for early stopping) of one dataset and
  tested on all three.
- Table 2 (2-D CNN, few labels): the same on 400 labelled frames (half held out).
- Table 4 / 7 (row-wise decomposition + 1-D CNN): ``make_pipeline(RowWiseDecomposition(),
  CNN1DClassifier())`` on the same 400 frames, tested on all three.
- Table 5 (DANN): ``DANNClassifier(HitFinderCNN())`` on the labelled pool of a source dataset
  and the unlabelled pool of a target dataset, tested on the target, all six ordered pairs.
- Reference: the conventional peak-count hit finder (``PeakCountClassifier``, threshold
  fitted on the 400 labelled frames).

Scores, as the paper's tables: the recall of "hit or maybe" and of "miss" on each test set.
The predict speed (frames/s) of the 2-D CNN and of RWD + 1-D CNN is recorded too (the paper:
126 vs 11,123 frames/s on an A100). Not reproduced: Table 3 (transfer learning by
fine-tuning; the estimators support it with ``init_from`` / ``freeze``) and Table 6 (a
qualitative comparison).

Usage::

    .venv/bin/python benchmarks/sfx_crossdataset.py --scale full [--device cuda]
"""

import time

import _common
import numpy as np
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skspeckle.baselines.dann import DANNClassifier
from skspeckle.baselines.hit_finder import HitFinderCNN
from skspeckle.baselines.intensity import PeakCountClassifier
from skspeckle.baselines.row_wise import CNN1DClassifier, RowWiseDecomposition
from skspeckle.datasets.sfx import SFX_DATASETS, make_sfx_frames

NAME = "sfx_crossdataset"
HIT, MISS = "hit-or-maybe", "miss"


def recalls(y_true, y_pred):
    return {f"recall_{HIT}": float(np.mean(y_pred[y_true == HIT] == HIT)),
            f"recall_{MISS}": float(np.mean(y_pred[y_true == MISS] == MISS)),
            "accuracy": float(np.mean(y_pred == y_true))}


def main(argv=None):
    args = _common.parse_args(__doc__.splitlines()[0], argv)
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_frames, n_test, n_few = (90, 30, 40) if quick else (2000, 400, 400)
    max_epochs = 2 if quick else 100
    nn = dict(max_epochs=max_epochs, device=args.device, random_state=args.seed)

    data = {}
    for i, name in enumerate(sorted(SFX_DATASETS)):
        X, y = make_sfx_frames(n_frames, dataset=name, random_state=args.seed + i)
        y = np.where(y == "miss", MISS, HIT)
        data[name] = (X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:])
    names = list(data)

    models = {
        "cnn2d_full": (lambda: HitFinderCNN(crop=None, validation_fraction=0.25, **nn), None),
        "cnn2d_few": (lambda: HitFinderCNN(crop=None, validation_fraction=0.5, **nn), n_few),
        "rwd_cnn1d_few": (lambda: make_pipeline(
            RowWiseDecomposition(), CNN1DClassifier(validation_fraction=0.5, **nn)), n_few),
        "peak_count": (lambda: PeakCountClassifier(), n_few),
    }
    rows, speed = [], {}
    for model, (factory, n_lab) in models.items():
        for train in names:
            X_pool, y_pool = data[train][:2]
            n = len(y_pool) if n_lab is None else n_lab
            t0 = time.perf_counter()
            clf = factory().fit(X_pool[:n], y_pool[:n])
            fit_s = time.perf_counter() - t0
            for test in names:
                X_test, y_test = data[test][2:]
                t0 = time.perf_counter()
                y_pred = clf.predict(X_test)
                speed.setdefault(model, []).append(len(y_test) / (time.perf_counter() - t0))
                rows.append({"model": model, "train": train, "test": test, "n_labelled": n,
                             "fit_seconds": fit_s, **recalls(y_test, y_pred)})
            print(f"[{time.perf_counter() - started:6.0f} s] {model} trained on {train} "
                  f"({n} frames): in-domain recall hit/maybe "
                  f"{rows[-3 + names.index(train)][f'recall_{HIT}']:.3f}", flush=True)
    base = HitFinderCNN(crop=None)
    for source in names:
        for target in names:
            if source == target:
                continue
            X_s, y_s = data[source][:2]
            dann = DANNClassifier(clone(base), validation_fraction=0.25, **nn)
            dann.fit(X_s, y_s, X_target=data[target][0])
            X_test, y_test = data[target][2:]
            rows.append({"model": "dann", "train": source, "test": target,
                         "n_labelled": len(y_s), **recalls(y_test, dann.predict(X_test))})
            print(f"[{time.perf_counter() - started:6.0f} s] dann {source} -> {target}: "
                  f"recall hit/maybe {rows[-1][f'recall_{HIT}']:.3f}", flush=True)

    fig, axes = _common.figure(1, 5, figsize=(16, 3.4))
    for ax, model in zip(axes, list(models) + ["dann"]):
        grid = np.full((len(names), len(names)), np.nan)
        for r in rows:
            if r["model"] == model:
                grid[names.index(r["train"]), names.index(r["test"])] = r[f"recall_{HIT}"]
        ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w", fontsize=8)
        ax.set_xticks(range(len(names)), names, fontsize=6, rotation=20)
        ax.set_yticks(range(len(names)), names, fontsize=6)
        ax.set_title(f"{model}: recall hit/maybe", fontsize=8)
        ax.set_xlabel("test", fontsize=7)
    axes[0].set_ylabel("trained on (source)", fontsize=7)
    _common.save_figure(fig, NAME, args)
    return _common.write_result(NAME, args, {
        "datasets": names, "n_frames": n_frames, "n_test": n_test, "n_few": n_few,
        "max_epochs": max_epochs,
        "predict_frames_per_s_median": {m: float(np.median(v)) for m, v in speed.items()},
        "rows": rows}, started)


if __name__ == "__main__":
    main()
