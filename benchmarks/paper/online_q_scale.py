"""The online scenario from detector frames read at |q| / s: pretrained start against scratch.

Table I's online scenario (``_scenarios``: 3jb9, three classes, 60 labelled patterns per class
of which a third validate, 5-shot, 25 % of the detector visible through ``DetectorMask(0.25)``)
with the frames recorded on the 260 x 257 back pnCCD (:meth:`Detector.pnccd_back` at 0.13 m,
1.6 keV, 1e12 photons per pulse, unbinned) instead of the binned 48 x 48 grid, and brought onto
the pretrained grid by ``QGridResampler(interpolation="area")`` at a momentum-transfer scale s:

- s = 1: the grid's own |q| range (what Table I's frames show, sampled from the pnCCD);
- s = ``q_scale_for(Rg)``: 3.04 for 3jb9 (Rg 92 Å), which shows its frames at the training
  particles' median size (:func:`skspeckle.pretrained.q_scale_for`); and s = 2, a
  sensitivity check.

For each s: the embedder trained from scratch (Table I's, ``normalize="log1p"``), the pretrained
weights fine-tuned (``init_from=WEIGHTS``, their ``normalize="standardize"``, otherwise as Table
I's: rotation augmentation, 60 epochs at most, a third of the labels validating), and the
pretrained weights with no training. And s chosen from the labels alone: for each trained
start and seed, the s whose embedder reached the lowest validation triplet loss (the third of
the labelled frames that ``TripletEmbedder`` holds out for early stopping), among 1, 2 and
``q_scale_for(Rg)``. Scores as Table I (``_scenarios.scores``): single hit vs
rest accuracy and F1, 3-way accuracy, 10 support draws per model, ``--n-seeds`` seeds of data,
split and training, 95 % bootstrap intervals over the 1035 test patterns.

Usage::

    .venv/bin/python benchmarks/paper/online_q_scale.py --scale full --threads 1 --device cpu
"""

import sys
import time
from pathlib import Path

import numpy as np

from skspeckle.datasets import load_structure, make_speckle_patterns
from skspeckle.detector import Detector
from skspeckle.preprocessing import DetectorMask, QGridResampler
from skspeckle.pretrained import WEIGHTS, load_embedder, q_scale_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios

NAME = "online_q_scale"
AREA = 0.25
DISTANCE = 0.13
SOURCE_KEV = 1.6
#: Start -> TripletEmbedder overrides (None: the pretrained weights, no training).
STARTS = {
    "scratch": {},
    "pretrained, fine-tuned": {"init_from": str(WEIGHTS), "normalize": "standardize"},
    "pretrained, no training": None,
}


def _data(n_test, seed):
    """Labelled (60 per class) and test frames of the pnCCD, as ``_scenarios.online_data``."""
    n = _scenarios.N_LABELLED + n_test
    X, y, _ = make_speckle_patterns(
        [_scenarios.STRUCTURE],
        n_per_class=n,
        classes=_scenarios.CLASSES,
        detector=Detector.pnccd_back(DISTANCE),
        binning=1,
        photon_energy_kev=SOURCE_KEV,
        n_photons=_scenarios.BASE_PHOTONS,
        random_state=seed,
    )
    lab = np.zeros(len(y), dtype=bool)
    rng = np.random.default_rng(seed)
    for c in _scenarios.CLASSES:
        lab[rng.choice(np.flatnonzero(y == c), _scenarios.N_LABELLED, replace=False)] = True
    return X, y, lab


def main(argv=None):
    def extra(parser):
        parser.add_argument("--n-seeds", type=int, default=None, help="default 1 quick, 3 full")

    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv, extra=extra)
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_test = 15 if quick else 345
    max_epochs = 2 if quick else 60
    n_draws = 2 if quick else 10
    seeds = [args.seed + i for i in range(args.n_seeds or (1 if quick else 3))]
    rule = q_scale_for(load_structure(_scenarios.STRUCTURE).radius_of_gyration)
    scales = (1.0, 2.0, rule)
    pnccd = Detector.pnccd_back(DISTANCE)
    preds, epochs, y_test = {}, {}, None
    val_loss = {}  # (start, seed) -> {s: best validation loss}
    per_seed = {}  # (start, seed) -> {s: predictions}
    chosen = {}  # start -> [s chosen per seed]
    for seed in seeds:
        X, y, lab = _data(n_test, seed)
        # Class blocks of n_test each: the same test labels, in the same order, every seed.
        assert y_test is None or np.array_equal(y_test, y[~lab])
        y_test = y[~lab]
        for s in scales:
            resampler = QGridResampler(
                pnccd, source_energy_kev=SOURCE_KEV, q_scale=s, interpolation="area"
            )
            V = DetectorMask(AREA, nonfinite="mask").fit_transform(resampler.fit_transform(X))
            for start, overrides in STARTS.items():
                if overrides is None:
                    emb = load_embedder(device=args.device)
                else:
                    emb = _scenarios.speckle_embedder(
                        max_epochs, args.device, seed, **overrides
                    ).fit(V[lab], y[lab])
                    epochs.setdefault((start, s), []).append(emb.n_iter_)
                    val_loss.setdefault((start, seed), {})[s] = min(
                        h["val_loss"] for h in emb.history_
                    )
                Z = emb.transform(V)
                p = _scenarios.few_shot_predictions(Z[lab], y[lab], Z[~lab], k=5, n_draws=n_draws)
                preds.setdefault((start, s), []).extend(p)
                per_seed.setdefault((start, seed), {})[s] = p
                print(
                    f"[{time.perf_counter() - started:6.0f} s] seed {seed}, s = {s:.2f}, {start}",
                    flush=True,
                )
    for (start, seed), losses in val_loss.items():
        best = min(losses, key=losses.get)
        chosen.setdefault(start, []).append(best)
        preds.setdefault((start, "by validation loss"), []).extend(per_seed[start, seed][best])
    rows = []
    for (start, s), p in preds.items():
        sc = _scenarios.scores(y_test, np.array(p), seed=args.seed)
        rows.append(
            {
                "start": start,
                "q_scale": chosen[start] if isinstance(s, str) else s,
                "q_scale_rule": s
                if isinstance(s, str)
                else ("q_scale_for(Rg)" if s == rule else f"{s:g}"),
                **sc,
                "epochs_mean": float(np.mean(epochs[start, s])) if (start, s) in epochs else None,
            }
        )
        label = s if isinstance(s, str) else f"{s:4.2f}"
        print(
            f"{start:24s} s = {label}: acc {sc['accuracy']:.3f} [{sc['accuracy_ci95'][0]:.3f}, "
            f"{sc['accuracy_ci95'][1]:.3f}]  3-way {sc['accuracy_nway']:.3f} "
            f"[{sc['accuracy_nway_ci95'][0]:.3f}, {sc['accuracy_nway_ci95'][1]:.3f}]",
            flush=True,
        )
    return _common.write_result(
        NAME,
        args,
        {
            "structure": _scenarios.STRUCTURE,
            "source": f"Detector.pnccd_back({DISTANCE}) at {SOURCE_KEV} keV, binning 1",
            "n_photons": _scenarios.BASE_PHOTONS,
            "detector_area": AREA,
            "labels_per_class": _scenarios.N_LABELLED,
            "max_epochs": max_epochs,
            "train_seeds": seeds,
            "support_draws": n_draws,
            "q_scales": list(scales),
            "best_validation_loss": {
                f"{start}, seed {seed}": {f"{s:g}": v for s, v in losses.items()}
                for (start, seed), losses in val_loss.items()
            },
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
