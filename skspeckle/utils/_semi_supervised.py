"""scikit-learn's semi-supervised label convention: one marker value in ``y`` (``-1`` by
default) names the frames without a label, as in ``sklearn.semi_supervised``."""

import numpy as np

__all__ = ["labelled_mask"]


def labelled_mask(y, unlabeled, name):
    """Which entries of ``y`` carry a label.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels; int, float, str or object (e.g. string labels mixed with the int ``-1``).
    unlabeled : object
        The marker of unlabelled frames; None marks none (every value of ``y`` is a class,
        -1 included).
    name : str
        The estimator, for the message.

    Returns
    -------
    mask : ndarray of shape (n_samples,), bool

    Raises
    ------
    ValueError
        If every entry is the marker.
    """
    if unlabeled is None:
        return np.ones(len(y), dtype=bool)
    # Python comparisons, entry by entry: numpy's elementwise != between a str array and an
    # int marker is not defined, and object arrays may mix both.
    mask = np.fromiter((v != unlabeled for v in y.tolist()), dtype=bool, count=len(y))
    if not mask.any():
        raise ValueError(
            f"{name}: every frame of y is marked unlabeled={unlabeled!r}; label at least a "
            "few frames of every class (or, if that value is a class, pass unlabeled=None)."
        )
    return mask
