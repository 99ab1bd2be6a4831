"""ResNetClassifier: learning and reproducibility."""

import pickle

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from skspeckle.baselines.spi.resnet import ResNetClassifier
from skspeckle.nn.networks.layers import n_parameters


@pytest.fixture(scope="module")
def frames(three_class_patterns):
    X, y, _ = three_class_patterns
    X = X.reshape(len(X), 24, 2, 24, 2).sum(axis=(2, 4))
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def test_learns_three_classes(frames):
    X_train, X_test, y_train, y_test = frames
    clf = ResNetClassifier(
        1, 1, widths=(8, 16, 16), max_epochs=15, batch_size=32, random_state=0, device="cpu"
    ).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.6  # chance: 1/3
    assert clf.predict_proba(X_test).shape == (len(X_test), 3)


def test_depth_follows_n_and_m(frames):
    X_train, _, y_train, _ = frames
    sizes = [
        n_parameters(
            ResNetClassifier(n, m, max_epochs=0, device="cpu").fit(X_train, y_train).module_
        )
        for n, m in [(1, 1), (2, 1), (2, 2)]
    ]
    assert sizes[0] < sizes[1] < sizes[2]


def test_same_seed_same_predictions_and_pickle(frames):
    X_train, X_test, y_train, _ = frames
    kw = dict(widths=(4, 8, 8), max_epochs=2, random_state=3, device="cpu")
    a = ResNetClassifier(1, 1, **kw).fit(X_train, y_train)
    b = ResNetClassifier(1, 1, **kw).fit(X_train, y_train)
    np.testing.assert_array_equal(a.decision_function(X_test), b.decision_function(X_test))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X_test), c.predict_proba(X_test))


def test_bad_widths(frames):
    X_train, _, y_train, _ = frames
    with pytest.raises(ValueError, match="widths must be 3 positive"):
        ResNetClassifier(widths=(4, 8), max_epochs=0).fit(X_train, y_train)
