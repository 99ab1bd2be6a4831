import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.pipeline import make_pipeline

from skspeckle.datasets import load_pr772_frames
from skspeckle.preprocessing import DetectorMask, PixelBinning

LAYOUTS = ["quadrant", "panels", "disk", "annulus"]


def _frames(n=3, shape=(8, 8), seed=0):
    return np.random.default_rng(seed).poisson(5.0, size=(n, *shape)).astype(np.float32) + 1


def test_quarter_keeps_the_lower_right_quadrant_positionally():
    X = _frames()
    out = DetectorMask(0.25).fit_transform(X)
    expected = np.zeros((8, 8), dtype=bool)
    expected[4:, 4:] = True
    np.testing.assert_array_equal(DetectorMask(0.25).fit(X).mask_, expected)
    np.testing.assert_array_equal(out[:, expected], X[:, expected])
    assert np.all(out[:, ~expected] == 0)


def test_half_keeps_the_lower_half():
    mask = DetectorMask(0.5).fit(_frames(shape=(6, 10))).mask_
    assert mask[3:].all() and not mask[:3].any()


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    fraction=st.floats(0.01, 1.0),
    layout=st.sampled_from(LAYOUTS),
    grid=st.tuples(st.integers(1, 6), st.integers(1, 6)),
)
def test_visible_fraction_is_kept(h, w, fraction, layout, grid):
    X = np.ones((1, h, w))
    mask = DetectorMask(fraction, layout=layout, panel_grid=grid).fit(X).mask_
    assert mask.shape == (h, w) and mask.dtype == bool
    n_visible, target = int(mask.sum()), fraction * h * w
    if layout == "panels":
        # Whole panels only: off by at most one (the largest) panel.
        gr, gc = min(grid[0], h), min(grid[1], w)
        assert abs(n_visible - target) <= math.ceil(h / gr) * math.ceil(w / gc)
    else:
        assert n_visible == max(1, math.floor(target + 0.5))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_are_deterministic_and_keep_the_same_pixels_at_transform(layout):
    X_train, X_test = _frames(seed=1), _frames(n=5, seed=2)
    dm = DetectorMask(0.4, layout=layout, panel_grid=(2, 4), fill_value=-1.0).fit(X_train)
    np.testing.assert_array_equal(
        dm.mask_, DetectorMask(0.4, layout=layout, panel_grid=(2, 4)).fit(X_test).mask_
    )
    out = dm.transform(X_test)
    np.testing.assert_array_equal(out[:, dm.mask_], X_test[:, dm.mask_])
    assert np.all(out[:, ~dm.mask_] == -1.0)


def test_panels_are_whole_and_central_first():
    mask = DetectorMask(0.25, layout="panels", panel_grid=(4, 4)).fit(_frames()).mask_
    expected = np.zeros((8, 8), dtype=bool)
    expected[2:6, 2:6] = True
    np.testing.assert_array_equal(mask, expected)


def test_disk_and_annulus_split_by_radius():
    X = np.ones((1, 20, 20))
    disk = DetectorMask(0.3, layout="disk").fit(X).mask_
    ring = DetectorMask(0.7, layout="annulus").fit(X).mask_
    r = np.hypot(*np.meshgrid(np.arange(20) - 9.5, np.arange(20) - 9.5, indexing="ij"))
    assert r[disk].max() <= r[~disk].min()
    assert r[ring].min() >= r[~ring].max()


def test_layout_and_dtype_of_output_follow_the_input():
    X = _frames().astype(np.float64)
    out3 = DetectorMask(0.25).fit_transform(X)
    out2 = DetectorMask(0.25).fit_transform(X.reshape(3, -1))
    assert out3.shape == (3, 8, 8) and out3.dtype == np.float32
    assert out2.shape == (3, 64) and out2.dtype == np.float32
    np.testing.assert_array_equal(out2.reshape(3, 8, 8), out3)


def test_input_is_not_modified():
    X = _frames()
    X_copy = X.copy()
    DetectorMask(0.25).fit(X).transform(X)
    np.testing.assert_array_equal(X, X_copy)


def test_explicit_mask_and_its_combination_with_a_fraction():
    X = _frames()
    good = np.ones((8, 8), dtype=bool)
    good[:, 3] = False  # a detector gap
    dm = DetectorMask(mask=good).fit(X)
    np.testing.assert_array_equal(dm.mask_, good)
    assert np.all(dm.transform(X)[:, :, 3] == 0)
    combined = DetectorMask(0.25, mask=good).fit(X).mask_
    quadrant = DetectorMask(0.25).fit(X).mask_
    np.testing.assert_array_equal(combined, quadrant & good)


def test_mask_gives_the_shape_of_flattened_non_square_frames():
    X = _frames(shape=(4, 6))
    good = np.ones((4, 6), dtype=bool)
    good[0] = False
    dm = DetectorMask(mask=good).fit(X.reshape(3, -1))
    assert dm.image_shape_ == (4, 6)
    assert np.all(dm.transform(X.reshape(3, -1)).reshape(3, 4, 6)[:, 0] == 0)


@pytest.mark.parametrize("flat", [False, True])
def test_wrong_mask_shape_is_a_clear_error_at_fit(flat):
    X = _frames()
    X = X.reshape(3, -1) if flat else X
    with pytest.raises(ValueError, match=r"mask has shape \(7, 8\) but the frames have shape"):
        DetectorMask(mask=np.ones((7, 8), dtype=bool)).fit(X)


@pytest.mark.parametrize("bad", [np.ones((8, 8), dtype=int), np.ones(64, dtype=bool)])
def test_mask_must_be_a_2d_boolean_array(bad):
    with pytest.raises(ValueError, match="mask must be a 2-D boolean array"):
        DetectorMask(mask=bad).fit(_frames())


def test_mask_and_layout_without_overlap():
    good = np.zeros((8, 8), dtype=bool)
    good[:4] = True
    with pytest.raises(ValueError, match="No pixel is left visible"):
        DetectorMask(0.25, mask=good).fit(_frames())


def test_nonfinite_pixels_raise_with_their_count_or_are_masked():
    X = _frames()
    X[0, 5, 5], X[2, 6, 6], X[2, 0, 0] = np.nan, np.inf, -np.inf
    msg = r"3 non-finite pixel value\(s\).*2 frame\(s\).*nonfinite='mask'"
    with pytest.raises(ValueError, match=msg):
        DetectorMask(0.25).fit(X)
    dm = DetectorMask(0.25).fit(_frames())
    with pytest.raises(ValueError, match="non-finite"):
        dm.transform(X)
    out = DetectorMask(0.25, nonfinite="mask", fill_value=-2.0).fit(X).transform(X)
    assert np.all(np.isfinite(out))
    assert out[0, 5, 5] == -2.0 and out[2, 6, 6] == -2.0 and out[1, 5, 5] == X[1, 5, 5]


def test_frame_shape_mismatch_between_fit_and_transform():
    dm = DetectorMask(0.25).fit(_frames())
    with pytest.raises(ValueError, match=r"Frames have shape \(8, 6\).*\(8, 8\)"):
        dm.transform(_frames(shape=(8, 6)))
    with pytest.raises(ValueError, match="X has 6 features"):  # n_features_in_ is H for stacks
        dm.transform(_frames(shape=(6, 6)))
    with pytest.raises(ValueError, match="X has 36 features"):
        dm.transform(_frames(shape=(6, 6)).reshape(3, -1))


@pytest.mark.parametrize("X", [np.ones(5), np.ones((2, 3, 3, 1)), np.empty((0, 8, 8))])
def test_wrong_ndim_or_empty_input(X):
    with pytest.raises(ValueError):
        DetectorMask().fit(X)


def test_panel_grid_must_be_two_positive_ints():
    with pytest.raises(ValueError, match="panel_grid must be two positive ints"):
        DetectorMask(0.5, layout="panels", panel_grid=(0, 2)).fit(_frames())


# ----------------------------------------------------------------------------- PixelBinning


def test_binning_sums_blocks_exactly():
    X = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    out = PixelBinning(2).fit_transform(X)
    expected = X.reshape(2, 2, 2, 3, 2).sum(axis=(2, 4))
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out.sum(axis=(1, 2)), X.sum(axis=(1, 2)))  # photons kept


def test_binning_drops_incomplete_edge_blocks_and_keeps_flat_layout():
    X = np.ones((3, 7, 5), dtype=np.float32)
    assert PixelBinning(3).fit_transform(X).shape == (3, 2, 1)
    flat = PixelBinning(2).fit_transform(np.ones((3, 16)))  # 4 x 4 frames
    assert flat.shape == (3, 4)
    np.testing.assert_array_equal(flat, 4.0)


def test_binning_errors_name_the_fix():
    with pytest.raises(ValueError, match="at most 4"):
        PixelBinning(5).fit(np.ones((2, 4, 6)))
    X = np.ones((2, 4, 4))
    X[0, 1, 1] = np.inf
    with pytest.raises(ValueError, match="inf|finite"):
        PixelBinning(2).fit(X)
    with pytest.raises(ValueError, match="expecting 4 features"):
        PixelBinning(2).fit(np.ones((2, 4, 4))).transform(np.ones((2, 6, 6)))


def test_mask_then_bin_real_pnccd_frames():
    """The real PR772 frames (+inf pixels, negative ADU) pass DetectorMask -> PixelBinning
    finite, with the 260 x 257 frames binned to 65 x 64."""
    X, mask = load_pr772_frames()
    pipe = make_pipeline(DetectorMask(mask=mask, nonfinite="mask"), PixelBinning(4))
    out = pipe.fit_transform(X)
    assert out.shape == (10, 65, 64) and np.isfinite(out).all()
    good = np.where(mask & np.isfinite(X), X, 0)[:, :260, :256]
    np.testing.assert_allclose(out.sum(axis=(1, 2)), good.sum(axis=(1, 2)), rtol=1e-5)
