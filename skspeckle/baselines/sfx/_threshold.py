"""Classification by ordered thresholds on one score per frame, fitted to labels.

The shared machinery of the threshold hit finders (:mod:`~skspeckle.baselines.sfx.total_intensity`,
:mod:`~skspeckle.baselines.sfx.peak_count`).
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from skspeckle.utils._images import validate_images
from skspeckle.utils._sklearn_compat import fit_context


class ThresholdClassifier(ClassifierMixin, BaseEstimator):
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

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        name = type(self).__name__
        if y is None:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None: the "
                "thresholds are fitted to labelled frames."
            )
        X, y = validate_images(
            self, X, reset=True, image_shape=self.image_shape, allow_nonfinite=True, y=y
        )
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{name} needs at least 2 classes; got 1 class ({self.classes_[0]!r})."
            )
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
