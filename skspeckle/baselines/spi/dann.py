"""Domain-adversarial training: a CNN that learns features shared by a labelled source data set
and an unlabelled target data set."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone
from torch import nn
from torch.nn import functional as F

from skspeckle.baselines._classifier import NeuralNetClassifier, weighted_cross_entropy
from skspeckle.baselines.spi.resnet import ResNetClassifier
from skspeckle.nn.gradient_reversal import dann_lambda
from skspeckle.nn.networks.layers import capture_features
from skspeckle.nn.networks.spi import DomainHead
from skspeckle.nn.training import adam, shuffled_batches, train_module
from skspeckle.utils._images import validate_images
from skspeckle.utils._sklearn_compat import Interval, fit_context

__all__ = ["DANNClassifier"]


class _DANNModel(nn.Module):
    """Label logits of the classifier model and the domain logit of its features."""

    def __init__(self, model, domain_head):
        super().__init__()
        self.model, self.domain_head = model, domain_head

    def forward(self, x):
        with capture_features(self.model.network) as captured:
            logits = self.model(x)
        return logits, self.domain_head(captured[-1])


class _DANNLoss:
    """Label cross-entropy on the source frames plus the domain cross-entropy on all frames;
    sets the reversal factor of the schedule before every training step."""

    def __init__(self, reversal, n_steps, gamma):
        self.reversal, self.n_steps, self.gamma, self.step = reversal, max(1, n_steps), gamma, 0

    def __call__(self, module, batch, generator):
        x, target, weight, domain = batch
        if module.training:
            self.reversal.lambda_ = dann_lambda(min(1.0, self.step / self.n_steps), self.gamma)
            self.step += 1
        logits, domain_logit = module(x)
        source = domain == 0
        loss, metrics = weighted_cross_entropy(logits[source], target[source], weight[source])
        if bool((~source).any()):
            domain_loss = F.binary_cross_entropy_with_logits(domain_logit, domain.float())
            loss = loss + domain_loss
            metrics["domain_loss"] = domain_loss.detach()
            metrics["domain_accuracy"] = ((domain_logit > 0) == (domain == 1)).float().mean()
            metrics["lambda"] = self.reversal.lambda_
        return loss, metrics


def _paired_batches(n_source, n_target, batch_size, generator):
    """Batches of half source, half target indices (targets follow the sources): the source
    frames are shuffled once per epoch, the target frames cycled in a shuffled order."""
    half = max(2, batch_size // 2)
    source = shuffled_batches(n_source, half, generator)
    order = torch.randperm(n_target, generator=generator)
    need = sum(min(half, len(b)) for b in source)
    target = order.repeat(need // n_target + 1)[:need] + n_source
    out, start = [], 0
    for b in source:
        k = min(half, len(b))
        out.append(torch.cat([b, target[start : start + k]]))
        start += k
    return out


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
    max_epochs, batch_size, learning_rate, validation_fraction, n_iter_no_change, tol
        Training, as in :class:`~skspeckle.baselines._classifier.NeuralNetClassifier` (defaults
        100, 64, 1e-3, 0.1, 10, 1e-4). With ``X_target`` every batch holds
        ``batch_size // 2`` source and as many target frames; an epoch is one pass over the
        source frames (target frames are cycled). Early stopping monitors the label loss on
        the held-out *source* frames (no target labels exist); with ``n_iter_no_change=None``
        the schedule runs to ``lambda`` ~ 1.
    class_weight, normalize, init_from, freeze, image_shape, device, random_state, verbose
        As in :class:`~skspeckle.baselines._classifier.NeuralNetClassifier`; ``normalize`` replaces
        the estimator's.

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

    Without ``X_target`` the estimator trains a plain classifier of the same architecture.
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
        normalize="log1p",
        init_from=None,
        freeze=None,
        image_shape=None,
        device="auto",
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
            normalize=normalize,
            init_from=init_from,
            freeze=freeze,
            image_shape=image_shape,
            device=device,
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

    def _train(self, module, X, y_enc, weight, train_idx, val_idx, seed, device, X_target=None):
        with torch.no_grad(), capture_features(module.network) as captured:
            module(torch.zeros((2, *X.shape[1:])))
        domain_head = DomainHead(captured[-1][0].numel(), self.domain_hidden_units)
        trainer = _DANNModel(module, domain_head)

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
                return _paired_batches(n_source, len(X_target), self.batch_size, generator)

        half = self.batch_size if X_target is None else max(2, self.batch_size // 2)
        n_batches = len(shuffled_batches(n_source, half))
        loss = _DANNLoss(domain_head.reversal, self.max_epochs * n_batches, self.gamma)
        try:
            history = train_module(
                trainer,
                loss,
                adam(self.learning_rate),
                train_data,
                batch_size=half,
                max_epochs=self.max_epochs,
                val_data=None if val_idx is None else tensors(X, val_idx, 0),
                n_iter_no_change=self.n_iter_no_change,
                tol=self.tol,
                generator=torch.Generator().manual_seed(seed),
                batch_sampler=sampler,
                device=device,
                verbose=self.verbose,
                name=type(self).__name__,
            )
        finally:
            domain_head.cpu().eval()
        self.domain_head_ = domain_head
        return history
