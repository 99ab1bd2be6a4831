"""Learning from the unlabelled frames of a run: the ``unlabeled`` marker of
``TripletEmbedder`` and ``FewShotCentroidClassifier``, the contrastive (NT-Xent) stage, and
pseudo-labelling with scikit-learn's ``SelfTrainingClassifier``."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.semi_supervised import SelfTrainingClassifier

from skspeckle import DetectorMask, FewShotCentroidClassifier, TripletEmbedder, pretrained
from skspeckle.nn.losses import nt_xent_loss
from skspeckle.persistence import load_model, save_model

pytestmark = pytest.mark.filterwarnings("ignore:.*validation_fraction=.* cannot hold")


def _frames(n_per_class=20, shape=(16, 16), seed=0):
    """Three classes of Poisson frames: flat, a bright square, a bright upper half."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n_per_class)
    X = rng.poisson(3.0, size=(len(y), *shape)).astype(np.float32)
    h, w = shape
    X[y == 1, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] += 5
    X[y == 2, : h // 2, :] += 3
    return X, y


def _embedder(**params):
    return TripletEmbedder(
        n_components=8, max_epochs=3, batch_size=16, random_state=0, device="cpu"
    ).set_params(**params)


def _semi(y, fraction=0.7, seed=0, marker=-1):
    """``y`` with about ``fraction`` of the entries replaced by ``marker`` (object dtype
    when the marker's type differs from the labels')."""
    hidden = np.random.default_rng(seed).random(len(y)) < fraction
    same_kind = np.asarray([marker]).dtype.kind == y.dtype.kind
    out = y.copy() if same_kind else y.astype(object)
    out[hidden] = marker
    return out, hidden


def test_defaults_keep_fully_labelled_fits_bit_identical():
    X, y = _frames()
    plain = _embedder().fit(X, y)
    explicit = _embedder(
        unlabeled=-1, contrastive_epochs=0, contrastive_augment=None, temperature=0.1
    ).fit(X, y)
    np.testing.assert_array_equal(plain.transform(X), explicit.transform(X))
    # Unlabelled frames appended are left out of the triplet stage entirely.
    X_more = np.concatenate([X, X[::-1] * 2])
    y_more = np.concatenate([y, np.full(len(y), -1)])
    padded = _embedder().fit(X_more, y_more)
    np.testing.assert_array_equal(plain.transform(X), padded.transform(X))
    assert padded.classes_.tolist() == [0, 1, 2]
    assert [h["stage"] for h in plain.history_] == ["triplet"] * plain.n_iter_


def test_unlabeled_none_treats_minus_one_as_a_class():
    X, y = _frames()
    y_pm = np.where(y == 0, -1, y)
    assert _embedder(unlabeled=None).fit(X, y_pm).classes_.tolist() == [-1, 1, 2]
    assert _embedder().fit(X, y_pm).classes_.tolist() == [1, 2]


def test_contrastive_stage_lowers_the_nt_xent_loss_and_is_recorded():
    X, y = _frames()
    y_semi, _ = _semi(y)
    est = _embedder(contrastive_epochs=6, max_epochs=2).fit(X, y_semi)
    stages = [h["stage"] for h in est.history_]
    assert stages[:6] == ["contrastive"] * 6 and set(stages[6:]) == {"triplet"}
    assert est.n_iter_ == len(est.history_)
    losses = [h["loss"] for h in est.history_[:6]]
    assert losses[-1] < losses[0]
    # The pretrained network separates two views of a frame (fresh shot-noise draws, as the
    # default views make) from the other frames better than a fresh one does (fixed views,
    # evaluation mode): 4.674 against 4.700.
    gen = torch.Generator().manual_seed(5)
    x = torch.from_numpy(X)
    v1, v2 = torch.poisson(x, generator=gen), torch.poisson(x, generator=gen)

    def loss_of(module):
        with torch.no_grad():
            return nt_xent_loss(module(v1), module(v2), 0.1).item()

    fresh = _embedder(max_epochs=0, contrastive_epochs=0).fit(X, y)
    pre = _embedder(max_epochs=0, contrastive_epochs=6).fit(X, y_semi)
    assert loss_of(pre.module_) < loss_of(fresh.module_)


def test_string_labels_with_minus_one_and_a_string_marker():
    X, y = _frames()
    names = np.array(["single-hit", "multi-hit", "non-sample-hit"], dtype=object)[y]
    mixed, hidden = _semi(names)  # object array: strings and the int -1
    assert mixed.dtype == object and (mixed == -1).sum() == hidden.sum() > 0
    pipe = make_pipeline(
        _embedder(contrastive_epochs=1), FewShotCentroidClassifier(k=3, random_state=0)
    ).fit(X, mixed)
    assert sorted(pipe.classes_) == ["multi-hit", "non-sample-hit", "single-hit"]
    assert set(pipe.predict(X)) <= set(pipe.classes_)
    marked, _ = _semi(names.astype(str), marker="unlabeled")
    pipe.set_params(
        tripletembedder__unlabeled="unlabeled", fewshotcentroidclassifier__unlabeled="unlabeled"
    ).fit(X, marked)
    assert "unlabeled" not in pipe[0].classes_ and "unlabeled" not in pipe.classes_


def test_all_unlabelled_raises():
    X, y = _frames()
    with pytest.raises(ValueError, match="every frame of y is marked unlabeled=-1"):
        _embedder(contrastive_epochs=1).fit(X, np.full(len(y), -1))
    with pytest.raises(ValueError, match="every frame of y is marked unlabeled='u'"):
        FewShotCentroidClassifier(unlabeled="u").fit(X.reshape(len(X), -1), ["u"] * len(y))


def test_unlabelled_vectors_never_become_supports():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(40, 3))
    y = np.repeat([0, 1], 20)
    y_semi = y.copy()
    y_semi[::2] = -1
    Z[y_semi == -1] += 100.0  # far away: any of them among the supports would show
    clf = FewShotCentroidClassifier(k=None).fit(Z, y_semi)
    assert clf.classes_.tolist() == [0, 1]
    assert len(clf.support_) == 20 and np.all(np.abs(clf.support_) < 50)
    drawn = FewShotCentroidClassifier(k=5, random_state=0).fit(Z, y_semi)
    assert (
        np.all(np.abs(drawn.support_) < 50) and drawn.support_labels_.tolist() == [0] * 5 + [1] * 5
    )


def test_pipeline_k_check_ignores_the_marker():
    X, y = _frames()
    y_semi = y.copy()
    y_semi[[0, 1]] = -1  # 2 unlabelled frames: fewer than k, but not a class
    pipe = make_pipeline(
        DetectorMask(0.25), _embedder(max_epochs=1), FewShotCentroidClassifier(k=5)
    )
    pipe.fit(X, y_semi)
    y_short = np.full(len(y), -1)
    y_short[y == 0] = 0
    y_short[np.flatnonzero(y == 1)[:3]] = 1  # a class of 3 labelled frames, k=5
    with pytest.raises(ValueError, match="Class 1 has 3 sample"):
        make_pipeline(_embedder(max_epochs=50), FewShotCentroidClassifier(k=5)).fit(X, y_short)


def test_clone_grid_search_and_persistence_with_the_new_parameters(tmp_path):
    X, y = _frames()
    est = _embedder(contrastive_epochs=1, temperature=0.2, unlabeled="none")
    assert clone(est).get_params()["temperature"] == 0.2
    pipe = make_pipeline(est, FewShotCentroidClassifier(k=3, random_state=0))
    search = GridSearchCV(
        pipe, {"tripletembedder__temperature": [0.1, 0.5]}, cv=2, error_score="raise"
    ).fit(X, y)
    assert search.best_params_["tripletembedder__temperature"] in (0.1, 0.5)
    y_semi, _ = _semi(y)
    fitted = clone(pipe).set_params(tripletembedder__unlabeled=-1).fit(X, y_semi)
    loaded = load_model(save_model(fitted, tmp_path / "semi.skops"))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded[0].contrastive_epochs == 1 and loaded[0].history_[0]["stage"] == "contrastive"


def test_pretrained_start_combines_with_the_contrastive_stage():
    X, y = _frames(n_per_class=8, shape=(48, 48))
    y_semi, _ = _semi(y, fraction=0.5)
    pipe = make_pipeline(
        DetectorMask(0.25),
        _embedder(
            n_components=128,
            init_from=pretrained.WEIGHTS,
            normalize="standardize",
            contrastive_epochs=1,
            max_epochs=1,
        ),
        FewShotCentroidClassifier(k=2, random_state=0),
    ).fit(X, y_semi)
    assert pipe.predict(X).shape == (len(X),)
    assert [h["stage"] for h in pipe[1].history_] == ["contrastive", "triplet"]


def test_self_training_pseudo_labels_around_the_few_shot_step():
    """sklearn's SelfTrainingClassifier works around the few-shot step (embeddings in,
    supports from the labelled and the confidently pseudo-labelled vectors)."""
    X, y = _frames()
    y_semi, hidden = _semi(y, fraction=0.8)
    self_training = SelfTrainingClassifier(
        FewShotCentroidClassifier(k=None, aggregation="centroid", temperature=0.05),
        threshold=0.9,
    )
    pipe = make_pipeline(_embedder(max_epochs=5), self_training).fit(X, y_semi)
    st = pipe[-1]
    pseudo = hidden & (st.labeled_iter_ > 0)
    assert pseudo.sum() > 0  # some unlabelled frames were given labels and became supports
    assert len(st.estimator_.support_) == (~hidden).sum() + pseudo.sum()
    assert np.mean(st.transduction_[pseudo] == y[pseudo]) > 0.8
