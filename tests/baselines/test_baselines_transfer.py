"""Transfer learning through init_from / freeze on the CNN classifiers."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV

from skspeckle.baselines.spi.resnet import ResNetClassifier
from skspeckle.baselines.spi.shi19 import Shi19Classifier

pytestmark = pytest.mark.filterwarnings("ignore:.*validation_fraction=.* cannot hold")

KW = dict(widths=(4, 8, 8), batch_size=32, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def data(three_class_patterns):
    X, y, _ = three_class_patterns
    X = X.reshape(len(X), 24, 2, 24, 2).sum(axis=(2, 4))
    return X, y


@pytest.fixture(scope="module")
def source(data):
    X, y = data
    return ResNetClassifier(1, 1, max_epochs=3, **KW).fit(X, y)


def _features(est):
    return est.module_.network.features.state_dict()


def _same(a, b):
    return {k: torch.equal(a[k], b[k]) for k in a}


def test_frozen_base_stays_bit_identical_and_head_trains(data, source):
    X, y = data
    keep = y != "multi-hit"  # a new task with 2 classes: the head is rebuilt
    tuned = ResNetClassifier(1, 1, max_epochs=2, init_from=source, freeze="features", **KW).fit(
        X[keep], y[keep]
    )
    assert all(_same(_features(source), _features(tuned)).values())
    assert tuned.module_.network.head[2].weight.shape[0] == 2


def test_partial_unfreezing_changes_only_the_tail(data, source):
    X, y = data
    tuned = ResNetClassifier(
        1,
        1,
        max_epochs=2,
        init_from=source,
        freeze=2,
        random_state=1,
        **{k: v for k, v in KW.items() if k != "random_state"},
    ).fit(X, y)
    same = _same(_features(source), _features(tuned))
    assert same["0.weight"] and same["3.conv1.weight"]  # stem and first block frozen
    assert not same["4.conv1.weight"] and not same["4.conv2.weight"]  # last two convs train
    unfrozen = ResNetClassifier(1, 1, max_epochs=2, init_from=source, **KW).fit(X, y)
    assert not _same(_features(source), _features(unfrozen))["0.weight"]


def test_init_from_a_weights_file(tmp_path, data, source):
    X, y = data
    path = tmp_path / "resnet.pt"
    torch.save(source.module_.network.state_dict(), path)
    tuned = ResNetClassifier(1, 1, max_epochs=0, init_from=str(path), **KW).fit(X, y)
    np.testing.assert_array_equal(tuned.predict_proba(X), source.predict_proba(X))


def test_incompatible_source_lists_the_mismatches(data, source):
    X, y = data
    with pytest.raises(ValueError, match="shape mismatch: features.0.weight"):
        ResNetClassifier(1, 1, max_epochs=0, init_from=source, **{**KW, "widths": (2, 8, 8)}).fit(
            X, y
        )
    with pytest.raises(ValueError, match="missing from the source"):
        Shi19Classifier("single-hit", max_epochs=0, init_from=source).fit(X, y)


def test_clone_and_grid_search_need_a_frozen_estimator(data, source):
    X, y = data
    est = ResNetClassifier(1, 1, max_epochs=1, init_from=source, freeze="features", **KW)
    with pytest.raises(ValueError, match="not fitted.*FrozenEstimator"):
        clone(est).fit(X, y)
    est.set_params(init_from=FrozenEstimator(source))
    search = GridSearchCV(est, {"learning_rate": [1e-3, 1e-2]}, cv=2).fit(X, y)
    assert all(_same(_features(source), _features(search.best_estimator_)).values())
