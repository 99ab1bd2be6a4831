"""Validation of image stacks (skspeckle.utils._images): the float32 range."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from skspeckle.utils._images import validate_images


class _Step(BaseEstimator):
    pass


@pytest.mark.parametrize("allow_nonfinite", [False, True])
@pytest.mark.parametrize("flat", [False, True])
def test_float64_beyond_float32_is_out_of_range_not_nonfinite(allow_nonfinite, flat):
    X = np.ones((4, 3, 3))
    X[2, 1, 1] = -1e39
    X[3, 0, 0] = 5e38
    if flat:
        X = X.reshape(4, 9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in cast" RuntimeWarning
        with pytest.raises(ValueError) as info:
            validate_images(_Step(), X, reset=True, allow_nonfinite=allow_nonfinite)
    message = str(info.value)
    assert message.startswith("Frame 2 has the pixel value -1e+39, outside the float32 range")
    assert "2 pixel(s) in 2 frame(s)" in message and "non-finite" not in message


def test_float64_in_range_and_nonfinite_pixels_pass_as_before():
    X = np.full((2, 4, 4), 3e38)
    X[0, 0, 0], X[1, 0, 0] = np.inf, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images = validate_images(_Step(), X, reset=True, allow_nonfinite=True)
    assert images.dtype == np.float32
    assert np.isinf(images[0, 0, 0]) and np.isnan(images[1, 0, 0])
    assert np.all(np.isfinite(images[:, 1:]))  # 3e38 fits float32
    # Without allow_nonfinite, inf and NaN are still sklearn's non-finite error.
    with pytest.raises(ValueError, match="infinity|NaN"):
        validate_images(_Step(), X, reset=True)
