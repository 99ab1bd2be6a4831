"""Ranking unlabelled frames for labelling: uncertainty, novelty, k-center greedy diversity."""

import numpy as np
import pytest
from sklearn.metrics import pairwise_distances

from skspeckle.active_learning import STRATEGIES, rank_for_labelling, uncertainty_scores


@pytest.fixture
def blobs():
    """Three tight clusters of 30 in 2-D, far apart, and a wide ring of 10 between them."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 8.0]])
    Z = np.concatenate([c + rng.normal(0, 0.3, (30, 2)) for c in centres])
    y = np.repeat(["a", "b", "c"], 30)
    return Z, y


def test_uncertainty_measures_are_in_0_1_and_order_as_expected():
    proba = np.array([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [1.0, 0, 0]])
    for measure in ("margin", "entropy"):
        u = uncertainty_scores(proba, measure)
        assert np.all((u >= 0) & (u <= 1 + 1e-12))
        assert u[3] == pytest.approx(0.0) and u[2] < u[1]
    assert uncertainty_scores(proba, "entropy")[0] == pytest.approx(1.0)
    assert uncertainty_scores(proba, "margin")[1] == pytest.approx(1.0)  # a tie of two
    with pytest.raises(ValueError, match="margin' or 'entropy"):
        uncertainty_scores(proba, "gini")


def test_nothing_labelled_is_k_center_greedy_covering_every_cluster(blobs):
    Z, _ = blobs
    for strategy in ("mixed", "uncertainty", "novelty", "diversity"):
        order = rank_for_labelling(Z, n_frames=3, strategy=strategy)
        assert sorted(order // 30) == [0, 1, 2], strategy  # one frame of each cluster
    # Farthest-first: each pick is the frame farthest from those before it.
    order = rank_for_labelling(Z, n_frames=6)
    for k in range(1, 6):
        nearest = pairwise_distances(Z, Z[order[:k]]).min(axis=1)
        assert nearest[order[k]] == pytest.approx(nearest.max())


def test_uncertainty_picks_frames_between_the_classes(blobs):
    Z, y = blobs
    between = np.array([[5.0, 0.0], [5.2, 0.1]])  # halfway between a and b
    Z = np.concatenate([Z, between])
    labelled = np.array([0, 1, 30, 31, 60, 61])
    order = rank_for_labelling(Z, labelled, y[labelled], n_frames=2, strategy="uncertainty")
    assert sorted(order) == [90, 91]
    novel = rank_for_labelling(
        np.concatenate([Z, [[30.0, 30.0]]]), labelled, y[labelled], n_frames=1, strategy="novelty"
    )
    assert novel.tolist() == [92]


def test_labelled_frames_are_never_proposed_and_the_order_is_complete(blobs):
    Z, y = blobs
    labelled = np.arange(0, 90, 9)
    for strategy in STRATEGIES:
        order = rank_for_labelling(Z, labelled, y[labelled], strategy=strategy, random_state=0)
        assert sorted(order.tolist()) == sorted(set(range(90)) - set(labelled.tolist()))
    same = rank_for_labelling(Z, labelled, y[labelled], strategy="random", random_state=0)
    np.testing.assert_array_equal(same, order)  # seeded
    assert len(rank_for_labelling(Z, np.arange(90), y, n_frames=5)) == 0


def test_mixed_weights_move_the_ranking_between_its_parts(blobs):
    Z, y = blobs
    labelled = np.array([0, 30, 60])
    only_u = rank_for_labelling(Z, labelled, y[labelled], n_frames=10, weights=(1, 0, 0))
    np.testing.assert_array_equal(
        only_u[:1], rank_for_labelling(Z, labelled, y[labelled], n_frames=1, strategy="uncertainty")
    )
    only_d = rank_for_labelling(Z, labelled, y[labelled], n_frames=10, weights=(0, 0, 1))
    np.testing.assert_array_equal(
        only_d, rank_for_labelling(Z, labelled, y[labelled], n_frames=10, strategy="diversity")
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labelled": [0, 0], "y_labelled": ["a", "a"]}, "repeated"),
        ({"labelled": [0], "y_labelled": []}, "one label per"),
        ({"labelled": [500], "y_labelled": ["a"]}, "outside"),
        ({"strategy": "entropy"}, "strategy must be"),
        ({"weights": (1, -1, 0)}, "non-negative"),
        ({"weights": (0, 0, 0)}, "all zero"),
        ({"n_frames": 0}, "positive int"),
    ],
)
def test_bad_input_is_refused_clearly(blobs, kwargs, message):
    Z, _ = blobs
    with pytest.raises(ValueError, match=message):
        rank_for_labelling(Z, **kwargs)
    with pytest.raises(ValueError):
        rank_for_labelling(np.full((3, 2), np.nan))
