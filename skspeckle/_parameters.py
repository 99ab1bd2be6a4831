"""The parameters shared by the torch estimators: their constraints and their numpydoc entries,
written once, and the ``.. shared-parameters::`` docstring directive that places the entries in
each estimator's own docstring (see :mod:`skspeckle.base`)."""

import inspect
import os
import re
from numbers import Integral, Real

import torch

from skspeckle.nn.device import PRECISIONS
from skspeckle.utils._sklearn_compat import HasMethods, Interval, StrOptions

__all__ = [
    "NORMALIZATIONS",
    "PARAMETER_CONSTRAINTS",
    "PARAMETER_DOCS",
    "document_shared_parameters",
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
    "precision": [StrOptions({"auto", *PRECISIONS})],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}
"""The constraints of the shared parameters, by name (sklearn's ``_parameter_constraints``)."""

# The numpydoc entry of every shared parameter: "name : type, default={default}", then the
# description. {default} is filled from the signature of the documented class.
PARAMETER_DOCS = {
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
    ``torch.save(est.module_.network.state_dict(), path)`` or of a ``.safetensors`` file
    of such a ``state_dict`` (e.g. :data:`skspeckle.pretrained.WEIGHTS`). Every weight of the
    convolutional part (``network.features``) must match in name and shape (an error lists
    the mismatches); the other weights (the head) are copied where their shapes match and
    freshly initialised otherwise. ``sklearn.base.clone`` (hence ``GridSearchCV``,
    ``cross_validate``) replaces an estimator-valued parameter by an unfitted copy: wrap it
    in ``sklearn.frozen.FrozenEstimator`` or pass a path. The source's input scaling is not
    copied: use the same ``normalize``. With ``max_epochs=0`` every weight must come from
    the source (``fit`` then only records the classes). None starts from a fresh
    initialisation.""",
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
    "precision": """precision : {{"float32", "auto", "bfloat16", "float16"}}, default={default}
    Compute precision of the network in ``fit`` and after it. ``"bfloat16"`` and
    ``"float16"`` run it in mixed precision (:func:`skspeckle.nn.device.autocast`: weights,
    outputs, losses and their reductions stay float32, and ``"float16"`` training scales the
    loss): for throughput on GPUs, and ``"bfloat16"`` on CPUs with bfloat16 instructions
    (AVX-512 BF16, AMX); its effect on speed and labels is measured on the results page
    (``docs/results.md``, Inference speed). ``"auto"`` is ``"bfloat16"`` where the device
    has native bfloat16 (:func:`skspeckle.nn.device.native_bfloat16`: CUDA
    ``is_bf16_supported``, AVX-512 BF16 or AMX on a CPU) and ``"float32"`` elsewhere, and
    float32 for the onnxruntime inference backend. ``"float16"`` on a CPU, and
    ``"bfloat16"`` without native support, are emulated and slow (a warning says so). A
    pickled model keeps its precision; ``set_params(precision=...)`` changes it for
    prediction without refitting.""",
    "random_state": """random_state : int, RandomState instance or None, default={default}
    Seeds everything random in ``fit``: the weight initialisation, the validation split, the
    batches, dropout, and the mining and augmentation where there are any. torch is seeded
    inside :func:`torch.random.fork_rng`, so its global random state is left untouched. The
    same value gives identical output on the CPU (GPU kernels may be non-deterministic).""",
    "verbose": """verbose : int, default={default}
    1 shows a progress bar over the epochs (tqdm, on stderr: loss, validation loss, ETA), prints
    one line per epoch (losses, elapsed time, throughput) and a bar for ``transform`` /
    ``predict`` beyond 10 batches; 2 also a bar over the batches of each epoch.""",
}

_SHARED_MARKER = re.compile(r"^( *)\.\. shared-parameters:: (.+)$", re.MULTILINE)


def _format_default(value):
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and 0 < abs(value) < 1e-2:
        return f"{value:.0e}".replace("e-0", "e-")  # 1e-4, as one writes it
    return repr(value)


def document_shared_parameters(cls):
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
