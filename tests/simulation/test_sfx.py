"""The synthetic SFX generator."""

import numpy as np
import pytest

from skspeckle.simulation.sfx import SFX_DATASETS, make_sfx_frames


def test_labels_follow_spot_counts():
    X, y, n = make_sfx_frames(300, random_state=0, return_n_spots=True)
    assert X.shape == (300, 128, 128) and X.dtype == np.float32
    assert set(y) == {"hit", "maybe", "miss"}
    assert (n[y == "hit"] >= 10).all()
    assert ((n[y == "maybe"] >= 4) & (n[y == "maybe"] <= 9)).all()
    assert (n[y == "miss"] <= 3).all()
    assert (X >= 0).all()
    # More spots, more light: hits are brighter on average than misses.
    assert X[y == "hit"].sum(axis=(1, 2)).mean() > X[y == "miss"].sum(axis=(1, 2)).mean()


def test_deterministic_and_seed_dependent():
    a = make_sfx_frames(20, random_state=3)
    b = make_sfx_frames(20, random_state=3)
    c = make_sfx_frames(20, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def _ring_radius(X):
    """Radius (pixels from the frame centre) where the miss frames' radial mean peaks."""
    mean = X.mean(axis=0)
    h, w = mean.shape
    rows, cols = np.mgrid[0:h, 0:w]
    r = np.hypot(rows - (h - 1) / 2, cols - (w - 1) / 2).astype(int)
    profile = np.bincount(r.ravel(), mean.ravel()) / np.bincount(r.ravel())
    return int(np.argmax(profile[5:60])) + 5


def test_datasets_differ_as_documented():
    frames = {
        ds: make_sfx_frames(40, dataset=ds, class_weights={"miss": 1}, random_state=0)[0]
        for ds in SFX_DATASETS
    }
    # Background level: the Rayonix preset's thick jet and the MPCCD's faint background.
    assert frames["mfx-rayonix"].mean() > frames["cxi-cspad"].mean() > frames["sacla-mpccd"].mean()
    # Geometry: panel gaps are zero columns; the monolithic Rayonix has none off the beam stop.
    assert (frames["cxi-cspad"][:, :, 63:65] == 0).all(axis=(0, 1)).any()
    assert not (frames["mfx-rayonix"][:, :10] == 0).all(axis=(0, 1)).any()
    # Energy and distance move the water ring (tan 2theta = r / distance).
    radii = {ds: _ring_radius(x) for ds, x in frames.items()}
    assert len(set(radii.values())) == 3
    assert radii["mfx-rayonix"] < radii["cxi-cspad"] < radii["sacla-mpccd"]


def test_class_weights_and_overrides():
    _, y = make_sfx_frames(50, class_weights={"hit": 1, "miss": 1}, random_state=0)
    assert set(y) == {"hit", "miss"}
    X, _ = make_sfx_frames(
        5,
        shape=(32, 48),
        params={"background": 0.0, "water_ring": 0.0, "hot_pixels": 0.0},
        class_weights={"miss": 1},
        random_state=0,
    )
    assert X.shape == (5, 32, 48)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dataset="nope"), "Unknown dataset"),
        (dict(params={"bogus": 1}), "Unknown parameter"),
        (dict(class_weights={"single-hit": 1}), "Unknown class"),
        (dict(class_weights={"hit": 0}), "not all zero"),
        (dict(shape=(4, 4)), "at least"),
        (dict(n_frames=0), "positive"),
    ],
)
def test_generator_errors(kwargs, match):
    kwargs = {"n_frames": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_sfx_frames(**kwargs)
