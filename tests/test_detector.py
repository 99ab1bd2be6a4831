import numpy as np
import pytest

from skspeckle.detector import Detector, wavelength


def test_speckle_nn_geometry_and_mask():
    det = Detector.speckle_nn()
    assert det.shape == (172, 172) and det.distance == 0.1 and det.pixel_size == 6e-4
    assert det.beam_center == (85.5, 85.5)
    bad = ~det.mask
    assert bad[84:88, :].all()  # the 172 x 4 gap
    assert bad[83:89, 82:90].all()  # the 6 x 8 beam stop
    assert bad.sum() == 172 * 4 + 2 * 8  # plus the two beam-stop rows outside the gap
    crop = det.crop(96)
    assert crop.shape == (96, 96) and crop.beam_center == (47.5, 47.5)
    np.testing.assert_array_equal(crop.mask, det.mask[38:134, 38:134])
    # The edge of the default crop reaches |q| ~ 0.037 1/Å at 1.66 keV.
    q = np.linalg.norm(crop.q_vectors(1.66), axis=-1)
    assert q[47, 0] == pytest.approx(0.037, abs=0.001)


def test_q_is_two_sin_theta_over_lambda_on_the_ewald_sphere():
    det = Detector((21, 31), 1e-3, 0.05)
    q = det.q_vectors(2.0)
    lam = wavelength(2.0)
    assert lam == pytest.approx(6.1992, abs=1e-4)
    p = det.pixel_positions()
    two_theta = np.arctan2(np.hypot(p[..., 0], p[..., 1]), p[..., 2])
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 2 * np.sin(two_theta / 2) / lam)
    # Ewald sphere: |q + k_in| = 1 / lambda.
    np.testing.assert_allclose(np.linalg.norm(q + [0, 0, 1 / lam], axis=-1), 1 / lam)


def test_solid_angle_and_polarisation_are_one_at_the_beam_centre():
    det = Detector((33, 33), 6e-4, 0.1)
    omega = det.solid_angle() / (det.pixel_size / det.distance) ** 2
    assert omega[16, 16] == pytest.approx(1.0, abs=1e-12)
    assert (omega < 1 - 1e-12).sum() == omega.size - 1
    for kind in ("horizontal", "vertical", "unpolarized"):
        assert det.polarization(kind)[16, 16] == pytest.approx(1.0)
    p = det.polarization()
    two_theta = np.arctan(16 * det.pixel_size / det.distance)
    assert p[16, 32] == pytest.approx(np.cos(two_theta) ** 2)  # in the polarisation plane
    assert p[32, 16] == pytest.approx(1.0)  # perpendicular to it
    np.testing.assert_allclose(det.polarization("vertical"), p.T)
    with pytest.raises(ValueError, match="horizontal"):
        det.polarization("circular")


def test_bin_and_crop_bookkeeping():
    det = Detector.speckle_nn().crop(96)
    binned = det.bin(2)
    assert binned.shape == (48, 48) and binned.pixel_size == pytest.approx(1.2e-3)
    assert binned.beam_center == (23.5, 23.5)
    assert binned.mask.sum() == det.mask.reshape(48, 2, 48, 2).all(axis=(1, 3)).sum()
    with pytest.raises(ValueError, match="crop"):
        det.bin(5)
    with pytest.raises(ValueError, match="fit"):
        det.crop(100)


def test_invalid_geometry_is_refused():
    with pytest.raises(ValueError, match="pixel_size"):
        Detector((10, 10), -1e-3, 0.1)
    with pytest.raises(ValueError, match="mask"):
        Detector((10, 10), 1e-3, 0.1, mask=np.ones((9, 10), bool))
    with pytest.raises(ValueError, match="photon_energy_kev"):
        Detector((10, 10), 1e-3, 0.1).q_vectors(0.0)


def test_pnccd_back_is_the_geometry_of_the_real_frames():
    from skspeckle.datasets._pr772 import load_pr772_frames

    det = Detector.pnccd_back()
    assert det.shape == (260, 257) and det.pixel_size == 3e-4 and det.distance == 0.586
    assert det.beam_center == (129.0, 128.5)
    X, mask = load_pr772_frames()
    np.testing.assert_array_equal(det.mask, mask)
    assert not det.mask[128:133].any()  # the gap between the two panels
    assert not det.mask[129, 128]  # the beam stop
    assert Detector.pnccd_back(0.2).distance == 0.2
    # The documented check of the distance: the first minimum of the radial profile of a
    # single-looking frame lies where a ~58 nm sphere (PR772) has its first zero.
    good = mask & np.isfinite(X).all(axis=0)
    r = np.rint(np.hypot(*(np.indices(det.shape) - np.array([129.0, 128.5])[:, None, None])))
    r = r.astype(int)
    profile = np.bincount(r[good], X[8][good]) / np.maximum(np.bincount(r[good]), 1)
    first_min = 20 + np.argmin(profile[20:50])
    q1 = np.linalg.norm(det.q_vectors(1.6, 129.0, 128.5 + first_min))
    diameter_nm = 2 * 4.4934 / (2 * np.pi * q1) / 10
    assert 50 < diameter_nm < 70
