import numpy as np
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_blobs

from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.utils._sklearn_compat import InvalidParameterError

AGGREGATIONS = ["mean", "centroid", "min"]


def _blobs(n_classes=3, n=40, seed=0):
    X, y = make_blobs(
        n_samples=n * n_classes,
        centers=n_classes,
        cluster_std=0.5,
        center_box=(-10, 10),
        n_features=4,
        random_state=seed,
    )
    return X, np.array(["no hit", "single hit", "multi hit", "non-sample hit"])[y]


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("k", [1, 5, None])
def test_recovers_labels_of_separated_blobs(aggregation, k):
    X, y = _blobs()
    clf = FewShotCentroidClassifier(k=k, aggregation=aggregation, random_state=0).fit(X, y)
    assert clf.score(X, y) == 1.0


def test_k_supports_per_class_drawn_reproducibly():
    X, y = _blobs()
    clf = FewShotCentroidClassifier(k=5, random_state=0).fit(X, y)
    assert clf.support_.shape == (15, 4) and clf.support_.dtype == np.float64
    np.testing.assert_array_equal(clf.support_labels_, np.repeat(clf.classes_, 5))
    # Each support is a training sample of its class.
    for vector, label in zip(clf.support_, clf.support_labels_):
        assert np.any(np.all(X[y == label] == vector, axis=1))
    again = FewShotCentroidClassifier(k=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.support_, again.support_)
    other = FewShotCentroidClassifier(k=5, random_state=1).fit(X, y)
    assert not np.array_equal(clf.support_, other.support_)
    assert FewShotCentroidClassifier(k=None).fit(X, y).support_.shape == X.shape


@pytest.mark.parametrize("n_classes", [2, 3])
def test_output_shapes_and_consistency(n_classes):
    X, y = _blobs(n_classes=n_classes)
    clf = FewShotCentroidClassifier(k=3, random_state=0).fit(X, y)
    scores, proba, pred = clf.decision_function(X), clf.predict_proba(X), clf.predict(X)
    assert proba.shape == (len(X), n_classes) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    if n_classes == 2:
        assert scores.shape == (len(X),)
        np.testing.assert_array_equal(clf.classes_[(scores > 0).astype(int)], pred)
    else:
        assert scores.shape == (len(X), n_classes)
        np.testing.assert_array_equal(clf.classes_[scores.argmax(axis=1)], pred)


def test_predict_proba_is_the_softmax_of_negative_distance_over_temperature():
    X = np.array([[0.0], [1.0], [3.0]])
    y = np.array([0, 0, 1])
    query = np.array([[0.5]])
    d = np.array([(0.25 + 0.25) / 2, 2.5**2])  # mean squared distances to each class
    for temperature in (0.5, 2.0):
        clf = FewShotCentroidClassifier(k=None, temperature=temperature).fit(X, y)
        expected = np.exp(-d / temperature) / np.exp(-d / temperature).sum()
        np.testing.assert_allclose(clf.predict_proba(query)[0], expected)
        np.testing.assert_allclose(clf.decision_function(query), d[0] - d[1])


def test_aggregations_differ_where_they_should():
    query = np.array([[0.0]])
    # Tight class at 2 against a diffuse class centred on the query: the centroid of the
    # diffuse class is nearer (0 < 4), its mean squared distance is not (9 > 4).
    X, y = np.array([[2.0], [2.0], [-3.0], [3.0]]), np.array(["a", "a", "b", "b"])
    predictions = {
        agg: FewShotCentroidClassifier(k=None, aggregation=agg).fit(X, y).predict(query)[0]
        for agg in AGGREGATIONS
    }
    assert predictions == {"mean": "a", "centroid": "b", "min": "a"}
    # One support of "b" very near the query, the other far: only "min" picks "b".
    X = np.array([[1.0], [1.0], [-0.5], [3.5]])
    predictions = {
        agg: FewShotCentroidClassifier(k=None, aggregation=agg).fit(X, y).predict(query)[0]
        for agg in AGGREGATIONS
    }
    assert predictions == {"mean": "a", "centroid": "a", "min": "b"}


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    k=st.sampled_from([None, 1, 3]),
    aggregation=st.sampled_from(AGGREGATIONS),
)
def test_prediction_is_invariant_to_the_order_of_supports(seed, k, aggregation):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(18, 5))
    y = np.repeat([0, 1, 2], 6)
    queries = rng.normal(size=(7, 5))
    perm = rng.permutation(len(X))
    a = FewShotCentroidClassifier(k=k, aggregation=aggregation, random_state=0).fit(X, y)
    b = FewShotCentroidClassifier(k=k, aggregation=aggregation, random_state=0).fit(
        X[perm], y[perm]
    )
    np.testing.assert_array_equal(a.support_, b.support_)
    np.testing.assert_array_equal(a.decision_function(queries), b.decision_function(queries))
    np.testing.assert_array_equal(a.predict(queries), b.predict(queries))


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_distances_are_accurate_far_from_the_origin_and_in_chunks(aggregation):
    # Embeddings far from the origin: the naive |q|^2 + |s|^2 - 2 q.s would lose ~1e-2.
    rng = np.random.default_rng(0)
    X = 1e7 + rng.normal(size=(12, 3))
    y = np.repeat([0, 1, 2], 4)
    queries = 1e7 + rng.normal(size=(50, 3))
    pair = ((queries[:, None] - X[None]) ** 2).sum(axis=2).reshape(50, 3, 4)
    centroids = (X - 1e7).reshape(3, 4, 3).mean(axis=1)
    expected = {
        "mean": pair.mean(axis=2),
        "centroid": (((queries - 1e7)[:, None] - centroids[None]) ** 2).sum(axis=2),
        "min": pair.min(axis=2),
    }[aggregation]
    clf = FewShotCentroidClassifier(k=None, aggregation=aggregation).fit(X, y)
    scores = clf.decision_function(queries)
    np.testing.assert_allclose(-scores, expected, rtol=1e-6)
    with sklearn.config_context(working_memory=1e-4):  # chunks of a few queries
        np.testing.assert_allclose(clf.decision_function(queries), scores, rtol=1e-12)


def test_a_single_class_is_an_error():
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        FewShotCentroidClassifier(k=1).fit(np.ones((4, 2)), np.zeros(4))


def test_k_larger_than_a_class_names_the_class_and_its_count():
    X, y = np.arange(14.0).reshape(7, 2), np.array(["a"] * 5 + ["b"] * 2)
    with pytest.raises(ValueError, match=r"Class 'b' has 2 sample\(s\), fewer than k=5"):
        FewShotCentroidClassifier(k=5).fit(X, y)


def test_unknown_aggregation():
    with pytest.raises(InvalidParameterError, match="aggregation"):
        FewShotCentroidClassifier(aggregation="median").fit(*_blobs())


@pytest.mark.parametrize(
    "X, y",
    [
        (np.empty((0, 3)), np.empty(0)),
        (np.ones((4, 2, 2)), np.array([0, 0, 1, 1])),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), np.array([0, 1])),
    ],
    ids=["empty", "3-D", "nan"],
)
def test_bad_input_at_fit(X, y):
    with pytest.raises(ValueError):
        FewShotCentroidClassifier(k=None).fit(X, y)


def test_feature_mismatch_at_predict():
    clf = FewShotCentroidClassifier(k=2, random_state=0).fit(*_blobs())
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.predict(np.ones((2, 3)))
