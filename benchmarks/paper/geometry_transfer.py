"""The pretrained embedder on pnCCD frames resampled onto its grid: the accuracy resampling costs.

Issue 16, section 2: the same shipped weights (:func:`skspeckle.pretrained.load_embedder`,
trained on 48 x 48 frames of the SpeckleNN detector at 1.66 keV) classify frames of another
detector through :class:`skspeckle.preprocessing.QGridResampler`. The held-out particles
(those of ``benchmarks/paper/pretrained_offline.py``) are simulated twice with the same
random draws (orientations, aggregates, fluence jitter; only the shot noise differs):

- on the pretrained grid itself (``frame_geometry()``: 1.66 keV), the reference;
- on the 260 x 257 back pnCCD of LCLS AMO (:meth:`Detector.pnccd_back`, 0.3 mm pixels) at
  1.6 keV, resampled onto the grid and the uncovered pixels zeroed by
  ``DetectorMask(nonfinite="mask")``: at 0.13 m, where the pnCCD spans the grid's q range
  (5.3 pnCCD pixels per grid pixel; all but the grid's last column and two corners, 2 %, are
  covered), and at 0.25 m, where it
  covers only the centre of the grid (low q, about a quarter of its pixels) and the rest is
  zero. At the PR772 experiment's 0.586 m the pnCCD reaches |q| = 0.0086 Å^-1, the centre
  5 grid pixels around the beam stop: too little to classify; it is not run.

The diffuse background is the same per steradian on both detectors (the simulator's
``background`` is per pixel, so it is scaled by the pixels' solid angles). Zero training,
2-way single vs multi hit, K = 1 and 5 supports per class drawn ``n_draws`` times from a pool
of 15 per class, 15 queries per class, at the baseline fluence (1e12 photons per pulse) and
10x; means over the particles with 95 % bootstrap intervals over them. Also recorded: the
squared embedding distance between each frame's direct and resampled versions (same
particle, same orientation), beside the mean distance between two direct frames of one class
and particle. Not run (the CPU budget): an embedder trained for the pnCCD geometry, which
needs the 126 training particles simulated on the pnCCD (amplitudes to recompute for its q
range) and a network on 260 x 257 frames (124 M parameters) or binned ones.

Particles: ``--scale quick`` two bundled structures at 1x, 0.13 m only; ``--scale full``
every held-out structure of the shared PDB collection (``--pdb-dir``).

Usage::

    nice -n 10 .venv/bin/python benchmarks/paper/geometry_transfer.py --scale full \\
        --threads 1 --device cpu
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from skspeckle.datasets import make_speckle_patterns
from skspeckle.detector import Detector
from skspeckle.preprocessing import DetectorMask, QGridResampler
from skspeckle.pretrained import embedder_provenance, frame_geometry, load_embedder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
import _scenarios
from pretrained_offline import particles

NAME = "geometry_transfer"
CLASSES = ("single-hit", "multi-hit")
SHOTS = (1, 5)
POOL = 15
PNCCD_KEV = 1.6
BACKGROUND = 0.01  # photons per pixel of the pretrained grid's unbinned detector, at the centre


def _frames(sources, n_per_class, n_photons, seed, detector=None, energy=None):
    """Frames of every particle; ``detector=None`` is the pretrained grid (the simulator's
    defaults). The draws depend on the seed only, so both geometries see the same poses."""
    unbinned = Detector.speckle_nn()
    kwargs = dict(n_per_class=n_per_class, classes=CLASSES, n_photons=n_photons, random_state=seed)
    if detector is not None:
        # The same background per steradian: scale the per-pixel value by the solid angles.
        ratio = (detector.pixel_size / detector.distance) ** 2 / (
            unbinned.pixel_size / unbinned.distance
        ) ** 2
        kwargs.update(
            detector=detector,
            binning=1,
            photon_energy_kev=energy,
            background=BACKGROUND * ratio,
        )
    return make_speckle_patterns(sources, **kwargs)


def main(argv=None):
    def extra(parser):
        parser.add_argument("--pdb-dir", default=str(_common.SHARED_PDB))

    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv, extra=extra)
    started = time.perf_counter()
    quick = args.scale == "quick"
    exponents = (0.0,) if quick else (0.0, 1.0)
    distances = (0.13,) if quick else (0.13, 0.25)
    n_query = 5 if quick else 15
    n_draws = 3 if quick else 10
    sources = particles(args.scale, args.pdb_dir, embedder_provenance())
    embedder = load_embedder(device=args.device)
    target, binning, target_kev = frame_geometry()
    per_particle = {}  # (geometry, exponent, k) -> {particle: accuracy}
    paired = {}  # (geometry, exponent) -> {particle: mean squared distance direct-resampled}
    spread = {}  # exponent -> {particle: mean squared distance between direct frames}
    coverage = {}
    seconds = {}
    for e in exponents:
        n_photons = _scenarios.BASE_PHOTONS * 10.0**e
        t0 = time.perf_counter()
        X, y, g = _frames(sources, POOL + n_query, n_photons, args.seed)
        seconds.setdefault("simulate pretrained grid", 0.0)
        seconds["simulate pretrained grid"] += time.perf_counter() - t0
        embedded = {"direct": embedder.transform(X)}
        for d in distances:
            pnccd = Detector.pnccd_back(d)
            t0 = time.perf_counter()
            X_source, y_source, _ = _frames(
                sources, POOL + n_query, n_photons, args.seed, pnccd, PNCCD_KEV
            )
            t1 = time.perf_counter()
            resampler = QGridResampler(pnccd, source_energy_kev=PNCCD_KEV).fit(X_source[:1])
            X_resampled = DetectorMask(nonfinite="mask").fit_transform(
                resampler.transform(X_source)
            )
            t2 = time.perf_counter()
            assert (y_source == y).all()
            name = f"pnCCD {d:g} m, resampled"
            coverage[name] = resampler.coverage_
            seconds[f"simulate pnCCD {d:g} m"] = seconds.get(f"simulate pnCCD {d:g} m", 0) + t1 - t0
            seconds[f"resample pnCCD {d:g} m"] = seconds.get(f"resample pnCCD {d:g} m", 0) + t2 - t1
            embedded[name] = embedder.transform(X_resampled)
        for p in np.unique(g):
            sel = np.flatnonzero(g == p)
            pool, query = train_test_split(
                sel, train_size=POOL * len(CLASSES), stratify=y[sel], random_state=0
            )
            Z = embedded["direct"][sel]
            same_class = y[sel][:, None] == y[sel][None, :]
            off_diagonal = ~np.eye(len(sel), dtype=bool)
            d2 = ((Z[:, None] - Z[None]) ** 2).sum(-1)
            spread.setdefault(e, {})[p] = float(d2[same_class & off_diagonal].mean())
            for name, Z_all in embedded.items():
                if name != "direct":
                    gap = ((Z_all[sel] - embedded["direct"][sel]) ** 2).sum(-1)
                    paired.setdefault((name, e), {})[p] = float(gap.mean())
                for k in SHOTS:
                    preds = _scenarios.few_shot_predictions(
                        Z_all[pool], y[pool], Z_all[query], k=k, n_draws=n_draws
                    )
                    per_particle.setdefault((name, e, k), {})[p] = float(np.mean(preds == y[query]))
        print(
            f"[{time.perf_counter() - started:6.0f} s] 10^{e:+.1f} x fluence: 5-shot "
            + ", ".join(
                f"{name} {np.mean(list(per_particle[(name, e, 5)].values())):.3f}"
                for name in embedded
            ),
            flush=True,
        )
    rows = []
    for (name, e, k), by_particle in per_particle.items():
        vals = np.array(list(by_particle.values()))
        lo, hi = _common.bootstrap_interval(lambda idx: vals[idx].mean(), len(vals), seed=0)
        # Paired difference to the direct frames: the cost of the resampling, per particle.
        direct = np.array([per_particle[("direct", e, k)][p] for p in by_particle])
        diff = vals - direct
        dlo, dhi = _common.bootstrap_interval(lambda idx: diff[idx].mean(), len(diff), seed=0)
        row = {
            "geometry": name,
            "log10_fluence_factor": e,
            "k": k,
            "n_particles": len(vals),
            "accuracy": vals.mean(),
            "accuracy_ci95": [lo, hi],
            "minus_direct": diff.mean(),
            "minus_direct_ci95": [dlo, dhi],
            "coverage": coverage.get(name, 1.0),
            "per_particle": by_particle,
        }
        if name != "direct":
            row["paired_sq_distance"] = float(np.mean(list(paired[(name, e)].values())))
        row["within_class_sq_distance"] = float(np.mean(list(spread[e].values())))
        rows.append(row)
        print(
            f"{name:24s} 10^{e:+.1f} K={k}: {vals.mean():.3f} [{lo:.3f}, {hi:.3f}]  "
            f"minus direct {diff.mean():+.3f} [{dlo:+.3f}, {dhi:+.3f}]"
        )
    _plot(rows, args)
    results = {
        "rows": rows,
        "particles": sources,
        "target": f"{target!r}, binned {binning} x {binning}",
        "target_energy_kev": target_kev,
        "source_energy_kev": PNCCD_KEV,
        "seconds": seconds,
    }
    _common.write_result(NAME, args, results, started)


def _plot(rows, args):
    fig, ax = _common.figure(figsize=(6.5, 3.6))
    shown = [r for r in rows if r["k"] == 5]
    for i, r in enumerate(shown):
        lo, hi = r["accuracy_ci95"]
        ax.errorbar(
            i,
            r["accuracy"],
            yerr=[[r["accuracy"] - lo], [hi - r["accuracy"]]],
            fmt="o",
            color="tab:blue" if r["geometry"] == "direct" else "tab:orange",
        )
    ax.set_xticks(
        range(len(shown)),
        [
            "{}\n10^{:+.0f} x".format(r["geometry"].replace(", ", "\n"), r["log10_fluence_factor"])
            for r in shown
        ],
        fontsize=7,
    )
    ax.set_ylabel("2-way 5-shot accuracy")
    ax.set_title("Pretrained embedder: direct vs pnCCD frames resampled", fontsize=9)
    _common.save_figure(fig, NAME, args)


if __name__ == "__main__":
    main()
