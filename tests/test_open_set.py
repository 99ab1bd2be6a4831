"""Open-set rejection: skspeckle.open_set and FewShotCentroidClassifier's rejection rules."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skspeckle import FewShotCentroidClassifier, TripletEmbedder
from skspeckle.open_set import (
    calibrate_threshold,
    distance_ratio,
    leave_one_out_distances,
    reject,
)

AGGREGATIONS = ("mean", "centroid", "min")


def _blobs(n=40, d=4, seed=0, labels=("a", "b", "c")):
    rng = np.random.default_rng(seed)
    centres = 6.0 * np.eye(len(labels), d)
    X = np.concatenate([rng.normal(size=(n, d)) + c for c in centres])
    return X, np.repeat(np.array(labels), n)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_leave_one_out_matches_brute_force(aggregation):
    rng = np.random.default_rng(1)
    supports = rng.normal(size=(9, 3))
    starts = np.array([0, 4])
    got = leave_one_out_distances(supports, starts, aggregation)
    expected = []
    for start, end in ((0, 4), (4, 9)):
        for i in range(start, end):
            others = np.delete(supports[start:end], i - start, axis=0)
            d = np.sum((others - supports[i]) ** 2, axis=1)
            expected.append(
                {
                    "mean": d.mean(),
                    "min": d.min(),
                    "centroid": np.sum((others.mean(axis=0) - supports[i]) ** 2),
                }[aggregation]
            )
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_leave_one_out_needs_two_supports_per_class():
    with pytest.raises(ValueError, match="at least 2 supports per class"):
        leave_one_out_distances(np.zeros((3, 2)), np.array([0, 2]))
    X, y = _blobs()
    clf = FewShotCentroidClassifier(k=1, rejection_rate=0.1, random_state=0)
    with pytest.raises(ValueError, match="at least 2 supports per class"):
        clf.fit(X, y)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("rate", [0.05, 0.2])
def test_calibration_hits_the_rate_on_the_supports(aggregation, rate):
    X, y = _blobs(n=40)
    clf = FewShotCentroidClassifier(k=None, aggregation=aggregation, rejection_rate=rate)
    clf.fit(X, y)
    starts = np.array([0, 40, 80])
    loo = leave_one_out_distances(clf.support_, starts, aggregation)
    # The empirical quantile: the fraction above is within one support of the target.
    rejected = np.mean(loo > clf.threshold_)
    assert rate - 1 / len(loo) <= rejected <= rate
    assert calibrate_threshold(loo, rate) == clf.threshold_


def test_held_out_known_frames_are_rejected_at_about_the_rate():
    X, y = _blobs(n=400, seed=2)
    train = np.zeros(len(y), dtype=bool)
    train[np.r_[0:100, 400:500, 800:900]] = True
    clf = FewShotCentroidClassifier(k=None, rejection_rate=0.1).fit(X[train], y[train])
    rate = np.mean(clf.predict(X[~train]) == "unknown")
    # 300 supports; the binomial spread of 900 test frames at p=0.1 is 0.01.
    assert 0.05 < rate < 0.16


def test_far_queries_rejected_near_ones_not():
    X, y = _blobs()
    clf = FewShotCentroidClassifier(k=10, rejection_rate=0.05, random_state=0).fit(X, y)
    centres = np.array([X[y == c].mean(axis=0) for c in clf.classes_])
    far = np.full((3, X.shape[1]), 100.0)
    assert clf.predict(centres).tolist() == clf.classes_.tolist()
    assert clf.predict(far).tolist() == ["unknown"] * 3
    assert clf.predict_proba(far).shape == (3, 3)  # still over the known classes
    assert clf.classes_.tolist() == ["a", "b", "c"]
    assert np.all(clf.novelty_score(far) > clf.threshold_)
    assert np.all(clf.novelty_score(centres) < clf.threshold_)


def test_distance_ratio_rule_rejects_the_ambiguous_midpoint():
    X, y = _blobs(labels=("a", "b"))
    clf = FewShotCentroidClassifier(k=None, max_distance_ratio=0.64).fit(X, y)
    mid = (X[y == "a"].mean(axis=0) + X[y == "b"].mean(axis=0))[None] / 2
    assert clf.predict(mid).tolist() == ["unknown"]
    assert clf.predict(X[y == "a"].mean(axis=0)[None]).tolist() == ["a"]
    d = np.array([[1.0, 2.0], [1.0, 1.1], [50.0, 100.0]])
    np.testing.assert_array_equal(distance_ratio(d), [0.5, 1 / 1.1, 0.5])
    np.testing.assert_array_equal(reject(d, threshold=10.0), [False, False, True])
    np.testing.assert_array_equal(reject(d, max_ratio=0.8), [False, True, False])


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_defaults_unchanged(aggregation):
    X, y = _blobs()
    rng = np.random.default_rng(5)
    queries = np.r_[X, rng.normal(scale=50, size=(20, X.shape[1]))]
    base = FewShotCentroidClassifier(k=5, aggregation=aggregation, random_state=0).fit(X, y)
    assert not hasattr(base, "threshold_")
    assert "unknown" not in base.predict(queries)
    on = FewShotCentroidClassifier(
        k=5, aggregation=aggregation, random_state=0, rejection_rate=0.1
    ).fit(X, y)
    np.testing.assert_array_equal(on.support_, base.support_)
    np.testing.assert_array_equal(on.predict_proba(queries), base.predict_proba(queries))
    kept = on.predict(queries) != "unknown"
    np.testing.assert_array_equal(on.predict(queries)[kept], base.predict(queries)[kept])
    assert not kept.all()


def test_unknown_label_types():
    X, y = _blobs()
    y_int = np.searchsorted(["a", "b", "c"], y)
    with pytest.raises(TypeError, match="unknown_label must be an int"):
        FewShotCentroidClassifier(rejection_rate=0.1).fit(X, y_int)
    with pytest.raises(TypeError, match="unknown_label must be a str"):
        FewShotCentroidClassifier(max_distance_ratio=0.5, unknown_label=-1).fit(X, y)
    with pytest.raises(ValueError, match="one of the classes"):
        FewShotCentroidClassifier(rejection_rate=0.1, unknown_label=1).fit(X, y_int)
    # Off: unknown_label is not used, so any label fits (defaults stay as they were).
    FewShotCentroidClassifier().fit(X, y_int)
    clf = FewShotCentroidClassifier(rejection_rate=0.1, unknown_label=-1, random_state=0)
    y_pred = clf.fit(X, y_int).predict(np.full((1, 4), 100.0))
    assert y_pred.tolist() == [-1] and y_pred.dtype.kind == "i"
    long = "a-much-longer-unknown-label"
    clf = FewShotCentroidClassifier(rejection_rate=0.1, unknown_label=long, random_state=0)
    assert clf.fit(X, y).predict(np.full((1, 4), 100.0)).tolist() == [long]


def test_novelty_score_shape_dtype_and_monotonic():
    X, y = _blobs()
    clf = FewShotCentroidClassifier(k=5, random_state=0).fit(X, y)
    direction = np.ones(X.shape[1]) / 2.0
    queries = X[:1] + np.arange(0, 50, 5)[:, None] * direction
    score = clf.novelty_score(queries)
    assert score.shape == (10,) and score.dtype == np.float64
    assert np.all(np.diff(score[2:]) > 0)  # farther from every class: more novel
    np.testing.assert_allclose(score, (-clf.decision_function(queries)).min(axis=1))


def test_score_counts_unknown_as_wrong():
    X, y = _blobs()
    clf = FewShotCentroidClassifier(k=None, rejection_rate=0.2).fit(X, y)
    pred = clf.predict(X)
    assert clf.score(X, y) == np.mean(pred == y) < 1.0


def test_in_a_pipeline_after_triplet_embedder(three_class_patterns):
    X, y, _ = three_class_patterns
    pipe = make_pipeline(
        TripletEmbedder(n_components=8, max_epochs=1, batch_size=32, device="cpu", random_state=0),
        FewShotCentroidClassifier(k=5, rejection_rate=0.1, random_state=0),
    ).fit(X, y)
    dark = np.zeros((4, *X.shape[1:]), dtype=X.dtype)
    pred = pipe.predict(np.r_[X[:20], dark])
    assert set(pred) <= {*np.unique(y), "unknown"}
    # Pipeline has no novelty_score: the last step scores the embeddings.
    assert pipe[-1].novelty_score(pipe[:-1].transform(X[:5])).shape == (5,)
    assert list(pipe.classes_) == sorted(np.unique(y))
