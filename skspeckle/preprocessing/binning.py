"""The :class:`PixelBinning` transformer.

Public as :class:`skspeckle.preprocessing.PixelBinning`.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skspeckle.utils._images import restore_layout, validate_images
from skspeckle.utils._sklearn_compat import Interval, fit_context

__all__ = ["PixelBinning"]


class PixelBinning(TransformerMixin, BaseEstimator):
    """Sum ``factor x factor`` blocks of pixels, as a detector read out in binned mode would.

    Binning keeps the photon (or ADU) count: a binned pixel holds the sum of its pixels, so
    speckles and fringes wider than ``factor`` pixels survive while the frame gets
    ``factor**2`` times smaller (the SpeckleNN network's first dense layer grows with the
    frame area: 124 M parameters at 260 x 257, 5.7 M at 65 x 64). Rows and columns that do not
    fill a whole block (at the bottom and right edges) are dropped. Put :class:`DetectorMask`
    first, so that masked and non-finite pixels are zeroed before they are summed.

    Parameters
    ----------
    factor : int, default=2
        Block side in pixels; 1 returns the frames unchanged (as float32).
    image_shape : tuple of int or None, default=None
        ``(H, W)`` of flattened 2-D input; square frames by default.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(H, W)`` of the input frames.
    n_features_in_ : int
        ``H * W`` for flattened input, ``H`` for 3-D input (scikit-learn's convention for
        the second axis).

    See Also
    --------
    skspeckle.detector.Detector.bin : the matching geometry (and mask) for the simulator.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle import PixelBinning
    >>> PixelBinning(2).fit_transform(np.ones((1, 5, 4)))
    array([[[4., 4.],
            [4., 4.]]], dtype=float32)
    """

    _parameter_constraints = {
        "factor": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
    }

    def __init__(self, factor=2, *, image_shape=None):
        self.factor = factor
        self.image_shape = image_shape

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the frame shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames; finite values only (mask bad pixels first with
            ``DetectorMask(nonfinite="mask")``).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.

        Raises
        ------
        ValueError
            If ``factor`` is larger than the frames, or on empty input, a wrong number of
            dimensions or non-finite pixels.
        """
        validate_images(self, X, reset=True, image_shape=self.image_shape)
        h, w = self.image_shape_
        if self.factor > min(h, w):
            raise ValueError(
                f"factor={self.factor} is larger than the {h} x {w} frames; choose a factor of "
                f"at most {min(h, w)}."
            )
        return self

    def transform(self, X):
        """Sum blocks of pixels.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the shape seen in ``fit``.

        Returns
        -------
        X_binned : ndarray of float32, shape (n_samples, H // factor, W // factor), or
            (n_samples, (H // factor) * (W // factor)) for 2-D input.

        Raises
        ------
        ValueError
            If the frame shape differs from ``fit``, or on non-finite pixels.
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        """
        check_is_fitted(self)
        images = validate_images(self, X, reset=False)
        f = self.factor
        n, (h, w) = len(images), self.image_shape_
        blocks = images[:, : h - h % f, : w - w % f].reshape(n, h // f, f, w // f, f)
        # Sum in float64: 16 pixels of ~1e4 ADU keep their integer part exactly.
        return restore_layout(blocks.sum(axis=(2, 4), dtype=np.float64).astype(np.float32), X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
