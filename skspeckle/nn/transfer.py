"""Transfer learning in plain torch: copy weights between networks, freeze part of one.

A network here is any ``torch.nn.Module`` with a convolutional feature extractor
``.features`` and a ``.head`` on top, the layout of every CNN in this package. Fine-tuning
follows the usual two steps (e.g. Yosinski et al., NeurIPS 2014; the VGG/ResNet transfer of
the SPI good-vs-bad study): copy the feature extractor trained on one data set (simulation, or
many particles), train a new head with the extractor frozen, then unfreeze its last layers.
"""

import contextlib
import os

import torch
from torch import nn

__all__ = [
    "load_state_dict_file",
    "copy_matching_weights",
    "trainable_tail",
    "frozen",
]

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def load_state_dict_file(path):
    """Read a ``state_dict`` saved with ``torch.save`` onto the CPU.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``torch.save(module.state_dict(), path)``, e.g. torchvision's
        ``vgg16-397923af.pth`` or ``torch.save(est.module_.network.state_dict(), path)``.
        A checkpoint dict holding the weights under ``"state_dict"`` or ``"model"`` is
        unwrapped. Only tensors are loaded (``weights_only=True``): no code runs.

    Returns
    -------
    state_dict : dict of str to torch.Tensor

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file does not hold a mapping of parameter names to tensors.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No weights file at {path!r}; save one with "
            "torch.save(estimator.module_.network.state_dict(), path)."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors come in many types
        raise ValueError(f"{path!r} is not a torch state_dict file: {exc}") from exc
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(
            f"{path!r} does not hold a state_dict (a mapping of parameter names to tensors); "
            f"got {type(state).__name__}."
        )
    return state


def copy_matching_weights(module, state_dict, *, required=("features.",)):
    """Copy the entries of ``state_dict`` into ``module`` by name and shape.

    Parameters
    ----------
    module : torch.nn.Module
        The destination, changed in place.
    state_dict : mapping of str to torch.Tensor
        The source weights (e.g. ``other.state_dict()``). Entries ``module`` does not have
        (e.g. torchvision's ``classifier.*``) are ignored.
    required : tuple of str, default=("features.",)
        Name prefixes of ``module``'s entries that must all be present in ``state_dict``
        with the same shape. Other entries (the head) are copied when present with the same
        shape and keep their fresh initialisation otherwise, so that a head for another
        number of classes can sit on transferred features.

    Returns
    -------
    skipped : list of str
        Names of ``module``'s entries outside ``required`` that kept their initialisation.

    Raises
    ------
    ValueError
        Listing every required entry that is missing from ``state_dict`` or differs in
        shape, before anything is copied.
    """
    own = module.state_dict()
    missing, mismatched, skipped, updates = [], [], [], {}
    for name, tensor in own.items():
        is_required = name.startswith(tuple(required))
        src = state_dict.get(name)
        if src is None or tuple(src.shape) != tuple(tensor.shape):
            if not is_required:
                skipped.append(name)
            elif src is None:
                missing.append(name)
            else:
                mismatched.append(
                    f"{name}: source {tuple(src.shape)}, destination {tuple(tensor.shape)}"
                )
            continue
        updates[name] = src.detach().to(dtype=tensor.dtype)
    if missing or mismatched:
        lines = [f"missing from the source: {', '.join(missing)}"] if missing else []
        if mismatched:
            lines.append("shape mismatch: " + "; ".join(mismatched))
        raise ValueError(
            "Cannot transfer the weights: " + ". ".join(lines) + ". The source must come from "
            "a network of the same architecture (same layers and widths; same image_shape "
            "where the shapes depend on it)."
        )
    own.update(updates)
    module.load_state_dict(own)
    return skipped


def trainable_tail(features, freeze):
    """Split a feature extractor into its frozen front and its trainable tail.

    Parameters
    ----------
    features : torch.nn.Module
        The convolutional feature extractor.
    freeze : None, "features" or int
        None: nothing frozen. ``"features"``: all of ``features`` frozen (same as 0). int
        ``k``: the last ``k`` convolutional layers of ``features``, counted in registration
        order, stay trainable together with everything after the first of them (their batch
        norms, activations, shortcuts); the layers before are frozen.

    Returns
    -------
    frozen_modules : list of torch.nn.Module
        The leaf modules to freeze, in order.

    Raises
    ------
    ValueError
        If ``k`` exceeds the number of convolutional layers of ``features``.
    """
    if freeze is None:
        return []
    leaves = [m for m in features.modules() if not list(m.children())]
    if freeze == "features" or freeze == 0:
        return leaves
    convs = [i for i, m in enumerate(leaves) if isinstance(m, _CONV_TYPES)]
    if freeze > len(convs):
        raise ValueError(
            f"freeze={freeze} asks for the last {freeze} convolutional layers to stay "
            f"trainable, but the feature extractor has only {len(convs)}; use an int in "
            f"[0, {len(convs)}], 'features' or None."
        )
    return leaves[: convs[-freeze]]


def _keep_eval(module, args):
    # Frozen layers compute as at inference: batch norm uses (and keeps) its running
    # statistics, dropout is off; otherwise "frozen" weights would still see their batch-norm
    # buffers move and their outputs jitter during fine-tuning.
    module.training = False


@contextlib.contextmanager
def frozen(modules):
    """Freeze ``modules`` for the duration of a ``with`` block.

    Inside the block their parameters have ``requires_grad=False`` and they run in eval mode
    even after ``module.train()`` (batch norm neither uses nor updates batch statistics,
    dropout is off), so their parameters and buffers stay bit-identical. On exit
    ``requires_grad`` is restored and the hooks removed.

    Parameters
    ----------
    modules : iterable of torch.nn.Module
        Typically :func:`trainable_tail`'s output.
    """
    modules = list(modules)
    params = [p for m in modules for p in m.parameters(recurse=False)]
    previous = [p.requires_grad for p in params]
    handles = []
    try:
        for p in params:
            p.requires_grad_(False)
        for m in modules:
            m.training = False
            handles.append(m.register_forward_pre_hook(_keep_eval))
        yield modules
    finally:
        for handle in handles:
            handle.remove()
        for p, flag in zip(params, previous):
            p.requires_grad_(flag)
