"""The pretrained embedder on large particles: frames read at |q| / s (QGridResampler q_scale).

The shipped weights score near chance on never-seen particles with a radius of gyration above
60 Å (``pretrained_offline.py``): their speckle is finer than the 2 x 2-binned grid samples.
Scale similarity of the form factor says that a particle s times larger, read at ``|q| / s``,
looks like the smaller one; this benchmark measures what that buys. The never-seen particles
of ``pretrained_offline.py`` (its provenance's ``held_out_structures``) are simulated on the
260 x 257 back pnCCD (:meth:`Detector.pnccd_back` at 0.13 m, 0.3 mm pixels, 1.6 keV: 2.7 of its
pixels per unbinned grid pixel), the frames of ``geometry_transfer.py``, and mapped onto the
pretrained grid by ``QGridResampler(interpolation="area")`` with, for each particle:

- ``s = 1``: the same |q| (``geometry_transfer.py``'s mapping, with area reads);
- ``s = q_scale_for(Rg)``: :func:`skspeckle.pretrained.q_scale_for` of the particle's radius
  of gyration (``load_structure(...).radius_of_gyration``, the model's electron-weighted Rg:
  what a user knows of the sample), ``max(1, Rg / 30.2 Å)``, 30.2 Å the training median;
- ``s by leave-one-out`` (5-shot only): no size needed; of ``CANDIDATES`` the scale whose
  embeddings classify the K supports per class best by leave-one-out (each support against
  the others, as ``FewShotCentroidClassifier(k=None)``), ties to the smaller scale: what
  ``GridSearchCV(pipe, {"qgridresampler__q_scale": CANDIDATES}, cv=LeaveOneOut())`` picks.

Protocol as ``pretrained_offline.py``: 2-way single vs multi hit, K = 1 and 5 supports per
class drawn 10 times from a pool of 15 per class of the particle at the same fluence, 15
queries per class, full detector and ``DetectorMask(0.25)``, 10^-0.5, 1, 10 and 100 x the
baseline pulse (1e12 photons at 1.66 keV; the pnCCD frames at 1.6 keV); ``--seeds`` repeat the
simulation, each particle's score is its mean over the seeds, 95 % bootstrap intervals over
the particles.

Usage::

    .venv/bin/python benchmarks/paper/pretrained_q_scale.py --scale full --threads 1 \
        --device cpu --seeds 0 1 2
"""

import itertools
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from skspeckle.datasets import load_structure, make_speckle_patterns
from skspeckle.detector import Detector
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.preprocessing import DetectorMask, QGridResampler
from skspeckle.pretrained import embedder_provenance, load_embedder, q_scale_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios
import pretrained_offline

NAME = "pretrained_q_scale"
# The protocol of pretrained_offline.py.
CLASSES, SHOTS, POOL, AREAS = (
    pretrained_offline.CLASSES,
    pretrained_offline.SHOTS,
    pretrained_offline.POOL,
    pretrained_offline.AREAS,
)
DISTANCE = 0.13
SOURCE_KEV = 1.6
CANDIDATES = (1.0, 1.5, 2.0, 2.5, 3.0)


def _loo_accuracy(Z, y):
    """Leave-one-out accuracy among the supports ``Z``: each support against the others, by
    the mean squared distance of ``FewShotCentroidClassifier(k=None)`` (vectorised: the
    classifier has no leave-one-out distances to the other classes)."""
    d = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    own = y[:, None] == y[None, :]
    n_own = own.sum(1) - 1  # without the support itself (d = 0 on the diagonal)
    to_own = (d * own).sum(1) / n_own
    to_other = (d * ~own).sum(1) / (~own).sum(1)
    return float(np.mean(to_own < to_other))


def _draws(y_pool, k, n_draws):
    """Support indices into the pool, ``n_draws`` draws of ``k`` per class."""
    out = []
    for d in range(n_draws):
        rng = np.random.default_rng(d)
        out.append(
            np.concatenate(
                [rng.choice(np.flatnonzero(y_pool == c), k, replace=False) for c in CLASSES]
            )
        )
    return out


def main(argv=None):
    def extra(parser):
        parser.add_argument("--pdb-dir", default=str(_common.SHARED_PDB))
        parser.add_argument(
            "--seeds", type=int, nargs="+", default=None, help="simulation seeds (default: --seed)"
        )

    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv, extra=extra)
    started = time.perf_counter()
    quick = args.scale == "quick"
    exponents = (0.0,) if quick else (-0.5, 0.0, 1.0, 2.0)
    n_query = 5 if quick else 15
    n_draws = 3 if quick else 10
    seeds = args.seeds or [args.seed]
    provenance = embedder_provenance()
    embedder = load_embedder(device=args.device)
    sources = pretrained_offline.particles(args.scale, args.pdb_dir, provenance)
    # The simulator's groups are the entry ids (file names without their extensions).
    rg = {Path(s).name.split(".")[0]: load_structure(s).radius_of_gyration for s in sources}
    pnccd = Detector.pnccd_back(DISTANCE)
    resamplers = {}

    def resampled(X, scale, area):
        if scale not in resamplers:
            resamplers[scale] = QGridResampler(
                pnccd, source_energy_kev=SOURCE_KEV, q_scale=scale, interpolation="area"
            ).fit(X[:1])
        return DetectorMask(area, nonfinite="mask").fit_transform(resamplers[scale].transform(X))

    per_particle = {}  # (method, area, exponent, k) -> {particle: [accuracy per seed]}
    chosen = {}  # (area, exponent) -> {particle: [leave-one-out scale per draw and seed]}
    for seed, e in itertools.product(seeds, exponents):
        X, y, g = make_speckle_patterns(
            sources,
            n_per_class=POOL + n_query,
            classes=CLASSES,
            detector=pnccd,
            binning=1,
            photon_energy_kev=SOURCE_KEV,
            n_photons=_scenarios.BASE_PHOTONS * 10.0**e,
            random_state=seed,
        )
        for area, p in itertools.product(AREAS, rg):
            sel = np.flatnonzero(g == p)
            pool, query = train_test_split(
                sel, train_size=POOL * len(CLASSES), stratify=y[sel], random_state=seed
            )
            rule = q_scale_for(rg[p])
            Z = {s: embedder.transform(resampled(X[sel], s, area)) for s in {*CANDIDATES, rule}}
            where = {i: j for j, i in enumerate(sel)}
            ip, iq = [where[i] for i in pool], [where[i] for i in query]
            for k in SHOTS:
                scores = {"s = 1": [], "s = q_scale_for(Rg)": [], "s by leave-one-out": []}
                for sup in _draws(y[pool], k, n_draws):
                    sup_i = [ip[i] for i in sup]
                    y_sup = y[pool][sup]

                    def accuracy(s):
                        pred = (
                            FewShotCentroidClassifier(k=None)
                            .fit(Z[s][sup_i], y_sup)
                            .predict(Z[s][iq])
                        )
                        return float(np.mean(pred == y[query]))

                    scores["s = 1"].append(accuracy(1.0))
                    scores["s = q_scale_for(Rg)"].append(accuracy(rule))
                    if k > 1:
                        loo = [_loo_accuracy(Z[s][sup_i], y_sup) for s in CANDIDATES]
                        best = CANDIDATES[int(np.argmax(loo))]  # first maximum: smaller s
                        scores["s by leave-one-out"].append(accuracy(best))
                        chosen.setdefault((area, e), {}).setdefault(p, []).append(best)
                for method, values in scores.items():
                    if values:
                        per_particle.setdefault((method, area, e, k), {}).setdefault(p, []).append(
                            float(np.mean(values))
                        )
        line = {m: per_particle[(m, 1.0, e, 5)] for m in ("s = 1", "s = q_scale_for(Rg)")}
        print(
            f"[{time.perf_counter() - started:6.0f} s] seed {seed}, 10^{e:+.1f} x fluence, 5-shot: "
            + ", ".join(f"{m} {np.mean([v[-1] for v in d.values()]):.3f}" for m, d in line.items()),
            flush=True,
        )
    rows = []
    for (method, area, e, k), by_particle in per_particle.items():
        per_seed = np.array(list(by_particle.values()))  # (n_particles, n_seeds)
        vals = per_seed.mean(axis=1)
        lo, hi = _common.bootstrap_interval(lambda idx: vals[idx].mean(), len(vals), seed=0)
        large = [v for p, v in zip(by_particle, vals) if rg[p] >= 60]
        rows.append(
            {
                "method": method,
                "detector_area": area,
                "log10_fluence_factor": e,
                "k": k,
                "n_particles": len(vals),
                "accuracy": vals.mean(),
                "accuracy_ci95": [lo, hi],
                "accuracy_rg_at_least_60": float(np.mean(large)) if large else None,
                "accuracy_rg_below_60": float(
                    np.mean([v for p, v in zip(by_particle, vals) if rg[p] < 60])
                ),
                "seeds": seeds,
                "accuracy_per_seed": per_seed.mean(axis=0).tolist(),
                "per_particle": {p: float(np.mean(v)) for p, v in by_particle.items()},
            }
        )
        print(
            f"{method:20s} area {area:4.0%} 10^{e:+.1f} K={k}: {vals.mean():.3f} "
            f"[{lo:.3f}, {hi:.3f}]"
        )
    _common.write_result(
        NAME,
        args,
        {
            "rows": rows,
            "particles": sources,
            "radius_of_gyration_angstrom": rg,
            "q_scale_for": {p: q_scale_for(v) for p, v in rg.items()},
            "leave_one_out_choices": {
                f"area {a:g}, 10^{e:+.1f}": {
                    p: np.bincount(
                        [CANDIDATES.index(s) for s in v], minlength=len(CANDIDATES)
                    ).tolist()
                    for p, v in by_p.items()
                }
                for (a, e), by_p in chosen.items()
            },
            "candidates": list(CANDIDATES),
            "source": f"Detector.pnccd_back({DISTANCE}) at {SOURCE_KEV} keV, binning 1",
            "interpolation": "area",
        },
        started,
    )


if __name__ == "__main__":
    main()
