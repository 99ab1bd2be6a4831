"""Shared fixtures: small simulated data sets from the bundled structures."""

import pytest
import torch

from skspeckle.datasets import load_structure, make_speckle_patterns

# The tests train tiny networks on tiny batches, where OpenMP thread hand-offs cost more than
# the arithmetic (10-50x on a loaded 2-core machine, measured with PReLU on 64k values); one
# intra-op thread keeps the suite fast and its timings stable.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def amplitude_cache(tmp_path_factory):
    """A fresh on-disk amplitude cache, so tests never depend on the user's ~/.cache."""
    return tmp_path_factory.mktemp("amplitude-cache")


@pytest.fixture(scope="session")
def three_class_patterns(amplitude_cache):
    """One particle, three classes, 30 patterns each: X (90, 48, 48) photons, y, groups."""
    return make_speckle_patterns(
        ["1bxn"], n_per_class=30, cache_dir=amplitude_cache, random_state=0
    )


@pytest.fixture(scope="session")
def grouped_patterns(amplitude_cache):
    """Single vs multi hits of three particles, 16 each per class: for grouped CV."""
    return make_speckle_patterns(
        ["1n7g", "1igy", "1bxn"],
        n_per_class=16,
        classes=("single-hit", "multi-hit"),
        cache_dir=amplitude_cache,
        random_state=1,
    )


@pytest.fixture(scope="session")
def small_fitted_pipeline(amplitude_cache):
    """``make_pipeline(DetectorMask(0.25), TripletEmbedder, FewShotCentroidClassifier)`` fitted
    for one epoch on 24 frames of 1n7g; returns (pipeline, X, y). Treat it as read-only."""
    from sklearn.pipeline import make_pipeline

    from skspeckle import DetectorMask, FewShotCentroidClassifier, TripletEmbedder

    X, y, _ = make_speckle_patterns(
        ["1n7g"], n_per_class=8, random_state=0, cache_dir=amplitude_cache
    )
    pipe = make_pipeline(
        DetectorMask(0.25),
        TripletEmbedder(n_components=8, max_epochs=1, batch_size=16, device="cpu", random_state=0),
        FewShotCentroidClassifier(k=2, random_state=0),
    )
    return pipe.fit(X, y), X, y


@pytest.fixture(scope="session")
def small_structure():
    """The smallest bundled particle (1n7g, ~1e4 atoms): fast amplitudes."""
    return load_structure("1n7g")


@pytest.fixture
def cache_dir(amplitude_cache):
    """The session's amplitude cache, never the user's ~/.cache."""
    return amplitude_cache
