"""Simulated against real pnCCD frames: the domain gap, and what models trained on simulation say.

Usage::

    .venv/bin/python benchmarks/paper/real_frames.py --scale full --threads 1   # the docs
    .venv/bin/python benchmarks/paper/real_frames.py                            # smoke run

Two simulated training sets at the geometry of the ten bundled PR772 frames
(docs/simulation_to_detector.md explains each step):

- ``3jb9``: the bundled PDB entry 3jb9 (Rg 91.8 Å, 24 nm) at
  ``Detector.pnccd_back(distance=0.24)``, the distance that gives it PR772's speckle size in
  pixels (the ``Detector.pnccd_back`` docstring); the set this benchmark used before;
- ``icosahedron``: a homogeneous protein icosahedron of PR772's size,
  ``icosahedral_particle(580.0)`` (equivalent-sphere diameter 58 nm, measured from the real
  frames' fringes; 68 nm vertex to vertex), at the real distance, 0.586 m, so that its q per
  pixel is the real frames'.

Both at 1.6 keV in ADU with the frames' gain (7.6 ADU/photon) and read noise (1.4 ADU), with
``n_photons`` matched so that the median simulated single hit holds as many photons as the
median real frame. Then:

1. The domain gap, real (photons = ADU / gain; the detector mask, the parasitic-scattering
   artefacts and the +inf pixels left out) against each simulated class: photons per pixel
   (fraction of pixels at or above k photons) and per frame, the radial profile (azimuthal
   mean vs |q| in Å^-1 about the beam centre, :func:`skspeckle.diagnostics.radial_profile`)
   with its first minima, and the speckle contrast beta from photon statistics
   (:func:`skspeckle.diagnostics.speckle_contrast`). JSON and a four-panel PNG.
2. For each set, ``DetectorMask(mask=pnCCD mask, nonfinite="mask") -> PixelBinning(4) ->
   TripletEmbedder -> FewShotCentroidClassifier(k=5)``, saved with :func:`skspeckle.save_model`,
   run with :func:`skspeckle.predict_file` on a CXI file of the ten raw frames (+inf pixels,
   negative ADU). The frames carry no labels: the predictions are what a model trained on
   simulation says, not an accuracy.
"""

import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from scipy.signal import argrelmin
from sklearn.pipeline import make_pipeline

from skspeckle import (
    DetectorMask,
    FewShotCentroidClassifier,
    PixelBinning,
    TripletEmbedder,
    load_model,
    predict_file,
    save_model,
)
from skspeckle.datasets import (
    PR772_ADU_PER_PHOTON,
    PR772_READ_NOISE_ADU,
    load_pr772_frames,
    make_speckle_patterns,
)
from skspeckle.detector import Detector
from skspeckle.diagnostics import radial_profile, speckle_contrast
from skspeckle.io import write_cxi
from skspeckle.simulation import icosahedral_particle

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "real_frames"
SCALES = {
    "quick": {"n_per_class": 8, "n_calibration": 8, "max_epochs": 2},
    "full": {"n_per_class": 150, "n_calibration": 64, "max_epochs": 40},
}
ENERGY_KEV = 1.6
#: By eye (shared data README), frames 3 and 4 look like multi-particle hits: an impression,
#: not a label, used only to draw and summarise them apart.
LOOK_MULTI = (3, 4)
#: Photons per pixel at or above which the per-pixel fractions are reported.
PIXEL_LEVELS = (1, 2, 5, 10, 100, 1000)
#: Shells of the radial profile: one real-geometry pixel of |q| wide (6.6e-5 Å^-1), out to the
#: corner of the detector at 0.24 m (0.029 Å^-1; 0.012 at 0.586 m).
PROFILE_EDGES = np.arange(0.0, 0.0295, 6.6e-5)
#: Shells of the speckle contrast: 30-150 pixels from the beam at 0.586 m, 8 pixels wide;
#: inside 30 the beam stop and the central speckle, outside 150 the corners.
CONTRAST_EDGES = np.linspace(0.00198, 0.00990, 11)
#: The contrast is summarised where the real single-looking frames hold >= 0.3 photons per
#: pixel (30-60 pixels from the beam): farther out, noise and stray light dominate it.
CONTRAST_SUMMARY = (0.00198, 0.00396)


def _simulate(structure, detector, n_per_class, n_photons, seed, classes=None):
    kwargs = {} if classes is None else {"classes": classes}
    return make_speckle_patterns(
        [structure],
        n_per_class=n_per_class,
        detector=detector,
        binning=1,
        photon_energy_kev=ENERGY_KEV,
        n_photons=n_photons,
        adu_per_photon=PR772_ADU_PER_PHOTON,
        read_noise=PR772_READ_NOISE_ADU,
        random_state=seed,
        **kwargs,
    )[:2]


def _matched_n_photons(structure, detector, target, good, n, seed, reference=1e12):
    """Pulse energy at which the median simulated single hit holds ``target`` photons on the
    ``good`` pixels (those counted in the real frames)."""
    X, _ = _simulate(structure, detector, n, reference, seed, classes=("single-hit",))
    return reference * target / np.median(X[:, good].sum(axis=1) / PR772_ADU_PER_PHOTON)


def _first_minima(q, profile, n=3, q_min=0.0012):
    """|q| of the first ``n`` local minima of a profile (3-shell running mean, beyond q_min)."""
    smooth = np.convolve(np.nan_to_num(profile), np.ones(3) / 3, mode="same")
    minima = argrelmin(smooth, order=4)[0]
    return q[minima[q[minima] > q_min][:n]].tolist()


def _pixels_from_beam(q, detector):
    """Radius in pixels at which |q| (Å^-1) falls on ``detector`` at 1.6 keV."""
    lam = 12.398419843320026 / ENERGY_KEV
    two_theta = 2 * np.arcsin(np.asarray(q) * lam / 2)
    return np.round(detector.distance * np.tan(two_theta) / detector.pixel_size, 1).tolist()


def _describe(photons, good, detector):
    """The domain-gap numbers of a set of frames in photons, ``good`` the pixels compared."""
    on = photons[:, good]
    on = np.where(np.isfinite(on), on, np.nan)
    totals = np.nansum(on, axis=1)
    levels = {
        f">={k}": float(np.nanmean(on >= k - 0.5)) for k in PIXEL_LEVELS
    }  # k photons: ADU / gain rounds to k
    q, profile, _ = radial_profile(
        photons, detector, ENERGY_KEV, bins=PROFILE_EDGES, mask=good, nonfinite="mask"
    )
    qc, beta, mean = speckle_contrast(
        photons,
        detector,
        ENERGY_KEV,
        bins=CONTRAST_EDGES,
        mask=good,
        nonfinite="mask",
        read_noise=PR772_READ_NOISE_ADU / PR772_ADU_PER_PHOTON,
    )
    summary = (qc >= CONTRAST_SUMMARY[0]) & (qc <= CONTRAST_SUMMARY[1])
    median_profile = np.nanmedian(profile, axis=0)
    minima = _first_minima(q, median_profile)
    return {
        "n_frames": len(photons),
        "photons_per_frame": {
            "median": float(np.median(totals)),
            "q10": float(np.percentile(totals, 10)),
            "q90": float(np.percentile(totals, 90)),
        },
        "pixel_fraction_at_least": levels,
        "max_photons_per_pixel_median": float(np.median(np.nanmax(on, axis=1))),
        "radial_profile_minima_q": minima,
        "radial_profile_minima_pixels": _pixels_from_beam(minima, detector),
        "speckle_contrast_q": qc.tolist(),
        "speckle_contrast_median": np.nanmedian(beta, axis=0).tolist(),
        "shell_mean_photons_median": np.nanmedian(mean, axis=0).tolist(),
        "speckle_contrast_30_60px": float(np.nanmedian(np.nanmean(beta[:, summary], axis=1))),
        "_curves": {
            "q": q,
            "profile": median_profile,
            "totals": totals,
            "beta": beta,
            "pixels": on[np.isfinite(on)],
        },
    }


def _predict(pipe, X_real, mask, tmp, tag):
    model = save_model(pipe, Path(tmp) / f"{tag}.skops")
    run = Path(tmp) / "pr772.cxi"
    if not run.exists():
        write_cxi(run, X_real, mask=mask)
    summary = predict_file(load_model(model), run, Path(tmp) / f"{tag}.h5", embeddings=True)
    with h5py.File(summary["output_path"], "r") as f:
        group = f[summary["group"]]
        labels = group["predicted_label"].asstr()[()]
        proba = group["probabilities"][()]
        classes = group["classes"].asstr()[()]
        finite = bool(np.isfinite(group["embeddings"][()]).all())
    rows = [
        {
            "frame": i,
            "predicted": str(labels[i]),
            "probabilities": dict(zip(map(str, classes), np.round(proba[i], 3).tolist())),
        }
        for i in range(len(labels))
    ]
    return rows, {k: summary[k] for k in ("n_frames", "seconds", "frames_per_s")}, finite


def _figure(real, sims, args):
    fig, axes = _common.figure(2, 2, figsize=(12, 9))
    (ax_pix, ax_tot), (ax_rad, ax_beta) = axes
    styles = {"real": ("k", "-"), "3jb9": ("tab:blue", "-"), "icosahedron": ("tab:orange", "-")}
    k = np.logspace(0, 4, 41)
    curves = [
        ("real, 8 single-looking", real["single-looking"], "k", "-"),
        ("real, frames 3 and 4", real["look-multi"], "grey", "--"),
    ]
    for name, per_class in sims.items():
        color = styles[name][0]
        curves.append((f"{name} single hit", per_class["single-hit"], color, "-"))
        curves.append((f"{name} multi hit", per_class["multi-hit"], color, "--"))
    for label, d, color, ls in curves:
        pixels = d["_curves"]["pixels"]
        ax_pix.loglog(k, [(pixels >= x - 0.5).mean() for x in k], color=color, ls=ls, label=label)
    ax_pix.set(
        xlabel="photons per pixel, k",
        ylabel="fraction of good pixels with >= k photons",
        title="(a) photons per pixel",
    )
    ax_pix.legend(fontsize=8)

    rows = [("real (frames 3, 4: look multi)", real["all"]["_curves"]["totals"], "k")]
    for name, per_class in sims.items():
        for c, d in per_class.items():
            rows.append((f"{name} {c}", d["_curves"]["totals"], styles[name][0]))
    for i, (_, totals, color) in enumerate(rows):
        if i == 0:
            look = np.isin(np.arange(len(totals)), LOOK_MULTI)
            ax_tot.scatter(totals[~look], np.full((~look).sum(), i), color=color, marker="o")
            ax_tot.scatter(totals[look], np.full(look.sum(), i), color=color, marker="x", s=60)
        else:
            ax_tot.boxplot(
                totals,
                positions=[i],
                orientation="horizontal",
                widths=0.6,
                whis=(5, 95),
                flierprops={"markersize": 2},
                medianprops={"color": color},
            )
    ax_tot.set_xscale("log")
    ax_tot.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax_tot.invert_yaxis()
    ax_tot.set(xlabel="photons per frame", title="(b) photons per frame (box: 5-95 %)")

    lines = [
        ("real, 8 single-looking (median)", real["single-looking"], "k", "-"),
        ("real, frames 3 and 4 (median)", real["look-multi"], "grey", "--"),
    ]
    for name, per_class in sims.items():
        lines.append((f"{name} single hit (median)", per_class["single-hit"], styles[name][0], "-"))
        lines.append((f"{name} multi hit (median)", per_class["multi-hit"], styles[name][0], "--"))
    for label, d, color, ls in lines:
        ax_rad.semilogy(
            d["_curves"]["q"] * 1e3, d["_curves"]["profile"], color=color, ls=ls, label=label, lw=1
        )
    ax_rad.set(
        xlabel="|q| (1e-3 Å^-1)",
        ylabel="mean photons per pixel",
        title="(c) radial profile (3jb9 at 0.24 m, the others at 0.586 m)",
        xlim=(0, 12.2),
    )
    ax_rad.legend(fontsize=8)

    for label, d, color, ls in lines:
        beta = d["_curves"]["beta"]
        ax_beta.plot(
            np.asarray(d["speckle_contrast_q"]) * 1e3,
            np.nanmedian(beta, axis=0),
            color=color,
            ls=ls,
            marker="o",
            ms=3,
            label=label,
        )
    ax_beta.axhline(1, color="grey", lw=0.5)
    ax_beta.axhline(0, color="grey", lw=0.5)
    ax_beta.axvspan(CONTRAST_SUMMARY[0] * 1e3, CONTRAST_SUMMARY[1] * 1e3, color="0.9")
    ax_beta.set(
        xlabel="|q| (1e-3 Å^-1)",
        ylabel="beta (median over frames)",
        title="(d) speckle contrast from photon statistics (lines as in c)",
    )
    ax_beta.set_ylim(-0.5, 3)
    fig.tight_layout()
    _common.save_figure(fig, NAME, args)


def _public(d):
    return {k: v for k, v in d.items() if not k.startswith("_")}


def main(argv=None):
    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv)
    started = time.perf_counter()
    scale = SCALES[args.scale]
    X_real, mask, artifacts = load_pr772_frames(return_artifacts=True)
    real_geometry = Detector.pnccd_back()
    photons_real = X_real / PR772_ADU_PER_PHOTON
    good = mask & ~artifacts  # the pixels compared, for real and simulated frames alike
    target = float(
        np.median(np.where(good & np.isfinite(photons_real), photons_real, 0).sum(axis=(1, 2)))
    )
    single_looking = np.setdiff1d(np.arange(len(X_real)), LOOK_MULTI)
    real = {
        "all": _describe(photons_real, good, real_geometry),
        "single-looking": _describe(photons_real[single_looking], good, real_geometry),
        "look-multi": _describe(photons_real[list(LOOK_MULTI)], good, real_geometry),
    }
    sets = {
        "3jb9": ("3jb9", Detector.pnccd_back(distance=0.24)),
        "icosahedron": (icosahedral_particle(580.0), real_geometry),
    }
    sims, simulation, predictions, timing = {}, {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (structure, detector) in sets.items():
            t0 = time.perf_counter()
            n_photons = _matched_n_photons(
                structure, detector, target, good, scale["n_calibration"], args.seed + 1
            )
            X, y = _simulate(structure, detector, scale["n_per_class"], n_photons, args.seed)
            simulate_s = time.perf_counter() - t0
            photons = X / PR772_ADU_PER_PHOTON
            sims[name] = {c: _describe(photons[y == c], good, detector) for c in np.unique(y)}
            simulation[name] = {
                "structure": structure if isinstance(structure, str) else repr(structure),
                "detector": repr(detector),
                "n_per_class": scale["n_per_class"],
                "n_photons": float(n_photons),
                "seconds": simulate_s,
            }
            pipe = make_pipeline(
                DetectorMask(mask=mask, nonfinite="mask"),
                PixelBinning(4),
                TripletEmbedder(
                    max_epochs=scale["max_epochs"], device=args.device, random_state=args.seed
                ),
                FewShotCentroidClassifier(k=5, random_state=args.seed),
            )
            t0 = time.perf_counter()
            pipe.fit(X, y)
            fit_s = time.perf_counter() - t0
            rows, predict, finite = _predict(pipe, X_real, mask, tmp, name)
            predictions[name] = rows
            timing[name] = {
                "fit_seconds": fit_s,
                "predict_file": predict,
                "embeddings_finite": finite,
            }

    totals = real["all"]["_curves"]["totals"]
    frames = [
        {
            "frame": i,
            "photons": round(float(totals[i])),
            **{
                name: {
                    "predicted": predictions[name][i]["predicted"],
                    "probabilities": predictions[name][i]["probabilities"],
                }
                for name in predictions
            },
        }
        for i in range(len(X_real))
    ]
    for row in frames:
        print(
            f"frame {row['frame']} ({row['photons']:.3g} photons): "
            + ", ".join(f"{n} -> {row[n]['predicted']}" for n in predictions)
        )
    _figure(real, sims, args)
    _common.write_result(
        NAME,
        args,
        {
            "photon_energy_kev": ENERGY_KEV,
            "adu_per_photon": PR772_ADU_PER_PHOTON,
            "read_noise_adu": PR772_READ_NOISE_ADU,
            "matched_photons_per_single_hit": target,
            "compared_pixels": int(good.sum()),
            "simulation": simulation,
            "max_epochs": scale["max_epochs"],
            "models": timing,
            "domain_gap": {
                "real": {k: _public(v) for k, v in real.items()},
                **{
                    name: {c: _public(d) for c, d in per_class.items()}
                    for name, per_class in sims.items()
                },
            },
            "frames": frames,
        },
        started,
    )


if __name__ == "__main__":
    main()
