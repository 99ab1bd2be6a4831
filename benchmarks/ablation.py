"""Ablation on the online scenario at 25 % detector area: aggregation, mining, augmentation.

Starting from the online SpeckleNN configuration of ``online_table1.py`` (3jb9, 60 labelled
patterns per class, rotation augmentation, semi-hard mining, 5-shot with the ``mean``
aggregation, ``DetectorMask(0.25)``, 1e12 photons per pulse), one factor changes at a time:

- few-shot aggregation ``mean`` (SpeckleNN) vs ``centroid`` (prototypical networks) vs ``min``
  (nearest support) -- same trained embedders, only the classifier changes;
- triplet mining ``semihard`` vs ``hard`` vs ``random``;
- with vs without the rotation augmentation.

Scores: accuracy and F1 of single hit vs rest and the 3-way accuracy, averaged over 10
support draws and the training seeds, with 95 % bootstrap intervals over the test patterns.

Usage::

    .venv/bin/python benchmarks/ablation.py --scale full [--device cuda]
"""

import time

import _common
import _scenarios
import numpy as np
from sklearn.pipeline import make_pipeline

from skspeckle.preprocessing import DetectorMask

NAME = "ablation"
AREA = 0.25
# (factor, setting, embedder overrides, aggregation); the first row is the reference.
VARIANTS = [
    ("reference", "semihard + rotation + mean", {}, "mean"),
    ("aggregation", "centroid", {}, "centroid"),
    ("aggregation", "min", {}, "min"),
    ("mining", "hard", {"mining": "hard"}, "mean"),
    ("mining", "random", {"mining": "random"}, "mean"),
    ("augmentation", "none", {"augment": None}, "mean"),
]


def main(argv=None):
    args = _common.parse_args(__doc__.splitlines()[0], argv, extra=lambda p: p.add_argument(
        "--n-seeds", type=int, default=None,
        help="training seeds per configuration (default: 1 at quick, 3 at full scale)"))
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_test = 15 if quick else 345
    max_epochs = 2 if quick else 60
    n_seeds = args.n_seeds or (1 if quick else 3)
    train_seeds = [args.seed + i for i in range(n_seeds)]

    X_lab, y_lab, X_test, y_test = _scenarios.online_data(n_test, _scenarios.BASE_PHOTONS,
                                                          args.seed)
    preds = {i: [] for i in range(len(VARIANTS))}
    for seed in train_seeds:
        trained = {}  # embeddings per distinct set of embedder overrides
        for i, (factor, setting, overrides, aggregation) in enumerate(VARIANTS):
            key = tuple(sorted(overrides.items()))
            if key not in trained:
                t0 = time.perf_counter()
                embed = make_pipeline(DetectorMask(AREA), _scenarios.speckle_embedder(
                    max_epochs, args.device, seed, **overrides)).fit(X_lab, y_lab)
                trained[key] = (embed.transform(X_lab), embed.transform(X_test))
                print(f"[{time.perf_counter() - started:6.0f} s] trained {factor}={setting} "
                      f"seed {seed}: {embed[-1].n_iter_} epochs, "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)
            Z_lab, Z_test = trained[key]
            preds[i].extend(_scenarios.few_shot_predictions(Z_lab, y_lab, Z_test,
                                                            aggregation=aggregation))
    rows = []
    for i, (factor, setting, _, _) in enumerate(VARIANTS):
        s = _scenarios.scores(y_test, np.array(preds[i]), seed=args.seed)
        rows.append({"factor": factor, "setting": setting, **s})
        print(f"{factor:13s} {setting:28s} acc {s['accuracy']:.3f} "
              f"[{s['accuracy_ci95'][0]:.3f}, {s['accuracy_ci95'][1]:.3f}]  F1 {s['f1']:.3f}  "
              f"3-way acc {s['accuracy_nway']:.3f}", flush=True)

    fig, ax = _common.figure(figsize=(6, 3.6))
    for j, (metric, color) in enumerate((("accuracy", "tab:blue"), ("f1", "tab:orange"),
                                         ("accuracy_nway", "tab:green"))):
        y = np.arange(len(rows)) + 0.25 * (j - 1)
        vals = np.array([r[metric] for r in rows])
        ci = np.array([r[f"{metric}_ci95"] for r in rows])
        ax.errorbar(vals, y, xerr=[vals - ci[:, 0], ci[:, 1] - vals], fmt="o", color=color,
                    label=metric.replace("_nway", " 3-way"))
    ax.set_yticks(range(len(rows)), [f"{r['factor']}: {r['setting']}" for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("score (95 % bootstrap interval)")
    ax.set_title("Online scenario, 25 % detector area, 5-shot")
    ax.legend(fontsize=7)
    _common.save_figure(fig, NAME, args)
    return _common.write_result(NAME, args, {
        "structure": _scenarios.STRUCTURE, "detector_area": AREA, "max_epochs": max_epochs,
        "train_seeds": train_seeds, "support_draws": 10, "rows": rows}, started)


if __name__ == "__main__":
    main()
