"""Hit finding by the total intensity of a frame (Li 2018, Sec. I), thresholds fitted to labels."""

import numpy as np

from skspeckle.baselines.sfx._threshold import ThresholdClassifier

__all__ = ["TotalIntensityClassifier"]


class TotalIntensityClassifier(ThresholdClassifier):
    """Hit finding by the total intensity of a frame, thresholds fitted to labels.

    The naive hit finder (Li 2018, Sec. I): a hit scatters more light than a miss. The score
    is the sum of the finite pixels of each frame (negative ADU included); ``fit`` orders the
    classes by their median score and places the thresholds between them to maximise the
    balanced accuracy on the training frames (exactly). It fails where the background
    (water ring, jet thickness) varies more than the Bragg signal -- which is why it is a
    baseline.

    Parameters
    ----------
    image_shape : tuple of int or None, default=None
        ``(H, W)`` of flattened input ``(n_samples, H * W)``; square frames by default.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    order_ : ndarray of shape (n_classes,)
        Indices into ``classes_`` from the lowest to the highest median score.
    thresholds_ : ndarray of shape (n_classes - 1,)
        Total intensity (photons or ADU) from which a frame belongs to ``classes_[order_[k
        + 1]]`` rather than ``classes_[order_[k]]``.
    image_shape_ : tuple of int
    n_features_in_ : int

    Examples
    --------
    >>> from skspeckle.simulation.sfx import make_sfx_frames
    >>> from skspeckle.baselines import TotalIntensityClassifier
    >>> X, y = make_sfx_frames(60, random_state=0)
    >>> clf = TotalIntensityClassifier().fit(X, y)
    >>> clf.thresholds_.shape
    (2,)
    """

    _parameter_constraints = {"image_shape": [tuple, list, None]}

    def __init__(self, image_shape=None):
        self.image_shape = image_shape

    def _scores(self, X):
        return np.where(np.isfinite(X), X, 0).sum(axis=(1, 2), dtype=np.float64)
