"""The shared base of the CNN classifier baselines.

:class:`NeuralNetClassifier` holds everything the CNN classifiers of the literature have in
common -- input validation, target encoding, class weights, a stratified validation split for
early stopping, seeding, transfer learning (``init_from`` / ``freeze``), the cross-entropy
training through :func:`skspeckle.nn.training.train_module`, and batched prediction -- so that
a baseline only says which network it trains (:meth:`NeuralNetClassifier._build_network`).
"""

import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)
from torch.nn import functional as F

from skspeckle.nn.device import resolve_device, torch_seeded
from skspeckle.nn.inference import predict_batched
from skspeckle.nn.networks.layers import ClassifierModel
from skspeckle.nn.training import adam, train_module
from skspeckle.nn.transfer import (
    copy_matching_weights,
    frozen,
    source_state_dict,
    trainable_tail,
)
from skspeckle.utils._images import validate_images
from skspeckle.utils._sklearn_compat import HasMethods, Interval, StrOptions, fit_context
from skspeckle.utils._split import stratified_split

__all__ = ["NeuralNetClassifier"]


def weighted_cross_entropy(logits, target, weight):
    """Mean over the batch of ``weight * cross-entropy``; one logit means binary
    cross-entropy on the positive class (target 1)."""
    if logits.shape[1] == 1:
        losses = F.binary_cross_entropy_with_logits(
            logits[:, 0], target.to(logits.dtype), reduction="none"
        )
        pred = (logits[:, 0] > 0).long()
    else:
        losses = F.cross_entropy(logits, target, reduction="none")
        pred = logits.argmax(dim=1)
    accuracy = (pred == target).float().mean().detach()
    return (losses * weight).mean(), {"accuracy": accuracy}


def _cross_entropy_loss(module, batch, generator):
    x, target, weight = batch
    return weighted_cross_entropy(module(x), target, weight)


def check_network(network, name):
    """Reject a network without the ``.features`` / ``.head`` layout."""
    if not isinstance(network, torch.nn.Module):
        raise TypeError(
            f"{name}._build_network must return a torch.nn.Module; got {type(network).__name__}."
        )
    for attr in ("features", "head"):
        if not isinstance(getattr(network, attr, None), torch.nn.Module):
            raise TypeError(
                f"The network of {name} has no .{attr} submodule; transfer learning and "
                "freezing need a convolutional .features and a .head."
            )


class NeuralNetClassifier(ClassifierMixin, BaseEstimator):
    """Base of the CNN classifiers: weighted cross-entropy, early stopping, transfer learning.

    Not used directly: a subclass lists its parameters in ``__init__`` (passing the common
    ones below to ``super().__init__``), extends ``_parameter_constraints``, and implements
    :meth:`_build_network`. ``fit`` trains the network with Adam on the (class- and
    sample-) weighted cross-entropy through :func:`skspeckle.nn.training.train_module`,
    monitoring a stratified validation split for early stopping and keeping the weights of the
    best validation epoch.

    Parameters
    ----------
    max_epochs : int, default=100
        Upper bound on the passes over the training set (0 keeps the initial weights).
    batch_size : int, default=64
        Frames per training and prediction batch.
    learning_rate : float, default=1e-3
        Adam learning rate.
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the frames held out (stratified by class, deterministic given
        ``random_state``) to monitor the weighted cross-entropy for early stopping. 0, or a
        set too small to hold every class (a warning says so), monitors the training loss.
    n_iter_no_change : int or None, default=10
        Stop after this many epochs without an improvement larger than ``tol`` of the
        monitored loss. None trains for ``max_epochs``.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss that counts as an improvement.
    class_weight : None, "balanced" or dict, default=None
        Weight of each class in the loss (keys: the labels of ``classes_``). ``"balanced"``
        weighs classes inversely to their frequency, ``n_samples / (n_classes *
        np.bincount(y))``, for rare hits among many misses. Multiplied by ``sample_weight``;
        the product is rescaled to mean 1 over the frames.
    normalize : {"log1p", "log1p-standardize", "standardize"} or None, default="log1p"
        Input scaling, part of ``module_``
        (see :func:`skspeckle.nn.scaling.scale_frames`).
    init_from : None, str, os.PathLike or fitted estimator, default=None
        Initial weights of the network (transfer learning). A fitted estimator of this
        package with a network of the same architecture (e.g. trained on simulated frames),
        or the path of a file written by ``torch.save(est.module_.network.state_dict(),
        path)``. Every weight of the feature extractor must match in name and shape (an
        error lists the mismatches); head weights are copied where their shapes match (same
        number of classes) and freshly initialised otherwise. ``sklearn.base.clone``, and
        therefore ``GridSearchCV`` and ``cross_validate``, replaces an estimator-valued
        parameter by an unfitted copy; wrap it in ``sklearn.frozen.FrozenEstimator`` (which
        clone keeps fitted) or pass a path. The source's input scaling is not copied: use the
        same ``normalize``.
    freeze : None, "features" or int, default=None
        Which part of the feature extractor ``fit`` leaves unchanged (the head always
        trains). None trains everything; ``"features"`` (or 0) freezes the whole feature
        extractor, which then runs in inference mode (batch norm on its running statistics,
        no dropout) and stays bit-identical; int ``k`` keeps the last ``k`` convolutional
        layers (with the layers after them) trainable and freezes the rest -- the second,
        partially unfrozen step of fine-tuning. See
        :func:`skspeckle.nn.transfer.trainable_tail`.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` of flattened input ``(n_samples, H * W)``; square frames by default.
    device : {"auto", "cpu", "cuda"}, str or torch.device, default="auto"
        Where to train and predict (CUDA when available for ``"auto"``). The fitted module
        stays on the CPU between calls.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the validation split, the batch order and dropout;
        torch's global random state is left untouched. The same value gives identical
        predictions on the CPU.
    verbose : int, default=0
        1 prints one line per epoch; 2 also progress inside epochs.

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
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "normalize": [StrOptions({"log1p", "log1p-standardize", "standardize"}), None],
        "init_from": [None, str, os.PathLike, HasMethods(["fit"])],
        "freeze": [None, StrOptions({"features"}), Interval(Integral, 0, None, closed="left")],
        "image_shape": [tuple, list, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

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
        normalize="log1p",
        init_from=None,
        freeze=None,
        image_shape=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.normalize = normalize
        self.init_from = init_from
        self.freeze = freeze
        self.image_shape = image_shape
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ subclass hooks

    def _build_network(self, input_shape, n_outputs):
        """Return a fresh ``torch.nn.Module`` with ``.features`` and ``.head`` mapping the
        scaled frames ``(B, *input_shape)`` to logits ``(B, n_outputs)``."""
        raise NotImplementedError

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

    def _check_fit_extras(self, **extras):
        """Validate the extra ``fit`` arguments of a subclass (after ``X``); returns them."""
        return extras

    def _fit(self, X, y, sample_weight, **extras):
        name = type(self).__name__
        if y is None:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None: a classifier "
                "needs class labels."
            )
        X = self._validate_X(X, reset=True)
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        extras = self._check_fit_extras(**extras)
        classes, y_enc = self._encode_targets(y)
        if len(classes) < 2:
            raise ValueError(
                f"{name} needs at least 2 classes to train a classifier; got 1 class "
                f"({classes[0]!r})."
            )
        self.classes_ = classes
        weight = sample_weight * self._class_weights(y_enc)[y_enc]
        if weight.sum() <= 0:
            raise ValueError(f"{name}: the sample weights sum to zero; nothing to learn from.")
        weight = weight / weight.mean()

        device = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        train_idx, val_idx = stratified_split(
            y_enc, self.validation_fraction, seed, len(classes), name
        )
        with torch_seeded(seed, device):
            module = self._init_module(X.shape[1:], self._n_outputs(len(classes)))
            try:
                with frozen(trainable_tail(module.network.features, self.freeze)):
                    self.history_ = self._train(
                        module, X, y_enc, weight, train_idx, val_idx, seed, device, **extras
                    )
            finally:
                module.cpu().eval()
        self.module_ = module
        self.n_iter_ = len(self.history_)
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

    def _init_module(self, input_shape, n_outputs):
        """Build the network, check its layout and output shape, transfer ``init_from``."""
        name = type(self).__name__
        network = self._build_network(tuple(int(s) for s in input_shape), n_outputs)
        check_network(network, name)
        module = ClassifierModel(network, self.normalize)
        module.eval()
        with torch.no_grad():
            out = module(torch.zeros((2, *input_shape)))
        if tuple(out.shape) != (2, n_outputs):
            raise ValueError(
                f"The network of {name} maps 2 frames of shape {tuple(input_shape)} to "
                f"{tuple(out.shape)}; expected (2, {n_outputs})."
            )
        if self.init_from is not None:
            copy_matching_weights(network, source_state_dict(self.init_from))
        return module

    def _train(self, module, X, y_enc, weight, train_idx, val_idx, seed, device):
        def tensors(idx):
            return (
                torch.from_numpy(np.ascontiguousarray(X[idx], dtype=np.float32)),
                torch.from_numpy(y_enc[idx].astype(np.int64)),
                torch.from_numpy(weight[idx].astype(np.float32)),
            )

        return train_module(
            module,
            _cross_entropy_loss,
            adam(self.learning_rate),
            tensors(train_idx),
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            val_data=None if val_idx is None else tensors(val_idx),
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            generator=torch.Generator().manual_seed(seed),
            device=device,
            verbose=self.verbose,
            name=type(self).__name__,
        )

    # -------------------------------------------------------------- predict

    def _logits(self, X):
        check_is_fitted(self, "module_")
        X = self._validate_X(X, reset=False)
        return predict_batched(self.module_, X, self.batch_size, resolve_device(self.device))

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
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        # CNNs for detector frames, not tabular data: sklearn's 2-feature blobs are no test.
        tags.classifier_tags.poor_score = True
        return tags
