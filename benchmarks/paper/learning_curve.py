"""Learning curve of the online scenario: accuracy against labels per class, three starts.

The online scenario of Table I (``_scenarios``: 3jb9, the simulation photon level, 25 % of the
detector visible through ``DetectorMask(0.25)``, the same 1035 test patterns at full scale),
with 5, 10, 20, 40, 60 and 200 labelled patterns per class (the embedder holds out a third
for validation, as the 40 + 20 of Table I), 5-shot classification (k = the budget when it is
below 5), 10 support draws per trained model, for these starts of the ``TripletEmbedder``
(rotation augmentation, as in Table I):

- ``scratch``: a random initialisation, ``normalize="log1p"`` (Table I's embedder; its
  point at 60 labels is Table I's SpeckleNN 25 % simulation row, same seeds);
- ``pretrained``: ``init_from=skspeckle.pretrained.WEIGHTS``, fine-tuned, with the online
  default ``normalize="log1p"`` and with ``"standardize"``, the scaling the shipped weights
  were trained with (``pretrained/standardize``);
- ``pretrained+unlabelled``: the pretrained start (``"log1p"``) after the contrastive
  (NT-Xent) stage on the run's frames: ``--n-unlabelled`` unlabelled patterns of the same
  particle and mixture (another random stream than the test and the labelled patterns) plus
  the labelled pool.
  That stage does not depend on the labels, so it runs once per training seed
  (``TripletEmbedder(contrastive_epochs=E, max_epochs=0)``) and every label budget starts from
  it through ``init_from``;
- ``pretrained+unlabelled/fluence-jitter`` (not run by default): the same, with
  ``FluenceJitter(sigma=0.3)`` after the Poisson resampling in the contrastive views (the
  default views until they dropped it; this start measures what it costs);
- ``scratch+unlabelled`` (not run by default): the contrastive stage from a random start, a
  control that tells what the unlabelled frames buy without the pretrained weights.

The labelled pool: Table I's 60 patterns per class (``online_data``), then 140 more per class
(``extra_labelled``: another random stream) for the 200 budget; a smaller budget takes a
random subset per class (drawn per training seed, nested: 5 within 10 within 20 ...).
Metrics as Table I (``_scenarios.scores``): single hit vs rest accuracy and F1 and 3-way
accuracy, averaged over seeds and support draws, with 95 % bootstrap intervals over the test
patterns.

Usage::

    .venv/bin/python benchmarks/paper/learning_curve.py --scale full --threads 1
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline

from skspeckle.augmentation import FluenceJitter, PoissonResample
from skspeckle.datasets import make_speckle_patterns
from skspeckle.embedding import TripletEmbedder, default_contrastive_augment
from skspeckle.preprocessing import DetectorMask
from skspeckle.pretrained import WEIGHTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios

NAME = "learning_curve"
AREA = 0.25
BUDGETS = (5, 10, 20, 40, 60, 200)
#: Start name -> (TripletEmbedder overrides, whether it runs the contrastive stage first).
STARTS = {
    "scratch": ({}, False),
    "pretrained": ({"init_from": WEIGHTS}, False),
    "pretrained/standardize": ({"init_from": WEIGHTS, "normalize": "standardize"}, False),
    "pretrained+unlabelled": ({"init_from": WEIGHTS}, True),
    "pretrained+unlabelled/fluence-jitter": (
        {
            "init_from": WEIGHTS,
            "contrastive_augment": [
                a
                for view in default_contrastive_augment()
                for a in (
                    (view, FluenceJitter(sigma=0.3))
                    if isinstance(view, PoissonResample)
                    else (view,)
                )
            ],
        },
        True,
    ),
    # A control: the contrastive stage from a random start.
    "scratch+unlabelled": ({}, True),
}
#: The starts run by default; ``--starts`` adds the others. A one-seed probe put
#: ``pretrained/standardize`` 0.20 below ``pretrained`` in 3-way accuracy at 60 labels.
DEFAULT_STARTS = ("scratch", "pretrained", "pretrained+unlabelled")
N_DRAWS = 10


def _arguments(parser):
    parser.add_argument(
        "--n-seeds", type=int, default=None, help="training seeds (default 1 quick, 3 full)"
    )
    parser.add_argument(
        "--budgets", type=int, nargs="+", default=None, help="labels per class (default all)"
    )
    parser.add_argument(
        "--starts",
        nargs="+",
        choices=list(STARTS),
        default=None,
        help=f"default: {' '.join(DEFAULT_STARTS)}",
    )
    parser.add_argument(
        "--n-unlabelled", type=int, default=None, help="unlabelled patterns (default 1200 full)"
    )
    parser.add_argument(
        "--contrastive-epochs", type=int, default=None, help="NT-Xent epochs (default 10 full)"
    )


def _pool(n_test, n_photons, seed, n_max):
    """Labelled pool (Table I's 60 per class first), the test set and its particle counts."""
    X_lab, y_lab, X_test, y_test, n_particles = _scenarios.online_data(n_test, n_photons, seed)
    extra = n_max - _scenarios.N_LABELLED
    if extra > 0:
        X_more, y_more = _scenarios.extra_labelled(extra, n_photons, seed)
        X_lab, y_lab = np.concatenate([X_lab, X_more]), np.concatenate([y_lab, y_more])
    return X_lab, y_lab, X_test, y_test, n_particles


def _subsets(y_pool, budgets, seed):
    """Indices into the pool per budget, nested, sorted; the largest budgets that the first
    60 per class cover use Table I's frames in Table I's order."""
    rng = np.random.default_rng(seed)
    order = {}
    for c in _scenarios.CLASSES:
        members = np.flatnonzero(y_pool == c)
        first, rest = members[: _scenarios.N_LABELLED], members[_scenarios.N_LABELLED :]
        order[c] = np.concatenate([rng.permutation(first), rng.permutation(rest)])
    return {b: np.sort(np.concatenate([order[c][:b] for c in order])) for b in budgets}


def _contrastive_stage(X_run, y_run, overrides, epochs, device, seed):
    """The pretrained network after NT-Xent on every frame of the run (no triplet epoch)."""
    pipe = make_pipeline(
        DetectorMask(AREA),
        TripletEmbedder(
            contrastive_epochs=epochs, max_epochs=0, device=device, random_state=seed, **overrides
        ),
    ).fit(X_run, y_run)
    return pipe[-1]


def main(argv=None):
    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv, extra=_arguments)
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_test = 15 if quick else 345  # per class: 1035 test patterns at full scale
    max_epochs = 2 if quick else 60
    budgets = sorted(args.budgets or ((5, 10) if quick else BUDGETS))
    starts = args.starts or list(DEFAULT_STARTS)
    n_seeds = args.n_seeds or (1 if quick else 3)
    n_unlabelled = args.n_unlabelled or (30 if quick else 1200)
    epochs = args.contrastive_epochs or (1 if quick else 10)
    n_draws = 2 if quick else N_DRAWS
    train_seeds = [args.seed + i for i in range(n_seeds)]

    n_photons = _scenarios.photons_per_pulse("simulation", seed=args.seed)
    X_pool, y_pool, X_test, y_test, n_particles = _pool(n_test, n_photons, args.seed, max(budgets))
    # The rest of the run: same particle and mixture, its own random stream (seed + 2000; the
    # test set is seed, the extra labels seed + 1000), labels thrown away.
    X_unl, _, _ = make_speckle_patterns(
        [_scenarios.STRUCTURE],
        n_per_class=-(-n_unlabelled // len(_scenarios.CLASSES)),
        classes=_scenarios.CLASSES,
        n_photons=n_photons,
        random_state=args.seed + 2000,
    )
    X_run = np.concatenate([X_pool, X_unl])
    y_run = np.concatenate([y_pool.astype(object), np.full(len(X_unl), -1, dtype=object)])

    preds = {(s, b): [] for s in starts for b in budgets}
    epochs_run = {(s, b): [] for s in starts for b in budgets}
    seconds = {(s, b): [] for s in starts for b in budgets}
    contrastive_seconds = {}
    for seed in train_seeds:
        subsets = _subsets(y_pool, budgets, seed)
        for start in starts:
            overrides, contrastive = STARTS[start]
            overrides = dict(overrides)
            if contrastive:
                t0 = time.perf_counter()
                overrides["init_from"] = _contrastive_stage(
                    X_run, y_run, overrides, epochs, args.device, seed
                )
                contrastive_seconds.setdefault(start, []).append(time.perf_counter() - t0)
                print(
                    f"[{time.perf_counter() - started:6.0f} s] {start} seed {seed}: "
                    f"contrastive stage on {len(X_run)} frames, {epochs} epochs, "
                    f"{time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
            for b in budgets:
                idx = subsets[b]
                t0 = time.perf_counter()
                embed = make_pipeline(
                    DetectorMask(AREA),
                    _scenarios.speckle_embedder(max_epochs, args.device, seed, **overrides),
                ).fit(X_pool[idx], y_pool[idx])
                preds[start, b].extend(
                    _scenarios.few_shot_predictions(
                        embed.transform(X_pool[idx]),
                        y_pool[idx],
                        embed.transform(X_test),
                        k=min(5, b),
                        n_draws=n_draws,
                    )
                )
                epochs_run[start, b].append(embed[-1].n_iter_)
                seconds[start, b].append(time.perf_counter() - t0)
                print(
                    f"[{time.perf_counter() - started:6.0f} s] {start} {b} labels/class seed "
                    f"{seed}: {embed[-1].n_iter_} epochs, {seconds[start, b][-1]:.0f} s",
                    flush=True,
                )

    rows = []
    for start in starts:
        for b in budgets:
            s = _scenarios.scores(y_test, np.array(preds[start, b]), seed=args.seed)
            rows.append(
                {
                    "start": start,
                    "labels_per_class": b,
                    "k": min(5, b),
                    **s,
                    "epochs_mean": float(np.mean(epochs_run[start, b])),
                    "fit_seconds_mean": float(np.mean(seconds[start, b])),
                    "single_rate_by_n_particles": _scenarios.single_rate_by_n_particles(
                        np.array(preds[start, b]), n_particles
                    ),
                }
            )
            print(
                f"{start:34s} {b:4d}  acc {s['accuracy']:.3f} [{s['accuracy_ci95'][0]:.3f}, "
                f"{s['accuracy_ci95'][1]:.3f}]  3-way {s['accuracy_nway']:.3f} "
                f"[{s['accuracy_nway_ci95'][0]:.3f}, {s['accuracy_nway_ci95'][1]:.3f}]",
                flush=True,
            )

    fig, axes = _common.figure(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, metric, title in zip(
        axes, ("accuracy", "accuracy_nway"), ("single hit vs rest", "3-way")
    ):
        for start in starts:
            mine = [r for r in rows if r["start"] == start]
            x = [r["labels_per_class"] for r in mine]
            (line,) = ax.plot(x, [r[metric] for r in mine], "o-", label=start, markersize=4)
            ax.fill_between(
                x,
                [r[f"{metric}_ci95"][0] for r in mine],
                [r[f"{metric}_ci95"][1] for r in mine],
                color=line.get_color(),
                alpha=0.2,
            )
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.set_xlabel("labelled patterns per class")
        ax.set_title(f"{title} accuracy, 25 % detector")
    axes[0].set_ylabel("accuracy, 95 % bootstrap interval")
    axes[1].legend(fontsize=7)
    _common.save_figure(fig, NAME, args)
    return _common.write_result(
        NAME,
        args,
        {
            "structure": _scenarios.STRUCTURE,
            "fluence": "simulation",
            "n_photons": n_photons,
            "detector_area": AREA,
            "budgets": budgets,
            "starts": starts,
            "max_epochs": max_epochs,
            "train_seeds": train_seeds,
            "support_draws": n_draws,
            "n_unlabelled": int(len(X_unl)),
            "n_contrastive_frames": int(len(X_run)),
            "contrastive_epochs": epochs,
            "contrastive_seconds_mean": {
                k: float(np.mean(v)) for k, v in contrastive_seconds.items()
            },
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
