"""Open-set rejection on few-shot distances: plain functions over distance arrays.

:class:`~skspeckle.few_shot.FewShotCentroidClassifier` forces every query into a known class.
These functions let it answer "unknown" instead, with two rules that can be combined:

- **Distance threshold** (open-set recognition with a distance threshold, Scheirer et al.,
  "Toward open set recognition", IEEE TPAMI 35, 2013; the per-class distance models of
  OpenMax, Bendale & Boult, CVPR 2016, reduced to one pooled threshold): a query whose
  aggregated squared distance to its *nearest* class exceeds a threshold is rejected. The
  threshold is calibrated on the supports themselves: each support's leave-one-out distance
  (its aggregated distance to the other supports of its own class,
  :func:`leave_one_out_distances`) is what a genuine member of a known class looks like, and
  the threshold is the ``1 - rejection_rate`` quantile of those distances
  (:func:`calibrate_threshold`), so about ``rejection_rate`` of the known-class frames are
  rejected (the false-rejection rate).
- **Distance ratio** (Lowe, "Distinctive image features from scale-invariant keypoints",
  IJCV 60, 2004, Sec. 7.1): a query whose nearest class is not clearly nearer than the
  second-nearest, ``d_1 / d_2 > max_ratio`` (:func:`distance_ratio`), is rejected as
  ambiguous. Here ``d`` are *squared* distances, so Lowe's 0.8 on distances is 0.64.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.metrics import pairwise_distances_chunked

__all__ = [
    "calibrate_threshold",
    "check_unknown_label",
    "distance_ratio",
    "leave_one_out_distances",
    "novelty_scores",
    "predict_with_rejection",
    "reject",
]


def leave_one_out_distances(supports, starts, aggregation="mean"):
    """Each support's aggregated squared distance to the other supports of its class.

    Parameters
    ----------
    supports : ndarray of shape (n_supports, n_features), float64
        The supports, grouped by class (contiguous blocks).
    starts : ndarray of shape (n_classes,), int
        Index of the first row of each class block in ``supports``.
    aggregation : {"mean", "centroid", "min"}, default="mean"
        As :class:`~skspeckle.few_shot.FewShotCentroidClassifier`: the mean squared distance
        to the other supports, the squared distance to their centroid, or to the nearest one.

    Returns
    -------
    distances : ndarray of shape (n_supports,), float64
        Leave-one-out distances, in the row order of ``supports``.

    Raises
    ------
    ValueError
        If a class has fewer than 2 supports (there is nothing to leave one out from).

    Examples
    --------
    >>> import numpy as np
    >>> supports = np.array([[0.0], [2.0], [10.0], [11.0], [13.0]])
    >>> leave_one_out_distances(supports, np.array([0, 2]), "min").tolist()
    [4.0, 4.0, 1.0, 1.0, 4.0]
    """
    supports = np.asarray(supports, dtype=np.float64)
    ends = np.r_[starts[1:], len(supports)]
    sizes = ends - starts
    if sizes.min() < 2:
        raise ValueError(
            "The leave-one-out calibration needs at least 2 supports per class; a class has "
            f"{sizes.min()}. Raise k (or pass k=None) or label more samples of that class."
        )
    out = np.empty(len(supports))
    for start, end in zip(starts, ends):
        block = supports[start:end]
        size = len(block)
        if aggregation == "min":

            def reduce(chunk, first, size=size):
                rows = np.arange(len(chunk))
                chunk[rows, first + rows] = np.inf  # leave the support itself out
                return chunk.min(axis=1)

            chunks = pairwise_distances_chunked(block, reduce_func=reduce, squared=True)
            out[start:end] = np.concatenate(list(chunks))
            continue
        # With c the class centroid and s = mean_j |s_j - c|^2:
        # mean_{j != i} |s_i - s_j|^2 = K (|s_i - c|^2 + s) / (K - 1), and the centroid of
        # the others, (K c - s_i) / (K - 1), lies at K^2 |s_i - c|^2 / (K - 1)^2 from s_i.
        deviation = np.sum((block - block.mean(axis=0)) ** 2, axis=1)
        if aggregation == "mean":
            out[start:end] = size * (deviation + deviation.mean()) / (size - 1)
        else:
            out[start:end] = size**2 * deviation / (size - 1) ** 2
    return out


def calibrate_threshold(loo_distances, rejection_rate):
    """The distance above which a fraction ``rejection_rate`` of the supports lies.

    Parameters
    ----------
    loo_distances : array-like of shape (n_supports,), float64
        Leave-one-out distances (:func:`leave_one_out_distances`).
    rejection_rate : float in (0, 1)
        Target false-rejection rate.

    Returns
    -------
    threshold : float
        The ``n - m``-th smallest distance, ``m = floor(rejection_rate * n)`` of the ``n``
        supports: the ``m`` largest lie strictly above it (fewer where distances tie), so the
        fraction of supports rejected is within ``1 / n`` below ``rejection_rate``.

    Examples
    --------
    >>> calibrate_threshold(np.arange(1.0, 21.0), 0.1)
    18.0
    """
    ordered = np.sort(np.asarray(loo_distances, dtype=np.float64))
    m = int(np.floor(rejection_rate * len(ordered) + 1e-9))
    return float(ordered[max(len(ordered) - m - 1, 0)])


def novelty_scores(distances):
    """The aggregated squared distance to the nearest class: higher is more novel.

    Parameters
    ----------
    distances : ndarray of shape (n_queries, n_classes), float64

    Returns
    -------
    scores : ndarray of shape (n_queries,), float64
    """
    return np.min(distances, axis=1)


def distance_ratio(distances):
    """Nearest over second-nearest class distance, in [0, 1]; 1 is a tie.

    Parameters
    ----------
    distances : ndarray of shape (n_queries, n_classes), float64, n_classes >= 2

    Returns
    -------
    ratio : ndarray of shape (n_queries,), float64
        ``d_1 / d_2``; 1.0 where both are 0.

    Examples
    --------
    >>> distance_ratio(np.array([[1.0, 4.0, 2.0], [0.0, 0.0, 3.0]])).tolist()
    [0.5, 1.0]
    """
    two = np.partition(distances, 1, axis=1)[:, :2]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = two[:, 0] / two[:, 1]
    return np.where(two[:, 1] > 0, ratio, 1.0)


def reject(distances, threshold=None, max_ratio=None):
    """Which queries the open-set rules reject.

    Parameters
    ----------
    distances : ndarray of shape (n_queries, n_classes), float64
        Aggregated squared distances to each class.
    threshold : float or None
        Reject where the nearest-class distance exceeds it; None: no distance rule.
    max_ratio : float or None
        Reject where :func:`distance_ratio` exceeds it; None: no ratio rule.

    Returns
    -------
    rejected : ndarray of shape (n_queries,), bool
    """
    rejected = np.zeros(len(distances), dtype=bool)
    if threshold is not None:
        rejected |= novelty_scores(distances) > threshold
    if max_ratio is not None:
        rejected |= distance_ratio(distances) > max_ratio
    return rejected


def check_unknown_label(unknown_label, classes):
    """Raise unless ``unknown_label`` has the type of ``classes`` and is none of them.

    Parameters
    ----------
    unknown_label : object
    classes : ndarray of shape (n_classes,)

    Raises
    ------
    TypeError
        If the classes are integers and ``unknown_label`` is not an int, numbers and it is not
        a number, or strings and it is not a str.
    ValueError
        If ``unknown_label`` is one of ``classes``.
    """
    kind = classes.dtype.kind
    expected = {"i": Integral, "u": Integral, "f": Real, "U": str, "S": str}.get(kind)
    if expected is not None and (
        not isinstance(unknown_label, expected) or isinstance(unknown_label, bool)
    ):
        name, example = {
            Integral: ("an int", -1),
            Real: ("a number", -1.0),
            str: ("a str", "'unknown'"),
        }[expected]
        raise TypeError(
            f"unknown_label must be {name}, like the class labels {classes.tolist()[:3]}; got "
            f"{unknown_label!r}. Pass e.g. unknown_label={example}."
        )
    if unknown_label in classes.tolist():
        raise ValueError(
            f"unknown_label={unknown_label!r} is one of the classes; choose a label outside "
            f"{classes.tolist()}."
        )


def predict_with_rejection(classes, distances, threshold, max_ratio, unknown_label):
    """The nearest class of each query, or ``unknown_label`` where :func:`reject` rejects.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
    distances : ndarray of shape (n_queries, n_classes), float64
    threshold, max_ratio : float or None
        As :func:`reject`.
    unknown_label : object
        Of the type of ``classes`` (:func:`check_unknown_label`).

    Returns
    -------
    y_pred : ndarray of shape (n_queries,)
        Of the dtype of ``classes`` widened to hold ``unknown_label`` (a longer string).
    """
    labels = np.append(classes, np.array([unknown_label], dtype=object))
    labels = labels.astype(np.result_type(classes, np.asarray(unknown_label)))
    rejected = reject(distances, threshold, max_ratio)
    return labels[np.where(rejected, len(classes), np.argmin(distances, axis=1))]
