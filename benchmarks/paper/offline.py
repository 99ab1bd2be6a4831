"""SpeckleNN Figs. 6 and 7: offline scenario, unseen particles, fluence and particle size.

The embedder is trained on single and multi hits of many particles (groups = structure, so
anchor and positive share the particle) at the baseline fluence of 1e12 photons per pulse,
with rotation augmentation. It then classifies patterns of particles it has never seen
(``GroupShuffleSplit`` by structure) 2-way (single vs multi hit) K-shot, K = 1, 5, 20, with
the supports drawn from a labelled pool of the new particle recorded at the same fluence,
for fluences 10^-2 .. 10^2 x the baseline in steps of 10^0.5 (SpeckleNN Sec. IV.A.2-3).

- Fig. 6 (``offline_fluence.png``): accuracy and F1 (single hit positive) against fluence,
  one line per K, means over the unseen particles with 95 % bootstrap intervals over them.
  Paper at 1x: accuracy 0.843 / 0.891 / 0.896 and F1 0.820 / 0.874 / 0.879 for K = 1 / 5 / 20,
  converging at about 4x.
- Fig. 7 (``offline_size.png``): per-particle 20-shot accuracy and F1 against the number of
  atoms at 1x and 100x, and the atom counts of the training particles.

Particles: at ``--scale quick`` the 7 bundled structures (2 held out); at ``--scale full`` the
entries of 1e4 to 1e5 atoms of the shared PDB collection (``../shared/data/pdb/MANIFEST.tsv``,
52 entries; the paper: 100 for training, 345 for testing), half held out. The patterns of one
particle at different fluences share their orientations (same seed), so only the photon
count changes along a line.

Three embedders are trained on the same patterns and compared; they differ only in the
input scaling (``TripletEmbedder(normalize=...)``): ``"log1p"`` (the estimator's default,
which keeps the absolute photon count), ``"standardize"`` (each frame standardised to zero
mean and unit variance, as the SpeckleNN reference implementation does before its network, so
a change of fluence changes only the shot noise) and ``"log1p-standardize"`` (both; the
logarithm makes the standardised frame depend on the fluence again, since log(1 + c x) is not
an affine function of log(1 + x)).

Usage::

    .venv/bin/python benchmarks/paper/offline.py --scale full [--device cuda]
"""

import csv
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from skspeckle.augmentation import RandomRotation
from skspeckle.datasets import list_structures, load_structure, make_speckle_patterns
from skspeckle.embedding import TripletEmbedder

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios

NAME = "offline"
CLASSES = ("single-hit", "multi-hit")
SHOTS = (1, 5, 20)
POOL = 30  # labelled patterns per class of each unseen particle that supports are drawn from
#: Input scalings compared (see the module docstring).
NORMALIZE = ("log1p", "standardize", "log1p-standardize")
PAPER_1X = {"accuracy": {1: 0.843, 5: 0.891, 20: 0.896}, "f1": {1: 0.820, 5: 0.874, 20: 0.879}}


def particles(scale):
    """(source, n_atoms) of the particles: bundled ids (quick) or shared PDB files (full)."""
    if scale == "quick":
        return [(s["id"], s["n_atoms"]) for s in list_structures()]
    manifest = _common.SHARED_PDB / "MANIFEST.tsv"
    if not manifest.exists():
        raise FileNotFoundError(
            f"{manifest} not found: --scale full reads the shared PDB collection; run from a "
            "checkout next to ../shared/data, or use --scale quick (bundled structures)."
        )
    with open(manifest, newline="") as f:
        rows = [
            r for r in csv.DictReader(f, delimiter="\t") if 1e4 <= int(r["n_atoms_model1"]) <= 1e5
        ]
    out = []
    for r in rows:
        path = str(_common.SHARED_PDB / r["file"])
        out.append((path, load_structure(path).n_atoms))  # atoms as simulated (no waters, H)
    return out


def binary_scores(y_true, y_pred):
    t, p = y_true == "single-hit", y_pred == "single-hit"
    tp, wrong = np.sum(t & p), np.sum(t != p)
    return np.mean(t == p), (2 * tp / (2 * tp + wrong) if 2 * tp + wrong else 0.0)


def main(argv=None):
    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv)
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_train = 15 if quick else 100  # patterns per class per training particle
    n_query = 10 if quick else 100  # query patterns per class per unseen particle
    exponents = (-1.0, 0.0, 2.0) if quick else tuple(np.arange(-2, 2.01, 0.5))
    n_draws = 3 if quick else 10
    max_epochs = 2 if quick else 40

    parts = particles(args.scale)
    sources = np.array([p[0] for p in parts], dtype=object)
    ids = np.array([load_structure(s).id for s in sources])
    atoms = dict(zip(ids, (p[1] for p in parts)))
    split = GroupShuffleSplit(n_splits=1, test_size=2 if quick else 0.5, random_state=args.seed)
    train_i, test_i = next(split.split(sources, groups=ids))
    print(f"{len(train_i)} training particles, {len(test_i)} unseen test particles", flush=True)

    X, y, groups = make_speckle_patterns(
        list(sources[train_i]), n_per_class=n_train, classes=CLASSES, random_state=args.seed
    )
    embedders = {}
    for norm in NORMALIZE:
        t0 = time.perf_counter()
        embedders[norm] = TripletEmbedder(
            augment=RandomRotation(),
            normalize=norm,
            max_epochs=max_epochs,
            n_iter_no_change=10,
            device=args.device,
            random_state=args.seed,
        ).fit(X, y, groups=groups)
        print(
            f"[{time.perf_counter() - started:6.0f} s] {norm}: trained on {len(y)} "
            f"patterns, {embedders[norm].n_iter_} epochs, {time.perf_counter() - t0:.0f} s",
            flush=True,
        )

    # per_particle[(normalize, exponent, k)][particle] = (accuracy, f1), means over the
    # support draws
    per_particle = {}
    test_seed = args.seed + 1
    for e in exponents:
        Xt, yt, gt = make_speckle_patterns(
            list(sources[test_i]),
            n_per_class=POOL + n_query,
            classes=CLASSES,
            n_photons=_scenarios.BASE_PHOTONS * 10.0**e,
            random_state=test_seed,
        )
        # Each unseen particle's labelled pool and queries, shared by the embedders.
        splits = {}
        for g in np.unique(gt):
            sel = np.flatnonzero(gt == g)
            rng = np.random.default_rng(test_seed)
            pool = np.concatenate(
                [rng.choice(sel[yt[sel] == c], POOL, replace=False) for c in CLASSES]
            )
            splits[g] = pool, np.setdiff1d(sel, pool)
        for norm, embedder in embedders.items():
            Z = embedder.transform(Xt)
            for g, (pool, query) in splits.items():
                for k in SHOTS:
                    preds = _scenarios.few_shot_predictions(
                        Z[pool], yt[pool], Z[query], k=k, n_draws=n_draws
                    )
                    per_particle.setdefault((norm, e, k), {})[g] = np.mean(
                        [binary_scores(yt[query], p) for p in preds], axis=0
                    )
        scores = (
            f"{norm} {np.mean([v[0] for v in per_particle[norm, e, 5].values()]):.3f}"
            for norm in NORMALIZE
        )
        print(
            f"[{time.perf_counter() - started:6.0f} s] fluence 10^{e:+.1f}: 5-shot accuracy "
            + ", ".join(scores),
            flush=True,
        )

    rows = []
    for (norm, e, k), by_particle in per_particle.items():
        vals = np.array(list(by_particle.values()))  # (n_particles, 2)
        lo, hi = _common.bootstrap_interval(
            lambda idx: vals[idx].mean(axis=0), len(vals), seed=args.seed
        )
        rows.append(
            {
                "normalize": norm,
                "fluence_factor": 10.0**e,
                "log10_fluence_factor": e,
                "k": k,
                "n_particles": len(vals),
                "accuracy": vals[:, 0].mean(),
                "accuracy_ci95": [lo[0], hi[0]],
                "f1": vals[:, 1].mean(),
                "f1_ci95": [lo[1], hi[1]],
                "per_particle": {
                    g: {"n_atoms": atoms[g], "accuracy": v[0], "f1": v[1]}
                    for g, v in by_particle.items()
                },
            }
        )

    fig, axes = _common.figure(
        len(NORMALIZE),
        2,
        figsize=(9, 3.2 * len(NORMALIZE)),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for (norm, metric), ax in zip(itertools.product(NORMALIZE, ("accuracy", "f1")), axes.flat):
        for k in SHOTS:
            sel = sorted(
                (r for r in rows if r["k"] == k and r["normalize"] == norm),
                key=lambda r: r["fluence_factor"],
            )
            x = [r["fluence_factor"] for r in sel]
            ax.plot(x, [r[metric] for r in sel], "o-", label=f"{k}-shot")
            ax.fill_between(
                x,
                [r[f"{metric}_ci95"][0] for r in sel],
                [r[f"{metric}_ci95"][1] for r in sel],
                alpha=0.2,
            )
            ax.plot(1.0, PAPER_1X[metric][k], "k_", markersize=12)
        ax.set_xscale("log")
        ax.set_title(f"2-way K-shot {metric}, {norm} (black: paper at 1x)", fontsize=8)
        ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("fluence / baseline (1e12 photons per pulse)")
    _common.save_figure(fig, f"{NAME}_fluence", args)

    fig, axes = _common.figure(1, 3, figsize=(12, 3.4))
    axes[0].hist([atoms[g] for g in ids[train_i]], bins=20)
    axes[0].set_xlabel("atoms")
    axes[0].set_title("training particles")
    for col, (ax, metric) in enumerate(zip(axes[1:], ("accuracy", "f1"))):
        for norm, (e, marker) in itertools.product(NORMALIZE, ((0.0, "o"), (2.0, "s"))):
            color = f"C{NORMALIZE.index(norm)}"
            pp = per_particle[norm, e, 20]
            # the default scaling filled, the others hollow
            ax.scatter(
                [atoms[g] for g in pp],
                [v[col] for v in pp.values()],
                marker=marker,
                facecolors=color if norm == NORMALIZE[0] else "none",
                edgecolors=color,
                label=f"{10**e:g}x fluence, {norm}",
            )
        ax.set_xscale("log")
        ax.set_xlabel("atoms of the unseen particle")
        ax.set_title(f"2-way 20-shot {metric}")
        ax.legend(fontsize=6)
    _common.save_figure(fig, f"{NAME}_size", args)
    return _common.write_result(
        NAME,
        args,
        {
            "train_particles": list(ids[train_i]),
            "test_particles": list(ids[test_i]),
            "n_train_per_class": n_train,
            "pool_per_class": POOL,
            "n_query_per_class": n_query,
            "support_draws": n_draws,
            "epochs": {norm: emb.n_iter_ for norm, emb in embedders.items()},
            "paper_1x": PAPER_1X,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
