"""Physics of the Fourier amplitude: honest checks against closed forms."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation
from scipy.special import erf

from skspeckle.detector import Detector
from skspeckle.simulation import FourierAmplitude, default_cache_dir
from skspeckle.simulation import amplitude as amplitude_module
from skspeckle.simulation.nonsample import sphere_form_factor

ENERGY = 1.66


def _blurred_ball(n, spacing, radius, rho, sigma):
    """A uniform ball convolved with an isotropic Gaussian, on a periodic grid (closed form)."""
    x = np.fft.fftfreq(n, 1 / (n * spacing))
    r = np.sqrt(x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2)
    r = np.where(r == 0, 1e-9, r)
    s2 = np.sqrt(2) * sigma
    inside = 0.5 * (erf((radius - r) / s2) + erf((radius + r) / s2)) - sigma / (
        r * np.sqrt(2 * np.pi)
    ) * (
        np.exp(-((radius - r) ** 2) / (2 * sigma**2))
        - np.exp(-((radius + r) ** 2) / (2 * sigma**2))
    )
    return rho * inside


def test_uniform_sphere_matches_the_analytic_form_factor():
    # A 100 Å sphere, gridded, blurred and de-blurred, sliced in random orientations on a
    # 64 x 64 detector: the same FFT / de-blur / crop / spline path as a structure.
    radius, rho = 100.0, 0.334
    det = Detector((64, 64), 6e-4, 0.1)
    q = det.q_vectors(ENERGY)
    q_abs = np.linalg.norm(q, axis=-1)
    q_max = q_abs.max()
    spacing = 1 / (3 * q_max)
    n = int(np.ceil(4 * 2 * radius / spacing))  # box = 4 diameters, as for structures
    blur = 8 * np.pi**2 / 1.1 * spacing**2
    density = _blurred_ball(n, spacing, radius, rho, np.sqrt(blur / (8 * np.pi**2)))
    amp = FourierAmplitude.from_density(density, spacing, q_max=q_max, blur=blur)
    f0 = rho * 4 / 3 * np.pi * radius**3
    # The density is pre-divided by the trilinear kernel's transform, so F is exact on
    # average over a cell of the refined grid, and at its nodes within the kernel's
    # correction (here 1 + pi^2 <x^2 + y^2 + z^2> / (12 box^2) = 1.008 at q = 0).
    cell = np.random.default_rng(0).random((4000, 3)) * amp.q_spacing / 2
    exact = f0 * sphere_form_factor(np.linalg.norm(cell, axis=1), radius)
    assert np.mean(np.abs(amp.sample(cell))) == pytest.approx(exact.mean(), rel=1e-3)
    assert abs(amp.sample([0.0, 0.0, 0.0])) == pytest.approx(f0, rel=1e-2)

    intensity = np.abs(amp.slices(q, Rotation.random(4, rng=0).as_matrix())) ** 2 / f0**2
    analytic = sphere_form_factor(q_abs, radius) ** 2
    # Central maximum and three side fringes: up to the 4th zero, 2 pi q R = 14.07.
    within = q_abs < 14.07 / (2 * np.pi * radius)
    ring = np.floor(np.hypot(*np.indices(det.shape) - 31.5)).astype(int)[within]
    counts = np.bincount(ring)
    expected = np.bincount(ring, analytic[within]) / counts
    for image in intensity:
        profile = np.bincount(ring, image[within]) / counts
        assert np.max(np.abs(profile - expected)) < 0.02
        # Trilinear interpolation on the 2x refined grid (step h = pi / 8 in x = 2 pi q R for
        # a box of 4 diameters) underestimates the curved central peak F = 1 - x^2 / 10 by at
        # most 3 axes * h^2 / 8 * |F''| = 0.0115, i.e. 2.3 % of I(0) in intensity.
        assert np.max(np.abs(image - analytic)[within]) < 0.025


def test_guinier_radius_of_gyration(small_structure, cache_dir):
    # ln I = ln I0 - (2 pi q Rg)^2 / 3 for 2 pi q Rg < 1.3, orientation-averaged, no noise.
    s = small_structure
    det = Detector((41, 41), 3e-4, 0.1)
    q = det.q_vectors(ENERGY)
    q_abs = np.linalg.norm(q, axis=-1)
    amp = FourierAmplitude.from_structure(s, q_abs.max(), cache_dir=cache_dir)
    mean_i = (np.abs(amp.slices(q, Rotation.random(64, rng=0).as_matrix())) ** 2).mean(axis=0)
    fit = 2 * np.pi * q_abs * s.radius_of_gyration < 1.3
    slope, intercept = np.polyfit(q_abs[fit] ** 2, np.log(mean_i[fit]), 1)
    rg = np.sqrt(-3 * slope) / (2 * np.pi)
    assert rg == pytest.approx(s.radius_of_gyration, rel=0.05)
    # Forward amplitude = number of electrons (IT92 form factors sum to Z within 0.1 %), up
    # to the interpolation's overshoot near the grid node q = 0 (0.26 % measured).
    assert np.exp(intercept / 2) == pytest.approx(s.n_electrons, rel=5e-3)


def test_second_call_reads_the_cache(small_structure, tmp_path, monkeypatch):
    calls = []
    original = amplitude_module._density_on_grid

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(amplitude_module, "_density_on_grid", counting)
    a = FourierAmplitude.from_structure(small_structure, 0.01, cache_dir=tmp_path)
    b = FourierAmplitude.from_structure(small_structure, 0.01, cache_dir=tmp_path)
    assert len(calls) == 1
    np.testing.assert_array_equal(a.values, b.values)
    assert any(tmp_path.rglob("output.pkl"))
    FourierAmplitude.from_structure(small_structure, 0.02, cache_dir=tmp_path)  # new grid
    FourierAmplitude.from_structure(small_structure, 0.01, cache_dir=False)
    assert len(calls) == 3


def test_default_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SKSPECKLE_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("SKSPECKLE_CACHE_DIR")
    assert default_cache_dir().parts[-2:] == (".cache", "skspeckle")


def test_sampling_outside_the_grid_and_bad_grids_are_refused(small_structure, cache_dir):
    amp = FourierAmplitude.from_structure(small_structure, 0.01, cache_dir=cache_dir)
    assert amp.q_max >= 0.01
    amp.sample([0.0, 0.0, 0.01])
    with pytest.raises(ValueError, match="larger q_max"):
        amp.sample([0.0, 0.0, 2 * amp.q_max])
    with pytest.raises(ValueError, match="Nyquist|1 / \\(2 q_max\\)"):
        FourierAmplitude.from_density(np.zeros((32, 32, 32)), 10.0, q_max=0.1)
    with pytest.raises(ValueError, match="oversampling"):
        FourierAmplitude.from_structure(small_structure, 0.01, oversampling=1, cache_dir=False)


def test_trilinear_slices_agree_with_the_quadratic_spline(small_structure, cache_dir):
    # Reference: the quadratic B-spline through the FFT samples (< 0.2 % of I(0) from the
    # analytic sphere above), evaluated directly with scipy.ndimage.
    det = Detector.speckle_nn().crop(96)
    q = det.q_vectors(ENERGY)[det.mask]
    amp = FourierAmplitude.from_structure(
        small_structure, np.linalg.norm(q, axis=1).max(), cache_dir=cache_dir
    )
    rotations = Rotation.random(6, rng=1).as_matrix()
    fast = np.abs(amp.slices(q, rotations)) ** 2
    coef = ndimage.spline_filter(amp.values, order=2, output=np.complex64)
    coords = np.einsum("pk,mkl->mpl", q / amp.q_spacing, rotations) + amp.values.shape[0] // 2
    spline = (
        np.abs(
            ndimage.map_coordinates(coef, coords.reshape(-1, 3).T, order=2, prefilter=False)
        ).reshape(fast.shape)
        ** 2
    )
    # Measured ~0.8 % (relative L2 over a pattern) for the bundled structures; the bound is
    # the peak-curvature bound of the sphere test, which holds pixel-wise relative to I(0).
    rel = np.linalg.norm(fast - spline, axis=1) / np.linalg.norm(spline, axis=1)
    assert rel.max() < 0.02
    assert np.abs(fast - spline).max() < 0.025 * small_structure.n_electrons**2
    # Grid points are reproduced exactly: the refinement interpolates the FFT samples.
    k = np.array([[3, -2, 5], [0, 0, 0], [-7, 1, 2]])
    np.testing.assert_allclose(
        amp.sample(k * amp.q_spacing),
        amp.values[tuple((k + amp.values.shape[0] // 2).T)],
        rtol=1e-4,
        atol=1e-3 * abs(amp.values).max(),
    )
