import numpy as np
import pytest
from scipy.special import j1

from skspeckle.detector import Detector
from skspeckle.simulation.nonsample import (
    cluster_intensity,
    droplet_intensity,
    sphere_form_factor,
    streak_intensity,
)

ENERGY = 1.66
DET = Detector((12, 12), 6e-4, 0.1, beam_center=(-20.3, 5.2))  # off-centre: many rings


def _brute_force_pixel_mean(detector, radius, rho, s):
    h, w = detector.shape
    sub = (np.arange(h * s) + 0.5) / s - 0.5, (np.arange(w * s) + 0.5) / s - 0.5
    q = np.linalg.norm(detector.q_vectors(ENERGY, sub[0][:, None], sub[1][None, :]), axis=-1)
    i = (rho * 4 / 3 * np.pi * radius**3 * sphere_form_factor(q, radius)) ** 2
    return i.reshape(h, s, w, s).mean(axis=(1, 3))


def test_sphere_form_factor_limits():
    assert sphere_form_factor(0.0, 50.0) == 1.0
    x0 = 4.4934094579  # first zero of tan(x) = x
    assert abs(sphere_form_factor(x0 / (2 * np.pi * 50.0), 50.0)) < 1e-9
    q = np.linspace(0, 0.05, 1001)
    np.testing.assert_allclose(
        sphere_form_factor(q.astype(np.float32), np.float32(80)),
        sphere_form_factor(q, 80.0),
        atol=5e-5,
    )


@pytest.mark.parametrize("radius", [300.0, 2000.0])
def test_droplet_rings_are_integrated_over_the_pixel(radius):
    # 2000 Å: rings 2.5e-4 1/Å apart, three per pixel; point sampling would alias.
    fast = droplet_intensity(DET, ENERGY, radius, electron_density=0.334)
    exact = _brute_force_pixel_mean(DET, radius, 0.334, 48)
    np.testing.assert_allclose(fast, exact, rtol=0.01)
    centre_only = _brute_force_pixel_mean(DET, radius, 0.334, 1)
    if radius == 2000.0:
        assert np.max(np.abs(centre_only / exact - 1)) > 0.3


def _brute_force_cluster(detector, centers, radius, rho, s):
    h, w = detector.shape
    sub = (np.arange(h * s) + 0.5) / s - 0.5, (np.arange(w * s) + 0.5) / s - 0.5
    q = detector.q_vectors(ENERGY, sub[0][:, None], sub[1][None, :])
    f = sphere_form_factor(np.linalg.norm(q, axis=-1), radius)[..., None] * np.exp(
        -2j * np.pi * q @ np.asarray(centers).T
    )
    f0 = rho * 4 / 3 * np.pi * radius**3
    return f0**2 * (np.abs(f.sum(axis=-1)) ** 2).reshape(h, s, w, s).mean(axis=(1, 3))


def test_cluster_of_one_grain_is_a_sphere_and_two_grains_interfere():
    one = cluster_intensity(DET, ENERGY, [[0.0, 0.0, 0.0]], [100.0], electron_density=0.62)
    np.testing.assert_allclose(one, _brute_force_pixel_mean(DET, 100.0, 0.62, 1), rtol=1e-4)
    # Two grains 300 Å apart: I = |F1|^2 |1 + exp(-2 pi i q . d)|^2, on 2 x 2 sub-pixels
    # (extent 500 Å -> s = ceil(3 * 500 * 8e-4) = 2).
    pair = [[-150.0, 0, 0], [150.0, 0, 0]]
    two = cluster_intensity(DET, ENERGY, pair, [100.0, 100.0], electron_density=0.62)
    np.testing.assert_allclose(two, _brute_force_cluster(DET, pair, 100.0, 0.62, 2), rtol=1e-4)


def test_droplet_on_a_centred_beam_matches_away_from_the_centre():
    det = Detector((16, 16), 6e-4, 0.1)
    fast = droplet_intensity(det, ENERGY, 1000.0, electron_density=0.334)
    exact = _brute_force_pixel_mean(det, 1000.0, 0.334, 48)
    # Within ~4 pixels of the beam the rings curve visibly inside a sub-pixel (1-15 % off);
    # on a real detector that is the beam stop.
    away = np.hypot(*(np.indices(det.shape) - 7.5)) > 4
    np.testing.assert_allclose(fast[away], exact[away], rtol=0.01)


def test_cluster_speckle_finer_than_a_pixel_is_averaged():
    # Eight 20 nm grains over ~160 nm: 1.3 fringes per pixel, yet the pixel averages hold.
    det = Detector((24, 24), 6e-4, 0.1)
    centers = np.random.default_rng(0).normal(size=(8, 3))
    centers *= 600.0 / np.linalg.norm(centers, axis=1).max()
    fast = cluster_intensity(det, ENERGY, centers, np.full(8, 200.0), electron_density=0.62)
    exact = _brute_force_cluster(det, centers, 200.0, 0.62, 24)
    ring = np.floor(np.hypot(*(np.indices(det.shape) - 11.5))).astype(int)
    ring_mean = (np.bincount(ring.ravel(), exact.ravel()) / np.bincount(ring.ravel()))[ring]
    error = np.abs(fast - exact) / ring_mean
    assert error.mean() < 0.03 and error.max() < 0.2


def test_streak_matches_the_pixel_mean_of_the_rod_form_factor():
    # A 10 nm rod, 2 um long, at 0.4 rad in the detector plane, off-centre beam: brute-force
    # pixel means of |F|^2 on 240 x 240 sub-pixels resolve the 5e-5 1/Å wide sinc^2 sheet.
    det = Detector((10, 10), 6e-4, 0.1, beam_center=(4.5, 3.2))
    u = np.array([np.cos(0.4), np.sin(0.4), 0.0])
    radius, length, rho = 100.0, 2e4, 0.62
    fast = streak_intensity(det, ENERGY, radius, length, u, electron_density=rho)
    s = 240
    sub = (np.arange(10 * s) + 0.5) / s - 0.5
    q = det.q_vectors(ENERGY, sub[:, None], sub[None, :])
    q_par = q @ u
    x = 2 * np.pi * radius * np.linalg.norm(q - q_par[..., None] * u, axis=-1)
    rod = 2 * j1(x) / x
    exact = (
        ((rho * np.pi * radius**2 * length) ** 2 * rod**2 * np.sinc(q_par * length) ** 2)
        .reshape(10, s, 10, s)
        .mean(axis=(1, 3))
    )
    # The sheet's power is conserved (its far sinc^2 tails, < 1 % per pixel, are neglected).
    assert fast.sum() == pytest.approx(exact.sum(), rel=0.02)
    assert np.max(np.abs(fast - exact)) < 0.06 * exact.max()
    # A streak: a line through the beam centre, perpendicular to the rod.
    lit = fast > 0.05 * fast.max()
    assert 8 <= lit.sum() <= 20
    rows, cols = np.nonzero(lit)
    # Along the streak, the pixel offset from the beam centre is perpendicular to u.
    offsets = np.stack([cols - 3.2, rows - 4.5], axis=1)
    cosines = np.abs(offsets @ u[:2]) / np.linalg.norm(offsets, axis=1)
    assert np.median(cosines) < 0.2
    with pytest.raises(ValueError, match="direction"):
        streak_intensity(det, ENERGY, radius, length, [0, 0, 0])
