"""Shi et al.'s single-hit CNN (the "Shi19" baseline of SpeckleNN)."""

from numbers import Integral, Real

import numpy as np

from skspeckle.baselines._classifier import NeuralNetClassifier
from skspeckle.nn.networks.spi import Shi19Net
from skspeckle.utils._sklearn_compat import Interval

__all__ = ["Shi19Classifier"]


class Shi19Classifier(NeuralNetClassifier):
    """Binary single-hit classifier CNN of Shi et al. (2019).

    A small CNN -- three motifs of convolution (1 -> 5 channels 5x5, 5 -> 3 3x3, 3 -> 2 3x3),
    batch norm, PReLU, dropout 0.2 and 2x2 max pooling, then two fully connected layers -- gives
    the log-odds that a frame is a single hit; it is trained on the class-weighted binary
    cross-entropy. The SpeckleNN paper uses it as the supervised baseline (Table I) and reports
    it degrading more than SpeckleNN when only 25 % of the detector is visible.

    Parameters
    ----------
    positive_label : label or None, default=None
        The class the network detects (``"single-hit"`` for
        :func:`skspeckle.datasets.make_speckle_patterns` labels). With two classes in ``y``
        it picks the positive one (default: the larger label, as in scikit-learn). With more
        than two it is required: every other label becomes ``rest_label``, as SpeckleNN
        relabels multi and non-sample hits as non-single hits to train this model.
    rest_label : label, default="rest"
        The negative class when ``y`` has more than two classes; must not be a label of
        ``y``. ``predict`` then returns ``positive_label`` or ``rest_label``, so score
        against ``np.where(y == positive_label, positive_label, rest_label)``.
    threshold : float in (0, 1), default=0.5
        ``predict`` answers ``classes_[1]`` when its probability is at least this. SpeckleNN's
        comparison (Sec. IV B 2, Table I) used 0.9: set ``threshold=0.9`` to reproduce it.
        The default keeps scikit-learn's convention that ``predict`` is the most probable
        class; ``decision_function`` is shifted by ``logit(threshold)`` so that its sign
        always agrees with ``predict``.
    hidden_units : int, default=2
        Width of the first fully connected layer (2 in the SpeckleNN re-implementation).
    dropout : float in [0, 1), default=0.2
        Dropout after every motif and the first fully connected layer.
    .. shared-parameters:: max_epochs, batch_size, learning_rate, validation_fraction, \
n_iter_no_change, tol
    class_weight : None, "balanced" or dict, default="balanced"
        Class weights of the binary cross-entropy (keys: the labels of ``classes_``);
        balanced by default because single hits are the minority class.
    .. shared-parameters:: augment, normalize, init_from, freeze, image_shape, device, \
precision, random_state, verbose

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[negative, positive]``: ``classes_[1]`` is the detected class (``positive_label``),
        whatever the sort order of the labels.
    module_, history_, n_iter_, image_shape_, n_features_in_
        As in :class:`~skspeckle.baselines._classifier.NeuralNetClassifier`.

    Notes
    -----
    Shi, Yin, Tai et al., "Evaluation of the performance of classification algorithms for XFEL
    single-particle imaging data", IUCrJ 6, 331-340 (2019). The layer sizes follow the
    PyTorch re-implementation used for SpeckleNN (Wang et al., Sec. IV B 2), which ends in one
    logit. Frames smaller than 24 x 24 are zero-padded to 24 x 24 inside the network.
    ``freeze=k`` counts the three convolutions.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines.spi.shi19 import Shi19Classifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(3.0, size=(60, 24, 24)).astype(np.float32)
    >>> y = np.repeat(["single-hit", "multi-hit", "no-hit"], 20)
    >>> clf = Shi19Classifier(positive_label="single-hit", max_epochs=2, random_state=0)
    >>> clf.fit(X, y).classes_.tolist()
    ['rest', 'single-hit']
    """

    _parameter_constraints = {
        **NeuralNetClassifier._parameter_constraints,
        "positive_label": "no_validation",
        "rest_label": "no_validation",
        "threshold": [Interval(Real, 0, 1, closed="neither")],
        "hidden_units": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        positive_label=None,
        *,
        rest_label="rest",
        threshold=0.5,
        hidden_units=2,
        dropout=0.2,
        max_epochs=100,
        batch_size=64,
        learning_rate=1e-3,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        class_weight="balanced",
        augment=None,
        normalize="log1p",
        init_from=None,
        freeze=None,
        image_shape=None,
        device="auto",
        precision="float32",
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            max_epochs=max_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            class_weight=class_weight,
            augment=augment,
            normalize=normalize,
            init_from=init_from,
            freeze=freeze,
            image_shape=image_shape,
            device=device,
            precision=precision,
            random_state=random_state,
            verbose=verbose,
        )
        self.positive_label = positive_label
        self.rest_label = rest_label
        self.threshold = threshold
        self.hidden_units = hidden_units
        self.dropout = dropout

    def _build_network(self, input_shape, n_outputs):
        return Shi19Net(
            input_shape, n_outputs, hidden_units=self.hidden_units, dropout=self.dropout
        )

    def _n_outputs(self, n_classes):
        return 1

    def _encode_targets(self, y):
        name = type(self).__name__
        labels, y_enc = np.unique(y, return_inverse=True)
        positive = self.positive_label
        if positive is None:
            if len(labels) > 2:
                raise ValueError(
                    f"Only binary classification is supported. {name} detects one class "
                    f"against the rest, but y has {len(labels)} classes "
                    f"{labels.tolist()}; pass positive_label=<the class to detect> (e.g. "
                    "'single-hit') to train it on that class against all the others."
                )
            return labels, y_enc
        if positive not in labels.tolist():
            raise ValueError(
                f"positive_label={positive!r} is not a label of y; the labels are "
                f"{labels.tolist()}."
            )
        y_enc = (y == positive).astype(np.int64)
        if len(labels) == 2:
            return (labels if labels[1] == positive else labels[::-1]), y_enc
        if self.rest_label in labels.tolist():
            raise ValueError(
                f"rest_label={self.rest_label!r} is already a label of y; choose another name "
                "for the classes other than positive_label."
            )
        classes = np.array([self.rest_label, positive])
        if classes.dtype.kind in "US" and not all(
            isinstance(c, str) for c in (self.rest_label, positive)
        ):  # a str rest_label next to int labels must not turn the labels into strings
            classes = np.array([self.rest_label, positive], dtype=object)
        return classes, y_enc

    def decision_function(self, X):
        """Log-odds of ``classes_[1]`` minus ``logit(threshold)``: positive where
        :meth:`predict` answers ``classes_[1]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the same shape as in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            On empty input, the wrong number of dimensions, non-finite values, or frames of
            another shape than in ``fit``.
        """
        return super().decision_function(X) - np.log(self.threshold / (1 - self.threshold))

    def predict(self, X):
        """``classes_[1]`` where its probability reaches ``threshold``, else ``classes_[0]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the same shape as in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            As :meth:`decision_function`.
        """
        positive = self.predict_proba(X)[:, 1] >= self.threshold
        return self.classes_[positive.astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags
