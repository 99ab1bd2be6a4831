"""The manifold baselines in Table I's online scenario: spectral clustering and diffusion maps.

The online scenario of ``online_table1.py`` (SpeckleNN Sec. IV.B, ``_scenarios``): one
particle (3jb9), three classes (single / multi / non-sample hit), 100 % or 25 % of the
detector visible (``DetectorMask``), at least 1000 held-out test patterns at full scale. The
unsupervised baselines learn nothing from the 60 labelled patterns per class; like a
scientist who labels a handful of frames of the run, each gets 5 labelled frames per class,
drawn from the labelled pool, and is fitted transductively on those and all the test
patterns (unlabelled), and the test patterns' ``transduction_`` is scored:

- Spectral clustering (Yoon et al., Opt. Express 19, 16542 (2011)):
  ``SpectralFewShotClassifier()`` (8 k-means clusters of an 8-dimensional Laplacian
  eigenmap of a 10-nearest-neighbour graph of ``log(1 + photons)``).
- Diffusion maps (Coifman & Lafon 2006, as for SPI snapshots by Fung et al., Nature Physics
  5, 64 (2009)): ``DiffusionMapFewShotClassifier()`` (the same clustering of 8 diffusion
  coordinates, ``alpha=1``, ``t=1``, 10 neighbours).

Both with their default parameters, after the same ``DetectorMask``, and both again on a
30-neighbour graph (``MODELS`` says why); the clusters are named by the majority of the
labelled frames in them. Scores as Table I: accuracy and F1 of single hit
vs rest and the 3-way accuracy, averaged over the seeds (each seed draws the labelled frames
and seeds the clustering), with 95 % bootstrap intervals over the test patterns; and the
fraction called single hit per number of particles in the pattern. Two photon levels, as in
``online_table1.py``: ``simulation`` and ``pr772``. Compare with SpeckleNN and Shi19 in
``online_table1.json`` (same data: the same ``--seed``).

Usage::

    .venv/bin/python benchmarks/paper/manifold_baselines.py --scale full --threads 1
"""

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from skspeckle.baselines import DiffusionMapFewShotClassifier, SpectralFewShotClassifier
from skspeckle.preprocessing import DetectorMask

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios

NAME = "manifold_baselines"
AREAS = (1.0, 0.25)
N_LABELLED = 5  # per class, as the 5 supports of SpeckleNN's 5-shot classification
#: Row name -> (estimator, parameters). The defaults share one 10-neighbour graph; at 10
#: neighbours the diffusion map's leading coordinates pick out small, barely connected groups
#: of non-sample hits (its eigenvalues near 1), so both are also run on a 30-neighbour graph
#: (the one other value tried).
MODELS = {
    "Spectral": (SpectralFewShotClassifier, {}),
    "Diffusion map": (DiffusionMapFewShotClassifier, {}),
    "Spectral, 30 neighbours": (SpectralFewShotClassifier, {"n_neighbors": 30}),
    "Diffusion map, 30 neighbours": (DiffusionMapFewShotClassifier, {"n_neighbors": 30}),
}
UNLABELED = "unlabeled"


def transductive_predictions(model, X_pool, y_pool, X_test, seed):
    """Labels of the test frames from a fit on 5 labelled pool frames per class + the test
    frames (unlabelled), and the fit's seconds."""
    rng = np.random.default_rng(seed)
    sup = np.concatenate(
        [
            rng.choice(np.flatnonzero(y_pool == c), N_LABELLED, replace=False)
            for c in _scenarios.CLASSES
        ]
    )
    X = np.concatenate([X_pool[sup], X_test])
    y = np.concatenate([y_pool[sup], np.full(len(X_test), UNLABELED)]).astype(object)
    t0 = time.perf_counter()
    cls, params = MODELS[model]
    with warnings.catch_warnings():
        # The spectral one's 10-neighbour graph splits into components; it still runs.
        warnings.filterwarnings("ignore", "Graph is not fully connected")
        clf = cls(unlabeled=UNLABELED, random_state=seed, **params).fit(X, y)
    return clf.transduction_[len(sup) :], time.perf_counter() - t0


def main(argv=None):
    args = _common.parse_args(
        NAME,
        __doc__.splitlines()[0],
        argv,
        extra=lambda p: p.add_argument(
            "--n-seeds",
            type=int,
            default=None,
            help="draws of the labelled frames per configuration (default: 1 quick, 3 full)",
        ),
    )
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_test = 15 if quick else 345  # per class: 1035 test patterns at full scale
    seeds = [args.seed + i for i in range(args.n_seeds or (1 if quick else 3))]
    fluences = ("simulation",) if quick else ("simulation", "pr772")

    rows = []
    # --threads bounds torch; the baselines run on NumPy / SciPy BLAS, bounded here.
    with threadpool_limits(args.threads):
        for fluence in fluences:
            n_photons = _scenarios.photons_per_pulse(fluence, seed=args.seed)
            X_lab, y_lab, X_test, y_test, n_particles = _scenarios.online_data(
                n_test, n_photons, args.seed
            )
            for area in AREAS:
                mask = DetectorMask(area).fit(X_lab)
                M_lab, M_test = mask.transform(X_lab), mask.transform(X_test)
                for model in MODELS:
                    preds, seconds = [], []
                    for seed in seeds:
                        p, s = transductive_predictions(model, M_lab, y_lab, M_test, seed)
                        preds.append(p)
                        seconds.append(s)
                    preds = np.array(preds)
                    scores = _scenarios.scores(y_test, preds, seed=args.seed)
                    rows.append(
                        {
                            "model": model,
                            "fluence": fluence,
                            "n_photons": n_photons,
                            "detector_area": area,
                            **scores,
                            "single_rate_by_n_particles": _scenarios.single_rate_by_n_particles(
                                preds, n_particles
                            ),
                            "fit_seconds": seconds,
                        }
                    )
                    print(
                        f"[{time.perf_counter() - started:5.0f} s] {model:28s} {fluence:10s} "
                        f"{area:4.0%}  acc {scores['accuracy']:.3f} "
                        f"[{scores['accuracy_ci95'][0]:.3f}, {scores['accuracy_ci95'][1]:.3f}]"
                        f"  F1 {scores['f1']:.3f} [{scores['f1_ci95'][0]:.3f}, "
                        f"{scores['f1_ci95'][1]:.3f}]  3-way {scores['accuracy_nway']:.3f}  "
                        f"fit {np.mean(seconds):.1f} s",
                        flush=True,
                    )

    fig, axes = _common.figure(1, 2, figsize=(11, 5.5), sharey=True)
    for ax, metric in zip(axes, ("accuracy", "f1")):
        labels = []
        for x, r in enumerate(rows):
            lo, hi = r[f"{metric}_ci95"]
            ax.errorbar(
                x,
                r[metric],
                yerr=[[r[metric] - lo], [hi - r[metric]]],
                fmt="o",
                color="tab:green" if r["model"].startswith("Spectral") else "tab:purple",
            )
            short = r["model"].replace("Diffusion map", "diff. map").replace(" neighbours", " nn")
            labels.append(f"{short}, {r['detector_area']:.0%} {r['fluence']}")
        ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=90)
        ax.set_title(f"{metric} (single hit vs rest), {N_LABELLED} labels per class")
    axes[0].set_ylabel("score, 95 % bootstrap interval")
    _common.save_figure(fig, NAME, args)
    return _common.write_result(
        NAME,
        args,
        {
            "structure": _scenarios.STRUCTURE,
            "n_labelled_per_class": N_LABELLED,
            "seeds": seeds,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
