"""Hit finding by the number of Bragg peaks on a frame (Cheetah's peakfinder8 in spirit; Ke et
al. 2018), thresholds fitted to labels."""

from numbers import Integral, Real

import numpy as np

from skspeckle.baselines.sfx._threshold import ThresholdClassifier
from skspeckle.baselines.sfx.peak_finder import count_peaks
from skspeckle.utils._sklearn_compat import Interval

__all__ = ["PeakCountClassifier"]


class PeakCountClassifier(ThresholdClassifier):
    """Hit finding by the number of Bragg peaks (:func:`count_peaks`).

    The conventional SFX hit finder (Cheetah's peakfinder8, Barty et al. 2014; the labels of
    Ke et al. 2018 were made by counting spots). The score is the number of peaks on each
    frame; ``thresholds=None`` fits the cut points between the classes (ordered by median
    count) to maximise the balanced accuracy on the training frames, while explicit
    ``thresholds`` apply a fixed rule -- ``(4, 10)`` is Ke et al.'s miss (<= 3) / maybe
    (4-9) / hit (>= 10) with labels ``"hit"``, ``"maybe"``, ``"miss"``, and ``(4,)`` their
    "hit or maybe" vs miss (Xie et al., Sec. 3.1).

    Parameters
    ----------
    thresholds : tuple of float or None, default=None
        Ascending peak counts from which a frame belongs to the next class up (classes
        ordered by their median count in ``fit``); None fits them.
    snr, min_value, background_size, min_pixels, max_pixels
        Peak finder settings, see :func:`find_peaks`.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` of flattened input ``(n_samples, H * W)``; square frames by default.

    Attributes
    ----------
    classes_, order_, image_shape_, n_features_in_
        As :class:`TotalIntensityClassifier`.
    thresholds_ : ndarray of shape (n_classes - 1,)
        Peak counts from which a frame belongs to the next class up.

    Examples
    --------
    >>> from skspeckle.simulation.sfx import make_sfx_frames
    >>> from skspeckle.baselines import PeakCountClassifier
    >>> X, y = make_sfx_frames(60, random_state=0)
    >>> clf = PeakCountClassifier(thresholds=(4, 10)).fit(X, y)
    >>> [str(c) for c in clf.classes_[clf.order_]]
    ['miss', 'maybe', 'hit']
    """

    _parameter_constraints = {
        "thresholds": [tuple, list, None],
        "snr": [Interval(Real, 0, None, closed="neither")],
        "min_value": [Real],
        "background_size": [Interval(Integral, 5, None, closed="left")],
        "min_pixels": [Interval(Integral, 1, None, closed="left")],
        "max_pixels": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
    }

    def __init__(
        self,
        thresholds=None,
        *,
        snr=6.0,
        min_value=1.0,
        background_size=11,
        min_pixels=2,
        max_pixels=50,
        image_shape=None,
    ):
        self.thresholds = thresholds
        self.snr = snr
        self.min_value = min_value
        self.background_size = background_size
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self.image_shape = image_shape

    def _given_thresholds(self):
        if self.thresholds is None:
            return None
        t = np.asarray(self.thresholds, dtype=np.float64)
        if t.ndim != 1 or (np.diff(t) < 0).any():
            raise ValueError(
                f"thresholds must be an ascending sequence of peak counts; got {self.thresholds!r}."
            )
        return t

    def _scores(self, X):
        return count_peaks(
            X,
            snr=self.snr,
            min_value=self.min_value,
            background_size=self.background_size,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
        ).astype(np.float64)
