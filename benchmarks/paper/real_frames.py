"""Train on simulated pnCCD patterns, classify the ten real PR772 frames end to end.

Usage::

    .venv/bin/python benchmarks/paper/real_frames.py --scale full   # the results page
    .venv/bin/python benchmarks/paper/real_frames.py                # quick smoke run

Steps (issue "real detector data in and out", part 2):

1. Simulate single, multi and non-sample hits of 3jb9 at the geometry of the real frames,
   ``Detector.pnccd_back(distance=0.24)`` (the distance that gives 3jb9 the speckle size of
   PR772 at 0.586 m, see its docstring), 1.6 keV, in ADU with the frames' measured gain
   (7.6 ADU/photon) and read noise (1.4 ADU), and ``n_photons`` raised 20x so that a single
   hit holds about as many photons as the real single-looking frames.
2. Fit ``DetectorMask(mask=pnCCD mask, nonfinite="mask") -> PixelBinning(4) -> TripletEmbedder
   -> FewShotCentroidClassifier(k=5)``, save it with :func:`skspeckle.save_model`.
3. Write the real frames (raw: +inf pixels and negative ADU) to a CXI file, run
   :func:`skspeckle.predict_file` on it, and report the predicted class and probabilities of
   every frame. The frames carry no labels: this shows the path works and what a model trained
   on simulation says, not an accuracy.
"""

import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
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
from skspeckle.io import write_cxi

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "real_frames"
SCALES = {
    "quick": {"n_per_class": 8, "max_epochs": 2},
    "full": {"n_per_class": 150, "max_epochs": 40},
}


def main(argv=None):
    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv)
    started = time.perf_counter()
    scale = SCALES[args.scale]
    X_real, mask = load_pr772_frames()
    detector = Detector.pnccd_back(distance=0.24)

    t0 = time.perf_counter()
    X, y, _ = make_speckle_patterns(
        ["3jb9"],
        n_per_class=scale["n_per_class"],
        detector=detector,
        binning=1,
        photon_energy_kev=1.6,
        n_photons=2e13,
        adu_per_photon=PR772_ADU_PER_PHOTON,
        read_noise=PR772_READ_NOISE_ADU,
        random_state=args.seed,
    )
    simulate_s = time.perf_counter() - t0

    pipe = make_pipeline(
        DetectorMask(mask=mask, nonfinite="mask"),
        PixelBinning(4),
        TripletEmbedder(max_epochs=scale["max_epochs"], device=args.device, random_state=args.seed),
        FewShotCentroidClassifier(k=5, random_state=args.seed),
    )
    t0 = time.perf_counter()
    pipe.fit(X, y)
    fit_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        model = save_model(pipe, Path(tmp) / "model.skops")
        run = write_cxi(Path(tmp) / "pr772.cxi", X_real, mask=mask)
        summary = predict_file(load_model(model), run, Path(tmp) / "results.h5", embeddings=True)
        with h5py.File(summary["output_path"], "r") as f:
            group = f[summary["group"]]
            labels = group["predicted_label"].asstr()[()]
            proba = group["probabilities"][()]
            classes = group["classes"].asstr()[()]
            embeddings_finite = bool(np.isfinite(group["embeddings"][()]).all())

    photons = np.where(mask & np.isfinite(X_real), X_real, 0).sum(axis=(1, 2))
    frames = [
        {
            "frame": i,
            "predicted": str(labels[i]),
            "probabilities": dict(zip(map(str, classes), np.round(proba[i], 3).tolist())),
            "photons": round(float(photons[i] / PR772_ADU_PER_PHOTON)),
        }
        for i in range(len(labels))
    ]
    sim_photons = {
        str(c): float(np.median(X[y == c].sum(axis=(1, 2)) / PR772_ADU_PER_PHOTON))
        for c in np.unique(y)
    }
    for row in frames:
        print(
            f"frame {row['frame']}: {row['predicted']:15s} {row['probabilities']} "
            f"({row['photons']:.3g} photons)"
        )
    _common.write_result(
        NAME,
        args,
        {
            "simulation": {
                "structure": "3jb9",
                "detector": repr(detector),
                "n_per_class": scale["n_per_class"],
                "photon_energy_kev": 1.6,
                "n_photons": 2e13,
                "median_photons_per_class": sim_photons,
                "seconds": simulate_s,
            },
            "fit_seconds": fit_s,
            "max_epochs": scale["max_epochs"],
            "predict_file": {k: summary[k] for k in ("n_frames", "seconds", "frames_per_s")},
            "embeddings_finite": embeddings_finite,
            "frames": frames,
        },
        started,
    )


if __name__ == "__main__":
    main()
