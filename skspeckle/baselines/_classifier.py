"""The shared base of the CNN classifier baselines.

:class:`NeuralNetClassifier` puts on :class:`skspeckle.base.BaseTorchEstimator` (device,
seeding, validation split, ``init_from`` / ``freeze``, ``precision``, ``augment``, the training
loop) what the CNN classifiers of the literature have in common -- target encoding, class and
sample weights, the weighted cross-entropy, and the decision function, probabilities and
labels -- so that a baseline only says which network it trains
(:meth:`NeuralNetClassifier._build_network`).
"""

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from skspeckle.base import BaseTorchEstimator
from skspeckle.nn.losses import cross_entropy_batch_loss
from skspeckle.nn.networks.layers import ClassifierModel
from skspeckle.nn.training import adam, train_module
from skspeckle.utils._images import validate_images
from skspeckle.utils._sklearn_compat import StrOptions, fit_context

__all__ = ["NeuralNetClassifier"]


class NeuralNetClassifier(ClassifierMixin, BaseTorchEstimator):
    """Base of the CNN classifiers: weighted cross-entropy, early stopping, transfer learning.

    Not used directly: a subclass lists its parameters in ``__init__`` (passing the common
    ones below to ``super().__init__``), extends ``_parameter_constraints``, and implements
    :meth:`_build_network` (a network with a convolutional ``.features`` and a ``.head``).
    ``fit`` trains the network with Adam on the (class- and sample-) weighted cross-entropy
    through :func:`skspeckle.nn.training.train_module`, monitoring a stratified validation
    split for early stopping and keeping the weights of the best validation epoch.

    Parameters
    ----------
    .. shared-parameters:: max_epochs, batch_size, learning_rate, validation_fraction, \
n_iter_no_change, tol, class_weight, augment, normalize, init_from, freeze, image_shape, device, \
precision, random_state, verbose

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels; for binary problems ``classes_[1]`` is the positive class.
    module_ : skspeckle.nn.networks.layers.ClassifierModel
        Input scaling and the trained network (``module_.network``, with ``.features`` and
        ``.head``), on the CPU in eval mode; maps raw frames to logits.
    history_ : list of dict
        One dict per epoch (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
        ``seconds``, ...), see :func:`skspeckle.nn.training.train_module`.
    n_iter_ : int
        Number of epochs run.
    image_shape_ : tuple of int
        Shape of one frame as seen in ``fit``.
    n_features_in_ : int
        ``X.shape[1]`` in ``fit``.
    """

    _parameter_constraints = {
        **BaseTorchEstimator._parameter_constraints,
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }
    _parameter_docs = {
        **BaseTorchEstimator._parameter_docs,
        "class_weight": """class_weight : None, "balanced" or dict, default={default}
    Weight of each class in the loss (keys: the labels of ``classes_``). ``"balanced"``
    weighs classes inversely to their frequency, ``n_samples / (n_classes *
    np.bincount(y))``, for rare hits among many misses. Multiplied by ``sample_weight`` in
    ``fit``; the product is rescaled to mean 1 over the frames.""",
    }
    _module_type = ClassifierModel

    def __init__(
        self,
        *,
        max_epochs=100,
        batch_size=64,
        learning_rate=1e-3,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        class_weight=None,
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
            augment=augment,
            normalize=normalize,
            max_epochs=max_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            init_from=init_from,
            freeze=freeze,
            image_shape=image_shape,
            device=device,
            precision=precision,
            random_state=random_state,
            verbose=verbose,
        )
        self.class_weight = class_weight

    # ------------------------------------------------------------ subclass hooks

    def _validate_X(self, X, *, reset):
        """Validate frames into a float32 array ``(n_samples, *input_shape)``."""
        return validate_images(self, X, reset=reset, image_shape=self.image_shape)

    def _encode_targets(self, y):
        """Return ``classes_`` and the class index of each target."""
        return np.unique(y, return_inverse=True)

    def _n_outputs(self, n_classes):
        """Logits of the network: one per class (softmax cross-entropy). One logit means
        binary cross-entropy on ``classes_[1]``."""
        return n_classes

    def _check_network(self, network):
        super()._check_network(network)
        for attr in ("features", "head"):
            if not isinstance(getattr(network, attr, None), torch.nn.Module):
                raise TypeError(
                    f"The network of {type(self).__name__} has no .{attr} submodule; transfer "
                    "learning and freezing need a convolutional .features and a .head."
                )

    def _check_fit_extras(self, **extras):
        """Validate the extra ``fit`` arguments of a subclass (after ``X``); returns them."""
        return extras

    # ------------------------------------------------------------------ fit

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the network on labelled frames.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames in photons (or ADU); finite values only.
        y : array-like of shape (n_samples,)
            Class labels; at least two classes.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Non-negative weight of each frame in the loss (times ``class_weight``).

        Returns
        -------
        self : estimator

        Raises
        ------
        ValueError
            If ``y`` is missing, not a classification target or has a single class, ``X``
            is empty, has the wrong number of dimensions or non-finite values, the lengths
            differ, ``init_from`` holds incompatible or no weights, or ``freeze`` asks for
            more trainable layers than the network has.
        RuntimeError
            If ``device`` asks for CUDA on a machine without it.
        """
        return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight, **extras):
        name = type(self).__name__
        self._require_y(y, "a classifier needs class labels.")
        X = self._validate_X(X, reset=True)
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        extras = self._check_fit_extras(**extras)
        classes, y_enc = self._encode_targets(y)
        self._require_two_classes(classes, "to train a classifier")
        self.classes_ = classes
        weight = sample_weight * self._class_weights(y_enc)[y_enc]
        if weight.sum() <= 0:
            raise ValueError(f"{name}: the sample weights sum to zero; nothing to learn from.")
        weight = weight / weight.mean()
        self._fit_network(
            X, y_enc, len(classes), self._n_outputs(len(classes)), weight=weight, **extras
        )
        return self

    def _class_weights(self, y_enc):
        n_classes = len(self.classes_)
        if self.class_weight is None:
            return np.ones(n_classes)
        if isinstance(self.class_weight, str):
            return compute_class_weight(self.class_weight, classes=np.arange(n_classes), y=y_enc)
        labels = self.classes_.tolist()
        unknown = [k for k in self.class_weight if k not in labels]
        if unknown:
            raise ValueError(
                f"class_weight has keys {unknown} that are not class labels; the classes are "
                f"{labels}."
            )
        return np.array([float(self.class_weight.get(c, 1.0)) for c in labels])

    def _train(self, module, X, y_enc, train_idx, val_idx, seed, options, weight):
        def tensors(idx):
            return (
                torch.from_numpy(np.ascontiguousarray(X[idx], dtype=np.float32)),
                torch.from_numpy(y_enc[idx].astype(np.int64)),
                torch.from_numpy(weight[idx].astype(np.float32)),
            )

        return train_module(
            module,
            cross_entropy_batch_loss,
            adam(self.learning_rate),
            tensors(train_idx),
            val_data=None if val_idx is None else tensors(val_idx),
            **options,
        )

    # -------------------------------------------------------------- predict

    def _logits(self, X):
        check_is_fitted(self, "module_")
        return self._predict_module(self._validate_X(X, reset=False))

    def decision_function(self, X):
        """Logits of the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the same shape as in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,) for two classes, else (n_samples, n_classes)
            float64. Binary: the log-odds of ``classes_[1]`` (positive means ``classes_[1]``).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            On empty input, the wrong number of dimensions, non-finite values, or frames of
            another shape than in ``fit``.
        """
        logits = self._logits(X)
        if logits.shape[1] == 1:
            return logits[:, 0]
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits; sigmoid for a single logit).

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the same shape as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
            Columns in the order of ``classes_``; rows sum to 1.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            As :meth:`decision_function`.
        """
        logits = torch.from_numpy(self._logits(X))
        if logits.shape[1] == 1:
            p = torch.sigmoid(logits[:, 0])
            return torch.stack([1 - p, p], dim=1).numpy()
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X):
        """The most probable class of each frame.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the same shape as in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Entries of ``classes_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            As :meth:`decision_function`.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # CNNs for detector frames, not tabular data: sklearn's 2-feature blobs are no test.
        tags.classifier_tags.poor_score = True
        return tags
