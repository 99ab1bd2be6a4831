"""Domain-adversarial training: a CNN that learns features shared by a labelled source data set
and an unlabelled target data set."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone

from skspeckle.baselines._classifier import NeuralNetClassifier
from skspeckle.baselines.spi.resnet import ResNetClassifier
from skspeckle.nn.losses import DANNLoss
from skspeckle.nn.networks.dann import DANNModel
from skspeckle.nn.networks.layers import capture_features
from skspeckle.nn.networks.spi import DomainHead
from skspeckle.nn.sampling import paired_batches, shuffled_batches
from skspeckle.nn.training import adam, train_module
from skspeckle.utils._images import validate_images
from skspeckle.utils._sklearn_compat import Interval, fit_context

__all__ = ["DANNClassifier"]


class DANNClassifier(NeuralNetClassifier):
    """Domain-adversarial neural network (DANN): a CNN classifier trained on labelled source
    frames while its features are made indistinguishable from unlabelled target frames.

    A convolutional base feeds two heads: the label head (trained on the source labels) and a
    domain head (source vs target) behind a gradient-reversal layer. The domain head learns to
    tell the domains apart; the reversed gradient drives the base to features it cannot tell
    apart, so that the label head transfers to the target domain (e.g. simulation -> experiment,
    or one SFX run -> another). ``fit(X, y, X_target=X_target)``; ``predict`` uses the base and
    the label head only.

    Parameters
    ----------
    estimator : NeuralNetClassifier or None, default=None
        Supplies the architecture: the convolutional base is its network's ``.features``, the
        label head its ``.head`` (e.g. ``ResNetClassifier(n=1, m=1)``, or an SFX hit-finding
        CNN as in Xie et al.); its training parameters are ignored (this estimator's apply).
        None: ``ResNetClassifier()`` (the SPI ResNet10).
    domain_hidden_units : int, default=100
        Width of the hidden layer of the domain head (linear -> ReLU -> linear on the
        flattened features).
    gamma : float, default=10.0
        Steepness of the reversal-factor schedule ``lambda_p = 2 / (1 + exp(-gamma p)) - 1``
        over the training progress ``p`` in [0, 1] (Ganin et al. Sec. 5.2.2: gamma = 10).
    .. shared-parameters:: max_epochs, batch_size, learning_rate, validation_fraction, \
n_iter_no_change, tol, class_weight, augment, normalize, init_from, freeze, image_shape, \
device, precision, random_state, verbose

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    module_ : skspeckle.nn.networks.layers.ClassifierModel
        Input scaling, base and label head: raw frames to class logits.
    domain_head_ : skspeckle.nn.networks.spi.DomainHead
        The trained domain classifier on the base's features (logit of "target").
    history_ : list of dict
        Per epoch as in the base class, plus ``domain_loss``, ``domain_accuracy`` (about 0.5
        when the adversarial game is balanced) and ``lambda`` (mean reversal factor) when
        ``X_target`` is given.
    n_iter_, image_shape_, n_features_in_
        As in the base class.

    Notes
    -----
    Ganin, Ustinova, Ajakan et al., "Domain-adversarial training of neural networks", JMLR
    17(59), 1-35 (2016), Sec. 4-5 (gradient reversal, Eq. 13 and the lambda schedule); used on
    SFX frames by Xie et al. (paper 002 of this project, Sec. 2.3.3). Adam replaces the paper's
    annealed SGD learning rate; the domain loss is added with weight 1 and lambda only scales
    the reversed gradient.

    With ``X_target`` every batch holds ``batch_size // 2`` source and as many target frames
    (:func:`skspeckle.nn.sampling.paired_batches`); an epoch is one pass over the source frames
    (target frames are cycled), and ``augment`` applies to both. Early stopping monitors the
    label loss on the held-out *source* frames (no target labels exist); with
    ``n_iter_no_change=None`` the schedule runs to ``lambda`` ~ 1. ``normalize`` replaces the
    estimator's. Without ``X_target`` the estimator trains a plain classifier of the same
    architecture.
    In a ``Pipeline``, ``pipe.fit(X, y, dannclassifier__X_target=X_target)`` passes the target
    frames to this step, but the steps before it transform ``X`` only, not ``X_target``: put
    the preprocessing outside the pipeline (apply it to both arrays) or use stateless steps
    and apply them to ``X_target`` yourself. With metadata routing enabled, request it with
    ``set_fit_request(X_target=True)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines.spi.dann import DANNClassifier
    >>> from skspeckle.baselines.spi.resnet import ResNetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(3.0, size=(40, 16, 16)).astype(np.float32)
    >>> y = np.repeat([0, 1], 20)
    >>> X_target = 2 * rng.poisson(3.0, size=(30, 16, 16)).astype(np.float32)
    >>> dann = DANNClassifier(ResNetClassifier(n=1, m=1, widths=(4, 8, 8)), max_epochs=2,
    ...                       random_state=0)
    >>> dann.fit(X, y, X_target=X_target).predict(X_target).shape
    (30,)
    """

    _parameter_constraints = {
        **NeuralNetClassifier._parameter_constraints,
        "estimator": [None, NeuralNetClassifier],
        "domain_hidden_units": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        estimator=None,
        *,
        domain_hidden_units=100,
        gamma=10.0,
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
        self.estimator = estimator
        self.domain_hidden_units = domain_hidden_units
        self.gamma = gamma

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, X_target=None):
        """Train on labelled source frames and unlabelled target frames.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Source frames (labelled), finite.
        y : array-like of shape (n_samples,)
            Source labels; at least two classes.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weight of each source frame in the label loss.
        X_target : array-like of shape (n_target, H, W) or (n_target, H * W), or None
            Unlabelled target frames of the same shape as ``X`` (flattened the same way).
            None trains without domain adaptation.

        Returns
        -------
        self : DANNClassifier

        Raises
        ------
        ValueError
            As :meth:`NeuralNetClassifier.fit`, and if ``X_target`` is empty, not finite, or
            its frames differ in shape from ``X``'s.
        """
        return self._fit(X, y, sample_weight, X_target=X_target)

    def _check_fit_extras(self, X_target=None):
        if X_target is None:
            return {"X_target": None}
        try:
            X_target = validate_images(self, X_target, reset=False)
        except ValueError as exc:
            raise ValueError(
                f"X_target must be unlabelled frames like X, of shape (n_target, "
                f"{', '.join(map(str, self.image_shape_))}) or (n_target, "
                f"{int(np.prod(self.image_shape_))}): {exc}"
            ) from exc
        return {"X_target": X_target}

    def _build_network(self, input_shape, n_outputs):
        estimator = ResNetClassifier() if self.estimator is None else clone(self.estimator)
        return estimator._build_network(input_shape, n_outputs)

    _module_attributes = ("module_", "domain_head_")

    def _domain_head(self, module, input_shape):
        """A fresh domain head on the features that ``module`` computes for one input."""
        with capture_features(module.network) as captured:
            self._output_shape(module, input_shape)
        return DomainHead(captured[-1][0].numel(), self.domain_hidden_units)

    def _rebuild_module(self, name):
        if name == "domain_head_":  # after module_, whose features set the head's width
            return self._domain_head(self.module_, self._module_recipe[0])
        return super()._rebuild_module(name)

    def _train(self, module, X, y_enc, train_idx, val_idx, seed, options, weight, X_target):
        domain_head = self._domain_head(module, X.shape[1:])

        def tensors(frames, idx, domain):
            n = len(idx)
            return (
                torch.from_numpy(np.ascontiguousarray(frames[idx], dtype=np.float32)),
                torch.from_numpy(
                    y_enc[idx].astype(np.int64) if domain == 0 else np.zeros(n, dtype=np.int64)
                ),
                torch.from_numpy(
                    weight[idx].astype(np.float32) if domain == 0 else np.zeros(n, dtype=np.float32)
                ),
                torch.full((n,), domain, dtype=torch.int64),
            )

        train_data = tensors(X, train_idx, 0)
        n_source = len(train_idx)
        sampler = None
        if X_target is not None:
            target = tensors(X_target, np.arange(len(X_target)), 1)
            train_data = tuple(torch.cat(pair) for pair in zip(train_data, target))

            def sampler(generator):
                return paired_batches(n_source, len(X_target), self.batch_size, generator)

        half = self.batch_size if X_target is None else max(2, self.batch_size // 2)
        n_batches = len(shuffled_batches(n_source, half))
        loss = DANNLoss(domain_head.reversal, self.max_epochs * n_batches, self.gamma)
        try:
            history = train_module(
                DANNModel(module, domain_head),
                loss,
                adam(self.learning_rate),
                train_data,
                val_data=None if val_idx is None else tensors(X, val_idx, 0),
                batch_sampler=sampler,
                **{**options, "batch_size": half},
            )
        finally:
            domain_head.cpu().eval()
        self.domain_head_ = domain_head
        return history
