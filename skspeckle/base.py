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

import inspect
import os
import re
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from skspeckle.nn.device import PRECISIONS, resolve_device, torch_seeded
from skspeckle.nn.inference import output_shape, predict_batched
from skspeckle.nn.transfer import (
    copy_matching_weights,
    frozen,
    load_state_dict_file,
    trainable_tail,
)
from skspeckle.utils._sklearn_compat import HasMethods, Interval, StrOptions
from skspeckle.utils._split import stratified_split

__all__ = [
    "TorchEstimatorMixin",
    "BaseTorchEstimator",
    "PARAMETER_CONSTRAINTS",
    "fitted_model",
    "source_state_dict",
]

NORMALIZATIONS = {"log1p", "log1p-standardize", "standardize"}

PARAMETER_CONSTRAINTS = {
    "augment": [None, list, tuple, HasMethods(["augment_tensor"])],
    "normalize": [StrOptions(NORMALIZATIONS), None],
    "max_epochs": [Interval(Integral, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
    "tol": [Interval(Real, 0, None, closed="left")],
    "init_from": [None, str, os.PathLike, HasMethods(["fit"])],
    "freeze": [None, StrOptions({"features"}), Interval(Integral, 0, None, closed="left")],
    "image_shape": [tuple, list, None],
    "device": [str, torch.device],
    "precision": [StrOptions(set(PRECISIONS))],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}
"""The constraints of the shared parameters, by name (sklearn's ``_parameter_constraints``)."""

# The numpydoc entry of every shared parameter: "name : type, default={default}", then the
# description. {default} is filled from the signature of the documented class.
_PARAMETER_DOCS = {
    "augment": """augment : object, list of objects or None, default={default}
    Fit-time augmentation. Each object provides ``augment_tensor(x, generator) -> x``
    taking a float32 tensor of raw network inputs on the training device (frames ``(B, H,
    W)``, e.g. :class:`~skspeckle.augmentation.RandomRotation`) and a ``torch.Generator`` on
    that device, and returning a tensor of the same shape. The objects are applied in order
    to every training batch, before the input scaling, so every epoch sees fresh views.
    Never applied to the validation set or after ``fit``.""",
    "normalize": """normalize : {{"log1p", "log1p-standardize", "standardize"}} or None, \
default={default}
    Input scaling, part of ``module_`` (see
    :func:`skspeckle.nn.scaling.scale_frames`). ``"log1p"``: negative values
    (dark-subtraction noise) clipped to 0, then ``log(1 + counts)``, which keeps the faint
    high-q speckles visible and the absolute count; ``"log1p-standardize"`` also
    standardises each image; ``"standardize"`` only standardises each image; None feeds the
    frames as they are.""",
    "max_epochs": """max_epochs : int, default={default}
    Upper bound on the passes over the training set (0 keeps the initial weights).""",
    "batch_size": """batch_size : int, default={default}
    Frames per training batch and per prediction batch.""",
    "learning_rate": """learning_rate : float, default={default}
    Adam learning rate (see :func:`skspeckle.nn.training.adam`).""",
    "validation_fraction": """validation_fraction : float in [0, 1), default={default}
    Fraction of the frames held out (stratified by class, deterministic given
    ``random_state``) to monitor the loss for early stopping; the weights of the best
    validation epoch are kept. 0, or a set too small to hold every class (a warning says
    so), monitors the training loss.""",
    "n_iter_no_change": """n_iter_no_change : int or None, default={default}
    Stop after this many epochs without an improvement larger than ``tol`` of the monitored
    loss. None trains for ``max_epochs``.""",
    "tol": """tol : float, default={default}
    Minimum decrease of the monitored loss that counts as an improvement.""",
    "init_from": """init_from : None, str, os.PathLike or fitted estimator, default={default}
    Initial weights of the network, for fine-tuning (e.g. train on simulated frames or many
    particles, then fit on the data at hand): a fitted estimator of this package whose
    network has the same architecture (same layers and widths, same frame shape where the
    shapes depend on it), or the path of a file written by
    ``torch.save(est.module_.network.state_dict(), path)``. Every weight of the
    convolutional part (``network.features``) must match in name and shape (an error lists
    the mismatches); the other weights (the head) are copied where their shapes match and
    freshly initialised otherwise. ``sklearn.base.clone`` (hence ``GridSearchCV``,
    ``cross_validate``) replaces an estimator-valued parameter by an unfitted copy: wrap it
    in ``sklearn.frozen.FrozenEstimator`` or pass a path. The source's input scaling is not
    copied: use the same ``normalize``. None starts from a fresh initialisation.""",
    "freeze": """freeze : None, "features" or int, default={default}
    Which part of ``network.features`` ``fit`` leaves unchanged (the layers after it always
    train). None trains everything; ``"features"`` (or 0) freezes the whole convolutional
    part, which then runs in inference mode (batch norm on its running statistics, no
    dropout) and stays bit-identical; int ``k`` keeps the last ``k`` convolutions (with the
    layers after them) trainable and freezes the rest, the second, partially unfrozen step
    of fine-tuning (see :func:`skspeckle.nn.transfer.trainable_tail`). Meant for use with
    ``init_from``.""",
    "image_shape": """image_shape : tuple of int or None, default={default}
    ``(H, W)`` of flattened input ``(n_samples, H * W)``; square frames by default.""",
    "device": """device : {{"auto", "cpu", "cuda"}}, str or torch.device, default={default}
    Where the network computes (see :func:`skspeckle.nn.device.resolve_device`): ``"auto"``
    is CUDA when available, else the CPU. Resolved at every call and never written back; the
    fitted ``module_`` stays on the CPU between calls, so a model fitted on a GPU pickles and
    loads anywhere.""",
    "precision": """precision : {{"float32", "bfloat16", "float16"}}, default={default}
    Compute precision of the network in ``fit`` and after it. ``"bfloat16"`` and
    ``"float16"`` run it in mixed precision (:func:`skspeckle.nn.device.autocast`: weights,
    outputs, losses and their reductions stay float32, and ``"float16"`` training scales the
    loss): for throughput on GPUs, and ``"bfloat16"`` on CPUs with bfloat16 instructions
    (AVX-512 BF16, AMX); its effect on speed and labels is measured on the results page
    (``docs/results.md``, Inference speed). ``"float16"`` on a CPU is emulated and slow (a
    warning says so). A pickled model keeps its precision; ``set_params(precision=...)``
    changes it for prediction without refitting.""",
    "random_state": """random_state : int, RandomState instance or None, default={default}
    Seeds everything random in ``fit``: the weight initialisation, the validation split, the
    batches, dropout, and the mining and augmentation where there are any. torch is seeded
    inside :func:`torch.random.fork_rng`, so its global random state is left untouched. The
    same value gives identical output on the CPU (GPU kernels may be non-deterministic).""",
    "verbose": """verbose : int, default={default}
    1 prints one line per epoch (losses, elapsed time, throughput); 2 also progress inside
    epochs.""",
}

_SHARED_MARKER = re.compile(r"^( *)\.\. shared-parameters:: (.+)$", re.MULTILINE)


def _format_default(value):
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and 0 < abs(value) < 1e-2:
        return f"{value:.0e}".replace("e-0", "e-")  # 1e-4, as one writes it
    return repr(value)


def _document_shared_parameters(cls):
    """Replace the ``.. shared-parameters::`` lines of ``cls.__doc__`` by the entries."""
    doc = cls.__doc__
    if not doc or ".. shared-parameters::" not in doc:
        return
    defaults = {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }

    def entries(match):
        indent, names = match.group(1), [n.strip() for n in match.group(2).split(",")]
        out = []
        for name in names:
            if name not in defaults:
                raise TypeError(f"{cls.__name__}.__init__ has no parameter {name!r} to document.")
            text = cls._parameter_docs[name].format(default=_format_default(defaults[name]))
            out.extend(indent + line for line in text.splitlines())
        return "\n".join(out)

    cls.__doc__ = _SHARED_MARKER.sub(entries, doc)


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
        A ``state_dict`` file (see :func:`skspeckle.nn.transfer.load_state_dict_file`), or an
        estimator accepted by :func:`fitted_model`.

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

    _parameter_docs = _PARAMETER_DOCS

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _document_shared_parameters(cls)

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
        return predict_batched(
            self.module_,
            X,
            self.batch_size,
            resolve_device(self.device),
            dtype=dtype,
            precision=self.precision,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


class BaseTorchEstimator(TorchEstimatorMixin, BaseEstimator):
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

    def _build_network(self, input_shape, n_outputs):
        """Return a fresh ``torch.nn.Module`` mapping the scaled inputs ``(B, *input_shape)``
        to ``(B, n_outputs)``, with a convolutional ``.features`` for ``freeze``."""
        raise NotImplementedError

    def _check_network(self, network):
        """Reject what :meth:`_build_network` returned if it cannot be trained here."""
        if not isinstance(network, torch.nn.Module):
            raise TypeError(
                f"The network of {type(self).__name__} must be a torch.nn.Module; got "
                f"{type(network).__name__}."
            )

    def _train(self, module, X, y_enc, train_idx, val_idx, seed, options, **data):
        """Train ``module`` (already on the seeded torch state, frozen layers frozen) and
        return the history: typically ``train_module(module, loss, adam(lr), train_data,
        val_data=..., **options)``. ``options`` holds the :func:`train_module` arguments
        every estimator shares; ``data`` what the subclass passed to :meth:`_fit_network`."""
        raise NotImplementedError

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
            precision=self.precision,
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
            copy_matching_weights(network, source_state_dict(self.init_from))
        return module

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
