"""Active learning: accuracy against labelled frames, random selection vs each ranking strategy.

Issue 15, section 3 (no paper table). The online scenario of ``_scenarios`` (one particle,
3jb9; three classes: single / multi / non-sample hit; 25 % of the detector visible,
``DetectorMask(0.25)``): the online embedder (``TripletEmbedder(augment=RandomRotation())``)
is trained once per seed on the 60 labelled frames per class of ``_scenarios.online_data``;
then only the supports vary. A separate unlabelled pool of the same particle
(``_scenarios.extra_labelled``, its labels hidden until a frame is "labelled") is labelled
in batches, up to a budget of ``b`` frames per class on average (``3 b`` frames in all, the
classes as the strategy finds them), by

- ``random``: frames in a random order (``--n-draws`` orders per seed);
- ``uncertainty``, ``novelty``, ``diversity``, ``mixed``:
  :func:`skspeckle.active_learning.rank_for_labelling`, re-ranked after each batch with the
  labels so far (the first batch, with nothing labelled, by diversity alone).

After each batch a ``FewShotCentroidClassifier(k=None)`` (every labelled frame a support,
SpeckleNN's "mean" aggregation) classifies held-out test frames.

``--embedder fixed`` (the default) is the above: labels only choose supports.
``--embedder retrained`` is the online loop of the labelling page: the labelled frames
themselves train the embedder (DetectorMask(0.25) + the online embedder) after each batch,
and the next batch is ranked in that embedding; the first batch, with no embedder yet, by
diversity in a 16-component PCA of ``log(1 + counts)`` of the masked frames. No separate
60-per-class set then; ``novelty`` is left out there to save time. Reported per strategy and
budget: Table I's binary accuracy (single hit vs rest; the paper: 0.94 at 25 % area) and the
3-way accuracy, averaged over seeds (and random orders), with 95 % bootstrap intervals over
the test frames; and per strategy the smallest budget whose accuracy reaches 0.94 against
random's. The goal of the issue: 0.94 with at most half the labels random needs.

Usage::

    .venv/bin/python benchmarks/paper/active_learning.py --scale full [--device cuda]
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline

from skspeckle.active_learning import rank_for_labelling
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.preprocessing import DetectorMask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios

NAME = "active_learning"
AREA = 0.25
GOAL = 0.94  # the paper's Table I accuracy at 25 % area
STRATEGIES = ("random", "uncertainty", "novelty", "diversity", "mixed")
RETRAINED_STRATEGIES = ("random", "uncertainty", "diversity", "mixed")


def pca_embedding(X):
    """The stand-in embedding before any embedder: masked frames, log(1 + x), 16 PCs."""
    from sklearn.decomposition import PCA

    flat = np.log1p(np.maximum(DetectorMask(AREA).fit_transform(X), 0)).reshape(len(X), -1)
    return PCA(n_components=16, random_state=0).fit_transform(flat)


def retrained_curve(X_pool, y_pool, X_test, strategy, budgets, seed, max_epochs, device):
    """As :func:`learning_curve`, with the embedder retrained on the labels at each budget."""
    order = np.random.default_rng(seed).permutation(len(y_pool))
    Z_pool = pca_embedding(X_pool)
    labelled = np.empty(0, dtype=np.int64)
    out = []
    for budget in budgets:
        if strategy == "random":
            labelled = order[:budget]
        else:
            new = rank_for_labelling(
                Z_pool,
                labelled,
                y_pool[labelled],
                n_frames=budget - len(labelled),
                strategy=strategy,
            )
            labelled = np.concatenate([labelled, new])
        embed = make_pipeline(
            DetectorMask(AREA), _scenarios.speckle_embedder(max_epochs, device, seed)
        ).fit(X_pool[labelled], y_pool[labelled])
        Z_pool = embed.transform(X_pool)
        clf = FewShotCentroidClassifier(k=None).fit(Z_pool[labelled], y_pool[labelled])
        out.append(clf.predict(embed.transform(X_test)))
    return out


def learning_curve(Z_pool, y_pool, Z_test, strategy, budgets, seed):
    """Predictions on the test frames after labelling up to each budget (frames in all)."""
    if strategy == "random":  # one random order: each budget extends the one before
        order = rank_for_labelling(Z_pool, strategy="random", random_state=seed)
    labelled = np.empty(0, dtype=np.int64)
    out = []
    for budget in budgets:
        if strategy == "random":
            labelled = order[:budget]
        else:  # re-rank with the labels so far; the frames proposed are labelled next
            new = rank_for_labelling(
                Z_pool,
                labelled,
                y_pool[labelled],
                n_frames=budget - len(labelled),
                strategy=strategy,
            )
            labelled = np.concatenate([labelled, new])
        clf = FewShotCentroidClassifier(k=None).fit(Z_pool[labelled], y_pool[labelled])
        out.append(clf.predict(Z_test))
    return out


def main(argv=None):
    def extra(p):
        p.add_argument("--n-seeds", type=int, default=None, help="training seeds (3 at full)")
        p.add_argument("--n-draws", type=int, default=None, help="random orders per seed")
        p.add_argument(
            "--per-class",
            type=int,
            nargs="+",
            default=None,
            help="labelling budgets, frames per class on average (default: 10 20 40 80 120 200; "
            "retrained: 10 20 40 60 100)",
        )
        p.add_argument(
            "--embedder",
            choices=("fixed", "retrained"),
            default="fixed",
            help="fixed: trained once per seed on a separate labelled set; retrained: on the "
            "labelled frames after each batch",
        )

    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv, extra=extra)
    started = time.perf_counter()
    quick = args.scale == "quick"
    retrained = args.embedder == "retrained"
    strategies = RETRAINED_STRATEGIES if retrained else STRATEGIES
    per_class = (
        (3, 10) if quick else ((10, 20, 40, 60, 100) if retrained else (10, 20, 40, 80, 120, 200))
    )
    per_class = tuple(args.per_class or per_class)
    n_pool = 20 if quick else 250  # unlabelled pool, per class
    n_test = 15 if quick else 150  # held-out test frames, per class
    max_epochs = 2 if quick else 40
    n_seeds = args.n_seeds or (1 if quick else (2 if retrained else 3))
    n_draws = args.n_draws or (2 if quick or retrained else 5)
    budgets = [3 * b for b in per_class]
    n_photons = _scenarios.photons_per_pulse("simulation")

    preds = {s: [[] for _ in budgets] for s in strategies}
    y_test_all = []
    for seed in range(args.seed, args.seed + n_seeds):
        t0 = time.perf_counter()
        X_lab, y_lab, X_test, y_test, _ = _scenarios.online_data(n_test, n_photons, seed)
        X_pool, y_pool = _scenarios.extra_labelled(n_pool, n_photons, seed)
        y_test_all.append(y_test)
        if not retrained:
            embed = make_pipeline(
                DetectorMask(AREA), _scenarios.speckle_embedder(max_epochs, args.device, seed)
            ).fit(X_lab, y_lab)
            Z_pool, Z_test = embed.transform(X_pool), embed.transform(X_test)
        for strategy in strategies:
            draws = range(n_draws) if strategy == "random" else range(1)
            for d in draws:
                if retrained:
                    curve = retrained_curve(
                        X_pool,
                        y_pool,
                        X_test,
                        strategy,
                        budgets,
                        seed * 1000 + d,
                        max_epochs,
                        args.device,
                    )
                else:
                    curve = learning_curve(
                        Z_pool, y_pool, Z_test, strategy, budgets, seed * 1000 + d
                    )
                for i, p in enumerate(curve):
                    preds[strategy][i].append(p)
            print(
                f"[{time.perf_counter() - started:6.0f} s] seed {seed} {strategy} done",
                flush=True,
            )
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)

    # The test frames differ per seed: score each seed's rows against its own test set by
    # concatenating seeds along the test axis (one row per draw).
    rows = []
    for strategy in strategies:
        n_rows = n_draws if strategy == "random" else 1
        for i, b in enumerate(per_class):
            p = preds[strategy][i]
            stacked = np.concatenate(
                [np.stack(p[s * n_rows : (s + 1) * n_rows]) for s in range(n_seeds)], axis=1
            )
            s = _scenarios.scores(np.concatenate(y_test_all), stacked, seed=args.seed)
            rows.append({"strategy": strategy, "labels_per_class": b, "n_labels": 3 * b, **s})
            print(
                f"{strategy:12s} {b:4d}/class  acc {s['accuracy']:.3f} "
                f"[{s['accuracy_ci95'][0]:.3f}, {s['accuracy_ci95'][1]:.3f}]  "
                f"3-way {s['accuracy_nway']:.3f}",
                flush=True,
            )

    def labels_to_goal(strategy):
        hits = [r["labels_per_class"] for r in rows if r["strategy"] == strategy]
        accs = [r["accuracy"] for r in rows if r["strategy"] == strategy]
        reached = [b for b, a in zip(hits, accs) if a >= GOAL]
        return reached[0] if reached else None

    to_goal = {s: labels_to_goal(s) for s in strategies}
    # 0.94 may be out of reach of the embedder here (Table I's reproduction: 0.886 at 25 %
    # area): also the labels each strategy needs to come within 0.01 of random's best.
    best_random = max(r["accuracy"] for r in rows if r["strategy"] == "random")

    def labels_to(strategy, level):
        sel = [r for r in rows if r["strategy"] == strategy and r["accuracy"] >= level]
        return sel[0]["labels_per_class"] if sel else None

    to_random_best = {s: labels_to(s, best_random - 0.01) for s in strategies}
    print("labels per class to reach random's best - 0.01:", to_random_best, flush=True)
    print("labels per class to reach", GOAL, to_goal, flush=True)

    fig, axes = _common.figure(1, 2, figsize=(10, 3.8), sharex=True)
    for ax, metric in zip(axes, ("accuracy", "accuracy_nway")):
        for strategy in strategies:
            sel = [r for r in rows if r["strategy"] == strategy]
            x = [r["labels_per_class"] for r in sel]
            y = np.array([r[metric] for r in sel])
            lo = np.array([r[f"{metric}_ci95"][0] for r in sel])
            hi = np.array([r[f"{metric}_ci95"][1] for r in sel])
            (line,) = ax.plot(x, y, "o-", label=strategy, lw=2 if strategy == "random" else 1)
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("labelled frames per class (average)")
        ax.set_title(
            "single hit vs rest (dashed: the paper's 0.94, 25 % area)"
            if metric == "accuracy"
            else "3-way"
        )
    axes[0].axhline(GOAL, color="k", lw=0.8, ls="--")
    axes[0].set_ylabel("accuracy, 95 % bootstrap interval")
    axes[1].legend(fontsize=8)
    # Both modes share the results folder; the retrained one has its own file names.
    stem = f"{NAME}_retrained" if retrained else NAME
    _common.save_figure(fig, stem, args)
    return _common.write_result(
        stem,
        args,
        {
            "structure": _scenarios.STRUCTURE,
            "detector_area": AREA,
            "embedder_labelled_per_class": None if retrained else _scenarios.N_LABELLED,
            "max_epochs": max_epochs,
            "pool_per_class": n_pool,
            "test_per_class": n_test,
            "n_seeds": n_seeds,
            "random_orders_per_seed": n_draws,
            "goal_accuracy": GOAL,
            "labels_per_class_to_goal": to_goal,
            "random_best_accuracy": best_random,
            "labels_per_class_to_random_best_minus_0.01": to_random_best,
            "embedder": args.embedder,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
