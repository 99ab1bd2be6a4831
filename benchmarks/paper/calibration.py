"""Calibration of the few-shot probabilities and the single-hit veto at 95 % precision.

Issue 15, section 2 (no paper table: SpeckleNN reports accuracies, not probabilities). The
online scenario of ``_scenarios`` (one particle, 3jb9; single / multi / non-sample hits; 40 +
20 labelled frames per class train the embedder, with rotation augmentation; 25 % of the
detector visible, ``DetectorMask(0.25)``) gives embeddings of held-out frames, split into a
*calibration* set (labelled frames the model never saw, as a scientist would label after
training) and an *evaluation* set. For ``n_draws`` draws of the K = 5 supports per class:

- the raw ``FewShotCentroidClassifier.predict_proba`` (``temperature=1``), and the same model
  calibrated on the calibration set by ``CalibratedClassifierCV(FrozenEstimator(model),
  method=...)`` with ``"temperature"``, ``"sigmoid"`` and ``"isotonic"``: multiclass Brier
  score (``brier_score_loss``), log loss and accuracy on the evaluation set, and the
  reliability curve of the single-hit column (``calibration_curve``, 10 uniform bins, over
  all draws);
- the operating point "keep single hits with >= 95 % precision":
  ``OperatingPoint.from_estimator`` on the calibration set (temperature-scaled
  probabilities), judged by the measured precision and by its Clopper-Pearson lower bound
  (``confidence`` 0.5, 0.8, 0.95), then precision and recall of single hit on the evaluation
  set, and how often the evaluation precision meets the target; beside them, the argmax rule
  (a frame is kept when ``predict`` says single hit).

Usage::

    .venv/bin/python benchmarks/paper/calibration.py --scale full [--device cuda]
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss, log_loss, precision_score, recall_score
from sklearn.pipeline import make_pipeline

from skspeckle.calibration import OperatingPoint
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.preprocessing import DetectorMask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios

NAME = "calibration"
METHODS = ("temperature", "sigmoid", "isotonic")
MIN_PRECISION = 0.95
#: Result key -> ``confidence`` of OperatingPoint: the measured precision, and its
#: Clopper-Pearson lower bound at three confidence levels.
OPERATING_POINTS = {
    "operating_point": None,
    "operating_point_cp50": 0.5,
    "operating_point_cp80": 0.8,
    "operating_point_cp95": 0.95,
}
AREA = 0.25
N_BINS = 10


def _scores(y, proba, classes):
    return {
        "brier": float(brier_score_loss(y, proba, labels=classes)),
        "log_loss": float(log_loss(y, proba, labels=classes)),
        "accuracy": float(np.mean(classes[np.argmax(proba, axis=1)] == y)),
    }


def _binary(y, kept):
    truth = y == _scenarios.POSITIVE
    return {
        "precision": float(precision_score(truth, kept, zero_division=0.0)),
        "recall": float(recall_score(truth, kept, zero_division=0.0)),
        "kept": int(kept.sum()),
    }


def _run(n_cal, n_eval, max_epochs, n_draws, device, seed, started):
    """One seed: train the embedder, then per support draw the calibration figures."""
    X_lab, y_lab, X_test, y_test, _ = _scenarios.online_data(
        n_cal + n_eval, _scenarios.BASE_PHOTONS, seed
    )
    front = make_pipeline(
        DetectorMask(AREA), _scenarios.speckle_embedder(max_epochs, device, seed)
    ).fit(X_lab, y_lab)
    print(
        f"[{time.perf_counter() - started:5.0f} s] seed {seed}: embedder "
        f"{front[-1].n_iter_} epochs",
        flush=True,
    )
    Z_lab, Z_test = front.transform(X_lab), front.transform(X_test)
    rng = np.random.default_rng(seed)
    cal = np.zeros(len(y_test), dtype=bool)
    for c in _scenarios.CLASSES:
        cal[rng.choice(np.flatnonzero(y_test == c), n_cal, replace=False)] = True
    Z_cal, y_cal, Z_eval, y_eval = Z_test[cal], y_test[cal], Z_test[~cal], y_test[~cal]
    rows, curves = [], {m: [] for m in ("raw", *METHODS)}
    for draw in range(n_draws):
        few = FewShotCentroidClassifier(k=5, random_state=seed * 1000 + draw).fit(Z_lab, y_lab)
        classes = few.classes_
        positive = list(classes).index(_scenarios.POSITIVE)
        models = {"raw": few}
        for method in METHODS:
            models[method] = CalibratedClassifierCV(FrozenEstimator(few), method=method).fit(
                Z_cal, y_cal
            )
        row = {"seed": seed, "draw": draw}
        for name, model in models.items():
            proba = model.predict_proba(Z_eval)
            row[name] = _scores(y_eval, proba, classes)
            curves[name].append(proba[:, positive])
        row["argmax"] = _binary(y_eval, few.predict(Z_eval) == _scenarios.POSITIVE)
        row["temperature_fitted"] = float(
            1 / models["temperature"].calibrated_classifiers_[0].calibrators[0].beta_
        )
        proba = models["temperature"].predict_proba(Z_eval)
        for key, confidence in OPERATING_POINTS.items():
            try:
                op = OperatingPoint.from_estimator(
                    models["temperature"],
                    Z_cal,
                    y_cal,
                    positive_class=_scenarios.POSITIVE,
                    min_precision=MIN_PRECISION,
                    confidence=confidence,
                )
                row[key] = {
                    "threshold": op.threshold,
                    "calibration_precision": op.precision,
                    "calibration_recall": op.recall,
                    **_binary(y_eval, op.accept(proba, classes)),
                }
            except ValueError as exc:  # the target is out of reach on this draw
                row[key] = {"error": str(exc)}
        rows.append(row)
    truth = np.tile(y_eval == _scenarios.POSITIVE, n_draws)
    reliability = {}
    for name, probs in curves.items():
        frac, mean = calibration_curve(truth, np.concatenate(probs), n_bins=N_BINS)
        reliability[name] = {"mean_predicted": mean, "fraction_positive": frac}
    return rows, reliability, front[-1].n_iter_


def _summary(rows):
    """Mean and standard deviation over seeds and draws of every number in the rows."""

    def collect(key, sub):
        values = np.array([r[key][sub] for r in rows if sub in r[key]], dtype=float)
        return {
            "mean": float(values.mean()) if len(values) else None,
            "sd": float(values.std()) if len(values) else None,
            "n": len(values),
        }

    out = {}
    for key in ("raw", *METHODS):
        out[key] = {sub: collect(key, sub) for sub in ("brier", "log_loss", "accuracy")}
    out["argmax"] = {sub: collect("argmax", sub) for sub in ("precision", "recall")}
    for key in OPERATING_POINTS:
        out[key] = {
            sub: collect(key, sub)
            for sub in ("threshold", "calibration_precision", "precision", "recall")
        }
        reached = [r[key]["precision"] for r in rows if "precision" in r[key]]
        out[key]["fraction_meeting_target_on_evaluation"] = (
            float(np.mean(np.array(reached) >= MIN_PRECISION)) if reached else None
        )
    # Paired over draws: what calibration changes for the same model.
    for key in METHODS:
        diff = np.array([r[key]["brier"] - r["raw"]["brier"] for r in rows])
        out[key]["brier_change"] = {
            "mean": float(diff.mean()),
            "sd": float(diff.std()),
            "fraction_improved": float(np.mean(diff < 0)),
        }
    temps = np.array([r["temperature_fitted"] for r in rows])
    out["temperature_fitted"] = {"mean": float(temps.mean()), "sd": float(temps.std())}
    return out


def _figure(reliability, rows, args):
    fig, (ax1, ax2) = _common.figure(1, 2, figsize=(10, 4.2))
    ax1.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    for name, curve in reliability[0].items():
        ax1.plot(curve["mean_predicted"], curve["fraction_positive"], "o-", label=name)
    ax1.set(
        xlabel="predicted P(single hit)",
        ylabel="fraction of single hits",
        title="Reliability, single-hit column (seed 0)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax1.legend(fontsize=8)
    arg = [r["argmax"] for r in rows]
    ax2.scatter([a["recall"] for a in arg], [a["precision"] for a in arg], label="argmax (predict)")
    for (key, confidence), marker in zip(OPERATING_POINTS.items(), "s^vD"):
        ops = [r[key] for r in rows if "recall" in r[key]]
        ax2.scatter(
            [o["recall"] for o in ops],
            [o["precision"] for o in ops],
            marker=marker,
            label=f"threshold for {MIN_PRECISION:.0%} precision"
            + ("" if confidence is None else f", {confidence:.0%} lower bound"),
        )
    ax2.axhline(MIN_PRECISION, ls=":", color="grey")
    ax2.set(
        xlabel="single-hit recall (evaluation frames)",
        ylabel="single-hit precision",
        title="Operating points, one per support draw",
        xlim=(0, 1.02),
        ylim=(0.5, 1.02),
    )
    ax2.legend(fontsize=8, loc="lower left")
    _common.save_figure(fig, NAME, args)


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
    n_cal, n_eval = (15, 15) if quick else (200, 300)
    max_epochs = 2 if quick else 40
    n_draws = 2 if quick else 10
    seeds = [args.seed + i for i in range(args.n_seeds or (1 if quick else 3))]
    rows, reliability, epochs = [], [], []
    for seed in seeds:
        r, rel, e = _run(n_cal, n_eval, max_epochs, n_draws, args.device, seed, started)
        rows += r
        reliability.append(rel)
        epochs.append(e)
    summary = _summary(rows)
    for key in ("raw", *METHODS):
        s = summary[key]
        print(
            f"{key:12s} Brier {s['brier']['mean']:.3f} ± {s['brier']['sd']:.3f}  "
            f"log loss {s['log_loss']['mean']:.3f}  accuracy {s['accuracy']['mean']:.3f}"
            + (
                f"  paired Brier change {s['brier_change']['mean']:+.4f} "
                f"(improved in {s['brier_change']['fraction_improved']:.0%} of draws)"
                if "brier_change" in s
                else ""
            )
        )
    arg = summary["argmax"]
    print(
        f"argmax single hit: precision {arg['precision']['mean']:.3f}, "
        f"recall {arg['recall']['mean']:.3f}"
    )
    for key, confidence in OPERATING_POINTS.items():
        op = summary[key]
        if not op["recall"]["n"]:
            print(f"confidence {confidence}: no draw reaches {MIN_PRECISION} precision")
        else:
            print(
                f"threshold for {MIN_PRECISION} precision (confidence {confidence}; "
                f"{op['recall']['n']} of {len(rows)} draws reach it): precision "
                f"{op['precision']['mean']:.3f}, recall {op['recall']['mean']:.3f}, threshold "
                f"{op['threshold']['mean']:.3f}; {op['fraction_meeting_target_on_evaluation']:.0%}"
                " of draws meet the target on the evaluation frames"
            )
    _figure(reliability, rows, args)
    return _common.write_result(
        NAME,
        args,
        {
            "structure": _scenarios.STRUCTURE,
            "detector_area": AREA,
            "k": 5,
            "n_calibration_per_class": n_cal,
            "n_evaluation_per_class": n_eval,
            "max_epochs": max_epochs,
            "epochs_run": epochs,
            "n_draws": n_draws,
            "seeds": seeds,
            "min_precision": MIN_PRECISION,
            "summary": summary,
            "reliability": reliability,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
