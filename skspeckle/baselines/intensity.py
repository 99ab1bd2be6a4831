"""Hit finding without learning a network: total intensity and Bragg-peak counting.

The two classical baselines of SFX hit finding (Li 2018, Sec. I; Ke et al. 2018): a frame is a
hit when it holds more light than a threshold, or when a peak finder counts enough Bragg peaks
on it. Both reduce a frame to one score and classify by thresholds on it, fitted to the
labelled training frames (:class:`TotalIntensityClassifier`, :class:`PeakCountClassifier`).
:func:`find_peaks` is the peak finder itself, in the spirit of Cheetah's peakfinder8 (Barty et
al., J. Appl. Cryst. 47, 1118, 2014): connected pixels standing ``snr`` local standard
deviations above a local, sigma-clipped background.
"""

from numbers import Integral, Real

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._images import validate_images

__all__ = ["find_peaks", "count_peaks", "TotalIntensityClassifier", "PeakCountClassifier"]

# 8-connected pixels in a frame, never across frames of a stack.
_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_STRUCTURE[1] = True


def _peak_labels(X, mask, snr, min_value, background_size, min_pixels, max_pixels):
    """Label the peaks of a stack ``(n, H, W)``; returns (labels, n_labels, signal, sizes)."""
    valid = np.isfinite(X)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)[None]
    x = np.where(valid, X, 0).astype(np.float64)
    outer, inner = background_size, min(5, background_size - 2)
    keep = valid.astype(np.float64)

    def ring_sum(a):
        # Sum over the box of side `outer` minus the box of side `inner` around each pixel:
        # the background is measured around a peak, not on it (peakfinder8 uses an annulus).
        return (ndimage.uniform_filter(a, (1, outer, outer), mode="constant") * outer ** 2
                - ndimage.uniform_filter(a, (1, inner, inner), mode="constant") * inner ** 2)

    # Local mean and standard deviation over the valid pixels of the ring, twice: the
    # second pass leaves out the pixels the first flagged, so that neighbouring peaks do not
    # inflate the background (peakfinder8 clips iteratively as well).
    for _ in range(2):
        weight = np.maximum(ring_sum(keep), 1e-12)
        mean = ring_sum(x * keep) / weight
        var = ring_sum(x * x * keep) / weight - mean ** 2
        sigma = np.sqrt(np.maximum(var, 0))
        above = valid & (x - mean > snr * sigma) & (x - mean > min_value)
        keep = (valid & ~above).astype(np.float64)
    labels, n = ndimage.label(above, structure=_STRUCTURE)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    good = (sizes >= min_pixels) & (sizes <= max_pixels)
    good[0] = False
    return labels, good, x - mean, sizes


def _check_peak_params(snr, min_value, background_size, min_pixels, max_pixels):
    if not snr > 0:
        raise ValueError(f"snr must be positive; got {snr}.")
    if int(background_size) != background_size or background_size < 5 or background_size % 2 == 0:
        raise ValueError(f"background_size must be an odd integer >= 5; got {background_size}.")
    if not 1 <= min_pixels <= max_pixels:
        raise ValueError(f"Need 1 <= min_pixels <= max_pixels; got min_pixels={min_pixels}, "
                         f"max_pixels={max_pixels}.")
    if not np.isfinite(min_value):
        raise ValueError(f"min_value must be finite; got {min_value}.")


def find_peaks(frame, *, snr=6.0, min_value=1.0, background_size=11, min_pixels=2,
               max_pixels=50, mask=None):
    """Find Bragg peaks on one detector frame.

    A pixel belongs to a peak when it exceeds the local background mean by more than ``snr``
    local standard deviations and by more than ``min_value``; the background is the mean and
    standard deviation of the valid pixels in a ``background_size`` box around it, estimated
    twice, the second time without the pixels the first pass flagged. 8-connected flagged
    pixels form one peak; peaks of fewer than ``min_pixels`` or more than ``max_pixels``
    pixels (streaks, ice rings) are dropped. ``min_pixels=2`` rejects hot pixels and
    single-photon noise at the price of faint one-pixel spots (Bragg spots are often one
    pixel wide, Li 2018, Sec. III A): the peak count underestimates the spot count.

    Parameters
    ----------
    frame : array-like of shape (H, W)
        Photons or ADU. NaN / inf pixels are treated as masked.
    snr : float, default=6.0
        Threshold in local standard deviations (peakfinder8's ``minSNR``).
    min_value : float, default=1.0
        Threshold above the local mean in the units of ``frame`` (peakfinder8's
        ``ADCthresh``): one photon by default, so that isolated photons on an empty
        background, where the local standard deviation vanishes, are no peaks. Set it in ADU
        for frames in ADU (e.g. a few times the read noise).
    background_size : int, default=11
        Odd side (pixels, >= 5) of the box of the local background; the central 5 x 5 (3 x 3
        for a side of 5) is left out, so the background is a square annulus around the
        pixel.
    min_pixels, max_pixels : int, default=2, 50
        Accepted peak sizes (pixels).
    mask : array-like of shape (H, W), bool, or None, default=None
        True for good pixels; masked pixels are neither peaks nor background.

    Returns
    -------
    peaks : ndarray of shape (n_peaks, 2), float64
        ``(row, column)`` of each peak: the centroid of its pixels weighted by their signal
        above the local background, in raster order of the peaks' first pixels.

    Raises
    ------
    ValueError
        If ``frame`` is not 2-D, ``mask`` has another shape, or a parameter is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines.intensity import find_peaks
    >>> frame = np.ones((20, 20))
    >>> frame[5, 5:7] = 50
    >>> find_peaks(frame)
    array([[5. , 5.5]])
    """
    frame = np.asarray(frame, dtype=np.float64)
    if frame.ndim != 2:
        raise ValueError(f"frame must be a 2-D array (H, W); got {frame.ndim} dimension(s). "
                         "For a stack of frames use count_peaks.")
    if mask is not None and np.shape(mask) != frame.shape:
        raise ValueError(f"mask has shape {np.shape(mask)} but frame has {frame.shape}.")
    _check_peak_params(snr, min_value, background_size, min_pixels, max_pixels)
    labels, good, signal, _ = _peak_labels(frame[None], mask, snr, min_value,
                                           int(background_size), min_pixels, max_pixels)
    index = np.flatnonzero(good)
    if index.size == 0:
        return np.empty((0, 2))
    centres = ndimage.center_of_mass(np.maximum(signal[0], 0), labels[0], index)
    return np.asarray(centres, dtype=np.float64).reshape(-1, 2)


def count_peaks(X, *, snr=6.0, min_value=1.0, background_size=11, min_pixels=2,
                max_pixels=50, mask=None):
    """Number of Bragg peaks on each frame of a stack (:func:`find_peaks` on each).

    Parameters
    ----------
    X : array-like of shape (n_frames, H, W)
    snr, min_value, background_size, min_pixels, max_pixels, mask
        As :func:`find_peaks`.

    Returns
    -------
    counts : ndarray of shape (n_frames,), int64

    Raises
    ------
    ValueError
        If ``X`` is not 3-D or a parameter is out of range.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(f"X must be a stack of frames (n_frames, H, W); got {X.ndim} "
                         "dimension(s).")
    _check_peak_params(snr, min_value, background_size, min_pixels, max_pixels)
    labels, good, _, _ = _peak_labels(X, mask, snr, min_value, int(background_size),
                                      min_pixels, max_pixels)
    # Labels are numbered in raster order over the whole stack: each belongs to one frame.
    frame_of = np.zeros(len(good), dtype=np.int64)
    flat = labels.reshape(len(X), -1)
    rows, cols = np.nonzero(flat)
    frame_of[flat[rows, cols]] = rows
    return np.bincount(frame_of[good], minlength=len(X)).astype(np.int64)


class _ThresholdClassifier(ClassifierMixin, BaseEstimator):
    """Classify by ordered thresholds on a per-frame score.

    ``fit`` orders the classes by their median score and, unless thresholds are given,
    chooses the ``n_classes - 1`` cut points that maximise the balanced accuracy on the
    training frames (exactly, by dynamic programming over the sorted scores). A frame whose
    score is at least ``thresholds_[k]`` belongs to ``order_[k + 1]`` or above.
    """

    def _scores(self, X):
        raise NotImplementedError

    def _given_thresholds(self):
        return None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        name = type(self).__name__
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None: the "
                             "thresholds are fitted to labelled frames.")
        X, y = validate_images(self, X, reset=True, image_shape=self.image_shape,
                               allow_nonfinite=True, y=y)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{name} needs at least 2 classes; got 1 class ({self.classes_[0]!r}).")
        scores = self._scores(X)
        medians = np.array([np.median(scores[y_enc == k]) for k in range(len(self.classes_))])
        self.order_ = np.argsort(medians, kind="stable")
        given = self._given_thresholds()
        if given is not None:
            if len(given) != len(self.classes_) - 1:
                raise ValueError(
                    f"thresholds has {len(given)} value(s) but {len(self.classes_)} classes "
                    f"need {len(self.classes_) - 1} (one between each pair of classes ordered "
                    "by score)."
                )
            self.thresholds_ = np.asarray(given, dtype=np.float64)
        else:
            rank = np.empty_like(self.order_)
            rank[self.order_] = np.arange(len(self.order_))
            self.thresholds_ = _fit_thresholds(scores, rank[y_enc], len(self.classes_))
        return self

    def _is_binary(self):
        check_is_fitted(self, "thresholds_")
        return len(self.classes_) == 2

    @available_if(_is_binary)
    def decision_function(self, X):
        """The score relative to the threshold (fitted binary problems only).

        ``score - threshold`` oriented so that positive means ``classes_[1]``: use it for ROC
        curves of hit vs miss.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        scores = self._predict_scores(X)
        sign = 1.0 if self.order_[1] == 1 else -1.0
        return sign * (scores - self.thresholds_[0])

    def predict(self, X):
        """Class of each frame from its score and the thresholds.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the shape seen in ``fit``; NaN / inf pixels are ignored.

        Returns
        -------
        labels : ndarray of shape (n_samples,)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            On empty input, the wrong number of dimensions or frames of another shape.
        """
        scores = self._predict_scores(X)
        level = np.searchsorted(self.thresholds_, scores, side="right")
        return self.classes_[self.order_[level]]

    def _predict_scores(self, X):
        check_is_fitted(self, "thresholds_")
        X = validate_images(self, X, reset=False, allow_nonfinite=True)
        return self._scores(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        # One threshold on one score per frame: sklearn's 2-feature blobs are no test of it.
        tags.classifier_tags.poor_score = True
        return tags


def _fit_thresholds(scores, level, n_levels):
    """Cut points between ``n_levels`` ordered classes maximising the balanced accuracy.

    With the distinct scores sorted, class k takes ``values[b_k:b_(k+1)]`` for boundaries
    ``0 = b_0 <= b_1 <= ... <= b_K = m``; the credit of a frame of class c placed in class c
    is ``1 / n_c``. Dynamic programming over the boundaries:
    ``F_k(b) = C_k(b) + max_(a <= b) [F_(k-1)(a) - C_k(a)]``, ``C_k`` the prefix credit of
    class k, is exact in O(m K).
    """
    values, inverse = np.unique(scores, return_inverse=True)
    m = len(values)
    weight = 1.0 / np.bincount(level, minlength=n_levels)
    gain = np.zeros((m, n_levels))
    np.add.at(gain, (inverse, level), weight[level])
    prefix = np.vstack([np.zeros(n_levels), np.cumsum(gain, axis=0)])  # C_k(b), b = 0..m
    F = prefix[:, 0]
    args = []
    for k in range(1, n_levels):
        inner = F - prefix[:, k]
        running = np.maximum.accumulate(inner)
        index = np.arange(m + 1)
        args.append(np.maximum.accumulate(np.where(inner == running, index, 0)))
        F = prefix[:, k] + running
    bounds, b = [], m
    for arg in reversed(args):
        b = int(arg[b])
        bounds.append(b)
    thresholds = []
    for b in reversed(bounds):
        if b == 0:
            thresholds.append(values[0])
        elif b == m:
            thresholds.append(np.nextafter(values[-1], np.inf))
        else:
            thresholds.append((values[b - 1] + values[b]) / 2)
    return np.asarray(thresholds, dtype=np.float64)


class TotalIntensityClassifier(_ThresholdClassifier):
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
    >>> from skspeckle.datasets.sfx import make_sfx_frames
    >>> from skspeckle.baselines.intensity import TotalIntensityClassifier
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


class PeakCountClassifier(_ThresholdClassifier):
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
    >>> from skspeckle.datasets.sfx import make_sfx_frames
    >>> from skspeckle.baselines.intensity import PeakCountClassifier
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

    def __init__(self, thresholds=None, *, snr=6.0, min_value=1.0, background_size=11,
                 min_pixels=2, max_pixels=50, image_shape=None):
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
            raise ValueError(f"thresholds must be an ascending sequence of peak counts; got "
                             f"{self.thresholds!r}.")
        return t

    def _scores(self, X):
        return count_peaks(X, snr=self.snr, min_value=self.min_value,
                           background_size=self.background_size, min_pixels=self.min_pixels,
                           max_pixels=self.max_pixels).astype(np.float64)
