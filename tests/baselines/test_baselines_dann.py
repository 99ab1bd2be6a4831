"""DANNClassifier: domain-adversarial training with unlabelled target frames."""

import pickle

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skspeckle.baselines.spi.dann import DANNClassifier
from skspeckle.baselines.spi.resnet import ResNetClassifier

KW = dict(domain_hidden_units=8, batch_size=32, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def domains(three_class_patterns):
    X, y, _ = three_class_patterns
    X = X.reshape(len(X), 24, 2, 24, 2).sum(axis=(2, 4))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    src, tgt = order[:60], order[60:]
    # The target domain: 3x the fluence, as between two runs of a beamline.
    return X[src], y[src], 3 * X[tgt], y[tgt]


def _dann(**kw):
    return DANNClassifier(ResNetClassifier(1, 1, widths=(8, 16, 16)), **{**KW, **kw})


def test_adapts_to_target_and_records_domain_metrics(domains):
    X, y, X_t, y_t = domains
    dann = _dann(max_epochs=12, n_iter_no_change=None).fit(X, y, X_target=X_t)
    assert dann.score(X_t, y_t) > 0.5  # chance: 1/3
    lambdas = [h["lambda"] for h in dann.history_]
    assert lambdas == sorted(lambdas) and lambdas[-1] > 0.99
    assert 0 <= dann.history_[-1]["domain_accuracy"] <= 1
    assert dann.history_[-1]["n_samples"] > len(X)  # source and target frames
    assert dann.domain_head_.layers[1].in_features > 0


def test_without_target_trains_a_plain_classifier(domains):
    X, y, _, _ = domains
    dann = _dann(max_epochs=1).fit(X, y)
    assert "domain_loss" not in dann.history_[0]


def test_seed_and_pickle(domains):
    X, y, X_t, _ = domains
    a = _dann(max_epochs=2).fit(X, y, X_target=X_t)
    b = _dann(max_epochs=2).fit(X, y, X_target=X_t)
    np.testing.assert_array_equal(a.predict_proba(X_t), b.predict_proba(X_t))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.decision_function(X_t), c.decision_function(X_t))


def test_x_target_shape_errors(domains):
    X, y, X_t, _ = domains
    with pytest.raises(
        ValueError, match=r"X_target must be unlabelled frames like X.*\(n_target, 24, 24\)"
    ):
        _dann(max_epochs=1).fit(X, y, X_target=X_t[:, :12])
    with pytest.raises(ValueError, match="X_target must be unlabelled frames"):
        _dann(max_epochs=1).fit(X, y, X_target=X_t[0])


def test_pipeline_passes_x_target(domains):
    X, y, X_t, _ = domains
    pipe = make_pipeline(FunctionTransformer(), _dann(max_epochs=1))
    pipe.fit(X, y, dannclassifier__X_target=X_t)
    assert "domain_loss" in pipe[-1].history_[0]
