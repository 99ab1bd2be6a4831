"""Open-set rejection: novelty AUROC and known-class accuracy at a 5 % false-rejection rate.

Issue 15, section 1 (no paper table: SpeckleNN forces every frame into a known class). A
``TripletEmbedder`` (the online embedder of ``_scenarios``, rotation augmentation) is trained
on single and multi hits of one particle (3jb9); at test time come held-out single and multi
hits of it (known) and three groups it never saw (novel): no hits, non-sample hits, and single
and multi hits of a never-seen particle (4v4r). On the same embeddings:

- ``FewShotCentroidClassifier(k=None)``: every labelled frame a support; the novelty score is
  ``novelty_score`` (squared distance to the nearest class, with the "mean" aggregation of
  SpeckleNN and with "min", the nearest support) and the 5 % rule is
  ``rejection_rate=0.05`` (threshold calibrated on the supports' leave-one-out distances,
  :mod:`skspeckle.open_set`).
- ``RadiusNeighborsClassifier(radius=r, outlier_label="unknown")``: ``r`` the 95 % quantile of
  the labelled frames' leave-one-out nearest-neighbour distances (the same calibration); its
  score, for the AUROC, is the distance to the nearest labelled frame (what the radius
  thresholds).
- ``LocalOutlierFactor(novelty=True, contamination=0.05)`` on the labelled frames: score
  ``-score_samples``; frames it calls outliers are rejected, the others take the few-shot
  class.

Reported per method: the AUROC of the score, known (positive: novel) against each novel group
and all together; at the 5 % rule, the realised false-rejection rate on the known test frames,
the accuracy on them (a rejected frame counts as wrong), and the rejection rate of each novel
group. ``closed_set_accuracy`` is the few-shot ("mean") accuracy without rejection.

Usage::

    .venv/bin/python benchmarks/paper/open_set.py --scale full [--device cuda]
"""

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors, RadiusNeighborsClassifier

from skspeckle.datasets import make_speckle_patterns
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.open_set import calibrate_threshold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios

NAME = "open_set"
KNOWN = ("single-hit", "multi-hit")
NOVEL_PARTICLE = "4v4r"
RATE = 0.05
AGGREGATIONS = ("mean", "min")  # SpeckleNN's, and the nearest support (1-NN)
UNKNOWN = "unknown"


def _data(n_lab, n_test, n_novel, n_photons, seed):
    """Labelled and test frames of the known classes, and the novel groups' frames."""
    X, y, _ = make_speckle_patterns(
        [_scenarios.STRUCTURE],
        n_per_class=n_lab + n_test,
        classes=KNOWN,
        n_photons=n_photons,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    lab = np.zeros(len(y), dtype=bool)
    for c in KNOWN:
        lab[rng.choice(np.flatnonzero(y == c), n_lab, replace=False)] = True
    X_other, y_other, _ = make_speckle_patterns(
        [_scenarios.STRUCTURE],
        n_per_class=n_novel,
        classes=("no-hit", "non-sample-hit"),
        n_photons=n_photons,
        random_state=seed + 1,
    )
    X_new, _, _ = make_speckle_patterns(
        [NOVEL_PARTICLE],
        n_per_class=(n_novel + 1) // 2,
        classes=KNOWN,
        n_photons=n_photons,
        random_state=seed + 2,
    )
    novel = {
        "no-hit": X_other[y_other == "no-hit"],
        "non-sample-hit": X_other[y_other == "non-sample-hit"],
        f"new-particle ({NOVEL_PARTICLE})": X_new[:n_novel],
    }
    return X[lab], y[lab], X[~lab], y[~lab], novel


def _method_scores(name, score, y_pred, y_test, groups):
    """AUROC per novel group and overall, and the 5 % rule's figures."""
    n_known = len(y_test)
    known_score, known_pred = score[:n_known], y_pred[:n_known]
    row = {"method": name}
    all_novel = []
    for group, (s, p) in groups.items():
        labels = np.r_[np.zeros(n_known), np.ones(len(s))]
        row[f"auroc[{group}]"] = roc_auc_score(labels, np.r_[known_score, s])
        row[f"rejected[{group}]"] = float(np.mean(p == UNKNOWN))
        all_novel.append(s)
    novel = np.concatenate(all_novel)
    row["auroc"] = roc_auc_score(
        np.r_[np.zeros(n_known), np.ones(len(novel))], np.r_[known_score, novel]
    )
    row["false_rejection_rate"] = float(np.mean(known_pred == UNKNOWN))
    row["known_accuracy_at_5pct"] = float(np.mean(known_pred == y_test))
    return row


def _run(sizes, max_epochs, device, seed, started):
    """One seed's data, embedder and rows; returns (rows, closed-set accuracy, extras)."""
    n_lab, n_test, n_novel = sizes
    X_lab, y_lab, X_test, y_test, novel = _data(
        n_lab, n_test, n_novel, _scenarios.BASE_PHOTONS, seed
    )
    embed = _scenarios.speckle_embedder(max_epochs, device, seed).fit(X_lab, y_lab)
    elapsed = time.perf_counter() - started
    print(f"[{elapsed:5.0f} s] seed {seed}: embedder {embed.n_iter_} epochs", flush=True)
    Z_lab = embed.transform(X_lab)
    Z_all = [embed.transform(X_test), *(embed.transform(X) for X in novel.values())]
    sizes = np.cumsum([len(z) for z in Z_all])[:-1]
    Z_query = np.concatenate(Z_all)

    def split(values):
        parts = np.split(values, sizes)
        return parts[0], dict(zip(novel, parts[1:]))

    def row(name, score, y_pred):
        known_s, novel_s = split(score)
        known_p, novel_p = split(y_pred)
        groups = {g: (novel_s[g], novel_p[g]) for g in novel}
        return _method_scores(name, known_s, known_p, y_test, groups)

    rows = []
    thresholds = {}
    for aggregation in AGGREGATIONS:
        few = FewShotCentroidClassifier(
            k=None, aggregation=aggregation, rejection_rate=RATE, unknown_label=UNKNOWN
        ).fit(Z_lab, y_lab)
        thresholds[aggregation] = few.threshold_
        name = f"FewShotCentroidClassifier({aggregation})"
        rows.append(row(name, few.novelty_score(Z_query), few.predict(Z_query)))
    closed = FewShotCentroidClassifier(k=None).fit(Z_lab, y_lab)
    closed_pred = closed.predict(Z_query)

    nn = NearestNeighbors(n_neighbors=2).fit(Z_lab)
    loo = nn.kneighbors(Z_lab)[0][:, 1]  # nearest other labelled frame
    radius = calibrate_threshold(loo, RATE)
    rnc = RadiusNeighborsClassifier(radius=radius, outlier_label=UNKNOWN).fit(Z_lab, y_lab)
    nearest = nn.kneighbors(Z_query, n_neighbors=1)[0][:, 0]
    with warnings.catch_warnings():  # "Outlier label unknown is not in training classes"
        warnings.filterwarnings("ignore", "Outlier label", UserWarning)
        rnc_pred = rnc.predict(Z_query)
    rows.append(row("RadiusNeighborsClassifier", nearest, rnc_pred))

    lof = LocalOutlierFactor(n_neighbors=min(20, len(Z_lab) - 1), novelty=True, contamination=RATE)
    lof.fit(Z_lab)
    lof_pred = np.where(lof.predict(Z_query) == -1, UNKNOWN, closed_pred.astype(object))
    rows.append(row("LocalOutlierFactor", -lof.score_samples(Z_query), lof_pred))

    closed_accuracy = float(np.mean(closed_pred[: len(y_test)] == y_test))
    for r in rows:
        r["seed"] = seed
    extras = {"epochs_run": embed.n_iter_, "fewshot_thresholds": thresholds, "radius": radius}
    return rows, closed_accuracy, extras


def _summary(rows):
    """Mean and standard deviation over the seeds of every figure, per method."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        entry = {"method": method}
        for key in mine[0]:
            if key not in ("method", "seed"):
                values = np.array([r[key] for r in mine], dtype=float)
                entry[key] = float(values.mean())
                entry[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out.append(entry)
    return out


def main(argv=None):
    args = _common.parse_args(
        NAME,
        __doc__.splitlines()[0],
        argv,
        extra=lambda p: p.add_argument(
            "--n-seeds", type=int, default=None, help="seeds (default: 1 quick, 3 full)"
        ),
    )
    started = time.perf_counter()
    quick = args.scale == "quick"
    sizes = (40, 20, 20) if quick else (60, 200, 200)
    max_epochs = 2 if quick else 40
    seeds = [args.seed + i for i in range(args.n_seeds or (1 if quick else 3))]
    rows, closed, extras = [], [], []
    for seed in seeds:
        r, c, e = _run(sizes, max_epochs, args.device, seed, started)
        rows += r
        closed.append(c)
        extras.append({"seed": seed, "closed_set_accuracy": c, **e})
    summary = _summary(rows)
    groups = [
        k[len("auroc[") : -1] for k in summary[0] if k.startswith("auroc[") and "_sd" not in k
    ]
    for r in summary:
        print(
            f"{r['method']:37s} AUROC {r['auroc']:.3f}  FRR {r['false_rejection_rate']:.3f}  "
            f"known acc {r['known_accuracy_at_5pct']:.3f}  "
            + "  ".join(f"{g}: AUROC {r[f'auroc[{g}]']:.3f}" for g in groups)
        )
    print(f"closed-set few-shot accuracy on known: {np.mean(closed):.3f}")
    return _common.write_result(
        NAME,
        args,
        {
            "structure": _scenarios.STRUCTURE,
            "novel_particle": NOVEL_PARTICLE,
            "n_labelled_per_class": sizes[0],
            "n_test_per_class": sizes[1],
            "n_per_novel_group": sizes[2],
            "max_epochs": max_epochs,
            "seeds": seeds,
            "rejection_rate": RATE,
            "closed_set_accuracy": float(np.mean(closed)),
            "per_seed": extras,
            "summary": summary,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
