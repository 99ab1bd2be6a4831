"""Ablation on the online scenario at 25 % detector area: aggregation, mining, augmentation.

Starting from the online SpeckleNN configuration of ``online_table1.py`` (3jb9, 60 labelled
patterns per class, rotation augmentation, semi-hard mining, 5-shot with the ``mean``
aggregation, ``DetectorMask(0.25)``, 1e12 photons per pulse), one factor changes at a time:

- few-shot aggregation ``mean`` (SpeckleNN) vs ``centroid`` (prototypical networks) vs ``min``
  (nearest support) -- same trained embedders, only the classifier changes;
- triplet mining ``semihard`` vs ``hard`` vs ``random``;
- with vs without the rotation augmentation;
- input scaling ``log1p`` (default) vs ``standardize`` (per-frame standardisation of the
  linear counts, the SpeckleNN reference implementation's) vs ``log1p-standardize``;
- 400 instead of 60 labelled patterns per class (340 more simulated per class, 1/3 of all
  held out for validation as before; the 5 supports still come from the 60): how far the
  score is limited by the number of labelled patterns.

Scores: accuracy and F1 of single hit vs rest and the 3-way accuracy, averaged over 10
support draws and the training seeds, with 95 % bootstrap intervals over the test patterns.

Usage::

    .venv/bin/python benchmarks/paper/ablation.py --scale full [--device cuda]
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline

from skspeckle.preprocessing import DetectorMask

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios

NAME = "ablation"
AREA = 0.25
N_MANY = 400  # labelled patterns per class of the "labelled" factor
# (factor, setting, embedder overrides, aggregation, labelled patterns per class); the first
# row is the reference.
VARIANTS = [
    ("reference", "semihard + rotation + mean", {}, "mean", _scenarios.N_LABELLED),
    ("aggregation", "centroid", {}, "centroid", _scenarios.N_LABELLED),
    ("aggregation", "min", {}, "min", _scenarios.N_LABELLED),
    ("mining", "hard", {"mining": "hard"}, "mean", _scenarios.N_LABELLED),
    ("mining", "random", {"mining": "random"}, "mean", _scenarios.N_LABELLED),
    ("augmentation", "none", {"augment": None}, "mean", _scenarios.N_LABELLED),
    ("input scaling", "standardize", {"normalize": "standardize"}, "mean", _scenarios.N_LABELLED),
    (
        "input scaling",
        "log1p-standardize",
        {"normalize": "log1p-standardize"},
        "mean",
        _scenarios.N_LABELLED,
    ),
    ("labelled", f"{N_MANY} per class", {}, "mean", N_MANY),
]


def main(argv=None):
    args = _common.parse_args(
        NAME,
        __doc__.splitlines()[0],
        argv,
        extra=lambda p: p.add_argument(
            "--n-seeds",
            type=int,
            default=None,
            help="training seeds per configuration (default: 1 at quick, 3 at full scale)",
        ),
    )
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_test = 15 if quick else 345
    max_epochs = 2 if quick else 60
    n_seeds = args.n_seeds or (1 if quick else 3)
    train_seeds = [args.seed + i for i in range(n_seeds)]

    X_lab, y_lab, X_test, y_test, n_particles = _scenarios.online_data(
        n_test, _scenarios.BASE_PHOTONS, args.seed
    )
    n_many = _scenarios.N_LABELLED + 10 if quick else N_MANY
    X_more, y_more = _scenarios.extra_labelled(
        n_many - _scenarios.N_LABELLED, _scenarios.BASE_PHOTONS, args.seed
    )
    preds = {i: [] for i in range(len(VARIANTS))}
    for seed in train_seeds:
        trained = {}  # embeddings per distinct (embedder overrides, labelled set)
        for i, (factor, setting, overrides, aggregation, n_lab) in enumerate(VARIANTS):
            key = (tuple(sorted(overrides.items())), n_lab)
            if key not in trained:
                t0 = time.perf_counter()
                X_fit, y_fit = X_lab, y_lab
                if n_lab != _scenarios.N_LABELLED:
                    X_fit, y_fit = np.concatenate([X_lab, X_more]), np.concatenate([y_lab, y_more])
                embed = make_pipeline(
                    DetectorMask(AREA),
                    _scenarios.speckle_embedder(max_epochs, args.device, seed, **overrides),
                ).fit(X_fit, y_fit)
                trained[key] = (embed.transform(X_lab), embed.transform(X_test))
                print(
                    f"[{time.perf_counter() - started:6.0f} s] trained {factor}={setting} "
                    f"seed {seed}: {embed[-1].n_iter_} epochs, "
                    f"{time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
            Z_lab, Z_test = trained[key]
            preds[i].extend(
                _scenarios.few_shot_predictions(Z_lab, y_lab, Z_test, aggregation=aggregation)
            )
    rows = []
    for i, (factor, setting, _, _, _) in enumerate(VARIANTS):
        s = _scenarios.scores(y_test, np.array(preds[i]), seed=args.seed)
        rows.append(
            {
                "factor": factor,
                "setting": setting,
                **s,
                "single_rate_by_n_particles": _scenarios.single_rate_by_n_particles(
                    np.array(preds[i]), n_particles
                ),
            }
        )
        print(
            f"{factor:13s} {setting:28s} acc {s['accuracy']:.3f} "
            f"[{s['accuracy_ci95'][0]:.3f}, {s['accuracy_ci95'][1]:.3f}]  F1 {s['f1']:.3f}  "
            f"3-way acc {s['accuracy_nway']:.3f}",
            flush=True,
        )

    fig, ax = _common.figure(figsize=(6, 3.6))
    for j, (metric, color) in enumerate(
        (("accuracy", "tab:blue"), ("f1", "tab:orange"), ("accuracy_nway", "tab:green"))
    ):
        y = np.arange(len(rows)) + 0.25 * (j - 1)
        vals = np.array([r[metric] for r in rows])
        ci = np.array([r[f"{metric}_ci95"] for r in rows])
        ax.errorbar(
            vals,
            y,
            xerr=[vals - ci[:, 0], ci[:, 1] - vals],
            fmt="o",
            color=color,
            label=metric.replace("_nway", " 3-way"),
        )
    ax.set_yticks(range(len(rows)), [f"{r['factor']}: {r['setting']}" for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("score (95 % bootstrap interval)")
    ax.set_title("Online scenario, 25 % detector area, 5-shot")
    ax.legend(fontsize=7)
    _common.save_figure(fig, NAME, args)
    return _common.write_result(
        NAME,
        args,
        {
            "structure": _scenarios.STRUCTURE,
            "detector_area": AREA,
            "max_epochs": max_epochs,
            "train_seeds": train_seeds,
            "support_draws": 10,
            "n_labelled_many": n_many,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
