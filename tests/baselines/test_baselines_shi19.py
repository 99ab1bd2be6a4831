"""Shi19Classifier: learning, binary-target handling, threshold, reproducibility."""

import pickle

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split

from skspeckle.baselines.spi.shi19 import Shi19Classifier

pytestmark = pytest.mark.filterwarnings("ignore:.*validation_fraction=.* cannot hold")


@pytest.fixture(scope="module")
def frames(three_class_patterns):
    X, y, _ = three_class_patterns
    X = X.reshape(len(X), 24, 2, 24, 2).sum(axis=(2, 4))  # 2x2 binning: fast and enough
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def _fit(X, y, **kw):
    params = dict(
        positive_label="single-hit",
        max_epochs=25,
        learning_rate=1e-2,
        batch_size=32,
        random_state=0,
        device="cpu",
    )
    return Shi19Classifier(**{**params, **kw}).fit(X, y)


def test_learns_single_hit_vs_rest(frames):
    X_train, X_test, y_train, y_test = frames
    clf = _fit(X_train, y_train)
    assert clf.classes_.tolist() == ["rest", "single-hit"]
    y_bin = np.where(y_test == "single-hit", "single-hit", "rest")
    assert balanced_accuracy_score(y_bin, clf.predict(X_test)) > 0.7  # chance: 0.5


def test_same_seed_same_predictions_and_pickle(frames):
    X_train, X_test, y_train, _ = frames
    a = _fit(X_train, y_train, max_epochs=2)
    b = _fit(X_train, y_train, max_epochs=2)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.decision_function(X_test), c.decision_function(X_test))


def test_threshold_moves_predict_and_decision_function_together(frames):
    X_train, X_test, y_train, _ = frames
    clf = _fit(X_train, y_train, max_epochs=3)
    proba = clf.predict_proba(X_test)[:, 1]
    for t in (0.2, 0.5, 0.9):
        clf.set_params(threshold=t)
        pred = clf.predict(X_test)
        np.testing.assert_array_equal(pred == "single-hit", proba >= t)
        np.testing.assert_array_equal(clf.decision_function(X_test) > 0, proba > t)


def test_target_errors(frames):
    X_train, _, y_train, _ = frames
    with pytest.raises(ValueError, match="Only binary.*positive_label"):
        Shi19Classifier(max_epochs=1).fit(X_train, y_train)
    with pytest.raises(ValueError, match="positive_label='hit' is not a label"):
        Shi19Classifier("hit", max_epochs=1).fit(X_train, y_train)
    with pytest.raises(ValueError, match="rest_label='multi-hit' is already a label"):
        Shi19Classifier("single-hit", rest_label="multi-hit", max_epochs=1).fit(X_train, y_train)


def test_binary_targets_put_the_positive_label_second(frames):
    X_train, _, y_train, _ = frames
    keep = y_train != "multi-hit"
    clf = Shi19Classifier("non-sample-hit", max_epochs=1, random_state=0, device="cpu")
    clf.fit(X_train[keep], y_train[keep])
    assert clf.classes_.tolist() == ["single-hit", "non-sample-hit"]
    ints = np.where(y_train == "single-hit", 1, 0)
    clf = Shi19Classifier(1, max_epochs=1, random_state=0, device="cpu").fit(X_train, ints)
    assert clf.classes_.tolist() == [0, 1]
    y3 = np.unique(y_train, return_inverse=True)[1]
    clf = Shi19Classifier(2, max_epochs=1, random_state=0, device="cpu").fit(X_train, y3)
    assert clf.classes_.dtype == object and clf.classes_.tolist() == ["rest", 2]


def test_wrong_ndim(frames):
    X_train, _, y_train, _ = frames
    with pytest.raises(ValueError, match="got an array with 4 dimension"):
        _fit(X_train[:, None], y_train)
