"""Spectral clustering labelled from a few frames."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from skspeckle.baselines import SpectralFewShotClassifier

pytestmark = pytest.mark.filterwarnings("ignore:Graph is not fully connected")


@pytest.fixture(scope="module")
def data(three_class_patterns):
    X, y, _ = three_class_patterns
    return X, y


def test_spectral_labels_clusters_from_few_examples(data):
    X, y = data
    rng = np.random.default_rng(0)
    y_partial = np.full(len(y), "unlabeled", dtype=object)
    for label in np.unique(y):
        y_partial[rng.choice(np.flatnonzero(y == label), 3, replace=False)] = label
    clf = SpectralFewShotClassifier(9, unlabeled="unlabeled", random_state=0).fit(X, y_partial)
    assert accuracy_score(y, clf.transduction_) > 0.45  # chance: 1/3
    np.testing.assert_array_equal(clf.predict(X), clf.transduction_)
    assert set(clf.cluster_labels_) <= set(np.unique(y))


def test_spectral_errors(data):
    X, y = data
    with pytest.raises(ValueError, match="every frame is marked unlabeled"):
        SpectralFewShotClassifier().fit(X, np.full(len(y), -1))
    with pytest.raises(ValueError, match="n_samples=5"):
        SpectralFewShotClassifier(8).fit(X[:5], y[:5])
