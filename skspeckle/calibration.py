"""Operating points: a threshold on one class's probability, chosen for a target precision.

The few-shot probabilities ``softmax(-d / temperature)`` of
:class:`~skspeckle.few_shot.FewShotCentroidClassifier` rank frames well but are not
calibrated: with the default ``temperature=1`` and unit-norm embeddings (``d`` in [0, 4]) they
stay between about 0.3 and 0.9, whether the frame is right or wrong. Two steps make them
usable for a veto, both with scikit-learn's own tools plus :class:`OperatingPoint`:

1. **Calibrate** on labelled frames the model was not trained on, with
   :class:`sklearn.calibration.CalibratedClassifierCV` around the frozen, fitted pipeline::

       from sklearn.calibration import CalibratedClassifierCV
       from sklearn.frozen import FrozenEstimator
       calibrated = CalibratedClassifierCV(FrozenEstimator(pipe), method="temperature")
       calibrated.fit(X_cal, y_cal)          # the pipeline is not refitted

   ``method="temperature"`` (temperature scaling, Guo et al., "On calibration of modern
   neural networks", ICML 2017) divides the classifier's ``decision_function`` (here the
   negative aggregated squared distances, ``-d``) by one temperature fitted by log loss:
   it is the ``temperature`` of the few-shot softmax, chosen from data, so ``predict`` is
   unchanged. ``"sigmoid"`` (Platt scaling) and ``"isotonic"`` fit one calibrator per class
   and may change the argmax. The result is a classifier with ``predict_proba``; save it
   with :func:`skspeckle.persistence.save_model` and ``skspeckle classify`` uses it as any
   model. For streaming, calibrate the last step and keep the pipeline's shape, so that each
   chunk is embedded once (the same probabilities)::

       calibrated = Pipeline([
           ("embed", FrozenEstimator(pipe[:-1])),
           ("calibrated", CalibratedClassifierCV(FrozenEstimator(pipe[-1]), method="temperature")),
       ]).fit(X_cal, y_cal)
2. **Choose the operating point**: "keep single hits with at least 95 % precision" is a
   threshold on the single-hit column of ``predict_proba``, the lowest one at which the
   precision on labelled validation frames reaches the target (so the recall is the highest
   that the target allows): :meth:`OperatingPoint.from_estimator`. scikit-learn's
   :class:`~sklearn.model_selection.FixedThresholdClassifier` and
   :class:`~sklearn.model_selection.TunedThresholdClassifierCV` do this for binary
   classifiers only; the SpeckleNN model stays N-way (single, multi, non-sample hit), so the
   threshold applies to one column of its probabilities and ``predict`` keeps its classes.

Measured Brier scores, reliability curves and the recall that a 95 % precision costs are on
the results page (``docs/results.md``, "Calibration and operating points").
"""

from dataclasses import asdict, dataclass
from numbers import Real

import numpy as np
from scipy.stats import beta
from sklearn.metrics import precision_recall_curve

__all__ = ["OperatingPoint"]


@dataclass(frozen=True)
class OperatingPoint:
    """Accept a frame as ``positive_class`` when its probability reaches ``threshold``.

    Parameters
    ----------
    positive_class : str, int or float
        The class kept by the veto (a label of the model's ``classes_``, e.g. "single-hit").
    threshold : float in [0, 1]
        A frame is accepted when ``predict_proba[:, positive_class] >= threshold``.
    min_precision : float or None, default=None
        The precision target the threshold was chosen for (None: a threshold given as is).
    precision, recall : float or None, default=None
        Precision and recall of ``positive_class`` at ``threshold`` on the validation frames.
    n_validation : int or None, default=None
        Labelled validation frames (all classes) the threshold was chosen on.
    n_positive : int or None, default=None
        Frames of ``positive_class`` among them.
    confidence : float or None, default=None
        With a confidence level, the threshold was chosen on the one-sided Clopper-Pearson
        lower bound of the precision instead of the precision itself.
    source : str, default="given"
        Where the threshold comes from (e.g. the validation file), recorded in results files.

    See Also
    --------
    sklearn.model_selection.FixedThresholdClassifier : The same rule for binary classifiers.
    sklearn.metrics.precision_recall_curve : What :meth:`from_predictions` reads the
        threshold from.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.calibration import OperatingPoint
    >>> y = np.array(["single", "multi", "single", "single", "multi", "single"])
    >>> p_single = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.2])
    >>> op = OperatingPoint.from_predictions(
    ...     y, p_single, positive_class="single", min_precision=0.75
    ... )
    >>> op.threshold, op.precision, op.recall
    (0.6, 0.75, 0.75)
    >>> op.accept(np.array([[0.4, 0.6], [0.5, 0.5]]), classes=["multi", "single"]).tolist()
    [True, False]
    """

    positive_class: object
    threshold: float
    min_precision: float | None = None
    precision: float | None = None
    recall: float | None = None
    n_validation: int | None = None
    n_positive: int | None = None
    confidence: float | None = None
    source: str = "given"

    def __post_init__(self):
        if (
            not isinstance(self.threshold, Real)
            or not np.isfinite(self.threshold)
            or not 0 <= self.threshold <= 1
        ):
            raise ValueError(
                f"threshold must be a probability in [0, 1]; got {self.threshold!r}. It applies "
                "to the positive class's column of predict_proba."
            )
        object.__setattr__(self, "threshold", float(self.threshold))

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_score,
        *,
        positive_class,
        min_precision,
        confidence=None,
        source="validation frames",
    ):
        """The lowest threshold whose precision on labelled frames reaches ``min_precision``.

        Among the thresholds at which ``precision >= min_precision``, the lowest gives the
        highest recall (recall never grows with the threshold); precision itself is not
        monotonic, so the rule scans :func:`sklearn.metrics.precision_recall_curve` instead of
        bisecting.

        The precision measured on the validation frames is an estimate, and taking the
        lowest threshold that reaches the target picks the thresholds where it came out high:
        on new frames the precision is then often below the target (measured on the results
        page). With ``confidence`` (e.g. 0.95), a threshold qualifies only when the one-sided
        Clopper-Pearson lower bound (Clopper & Pearson, Biometrika 26, 404, 1934) of its
        precision, from the ``k`` true of ``n`` accepted validation frames, reaches
        ``min_precision``: a more conservative threshold, which needs many validation
        frames (with none wrong, ``n >= 59`` for 0.95 at ``confidence=0.95``).

        Parameters
        ----------
        y_true : array-like of shape (n_frames,)
            True labels of the validation frames (any classes; ``positive_class`` vs rest).
        y_score : array-like of shape (n_frames,), float
            Probability of ``positive_class`` for each frame (a column of ``predict_proba``).
        positive_class : str, int or float
            The class to keep.
        min_precision : float in (0, 1]
            Precision target, e.g. 0.95.
        confidence : float in (0, 1) or None, default=None
            Judge the precision by its lower confidence bound at this level (None: by the
            measured precision).
        source : str, default="validation frames"
            Recorded as :attr:`source`.

        Returns
        -------
        OperatingPoint
            With the threshold and its precision and recall on these frames.

        Raises
        ------
        ValueError
            If ``min_precision`` is not in (0, 1] or ``confidence`` not in (0, 1),
            ``y_score`` is not finite or has another length, ``positive_class`` has no frame
            in ``y_true``, or no threshold reaches the target (the message gives the best
            precision, or bound, there is).
        """
        if not isinstance(min_precision, Real) or not 0 < min_precision <= 1:
            raise ValueError(f"min_precision must be in (0, 1], e.g. 0.95; got {min_precision!r}.")
        if confidence is not None and not (isinstance(confidence, Real) and 0 < confidence < 1):
            raise ValueError(
                f"confidence must be in (0, 1), e.g. 0.95, or None; got {confidence!r}."
            )
        y_true = np.asarray(y_true)
        y_score = np.asarray(y_score, dtype=np.float64)
        if y_score.shape != y_true.shape or y_true.ndim != 1:
            raise ValueError(
                f"y_true and y_score must be 1-D of the same length; got shapes {y_true.shape} "
                f"and {y_score.shape}. Pass the positive class's column of predict_proba."
            )
        if not np.isfinite(y_score).all():
            raise ValueError(
                f"y_score has {np.count_nonzero(~np.isfinite(y_score))} non-finite value(s); "
                "leave out the frames without scores (e.g. valid == False)."
            )
        positive = y_true == positive_class
        if not positive.any():
            raise ValueError(
                f"No validation frame is labelled {positive_class!r} (labels: "
                f"{np.unique(y_true).tolist()}); label some, or name another positive class."
            )
        precision, recall, thresholds = precision_recall_curve(positive, y_score)
        # The last point (precision 1, recall 0) has no threshold.
        judged = precision[:-1]
        what = "precision"
        if confidence is not None:
            true_kept = np.rint(recall[:-1] * positive.sum())
            kept = len(y_score) - np.searchsorted(np.sort(y_score), thresholds, side="left")
            # Clopper-Pearson: the alpha quantile of Beta(k, n - k + 1); 0 when k = 0.
            judged = np.where(
                true_kept > 0,
                beta.ppf(1 - confidence, np.maximum(true_kept, 1), kept - true_kept + 1),
                0.0,
            )
            what = f"the {confidence:.0%} lower bound of the precision"
        feasible = np.flatnonzero(judged >= min_precision)
        if not len(feasible):
            raise ValueError(
                f"No threshold reaches {min_precision} in {what} for {positive_class!r} on "
                f"these {len(y_true)} frames: the best is {judged.max():.3f}. Lower the "
                "target, calibrate or retrain the model, or label more frames."
            )
        i = feasible[0]
        return cls(
            positive_class=positive_class,
            threshold=float(thresholds[i]),
            min_precision=float(min_precision),
            precision=float(precision[i]),
            recall=float(recall[i]),
            n_validation=len(y_true),
            n_positive=int(positive.sum()),
            confidence=None if confidence is None else float(confidence),
            source=source,
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        positive_class,
        min_precision,
        confidence=None,
        source="validation frames",
    ):
        """:meth:`from_predictions` on ``estimator.predict_proba(X)``'s positive column.

        Parameters
        ----------
        estimator : fitted classifier with ``predict_proba`` and ``classes_``
            E.g. the (calibrated) pipeline.
        X : array-like
            Labelled validation frames, as the estimator takes them (e.g. ``(n, H, W)``);
            frames the estimator was not trained on.
        y : array-like of shape (n_frames,)
            Their labels.
        positive_class, min_precision, confidence, source
            As :meth:`from_predictions`.

        Returns
        -------
        OperatingPoint

        Raises
        ------
        ValueError
            If ``positive_class`` is not one of ``estimator.classes_``, or as
            :meth:`from_predictions`.
        """
        column = _column(estimator.classes_, positive_class)
        return cls.from_predictions(
            y,
            estimator.predict_proba(X)[:, column],
            positive_class=positive_class,
            min_precision=min_precision,
            confidence=confidence,
            source=source,
        )

    def accept(self, proba, classes):
        """Which frames pass the veto.

        Parameters
        ----------
        proba : ndarray of shape (n_frames, n_classes)
            ``predict_proba`` output, columns in the order of ``classes``; NaN rows (frames
            without scores) are not accepted.
        classes : array-like of shape (n_classes,)
            The model's ``classes_``.

        Returns
        -------
        accepted : ndarray of shape (n_frames,), bool

        Raises
        ------
        ValueError
            If ``positive_class`` is not in ``classes`` or ``proba`` has another number of
            columns.
        """
        proba = np.asarray(proba)
        if proba.ndim != 2 or proba.shape[1] != len(classes):
            raise ValueError(
                f"proba must be (n_frames, {len(classes)}) for classes {list(classes)}; got "
                f"shape {proba.shape}."
            )
        with np.errstate(invalid="ignore"):  # NaN compares False: not accepted
            return proba[:, _column(classes, self.positive_class)] >= self.threshold

    def to_attrs(self):
        """The operating point as results-file attributes: ``threshold_<field>``, None left
        out (HDF5 has no None)."""
        return {
            k if k == "threshold" else f"threshold_{k}": v
            for k, v in asdict(self).items()
            if v is not None
        }


def _column(classes, positive_class):
    classes = np.asarray(classes)
    hits = np.flatnonzero(classes == positive_class)
    if not len(hits):
        # A label read from the command line is a string; match integer classes by value.
        hits = np.flatnonzero(classes.astype(str) == str(positive_class))
    if not len(hits):
        raise ValueError(
            f"positive class {positive_class!r} is not one of the model's classes "
            f"{classes.tolist()}; name one of them."
        )
    return int(hits[0])
