"""The one base of the estimators that run a torch network.

:class:`TorchEstimatorMixin` holds what every such estimator shares -- the ``device``,
``precision``, ``random_state`` and ``image_shape`` parameters, the seed drawn from
``random_state``, the output-shape probe and batched prediction on the CPU-resident fitted
module. :class:`BaseTorchEstimator` adds the parameters and the ``fit`` scaffold of the
estimators that *train* a network (:class:`~skspeckle.embedding.TripletEmbedder` and every
:class:`~skspeckle.baselines._classifier.NeuralNetClassifier`): resolve the device, draw the
seed, split off a stratified validation set, build the network inside
:func:`skspeckle.nn.device.torch_seeded` (torch's global random state untouched), probe its
output shape, copy ``init_from``, freeze, train through
:func:`skspeckle.nn.training.train_module` (early stopping, ``precision``, fit-time
``augment``, ``verbose`` progress) and move the module back to the CPU. A subclass says which
network it builds (:meth:`BaseTorchEstimator._build_network`) and how it trains it
(:meth:`BaseTorchEstimator._train`).

The shared parameters are documented once, here: a line ``.. shared-parameters:: name, ...``
in the Parameters section of a subclass's docstring is replaced by their entries, with the
defaults read from that subclass's ``__init__``.
"""

import abc
import os

import numpy as np
import torch
from safetensors.torch import load_file as load_safetensors_file
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from skspeckle._module_state import module_state, restore_module
from skspeckle._parameters import (
    PARAMETER_CONSTRAINTS,
    PARAMETER_DOCS,
    document_shared_parameters,
)
from skspeckle.nn.device import resolve_device, resolve_precision, torch_seeded
from skspeckle.nn.inference import output_shape, predict_batched
from skspeckle.nn.transfer import (
    copy_matching_weights,
    frozen,
    load_state_dict_file,
    trainable_tail,
)
from skspeckle.utils._split import stratified_split

__all__ = [
    "TorchEstimatorMixin",
    "BaseTorchEstimator",
    "PARAMETER_CONSTRAINTS",
    "fitted_model",
    "source_state_dict",
]


def fitted_model(source, param="init_from"):
    """The fitted ``module_`` of an estimator, whose ``.network`` holds the weights.

    Parameters
    ----------
    source : object
        A fitted estimator of this package (or a ``sklearn.frozen.FrozenEstimator`` wrapping
        one): any object whose ``module_.network`` is a torch module.
    param : str, default="init_from"
        Name of the parameter ``source`` was passed as, for the error messages.

    Returns
    -------
    module : torch.nn.Module
        ``source.module_`` itself (not a copy).

    Raises
    ------
    ValueError
        If ``source`` is an estimator without fitted weights (e.g. a clone made by
        ``GridSearchCV``, which clones estimator-valued parameters unfitted).
    TypeError
        If ``source`` is no estimator with ``module_.network``.
    """
    module = getattr(source, "module_", None)
    if isinstance(getattr(module, "network", None), torch.nn.Module):
        return module
    if hasattr(source, "get_params"):
        raise ValueError(
            f"{param}={type(source).__name__}(...) is not fitted, so it has no weights to "
            "transfer. sklearn.base.clone (used by GridSearchCV, cross_validate, Pipeline "
            f"cloning) replaces an estimator-valued parameter by an unfitted copy: pass "
            f"{param}=sklearn.frozen.FrozenEstimator(fitted_estimator), which clone keeps "
            "as it is, or save the weights with "
            "torch.save(fitted_estimator.module_.network.state_dict(), path) and pass the path."
        )
    raise TypeError(
        f"{param} must be None, the path of a state_dict file or a fitted estimator with a "
        f"module_.network; got {type(source).__name__}."
    )


def source_state_dict(init_from):
    """The network weights that ``init_from`` names, for
    :func:`skspeckle.nn.transfer.copy_matching_weights`.

    Parameters
    ----------
    init_from : str, os.PathLike or fitted estimator
        A ``state_dict`` file: a ``.safetensors`` file (read with safetensors, e.g.
        :data:`skspeckle.pretrained.WEIGHTS`), or one written by ``torch.save`` (see
        :func:`skspeckle.nn.transfer.load_state_dict_file`); or an estimator accepted by
        :func:`fitted_model`.

    Returns
    -------
    state_dict : dict of str to torch.Tensor
        Copies on the CPU.

    Raises
    ------
    ValueError, TypeError
        As :func:`fitted_model`, and :func:`~skspeckle.nn.transfer.load_state_dict_file`'s
        errors for a path.
    """
    if isinstance(init_from, (str, os.PathLike)):
        if os.fspath(init_from).endswith(".safetensors"):
            if not os.path.isfile(init_from):
                raise FileNotFoundError(f"No weights file at {os.fspath(init_from)!r}.")
            # Half-precision files are cast to the network's dtype by copy_matching_weights.
            return load_safetensors_file(os.fspath(init_from), device="cpu")
        return load_state_dict_file(init_from)
    network = fitted_model(init_from).network
    return {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}


class _AugmentChain:
    """Applies the ``augment_tensor`` of each augmentation object in turn."""

    def __init__(self, steps):
        self.steps = steps

    def __call__(self, x, generator):
        for step in self.steps:
            out = step.augment_tensor(x, generator)
            if not torch.is_tensor(out) or tuple(out.shape) != tuple(x.shape):
                raise ValueError(
                    f"{type(step).__name__}.augment_tensor must return a tensor of the shape "
                    f"it was given, {tuple(x.shape)}; got "
                    f"{tuple(out.shape) if torch.is_tensor(out) else type(out).__name__}."
                )
            x = out.to(dtype=torch.float32)
        return x


def _augment_chain(augment):
    if augment is None:
        return None
    steps = list(augment) if isinstance(augment, (list, tuple)) else [augment]
    for step in steps:
        if not callable(getattr(step, "augment_tensor", None)):
            raise TypeError(
                "Every entry of augment must provide augment_tensor(x, generator); "
                f"{type(step).__name__} does not."
            )
    return _AugmentChain(steps) if steps else None


class TorchEstimatorMixin:
    """What every estimator that runs a torch network shares.

    Expects the parameters ``device``, ``precision``, ``random_state`` and ``batch_size`` and,
    once fitted, ``module_`` (on the CPU). Subclasses' docstrings are filled by
    ``.. shared-parameters::`` lines (see the module docstring) from ``_parameter_docs``,
    which a family of estimators may extend. Put it left of ``BaseEstimator``.
    """

    _parameter_docs = PARAMETER_DOCS

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        document_shared_parameters(cls)

    def _seed(self):
        """The int32 seed of one ``fit``, the only draw from ``random_state``."""
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    @staticmethod
    def _output_shape(module, input_shape):
        """Shape of one output of ``module`` for one input of ``input_shape``."""
        return output_shape(module, tuple(int(s) for s in input_shape))

    def _predict_module(self, X, dtype=torch.float64):
        """``module_`` applied to the validated ``X`` in batches on ``device`` at
        ``precision``; the module is back on the CPU afterwards."""
        device = resolve_device(self.device)
        return predict_batched(
            self.module_,
            X,
            self.batch_size,
            device,
            dtype=dtype,
            precision=resolve_precision(self.precision, device),
            # A bar for long calls only: with verbose, beyond 10 batches (estimators that do
            # not train, e.g. PretrainedFeatures, have no verbose).
            progress=getattr(self, "verbose", 0) >= 1 and len(X) > 10 * self.batch_size,
        )

    # Fitted attributes holding torch modules, restored in this order by __setstate__.
    _module_attributes = ("module_",)

    def _rebuild_module(self, name):
        """A fresh module of the fitted architecture of attribute ``name``, built from the
        parameters and ``_module_recipe`` (what ``fit`` recorded of the architecture: input
        shape, width of the output); its weights are overwritten on restore."""
        raise NotImplementedError(f"{type(self).__name__} cannot rebuild {name}.")

    def __getstate__(self):
        # No torch object in the state: pickle, deepcopy and skops.io (save_model) store the
        # weights as safetensors bytes and never a module's class or code; see _module_state.
        state = dict(super().__getstate__())  # object.__getstate__ may return __dict__ itself
        saved = {}
        # Without the recipe (an estimator fitted before the recipe was recorded, loaded from
        # an old pickle) the module cannot be rebuilt: it stays in the state as it was.
        if "_module_recipe" in state:
            for name in self._module_attributes:
                if isinstance(state.get(name), torch.nn.Module):
                    saved[name] = module_state(state.pop(name))
        if saved:
            state["_module_states"] = saved
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_module_states", {})
        super().__setstate__(state)
        for name, module in saved.items():
            owner = f"{type(self).__name__}.{name}"
            setattr(self, name, restore_module(lambda: self._rebuild_module(name), module, owner))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


class BaseTorchEstimator(TorchEstimatorMixin, BaseEstimator, metaclass=abc.ABCMeta):
    """Base of the estimators that train a network: shared parameters and the ``fit`` scaffold.

    Not used directly. A subclass lists its own parameters and these in ``__init__`` (passing
    these to ``super().__init__``), extends ``_parameter_constraints``, sets
    ``_module_type`` (the wrapper of the network that becomes ``module_``, e.g.
    :class:`~skspeckle.nn.networks.speckle_net.EmbeddingModel`), implements
    :meth:`_build_network` and :meth:`_train`, and calls :meth:`_fit_network` from ``fit``
    with the validated frames and encoded labels.

    Parameters
    ----------
    .. shared-parameters:: augment, normalize, max_epochs, batch_size, learning_rate, \
validation_fraction, n_iter_no_change, tol, init_from, freeze, image_shape, device, precision, \
random_state, verbose
    """

    _parameter_constraints = dict(PARAMETER_CONSTRAINTS)
    _module_type = None
    # How the error of a wrong output shape names the expected width ("n_components=").
    _output_name = ""

    def __init__(
        self,
        *,
        augment=None,
        normalize="log1p",
        max_epochs=100,
        batch_size=64,
        learning_rate=1e-3,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        init_from=None,
        freeze=None,
        image_shape=None,
        device="auto",
        precision="float32",
        random_state=None,
        verbose=0,
    ):
        self.augment = augment
        self.normalize = normalize
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.init_from = init_from
        self.freeze = freeze
        self.image_shape = image_shape
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ subclass hooks

    @abc.abstractmethod
    def _build_network(self, input_shape, n_outputs):
        """Return a fresh ``torch.nn.Module`` mapping the scaled inputs ``(B, *input_shape)``
        to ``(B, n_outputs)``, with a convolutional ``.features`` for ``freeze``."""

    def _check_network(self, network):
        """Reject what :meth:`_build_network` returned if it cannot be trained here."""
        if not isinstance(network, torch.nn.Module):
            raise TypeError(
                f"The network of {type(self).__name__} must be a torch.nn.Module; got "
                f"{type(network).__name__}."
            )

    @abc.abstractmethod
    def _train(self, module, X, y_enc, train_idx, val_idx, seed, options, **data):
        """Train ``module`` (already on the seeded torch state, frozen layers frozen) and
        return the history: typically ``train_module(module, loss, adam(lr), train_data,
        val_data=..., **options)``. ``options`` holds the :func:`train_module` arguments
        every estimator shares; ``data`` what the subclass passed to :meth:`_fit_network`."""

    # ------------------------------------------------------------------ fit

    def _require_y(self, y, why):
        """Reject a missing ``y``; ``why`` ends the error message."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: {why}"
            )

    def _require_two_classes(self, classes, purpose):
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes {purpose}; got 1 class "
                f"({classes[0]!r})."
            )

    def _fit_network(self, X, y_enc, n_classes, n_outputs, **data):
        """The fit scaffold: sets ``module_``, ``history_`` and ``n_iter_``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, *input_shape), float32
            Validated network inputs.
        y_enc : ndarray of shape (n_samples,), int
            Class indices in ``range(n_classes)`` (stratify the validation split).
        n_classes, n_outputs : int
            Number of classes; width of the network output.
        **data
            Passed on to :meth:`_train`.
        """
        name = type(self).__name__
        augment = _augment_chain(self.augment)
        device = resolve_device(self.device)
        seed = self._seed()
        train_idx, val_idx = stratified_split(
            y_enc, self.validation_fraction, seed, n_classes, name
        )
        options = dict(
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            generator=torch.Generator().manual_seed(seed),
            augment=augment,
            device=device,
            precision=resolve_precision(self.precision, device),
            verbose=self.verbose,
            name=name,
        )
        with torch_seeded(seed, device):
            module = self._init_module(X.shape[1:], n_outputs)
            try:
                with frozen(self._frozen_layers(module.network)):
                    self.history_ = self._train(
                        module, X, y_enc, train_idx, val_idx, seed, options, **data
                    )
            finally:
                module.cpu().eval()
        self.module_ = module
        self._module_recipe = (tuple(int(s) for s in X.shape[1:]), int(n_outputs))
        self.n_iter_ = len(self.history_)

    def _init_module(self, input_shape, n_outputs):
        """Build the network, check it and its output shape, copy ``init_from``."""
        input_shape = tuple(int(s) for s in input_shape)
        network = self._build_network(input_shape, n_outputs)
        self._check_network(network)
        module = self._module_type(network, self.normalize)
        out = self._output_shape(module, input_shape)
        if out != (n_outputs,):
            raise ValueError(
                f"The network of {type(self).__name__} maps a batch of 2 frames of shape "
                f"{input_shape} to shape {(2, *out)}; expected "
                f"(2, {self._output_name}{n_outputs})."
            )
        if self.init_from is not None:
            skipped = copy_matching_weights(network, source_state_dict(self.init_from))
            if skipped and self.max_epochs == 0:
                # Nothing trains them: they would stay random.
                raise ValueError(
                    f"max_epochs=0 keeps the weights of init_from, but {len(skipped)} of the "
                    f"network's entries ({', '.join(skipped[:3])}, ...) have no match of the "
                    "same shape there (frames of another shape than the source's, or another "
                    "n_components). Use frames of the source's shape, or max_epochs > 0 to "
                    "train the unmatched layers."
                )
        return module

    def _rebuild_module(self, name):
        if name != "module_":
            return super()._rebuild_module(name)
        input_shape, n_outputs = self._module_recipe
        return self._module_type(self._build_network(input_shape, n_outputs), self.normalize)

    def _frozen_layers(self, network):
        if self.freeze is None:
            return []
        if not isinstance(getattr(network, "features", None), torch.nn.Module):
            raise TypeError(
                f"freeze={self.freeze!r} needs a network with a convolutional .features "
                f"submodule; {type(network).__name__} has none. Use freeze=None."
            )
        return trainable_tail(network.features, self.freeze)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
