"""QGridResampler: identity, binning, the same particle seen by two geometries, masks, errors."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skspeckle import DetectorMask, FewShotCentroidClassifier, PixelBinning, QGridResampler
from skspeckle.datasets import make_speckle_patterns
from skspeckle.detector import Detector
from skspeckle.pretrained import embedder_provenance, frame_geometry, load_embedder

# The pnCCD at this distance spans the pretrained grid's q range at 1.6 keV but for its last
# row and column, with 2.7 of its pixels per unbinned grid pixel (5.3 per binned one).
PNCCD = Detector.pnccd_back(0.13)
PNCCD_KEV = 1.6


def _noise_free(detector, energy, cache, **kwargs):
    """Single and multi hits of 1n7g: the same orientations and aggregates for any detector
    (the draws do not depend on it), without shot noise, jitter or background."""
    params = dict(
        n_per_class=3,
        classes=("single-hit", "multi-hit"),
        shot_noise=False,
        fluence_jitter=0.0,
        background=0.0,
        n_photons=1e14,
        cache_dir=cache,
        random_state=0,
    )
    if detector is not None:
        params.update(detector=detector, binning=1, photon_energy_kev=energy)
    X, y, _ = make_speckle_patterns(["1n7g"], **{**params, **kwargs})
    return X, y


def test_identity_resampling_is_exact():
    rng = np.random.default_rng(0)
    det = Detector.pnccd_back()
    X = rng.poisson(5.0, size=(3, *det.shape)).astype(np.float32)
    X[:, ~det.mask] = np.nan  # masked pixels are never read
    r = QGridResampler(det, source_energy_kev=1.6, target=det).fit(X)
    out = r.transform(X)
    assert r.subsampling_ == 1 and r.coverage_ == 1.0
    np.testing.assert_array_equal(r.mask_, det.mask)
    np.testing.assert_allclose(out[:, det.mask], X[:, det.mask], rtol=1e-6)
    assert np.isnan(out[:, ~det.mask]).all()


def test_a_binned_target_receives_the_sum_of_its_pixels():
    rng = np.random.default_rng(1)
    fine = Detector((16, 14), pixel_size=5e-4, distance=0.05, beam_center=(6.5, 8.5))
    X = rng.poisson(3.0, size=(4, 16, 14)).astype(np.float32)
    r = QGridResampler(fine, target=fine.bin(2)).fit(X)
    assert r.subsampling_ == 2
    np.testing.assert_allclose(r.transform(X), PixelBinning(2).fit_transform(X), rtol=1e-5)


@pytest.mark.parametrize("kind", ["single-hit", "multi-hit"])
def test_the_same_particle_seen_by_the_pnccd_and_resampled_matches_the_pretrained_grid(
    amplitude_cache, kind
):
    target, binning, _ = frame_geometry()
    X_target, y = _noise_free(None, None, amplitude_cache)
    X_source, _ = _noise_free(PNCCD, PNCCD_KEV, amplitude_cache)
    r = QGridResampler(PNCCD, source_energy_kev=PNCCD_KEV).fit(X_source)
    out = r.transform(X_source)
    assert out.shape == X_target.shape
    assert r.subsampling_ == 3
    # Every binned pixel with a good pixel is kept, the 8 partly behind the beam stop too,
    # but on the grid's border (its last column, corners): half a pnCCD pixel or more
    # beyond its edges.
    blocks = target.mask.reshape(48, 2, 48, 2)
    inner = np.s_[1:-1, 1:-1]
    np.testing.assert_array_equal(r.mask_[inner], blocks.any(axis=(1, 3))[inner])
    assert not r.mask_[:, -1].any() and r.coverage_ > 0.97
    assert (r.mask_ & ~blocks.all(axis=(1, 3))).sum() == 8
    for i in np.flatnonzero(y == kind):
        a, b = X_target[i][r.mask_], out[i][r.mask_]
        # Stated tolerances: log-intensity correlation >= 0.998, total photons within 1 %,
        # and the median pixel within 5 % (the two simulations' amplitude grids differ too).
        assert np.corrcoef(np.log(a), np.log(b))[0, 1] >= 0.998
        assert b.sum() == pytest.approx(a.sum(), rel=0.01)
        assert np.median(np.abs(b / a - 1)) < 0.05


def test_a_farther_source_covers_the_centre_only_and_agrees_there(amplitude_cache):
    far = Detector.pnccd_back(0.2)
    X_target, _ = _noise_free(None, None, amplitude_cache)
    X_source, _ = _noise_free(far, 1.66, amplitude_cache)
    r = QGridResampler(far, source_energy_kev=1.66).fit(X_source)
    out = r.transform(X_source)
    assert 0.3 < r.coverage_ < 0.6
    target, binning, _ = frame_geometry()
    assert not r.mask_[0, 0] and r.mask_[12, 12]  # a corner lies beyond the pnCCD
    assert np.isnan(out[:, ~r.mask_]).all() and np.isfinite(out[:, r.mask_]).all()
    # The target's beam stop and gap stay masked.
    assert not (r.mask_ & ~target.mask.reshape(48, 2, 48, 2).any(axis=(1, 3))).any()
    a, b = X_target[:, r.mask_], out[:, r.mask_]
    assert b.sum() == pytest.approx(a.sum(), rel=0.01)
    # DetectorMask after it zeroes the rest, as the simulator zeroes masked pixels.
    filled = DetectorMask(nonfinite="mask").fit_transform(out)
    assert (filled[:, ~r.mask_] == 0).all()


def test_source_mask_gaps_become_masked_target_pixels():
    det = Detector((40, 40), pixel_size=1e-3, distance=0.1)
    mask = np.ones((40, 40), dtype=bool)
    mask[10:30, :] = False  # a 20-row gap across the middle
    gapped = Detector((40, 40), pixel_size=1e-3, distance=0.1, mask=mask)
    coarse = det.bin(4)  # 10 x 10 pixels of 4 x 4 source pixels
    X = np.ones((1, 40, 40), dtype=np.float32)
    r = QGridResampler(gapped, target=coarse).fit(X)
    out = r.transform(X)[0]
    assert r.subsampling_ == 4
    # Target rows 2 and 7 (source rows 8-11 and 28-31) are half on the gap: kept at
    # min_coverage=0.5, from their good half scaled to the whole pixel; dropped at 1.
    np.testing.assert_array_equal(r.mask_.all(axis=1), [1, 1, 1, 0, 0, 0, 0, 1, 1, 1])
    assert not r.mask_[3:7].any()
    np.testing.assert_allclose(out[r.mask_], 16.0, rtol=1e-3)  # 4 x 4 pixels of 1 photon
    assert np.isnan(out[~r.mask_]).all()
    strict = QGridResampler(gapped, target=coarse, min_coverage=1.0).fit(X)
    np.testing.assert_array_equal(strict.mask_.all(axis=1), [1, 1, 0, 0, 0, 0, 0, 0, 1, 1])


def test_target_binning_sums_good_pixels_as_the_read_out_does():
    det = Detector((8, 8), pixel_size=1e-3, distance=0.1)
    mask = np.ones((8, 8), dtype=bool)
    mask[3, 3] = False  # one pixel of the target behind a beam stop
    target = Detector((8, 8), pixel_size=1e-3, distance=0.1, mask=mask)
    X = np.ones((1, 8, 8), dtype=np.float32)
    r = QGridResampler(det, target=target, target_binning=2).fit(X)
    out = r.transform(X)[0]
    assert r.mask_.all() and out[1, 1] == pytest.approx(3.0) and out[0, 0] == pytest.approx(4.0)
    # A binned pixel the source misses in part is dropped, not summed too dim.
    gap = mask.copy()
    gap[3, 3], gap[0, 0] = True, False
    missing = Detector((8, 8), pixel_size=1e-3, distance=0.1, mask=gap)
    r = QGridResampler(missing, target=det, target_binning=2).fit(X)
    assert not r.mask_[0, 0] and r.mask_.sum() == 15
    with pytest.raises(ValueError, match="binning"):
        QGridResampler(det, target=det, target_binning=3).fit(X)
    with pytest.raises(ValueError, match="own binning"):
        QGridResampler(det, target_binning=2).fit(X)


def test_nonfinite_good_pixels_are_refused_with_the_fix():
    det = Detector((8, 8), pixel_size=1e-3, distance=0.1)
    X = np.ones((2, 8, 8), dtype=np.float32)
    r = QGridResampler(det, target=det).fit(X)
    X[1, 3, 4] = np.inf
    with pytest.raises(ValueError, match=r"non-finite .* \(row, col\) \(3, 4\).*mask"):
        r.transform(X)


def test_no_coverage_is_a_clear_error_with_both_q_ranges():
    tiny = Detector((10, 10), pixel_size=1e-4, distance=1.0)  # |q| < 1e-4 / Å: the beam stop
    with pytest.raises(ValueError, match=r"covers none.*\|q\| from .* Å\^-1 at 1.66 keV"):
        QGridResampler(tiny).fit(np.ones((1, 10, 10)))


def test_frames_of_another_shape_are_refused():
    with pytest.raises(ValueError, match=r"source detector has \(260, 257\) pixels"):
        QGridResampler(PNCCD, source_energy_kev=PNCCD_KEV).fit(np.ones((2, 48, 48)))
    r = QGridResampler(PNCCD, source_energy_kev=PNCCD_KEV).fit(np.ones((1, 260 * 257)))
    assert r.transform(np.ones((2, 260 * 257))).shape == (2, 48 * 48)  # flat in, flat out


def test_the_pretrained_target_is_the_grid_the_weights_were_trained_on():
    target, binning, energy = frame_geometry()
    binned = target.bin(binning)
    assert binned.shape == tuple(embedder_provenance()["data"]["image_shape"]) == (48, 48)
    assert energy == 1.66 and binned.pixel_size == pytest.approx(1.2e-3)
    assert "crop(96), binning 2" in embedder_provenance()["data"]["detector"]


def test_pipeline_with_the_pretrained_embedder_and_clone(amplitude_cache):
    X, y, _ = make_speckle_patterns(
        ["1n7g"],
        n_per_class=4,
        classes=("single-hit", "multi-hit"),
        detector=PNCCD,
        binning=1,
        photon_energy_kev=PNCCD_KEV,
        cache_dir=amplitude_cache,
        random_state=3,
    )
    pipe = make_pipeline(
        QGridResampler(PNCCD, source_energy_kev=PNCCD_KEV),
        DetectorMask(nonfinite="mask"),
        load_embedder(device="cpu"),
        FewShotCentroidClassifier(k=2),
    )
    support = np.r_[0:2, 4:6]
    predictions = [p.fit(X[support], y[support]).predict(X) for p in (pipe, clone(pipe))]
    np.testing.assert_array_equal(*predictions)
    assert set(predictions[0]) <= {"single-hit", "multi-hit"}


def _sphere_photons(detector, energy, radius):
    """Photons per pixel of a uniform sphere of ``radius`` Å: dOmega P |F(q)|^2, F -> 1 at
    q = 0 (the sphere's form factor, x = 2 pi |q| R)."""
    x = 2 * np.pi * np.linalg.norm(detector.q_vectors(energy), axis=-1) * radius
    x = np.maximum(x, 1e-9)
    form = 3 * (np.sin(x) - x * np.cos(x)) / x**3
    return np.where(detector.mask, detector.solid_angle() * detector.polarization() * form**2, 0)


@pytest.mark.parametrize("interpolation", ["linear", "area"])
@pytest.mark.parametrize("scale", [2.0, 2.5])
def test_q_scale_shows_a_larger_particle_as_the_pretrained_grid_sees_a_smaller_one(
    scale, interpolation
):
    # Scale similarity: a sphere `scale` times larger, read at |q| / scale from a finer
    # detector, gives the pretrained grid's frame of the smaller sphere.
    target, binning, energy = frame_geometry()
    small = _sphere_photons(target, energy, 50.0)
    expected = small.reshape(48, 2, 48, 2).sum(axis=(1, 3))
    # |q| to 0.030 Å^-1 at its corners, beyond the grid's 0.051 / scale, at 2.4 of its
    # pixels per binned grid pixel over scale.
    fine = Detector((128, 128), pixel_size=2.5e-4, distance=0.1)
    X = _sphere_photons(fine, energy, 50.0 * scale)[None].astype(np.float32)
    r = QGridResampler(fine, q_scale=scale, interpolation=interpolation).fit(X)
    out = r.transform(X)[0]
    assert r.coverage_ == 1.0
    a, b = expected[r.mask_], out[r.mask_]
    assert np.corrcoef(a, b)[0, 1] > 0.999
    assert b.sum() == pytest.approx(a.sum(), rel=0.01)
    # Without the scale, the same frames show the larger sphere's fringes: far off.
    plain = QGridResampler(fine).fit(X).transform(X)[0]
    common = r.mask_ & np.isfinite(plain)
    assert np.corrcoef(expected[common], plain[common])[0, 1] < 0.9


def test_a_q_scale_beyond_the_source_is_a_clear_error():
    fine = Detector((40, 40), pixel_size=2.5e-4, distance=0.1)
    with pytest.raises(ValueError, match=r"covers none.*read at \|q\| / q_scale = \|q\| / 0.01"):
        QGridResampler(fine, q_scale=0.01).fit(np.ones((1, 40, 40)))


@pytest.mark.parametrize("interpolation", ["linear", "area"])
def test_identity_and_binning_are_exact_in_both_interpolations(interpolation):
    rng = np.random.default_rng(2)
    fine = Detector((16, 14), pixel_size=5e-4, distance=0.05, beam_center=(6.5, 8.5))
    X = rng.poisson(3.0, size=(4, 16, 14)).astype(np.float32)
    # "area" sums the solid angles of its sub-points where a pixel's own is taken at its
    # centre: 3e-5 apart at these angles.
    same = QGridResampler(fine, target=fine, interpolation=interpolation).fit(X)
    np.testing.assert_allclose(same.transform(X), X, rtol=1e-4)
    binned = QGridResampler(fine, target=fine.bin(2), interpolation=interpolation).fit(X)
    np.testing.assert_allclose(binned.transform(X), PixelBinning(2).fit_transform(X), rtol=1e-4)


def test_area_reads_do_not_blur_a_finer_target():
    # A target of half the source's pitch: "area" gives each target pixel the photons of the
    # source pixel under it (a quarter of them), "linear" mixes in the neighbours.
    coarse = Detector((12, 12), pixel_size=1e-3, distance=1.0)
    fine = Detector((24, 24), pixel_size=5e-4, distance=1.0)
    X = np.zeros((1, 12, 12), dtype=np.float32)
    X[0, 5, 6] = 100.0  # one bright pixel
    area = QGridResampler(coarse, target=fine, interpolation="area").fit_transform(X)[0]
    linear = QGridResampler(coarse, target=fine).fit_transform(X)[0]
    assert area[10:12, 12:14] == pytest.approx(np.full((2, 2), 25.0), rel=1e-3)
    assert area.sum() == pytest.approx(100.0, rel=1e-3) and (area > 1e-3).sum() == 4
    assert (linear > 1e-3).sum() > 4 and linear.max() < 25.0 * 0.9
