import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skspeckle.augmentation import (
    FluenceJitter,
    PoissonResample,
    RandomPatchMask,
    RandomRotation,
    RandomShift,
    RandomZoom,
)
from skspeckle.nn import augment

AUGMENTATIONS = [
    RandomRotation(),
    RandomPatchMask(n_patches=3, patch_size=(2, 3)),
    RandomZoom(zoom_range=(0.7, 1.4)),
    RandomShift(max_shift=2),
    FluenceJitter(sigma=0.5),
    PoissonResample(),
]
IDS = [type(a).__name__ for a in AUGMENTATIONS]


def _frames(n=6, shape=(12, 12), seed=0):
    rng = np.random.default_rng(seed)
    return rng.poisson(3.0, size=(n, *shape)).astype(np.float32) + 1


@pytest.mark.parametrize("aug", AUGMENTATIONS, ids=IDS)
def test_fit_transform_perturbs_and_transform_is_the_identity(aug):
    X = _frames()
    X_copy = X.copy()
    est = clone(aug).set_params(random_state=0)
    X_aug = est.fit_transform(X)
    assert X_aug.shape == X.shape and X_aug.dtype == np.float32
    assert not np.allclose(X_aug, X)
    np.testing.assert_array_equal(est.transform(X), X)
    np.testing.assert_array_equal(X, X_copy)  # raw data untouched


@pytest.mark.parametrize("aug", AUGMENTATIONS, ids=IDS)
def test_same_random_state_same_output(aug):
    X = _frames()
    a = clone(aug).set_params(random_state=3).fit_transform(X)
    b = clone(aug).set_params(random_state=3).fit_transform(X)
    c = clone(aug).set_params(random_state=4).fit_transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("aug", AUGMENTATIONS, ids=IDS)
def test_flattened_input_keeps_its_layout(aug):
    X = _frames(shape=(6, 10))
    est = clone(aug).set_params(random_state=0, image_shape=(6, 10))
    flat = est.fit_transform(X.reshape(len(X), -1))
    assert flat.shape == (len(X), 60)
    stack = clone(est).fit_transform(X)
    np.testing.assert_array_equal(flat.reshape(X.shape), stack)


@settings(max_examples=25, deadline=None)
@given(
    X=arrays(
        np.float32,
        st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9)),
        elements=st.floats(-1e3, 1e3, width=32),
    ),
    index=st.integers(0, len(AUGMENTATIONS) - 1),
)
def test_transform_is_the_identity(X, index):
    est = clone(AUGMENTATIONS[index]).fit(X)
    np.testing.assert_array_equal(est.transform(X), X)


@pytest.mark.parametrize("aug", AUGMENTATIONS, ids=IDS)
def test_pipeline_perturbs_training_frames_only(aug):
    X = _frames()
    pipe = make_pipeline(clone(aug).set_params(random_state=0))
    assert not np.allclose(pipe.fit_transform(X), X)
    np.testing.assert_array_equal(pipe.transform(X), X)


@pytest.mark.parametrize("aug", AUGMENTATIONS, ids=IDS)
def test_augment_tensor_uses_the_generator_and_leaves_the_input(aug):
    x = torch.from_numpy(_frames())
    x_copy = x.clone()
    a = aug.augment_tensor(x, torch.Generator().manual_seed(0))
    b = aug.augment_tensor(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, x)
    torch.testing.assert_close(x, x_copy, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        aug.augment_tensor(x[0], torch.Generator())


@pytest.mark.parametrize("aug", AUGMENTATIONS, ids=IDS)
def test_bad_input(aug):
    est = clone(aug).fit(_frames())
    with pytest.raises(ValueError, match=r"Frames have shape \(12, 10\)"):
        est.transform(_frames(shape=(12, 10)))
    bad = _frames()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(aug).fit_transform(bad)
    with pytest.raises(ValueError, match="dimension"):
        clone(aug).fit_transform(np.ones(4))


@pytest.mark.parametrize(
    "est, match",
    [
        (RandomZoom(zoom_range=(1.2, 0.8)), "low <= high"),
        (RandomZoom(zoom_range=(0.0, 1.0)), "two finite positive numbers"),
        (RandomRotation(center=(1.0, 2.0, 3.0)), "center must be two finite numbers"),
        (RandomPatchMask(patch_size=(2, 0)), "patch_size must be a positive int"),
        (RandomPatchMask(patch_size=(2.5, 3)), "patch_size must be a positive int"),
    ],
)
def test_invalid_parameter_values(est, match):
    with pytest.raises(ValueError, match=match):
        est.fit(_frames())
    with pytest.raises(ValueError, match=match):
        est.augment_tensor(torch.ones(1, 4, 4), torch.Generator())


# The torch functions themselves --------------------------------------------------------


def _gaussian(shape, center, width=1.5):
    r, c = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return np.exp(-((r - center[0]) ** 2 + (c - center[1]) ** 2) / (2 * width**2))


def _rotation(degrees, batch=1):
    a = math.radians(degrees)
    m = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return m.repeat(batch, 1, 1).double()


@pytest.mark.parametrize("size", [6, 7])
def test_quarter_turn_is_a_pixel_permutation(size):
    x = torch.arange(size * size, dtype=torch.float32).reshape(1, size, size)
    out = augment._warp(x, _rotation(90), None)[0].numpy()
    candidates = [np.rot90(x[0].numpy(), k) for k in (1, -1)]
    assert any(np.allclose(out, c, atol=1e-3) for c in candidates)


def test_rotation_of_a_non_square_frame_does_not_shear():
    # A blob 4 px right of the centre of a 9 x 15 frame lands 4 px above or below it.
    x = torch.from_numpy(_gaussian((9, 15), (4, 11), width=1.0)[None]).float()
    out = augment._warp(x, _rotation(90), None)[0].numpy()
    peak = np.unravel_index(np.argmax(out), out.shape)
    assert peak in [(0, 7), (8, 7)]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), size=st.integers(16, 33))
def test_rotation_preserves_total_counts_inside_the_inscribed_circle(seed, size):
    rng = np.random.default_rng(seed)
    frame = np.zeros((size, size))
    # Smooth speckle-like content: a few blobs well inside the inscribed circle.
    radius = (size - 1) / 2 - 5
    for _ in range(4):
        rho, phi = radius * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
        centre = ((size - 1) / 2 + rho * math.sin(phi), (size - 1) / 2 + rho * math.cos(phi))
        frame += rng.uniform(1, 100) * _gaussian((size, size), centre)
    x = torch.from_numpy(frame[None]).float()
    out = augment.random_rotation(x, torch.Generator().manual_seed(seed), max_angle=180.0)
    assert out.sum().item() == pytest.approx(frame.sum(), rel=0.01)


def test_identity_settings_are_identities():
    x = torch.from_numpy(_frames(n=3, shape=(8, 11)))
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(augment.random_rotation(x, g, max_angle=0.0), x, atol=1e-4, rtol=0)
    torch.testing.assert_close(augment.random_zoom(x, g, zoom_range=(1, 1)), x, atol=1e-4, rtol=0)
    torch.testing.assert_close(augment.random_shift(x, g, max_shift=0), x, rtol=0, atol=0)
    torch.testing.assert_close(augment.fluence_jitter(x, g, sigma=0.0), x, rtol=0, atol=0)
    torch.testing.assert_close(
        augment.random_patch_mask(x, g, n_patches=0, patch_size=(3, 3)), x, rtol=0, atol=0
    )


def test_zoom_moves_an_off_centre_blob_radially():
    x = torch.from_numpy(_gaussian((21, 21), (10, 13), width=1.0)[None]).float()
    out = augment._warp(x, torch.eye(2, dtype=torch.float64)[None] / 2.0, None)[0].numpy()
    assert np.unravel_index(np.argmax(out), out.shape) == (10, 16)  # 3 px -> 6 px


def test_shift_moves_whole_pixels_and_fills_zeros():
    x = torch.from_numpy(_frames(n=20, shape=(7, 9)))
    out = augment.random_shift(x, torch.Generator().manual_seed(1), max_shift=3).numpy()
    for frame, shifted in zip(x.numpy(), out):
        matches = [
            (dy, dx)
            for dy in range(-3, 4)
            for dx in range(-3, 4)
            if np.array_equal(shifted, _shift_reference(frame, dy, dx))
        ]
        assert matches


def _shift_reference(frame, dy, dx):
    out = np.zeros_like(frame)
    h, w = frame.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = frame[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_patch_mask_covers_rectangles_with_the_fill_value():
    x = torch.ones(2000, 16, 16)
    out = augment.random_patch_mask(
        x, torch.Generator().manual_seed(0), n_patches=1, patch_size=(3, 5), fill_value=-1.0
    ).numpy()
    assert set(np.unique(out)) <= {-1.0, 1.0}
    for frame in out[:200]:
        rows, cols = np.nonzero(frame == -1.0)
        assert len(rows) > 0  # a patch always overlaps the frame
        assert np.ptp(rows) < 3 and np.ptp(cols) < 5
        assert len(rows) == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)  # one solid rectangle
    # Every pixel, borders included, is equally likely to be covered: 3/18 * 5/20 = 0.042.
    coverage = (out == -1.0).mean(axis=0)
    assert coverage.min() > 0.025 and coverage.max() < 0.06


def test_fluence_jitter_is_a_per_frame_factor_with_mean_one():
    x = torch.rand(4000, 2, 3) + 0.5
    out = augment.fluence_jitter(x, torch.Generator().manual_seed(0), sigma=0.5)
    factor = (out / x).double()
    torch.testing.assert_close(factor, factor[:, :1, :1].expand_as(factor), rtol=1e-5, atol=0)
    log_factor = factor[:, 0, 0].log()
    assert factor[:, 0, 0].mean().item() == pytest.approx(1.0, abs=0.03)
    assert log_factor.std().item() == pytest.approx(0.5, abs=0.03)


def test_poisson_resample_keeps_the_mean_and_draws_poisson_noise():
    x = torch.full((4, 32, 32), 50.0)
    x[:, :, :16] = -3.0  # dark-subtraction noise is drawn as 0 photons
    out = augment.poisson_resample(x, torch.Generator().manual_seed(0))
    bright = out[:, :, 16:]
    assert torch.equal(out[:, :, :16], torch.zeros(4, 32, 16))
    assert torch.equal(bright, bright.round())
    assert abs(bright.mean().item() - 50.0) < 0.5  # 2048 draws: standard error 0.16
    assert abs(bright.var().item() - 50.0) < 6.0  # Poisson: variance equals the mean
