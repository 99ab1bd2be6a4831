import numpy as np
import pytest

from skspeckle.datasets._pr772 import PR772_ADU_PER_PHOTON, PR772_READ_NOISE_ADU, load_pr772_frames


def test_raw_frames_shapes_dtypes_and_conventions():
    X, mask = load_pr772_frames()
    assert X.shape == (10, 260, 257) and X.dtype == np.float32
    assert mask.shape == (260, 257) and mask.dtype == bool
    # Raw: the two +inf bad pixels and the negative dark-subtracted noise are kept.
    assert np.isposinf(X).sum() == 2 and not np.isnan(X).any()
    assert -600 < X[np.isfinite(X)].min() < -500
    # True = good: the panel gap and the beam stop are False.
    assert (~mask).sum() == 1455 and not mask[128:133].any() and mask[0, 0]
    X2, mask2, artifacts = load_pr772_frames(return_artifacts=True)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(mask2, mask)
    assert artifacts.dtype == bool and artifacts.sum() == 175
    # Loads are independent copies: editing one does not touch the next.
    X[0, 0, 0] = 1e9
    assert load_pr772_frames()[0][0, 0, 0] != 1e9


def test_documented_gain_and_read_noise_match_the_frames():
    X, mask = load_pr772_frames()
    values = X[:, mask & np.isfinite(X).all(axis=0)].ravel()
    counts, edges = np.histogram(values, bins=np.arange(-6, 20, 0.5))
    centres = (edges[1:] + edges[:-1]) / 2
    zero = centres[np.argmax(counts)]
    one = centres[np.argmax(counts * (centres > 4) * (centres < 12))]
    two = centres[np.argmax(counts * (centres > 12.5))]
    assert abs(zero) < 0.5
    assert one - zero == pytest.approx(PR772_ADU_PER_PHOTON, abs=0.8)
    assert two - one == pytest.approx(PR772_ADU_PER_PHOTON, abs=0.8)
    # The negative half of the zero-photon peak is the read noise.
    negative = values[(values < 0) & (values > -6)]
    assert np.sqrt(np.mean(negative**2)) == pytest.approx(PR772_READ_NOISE_ADU, abs=0.2)
