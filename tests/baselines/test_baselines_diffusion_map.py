"""Diffusion maps (Coifman & Lafon 2006) and the few-shot classifier on them."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr
from sklearn import config_context
from sklearn.base import clone
from sklearn.metrics import accuracy_score

from skspeckle.baselines import (
    DiffusionMapEmbedding,
    DiffusionMapFewShotClassifier,
    SpectralFewShotClassifier,
)
from skspeckle.baselines.spi import diffusion_map


def _arc(n, seed=0, noise=0.01):
    """Points along a half circle in the plane, and their angle (the manifold coordinate)."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, np.pi, n)
    return np.c_[np.cos(theta), np.sin(theta)] + noise * rng.normal(size=(n, 2)), theta


def _dense_reference(X, epsilon, alpha, t, n_components):
    """Coifman & Lafon's construction on the full Gaussian kernel, with the eigenvectors of
    the (non-symmetric) Markov matrix taken directly."""
    K = np.exp(-cdist(X, X, "sqeuclidean") / epsilon)
    q = K.sum(axis=1)
    K_alpha = K / np.outer(q, q) ** alpha
    d = K_alpha.sum(axis=1)
    values, vectors = np.linalg.eig(K_alpha / d[:, None])
    order = np.argsort(-values.real)[1 : n_components + 1]
    values, psi = values.real[order], vectors.real[:, order]
    psi *= np.sqrt(d.sum() / (d[:, None] * psi**2).sum(axis=0))  # psi' D psi = volume
    return psi * values**t, values


@pytest.mark.parametrize("alpha, t", [(0.0, 1), (0.5, 2), (1.0, 3)])
def test_matches_dense_reference(alpha, t):
    X, _ = _arc(60, noise=0.05)
    dm = DiffusionMapEmbedding(
        3, n_neighbors=60, alpha=alpha, diffusion_time=t, epsilon=0.3, random_state=0
    ).fit(X)
    expected, values = _dense_reference(X, 0.3, alpha, t, 3)
    np.testing.assert_allclose(dm.eigenvalues_, values, rtol=1e-8)
    signs = np.sign((dm.embedding_ * expected).sum(axis=0))
    np.testing.assert_allclose(dm.embedding_, expected * signs, atol=1e-7)


def test_first_coordinate_orders_points_along_the_manifold():
    X, theta = _arc(300)
    dm = DiffusionMapEmbedding(1, n_neighbors=15, random_state=0).fit(X)
    assert abs(spearmanr(dm.embedding_[:, 0], theta).statistic) > 0.99
    X_new, theta_new = _arc(50, seed=1)
    assert abs(spearmanr(dm.transform(X_new)[:, 0], theta_new).statistic) > 0.99


def test_alpha_one_removes_the_sampling_density():
    # A circle sampled much more densely on one side: with the Laplace-Beltrami normalisation
    # the first two coordinates are (cos, sin) of the angle, a circle; without it they are not.
    theta = np.random.default_rng(0).vonmises(0.0, 1.0, 400)
    X = np.c_[np.cos(theta), np.sin(theta)]

    def spread_of_radius(alpha):
        Z = DiffusionMapEmbedding(2, n_neighbors=30, alpha=alpha, random_state=0).fit_transform(X)
        radius = np.hypot(*Z.T)
        return radius.std() / radius.mean()

    assert spread_of_radius(1.0) < 0.1
    assert spread_of_radius(0.0) > 0.3


def test_nystrom_extension_of_fitted_points_is_their_embedding():
    X, _ = _arc(120, noise=0.05)
    X = np.r_[X, X[:10], np.zeros((5, 2))]  # duplicates: ties among the neighbours
    dm = DiffusionMapEmbedding(4, n_neighbors=6, diffusion_time=2, random_state=0).fit(X)
    np.testing.assert_allclose(dm.transform(X), dm.embedding_, atol=1e-10)
    with config_context(working_memory=0.001):  # other row blocks, same neighbours
        np.testing.assert_allclose(dm.transform(X[::-1]), dm.embedding_[::-1], atol=1e-10)


def test_disconnected_graph_keeps_the_components_apart():
    # Two far-apart arcs: the eigenvalue 1 repeats; after deflating the constant eigenvector
    # the first coordinate is the indicator of the arcs, not dropped with it.
    theta = np.linspace(0, np.pi, 50)
    X = np.c_[np.cos(theta), np.sin(theta)]
    X = np.r_[X, X + 100.0]
    dm = DiffusionMapEmbedding(2, n_neighbors=5, random_state=0).fit(X)
    np.testing.assert_allclose(dm.eigenvalues_[0], 1.0, atol=1e-10)
    first = dm.embedding_[:, 0]
    assert np.ptp(first[:50]) < 1e-6 and np.ptp(first[50:]) < 1e-6
    np.testing.assert_allclose(abs(first), 1.0, atol=1e-6)  # equal volumes: +1 and -1
    assert first[0] * first[50] < 0


def test_arpack_agrees_with_the_dense_solver(monkeypatch):
    X, _ = _arc(200, noise=0.05)
    dense = DiffusionMapEmbedding(3, random_state=0).fit(X)
    monkeypatch.setattr(diffusion_map, "_DENSE_EIGEN_MAX", 0)
    arpack = DiffusionMapEmbedding(3, random_state=0).fit(X)
    np.testing.assert_allclose(arpack.eigenvalues_, dense.eigenvalues_, rtol=1e-10)
    np.testing.assert_allclose(arpack.embedding_, dense.embedding_, atol=1e-6)
    # Twelve far-apart clumps: the eigenvalue 1 repeats 11 times, ARPACK stalls on it and the
    # dense solver takes over.
    clumps = np.repeat(np.arange(12.0)[:, None] * 100, 20, axis=0) + _arc(240, noise=0.1)[0]
    stalled = DiffusionMapEmbedding(3, n_neighbors=5, random_state=0).fit(clumps)
    np.testing.assert_allclose(stalled.eigenvalues_, 1.0, atol=1e-10)


def test_far_point_gets_finite_coordinates_and_same_seed_same_fit():
    X, _ = _arc(80)
    dm = DiffusionMapEmbedding(2, random_state=0).fit(X)
    far = dm.transform([[1e3, 1e3]])
    assert np.isfinite(far).all()
    again = clone(dm).fit(X)
    np.testing.assert_array_equal(again.embedding_, dm.embedding_)
    assert dm.epsilon_ > 0 and np.all(np.diff(dm.eigenvalues_) <= 0)


def test_embedding_errors():
    X, _ = _arc(20)
    with pytest.raises(ValueError, match="n_samples=3"):
        DiffusionMapEmbedding(2).fit(X[:3])
    with pytest.raises(ValueError, match="every point coincides"):
        DiffusionMapEmbedding(2, n_neighbors=3).fit(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="NaN"):
        DiffusionMapEmbedding(2).fit(np.r_[X, [[np.nan, 0.0]]])
    dm = DiffusionMapEmbedding(2).fit(X)
    with pytest.raises(ValueError, match="features"):
        dm.transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="infinity"):
        dm.transform([[np.inf, 0.0]])


def _two_classes(n_per_class, seed):
    """Two classes of 8 x 8 frames: a ring or a central blob, at a varying photon level."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-3.5:4, -3.5:4]
    r = np.hypot(yy, xx)
    shapes = [np.exp(-((r - 3) ** 2)), np.exp(-(r**2) / 4)]
    level = rng.uniform(5, 20, (2 * n_per_class, 1, 1))
    y = np.repeat([0, 1], n_per_class)
    X = rng.poisson(level * np.stack(shapes)[y] + 0.2).astype(np.float32)
    return X, y


def test_classifier_separates_two_classes_from_three_labels_each():
    X, y = _two_classes(60, seed=0)
    y_partial = np.full(len(y), -1)
    rng = np.random.default_rng(0)
    for label in (0, 1):
        y_partial[rng.choice(np.flatnonzero(y == label), 3, replace=False)] = label
    clf = DiffusionMapFewShotClassifier(2, n_components=3, random_state=0).fit(X, y_partial)
    assert accuracy_score(y, clf.transduction_) > 0.95
    np.testing.assert_array_equal(clf.predict(X), clf.transduction_)
    X_new, y_new = _two_classes(30, seed=1)
    assert accuracy_score(y_new, clf.predict(X_new)) > 0.95
    assert clf.embedding_.shape == (len(X), 3)
    np.testing.assert_array_equal(clf.embedding_, clf.diffusion_map_.embedding_)


def test_classifier_on_speckle_patterns(three_class_patterns):
    X, y, _ = three_class_patterns
    rng = np.random.default_rng(0)
    y_partial = np.full(len(y), "unlabeled", dtype=object)
    for label in np.unique(y):
        y_partial[rng.choice(np.flatnonzero(y == label), 3, replace=False)] = label
    clf = DiffusionMapFewShotClassifier(9, unlabeled="unlabeled", random_state=0)
    clf.fit(X, y_partial)
    assert accuracy_score(y, clf.transduction_) > 0.45  # chance: 1/3
    assert set(clf.cluster_labels_) <= set(np.unique(y))
    assert (clf.transduction_[y_partial != "unlabeled"] == y[y_partial != "unlabeled"]).mean() > 0.5


def test_classifier_errors_shared_with_spectral():
    X, y = _two_classes(10, seed=0)
    for cls in (DiffusionMapFewShotClassifier, SpectralFewShotClassifier):
        with pytest.raises(ValueError, match="every frame is marked unlabeled"):
            cls().fit(X, np.full(len(y), -1))
        with pytest.raises(ValueError, match="n_samples=5"):
            cls(8).fit(X[:5], y[:5])
        with pytest.raises(ValueError, match="requires y"):
            cls().fit(X)
