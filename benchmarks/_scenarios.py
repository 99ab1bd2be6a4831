"""The SpeckleNN online scenario shared by the Table I and ablation benchmarks.

Online scenario (SpeckleNN Sec. IV.B): one particle, three classes (single / multi /
non-sample hit), 40 labelled training and 20 validation patterns per class, augmentation,
N-way 5-shot classification of held-out patterns, with 100 % or 25 % of the detector visible.
The paper used real PR772 frames; here they are simulated from one bundled structure.
"""

import _common
import numpy as np

from skspeckle.augmentation import RandomRotation
from skspeckle.datasets import make_speckle_patterns
from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier

CLASSES = ("single-hit", "multi-hit", "non-sample-hit")
POSITIVE = "single-hit"
N_LABELLED = 60  # per class: 40 for training + 20 for validation, as in the paper
STRUCTURE = "3jb9"  # the largest bundled particle (the demo's online particle)
#: Mean photons per single-hit pattern of the PR772 data of the paper's online experiment
#: (Sec. IV.A.1, Fig. 5).
PR772_PHOTONS_PER_HIT = 1.5e7
BASE_PHOTONS = 1e12  # photons per pulse of the paper's simulations (the simulator's default)


def photons_per_pulse(fluence, structure=STRUCTURE, seed=0):
    """Photons per pulse for a fluence setting.

    ``"simulation"``: 1e12 photons per pulse, the paper's simulated setup (a few thousand
    photons per single hit for the bundled particles). ``"pr772"``: scaled so that the mean
    single hit of ``structure`` carries 1.5e7 photons, like the real PR772 frames of the
    paper's online experiment (measured on a 32-pattern pilot simulation).
    """
    if fluence == "simulation":
        return BASE_PHOTONS
    if fluence != "pr772":
        raise ValueError(f"fluence must be 'simulation' or 'pr772'; got {fluence!r}.")
    X, _, _ = make_speckle_patterns(
        [structure],
        n_per_class=32,
        classes=("single-hit",),
        fluence_jitter=0.0,
        background=0.0,
        random_state=seed,
    )
    return BASE_PHOTONS * PR772_PHOTONS_PER_HIT / float(X.sum(axis=(1, 2)).mean())


def online_data(n_test_per_class, n_photons, seed, structure=STRUCTURE):
    """Labelled pool (60 per class) and held-out test patterns of one particle.

    Returns
    -------
    X_lab, y_lab, X_test, y_test : ndarrays
        Frames (n, 48, 48) float32 photons and string labels.
    n_particles_test : ndarray of int of shape (n_test,)
        Particles in each test pattern (1 for single hits, 2-4 for multi hits, 0 for
        non-sample hits).
    """
    n = N_LABELLED + n_test_per_class
    X, y, _, n_particles = make_speckle_patterns(
        [structure],
        n_per_class=n,
        classes=CLASSES,
        n_photons=n_photons,
        random_state=seed,
        return_n_particles=True,
    )
    lab = np.zeros(len(y), dtype=bool)
    rng = np.random.default_rng(seed)
    for c in CLASSES:
        lab[rng.choice(np.flatnonzero(y == c), N_LABELLED, replace=False)] = True
    return X[lab], y[lab], X[~lab], y[~lab], n_particles[~lab]


def extra_labelled(n_per_class, n_photons, seed, structure=STRUCTURE):
    """More labelled patterns of the same particle, independent of :func:`online_data`'s.

    Simulated with the seed ``seed + 1000`` (another random stream), so none of them is a
    test pattern; for measuring how the score grows with the labelled set.
    """
    X, y, _ = make_speckle_patterns(
        [structure],
        n_per_class=n_per_class,
        classes=CLASSES,
        n_photons=n_photons,
        random_state=seed + 1000,
    )
    return X, y


def single_rate_by_n_particles(predictions, n_particles):
    """Fraction of the test patterns called single hit, per number of particles in them.

    ``predictions`` is (n_runs, n_test); the keys are "0" (non-sample hits), "1" (single
    hits: this is their recall), "2" to "4" (multi hits: their rate of false single calls).
    It shows which multi hits are taken for single ones.
    """
    called = np.atleast_2d(predictions) == POSITIVE
    n_particles = np.asarray(n_particles)
    return {str(int(k)): float(called[:, n_particles == k].mean()) for k in np.unique(n_particles)}


def speckle_embedder(max_epochs, device, seed, **overrides):
    """The online embedder of the demo: rotation augmentation, 40 / 20 split per class."""
    params = dict(
        augment=RandomRotation(),
        max_epochs=max_epochs,
        validation_fraction=1 / 3,
        n_iter_no_change=20,
        device=device,
        random_state=seed,
    )
    params.update(overrides)
    return TripletEmbedder(**params)


def few_shot_predictions(Z_pool, y_pool, Z_test, *, k=5, n_draws=10, aggregation="mean"):
    """Predictions of ``n_draws`` random draws of the K supports, shape (n_draws, n_test).

    Which K frames a scientist labels moves the accuracy by several points, so the scores
    below average over draws (as the demo does).
    """
    return np.stack(
        [
            FewShotCentroidClassifier(k=k, aggregation=aggregation, random_state=d)
            .fit(Z_pool, y_pool)
            .predict(Z_test)
            for d in range(n_draws)
        ]
    )


def scores(y_test, predictions, seed=0, n_boot=1000):
    """Table I metrics with 95 % bootstrap intervals over the test patterns.

    ``predictions`` is (n_runs, n_test): one row per support draw (and training seed). The
    metrics of single hit vs rest (the paper's binary accuracy and F1, single hit the
    positive class) and the N-way accuracy are averaged over the rows; the interval
    resamples the test patterns (all rows together), so it reflects the size of the test
    set; ``*_sd`` is the spread over the rows.
    """
    predictions = np.atleast_2d(predictions)
    truth = np.asarray(y_test) == POSITIVE
    pred = predictions == POSITIVE
    correct_nway = predictions == np.asarray(y_test)[None, :]

    def per_run(idx):
        t, p = truth[idx][None, :], pred[:, idx]
        tp = np.sum(t & p, axis=1)
        wrong = np.sum(t != p, axis=1)  # FP + FN
        f1 = np.where(2 * tp + wrong > 0, 2 * tp / np.maximum(2 * tp + wrong, 1), 0.0)
        return np.stack([np.mean(t == p, axis=1), f1, correct_nway[:, idx].mean(axis=1)])

    runs = per_run(np.arange(len(truth)))
    lo, hi = _common.bootstrap_interval(
        lambda idx: per_run(idx).mean(axis=1), len(truth), n_boot=n_boot, seed=seed
    )
    out = {"n_test": int(len(truth)), "n_runs": int(len(predictions))}
    for i, key in enumerate(("accuracy", "f1", "accuracy_nway")):
        out[key] = float(runs[i].mean())
        out[f"{key}_sd"] = float(runs[i].std())
        out[f"{key}_ci95"] = [float(lo[i]), float(hi[i])]
    return out
