"""Total-intensity and peak-count hit finders, and the peak finder."""

import pickle

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from skspeckle.baselines import (
    PeakCountClassifier,
    TotalIntensityClassifier,
    count_peaks,
    find_peaks,
)
from skspeckle.simulation.sfx import make_sfx_frames

pytestmark = pytest.mark.filterwarnings("ignore:X is 2-D with .* not a square image")


def test_find_peaks_hand_built_frame():
    frame = np.full((40, 40), 2.0)  # flat background: sigma 0, min_value=1 decides
    frame[30:, :8] = 2.5  # a step in the background, far from the spots: no peak
    frame[10, 10] = frame[10, 11] = 40.0  # a two-pixel spot: centroid (10, 10.5)
    frame[25:28, 30:33] = 20.0  # a 3x3 spot with a brighter centre
    frame[26, 31] = 60.0
    frame[5, 35] = 100.0  # a hot pixel: one pixel, rejected by min_pixels=2
    peaks = find_peaks(frame)
    np.testing.assert_allclose(peaks, [[10.0, 10.5], [26.0, 31.0]], atol=1e-9)
    assert len(find_peaks(frame, min_pixels=1)) == 3
    mask = np.ones(frame.shape, dtype=bool)
    mask[9:12, 9:13] = False
    np.testing.assert_allclose(find_peaks(frame, mask=mask), [[26.0, 31.0]], atol=1e-9)
    assert find_peaks(np.zeros((10, 10))).shape == (0, 2)


def test_count_peaks_matches_find_peaks():
    X, _ = make_sfx_frames(12, random_state=0)
    counts = count_peaks(X)
    assert counts.tolist() == [len(find_peaks(x)) for x in X]


def test_peak_finder_errors():
    with pytest.raises(ValueError, match="2-D"):
        find_peaks(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="odd"):
        find_peaks(np.zeros((5, 5)), background_size=4)
    with pytest.raises(ValueError, match="mask has shape"):
        find_peaks(np.zeros((5, 5)), mask=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="stack"):
        count_peaks(np.zeros((5, 5)))


def test_fitted_thresholds_are_optimal_on_separable_scores():
    X = np.zeros((9, 4, 4), dtype=np.float32)
    totals = np.array([1, 2, 3, 10, 11, 12, 30, 31, 32], dtype=np.float32)
    X[:, 0, 0] = totals
    y = np.array(["miss"] * 3 + ["maybe"] * 3 + ["hit"] * 3)
    clf = TotalIntensityClassifier().fit(X, y)
    np.testing.assert_allclose(clf.thresholds_, [6.5, 21.0])
    assert (clf.predict(X) == y).all()
    assert list(clf.classes_[clf.order_]) == ["miss", "maybe", "hit"]
    binary = TotalIntensityClassifier().fit(X[3:], y[3:])  # hit vs maybe
    d = binary.decision_function(X[3:])
    assert ((d > 0) == (binary.predict(X[3:]) == binary.classes_[1])).all()


@pytest.fixture(scope="module")
def sfx_task():
    kw = dict(dataset="cxi-cspad")
    return make_sfx_frames(150, random_state=0, **kw), make_sfx_frames(150, random_state=1, **kw)


@pytest.mark.parametrize(
    "clf, minimum",
    [
        (TotalIntensityClassifier(), 0.45),
        (PeakCountClassifier(), 0.7),
        (PeakCountClassifier(thresholds=(4, 10)), 0.6),
    ],
)
def test_learns_better_than_chance(sfx_task, clf, minimum):
    (X, y), (Xt, yt) = sfx_task
    clf.fit(X, y)
    assert balanced_accuracy_score(yt, clf.predict(Xt)) > minimum  # chance is 1/3
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict(Xt), clf.predict(Xt))


def test_nonfinite_pixels_are_ignored(sfx_task):
    (X, y), _ = sfx_task
    clf = PeakCountClassifier().fit(X, y)
    Xn = X[:5].copy()
    Xn[:, 0, 0] = np.nan
    assert not hasattr(clf, "decision_function")  # three classes: no single margin
    np.testing.assert_array_equal(clf.predict(Xn), clf.predict(X[:5]))


def test_bad_thresholds():
    X, y = make_sfx_frames(30, random_state=0)
    with pytest.raises(ValueError, match="need 2"):
        PeakCountClassifier(thresholds=(4,)).fit(X, y)
    with pytest.raises(ValueError, match="ascending"):
        PeakCountClassifier(thresholds=(10, 4)).fit(X, y)
