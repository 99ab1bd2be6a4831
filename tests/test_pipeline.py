"""The estimators together: the used-by line, grouped search, cross-validation, persistence,
and whether training on simulated patterns actually helps."""

import pickle

import numpy as np
import pytest
import sklearn
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline

from skspeckle import DetectorMask, FewShotCentroidClassifier, RandomRotation, TripletEmbedder
from skspeckle.datasets import make_speckle_patterns
from skspeckle.utils._sklearn_compat import InvalidParameterError

FAST = dict(n_components=16, max_epochs=3, batch_size=32, device="cpu", random_state=0)


def test_used_by_line_verbatim(three_class_patterns):
    X, y, _ = three_class_patterns
    pipe = make_pipeline(DetectorMask(0.25), TripletEmbedder(), FewShotCentroidClassifier(k=5))
    pipe.fit(X, y)
    proba = pipe.predict_proba(X)
    assert set(pipe.predict(X)) <= set(np.unique(y))
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(pipe.classes_) == sorted(np.unique(y))


def test_grid_search_over_margin_and_shots_with_group_kfold(grouped_patterns):
    X, y, groups = grouped_patterns
    pipe = make_pipeline(
        DetectorMask(0.25), TripletEmbedder(**FAST), FewShotCentroidClassifier(k=5, random_state=0)
    )
    grid = {"tripletembedder__margin": [0.2, 1.0], "fewshotcentroidclassifier__k": [1, 5]}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(pipe, grid, cv=GroupKFold(3)).fit(X, y, groups=groups)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_["tripletembedder__margin"] in (0.2, 1.0)
    # Each fold tests on a particle never seen in training.
    for train, test in GroupKFold(3).split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_cross_val_score(three_class_patterns):
    X, y, _ = three_class_patterns
    pipe = make_pipeline(
        DetectorMask(1.0), TripletEmbedder(**FAST), FewShotCentroidClassifier(k=5, random_state=0)
    )
    scores = cross_val_score(pipe, X, y, cv=3, scoring="f1_macro")
    assert scores.shape == (3,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_pickled_pipeline_predicts_identically(three_class_patterns):
    X, y, _ = three_class_patterns
    pipe = make_pipeline(
        DetectorMask(0.25), TripletEmbedder(**FAST), FewShotCentroidClassifier(k=5, random_state=0)
    ).fit(X, y)
    clone = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(clone.predict(X), pipe.predict(X))
    np.testing.assert_array_equal(clone.predict_proba(X), pipe.predict_proba(X))


def test_same_random_state_same_pipeline_output(three_class_patterns):
    X, y, _ = three_class_patterns

    def fitted():
        return make_pipeline(DetectorMask(0.25), TripletEmbedder(**FAST)).fit(X, y)

    np.testing.assert_array_equal(fitted().transform(X), fitted().transform(X))


def test_training_separates_single_from_multi_hits(amplitude_cache):
    """On simulated patterns of one particle, 5-shot accuracy of single vs multi hits with a
    trained embedder beats the untrained (randomly initialised) network by a clear margin."""
    X, y, _ = make_speckle_patterns(
        ["1bxn"],
        n_per_class=80,
        classes=("single-hit", "multi-hit"),
        cache_dir=amplitude_cache,
        random_state=1,
    )
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)

    def accuracy(max_epochs):
        embed = TripletEmbedder(
            n_components=32,
            max_epochs=max_epochs,
            n_iter_no_change=100,
            augment=RandomRotation(random_state=0),
            device="cpu",
            random_state=0,
        ).fit(X_tr, y_tr)
        scores = []
        for seed in range(10):  # average over support draws: 5 shots are a noisy estimate
            clf = FewShotCentroidClassifier(k=5, random_state=seed)
            clf.fit(embed.transform(X_tr), y_tr)
            scores.append(accuracy_score(y_te, clf.predict(embed.transform(X_te))))
        return np.mean(scores)

    untrained, trained = accuracy(0), accuracy(40)
    assert trained >= untrained + 0.1, (untrained, trained)
    assert trained >= 0.85, trained


@pytest.mark.parametrize("visible_fraction", [1.0, 0.25])
def test_few_shot_swap_supports_without_retraining(grouped_patterns, visible_fraction):
    """Offline scenario: the fitted embedding is frozen; a new particle's supports replace the
    old ones and the embedder's weights do not change."""
    from sklearn.frozen import FrozenEstimator

    X, y, groups = grouped_patterns
    new = groups == "1bxn"
    embed = make_pipeline(DetectorMask(visible_fraction), TripletEmbedder(**FAST))
    embed.fit(X[~new], y[~new], tripletembedder__groups=groups[~new])
    before = [p.detach().clone() for p in embed[-1].module_.parameters()]
    pipe = make_pipeline(FrozenEstimator(embed), FewShotCentroidClassifier(k=5, random_state=0))
    pipe.fit(X[new], y[new])
    after = list(embed[-1].module_.parameters())
    assert all(np.array_equal(a.numpy(), b.detach().numpy()) for a, b in zip(before, after))
    assert pipe.predict(X[new]).shape == (new.sum(),)


class _Trained(Exception):
    """Raised by the stubbed training: the embedder got as far as training."""


def _stub_training(monkeypatch):
    calls = []

    def train(self, *args, **kwargs):
        calls.append(type(self).__name__)
        raise _Trained

    monkeypatch.setattr(TripletEmbedder, "_fit_network", train)
    return calls


def test_k_above_the_smallest_class_fails_before_the_embedder_trains(
    three_class_patterns, monkeypatch
):
    X, y, _ = three_class_patterns  # 30 frames per class
    trained = _stub_training(monkeypatch)
    pipe = make_pipeline(DetectorMask(0.25), TripletEmbedder(), FewShotCentroidClassifier(k=50))
    message = (
        r"Class '.+' has 30 sample\(s\), fewer than k=50 of the pipeline's last step "
        r"'fewshotcentroidclassifier', checked before TripletEmbedder trains .*Lower k "
        r"\(fewshotcentroidclassifier__k\), pass k=None"
    )
    with pytest.raises(ValueError, match=message):
        pipe.fit(X, y)
    assert trained == []
    # A nested pipeline names the parameter as set_params spells it; a bad k fails early too.
    nested = Pipeline(
        [
            ("embed", make_pipeline(DetectorMask(0.25), TripletEmbedder())),
            ("clf", FewShotCentroidClassifier(k=31)),
        ]
    )
    with pytest.raises(ValueError, match=r"fewer than k=31 of the pipeline's last step 'clf'"):
        nested.fit(X, y)
    with pytest.raises(InvalidParameterError, match="'k' parameter"):
        nested.set_params(clf__k=0).fit(X, y)
    # In a search, each fold's classes are checked (20 training frames per class here).
    search = GridSearchCV(pipe, {"fewshotcentroidclassifier__k": [25]}, cv=3, error_score="raise")
    with pytest.raises(ValueError, match=r"has 20 sample\(s\), fewer than k=25"):
        search.fit(X, y)
    assert trained == []
    # k within every class passes the check: training starts.
    with pytest.raises(_Trained):
        pipe.set_params(fewshotcentroidclassifier__k=30).fit(X, y)
    with pytest.raises(_Trained):
        nested.set_params(clf__k=None).fit(X, y)
    assert trained == ["TripletEmbedder", "TripletEmbedder"]
