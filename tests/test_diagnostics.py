"""Radial profiles and speckle contrast over |q| shells (skspeckle.diagnostics)."""

import numpy as np
import pytest

from skspeckle.detector import Detector
from skspeckle.diagnostics import radial_profile, speckle_contrast


def _q(detector):
    return np.linalg.norm(detector.q_vectors(1.6), axis=-1)


@pytest.fixture
def off_centre():
    # Beam off the array's middle, and a masked block: a profile about the middle, or one
    # averaging the masked zeros, would fail the checks below.
    mask = np.ones((60, 80), dtype=bool)
    mask[20:30, 45:60] = False
    return Detector((60, 80), pixel_size=3e-4, distance=0.586, beam_center=(22.0, 50.5), mask=mask)


def test_radial_profile_averages_each_shell_about_the_beam_centre(off_centre):
    q_map = _q(off_centre)
    frames = np.stack([q_map, 2 * q_map])
    frames[:, ~off_centre.mask] = 1e9  # masked pixels must not enter any shell
    edges = np.linspace(0, q_map.max(), 11)
    q, profile, n = radial_profile(frames, off_centre, 1.6, bins=edges)
    np.testing.assert_allclose(q, (edges[:-1] + edges[1:]) / 2)
    # A frame equal to |q| has its shell means inside each shell's edges, and is linear.
    assert np.all((profile[0] >= edges[:-1]) & (profile[0] <= edges[1:]))
    np.testing.assert_allclose(profile[1], 2 * profile[0])
    assert n.sum(axis=1).tolist() == [off_centre.mask.sum()] * 2


def test_radial_profile_leaves_out_the_extra_mask_and_nonfinite_pixels_on_request(off_centre):
    frames = np.ones((3, 60, 80), dtype=np.float32)
    frames[1, 5, 30] = np.inf
    frames[2, 40, 10] = np.nan
    with pytest.raises(ValueError, match=r"frames \[1, 2\].*nonfinite='mask'"):
        radial_profile(frames, off_centre, 1.6)
    extra = np.ones((60, 80), dtype=bool)
    extra[:, :10] = False
    frames[:, :, :10] = -50.0
    q, profile, n = radial_profile(frames, off_centre, 1.6, bins=5, mask=extra, nonfinite="mask")
    np.testing.assert_allclose(profile[np.isfinite(profile)], 1.0)
    assert n[0].sum() == (off_centre.mask & extra).sum() == n[1].sum() + 1 == n[2].sum() + 1


def test_radial_profile_empty_shells_are_nan_and_bad_arguments_are_named(off_centre):
    q, profile, n = radial_profile(np.ones((60, 80)), off_centre, 1.6, bins=[0.0, 1e-6, 0.02])
    assert np.isnan(profile[0, 0]) and n[0, 0] == 0 and profile[0, 1] == 1.0
    with pytest.raises(ValueError, match=r"detector.bin"):
        radial_profile(np.ones((2, 30, 40)), off_centre, 1.6)
    with pytest.raises(TypeError, match="Detector"):
        radial_profile(np.ones((1, 60, 80)), (60, 80), 1.6)
    with pytest.raises(ValueError, match="increasing"):
        radial_profile(np.ones((1, 60, 80)), off_centre, 1.6, bins=[0.01, 0.005])
    with pytest.raises(ValueError, match="q_range"):
        radial_profile(np.ones((1, 60, 80)), off_centre, 1.6, bins=4, q_range=(0.01, 0.001))
    with pytest.raises(ValueError, match="boolean"):
        radial_profile(np.ones((1, 60, 80)), off_centre, 1.6, mask=np.ones((60, 80)))
    with pytest.raises(ValueError, match="nonfinite"):
        radial_profile(np.ones((1, 60, 80)), off_centre, 1.6, nonfinite="zero")


@pytest.fixture
def square():
    return Detector((160, 160), pixel_size=3e-4, distance=0.586)


@pytest.mark.parametrize("modes", [1, 4])
def test_speckle_contrast_recovers_one_over_the_number_of_modes(square, modes):
    # Gamma-distributed intensity of shape M is M-mode speckle (Goodman): beta = 1 / M.
    rng = np.random.default_rng(0)
    intensity = rng.gamma(modes, 20.0 / modes, size=(4, 160, 160))
    q, beta, mean = speckle_contrast(rng.poisson(intensity), square, 1.6, bins=4)
    np.testing.assert_allclose(beta, 1 / modes, atol=0.08)
    np.testing.assert_allclose(mean, 20.0, rtol=0.1)


def test_speckle_contrast_takes_out_shot_noise_read_noise_and_the_radial_fall(square):
    rng = np.random.default_rng(1)
    # A round pattern (no speckle) falling steeply with |q|: only noise is left around rings.
    intensity = 5e4 * np.exp(-_q(square) / 1.5e-3)[None].repeat(3, axis=0)
    counts = rng.poisson(intensity) + rng.normal(0, 0.5, size=intensity.shape)
    q, beta, _ = speckle_contrast(counts, square, 1.6, bins=5, subshells=10, read_noise=0.5)
    assert np.all(np.abs(beta) < 0.02)
    # Wide shells without thin rings count the radial fall as contrast.
    _, wide, _ = speckle_contrast(counts, square, 1.6, bins=5, subshells=1, read_noise=0.5)
    assert np.all(wide > 0.04)
    # Without the read noise, a weak shell looks like speckle.
    weak = rng.poisson(np.full((2, 160, 160), 0.5)) + rng.normal(0, 0.5, size=(2, 160, 160))
    _, unread, _ = speckle_contrast(weak, square, 1.6, bins=2)
    _, read, _ = speckle_contrast(weak, square, 1.6, bins=2, read_noise=0.5)
    assert np.all(unread > 0.8) and np.all(np.abs(read) < 0.1)


def test_speckle_contrast_gives_nan_in_shells_too_small_and_checks_its_arguments(square):
    counts = np.ones((1, 160, 160))
    q, beta, mean = speckle_contrast(counts, square, 1.6, bins=[0.0, 1e-5, 0.01], min_pixels=5)
    assert np.isnan(beta[0, 0]) and np.isfinite(beta[0, 1])
    for kwargs, match in [
        ({"read_noise": -1.0}, "read_noise"),
        ({"subshells": 0}, "subshells"),
        ({"min_pixels": 1}, "min_pixels"),
    ]:
        with pytest.raises(ValueError, match=match):
            speckle_contrast(counts, square, 1.6, **kwargs)
