"""Fitted torch modules as safetensors bytes, for the estimators' ``__getstate__``.

A torch module cannot be stored without pickle: its class and the code of ``forward`` are
Python objects. The estimators therefore store only the *weights* (the ``state_dict``, as a
safetensors blob: raw CPU tensor data and a JSON index, no code) and rebuild the module from
their own parameters when the state is restored
(:meth:`skspeckle.base.TorchEstimatorMixin.__setstate__`). The same state serves ``pickle``,
``copy.deepcopy`` and :func:`skspeckle.persistence.save_model` (``skops.io``).
"""

import torch
from safetensors.torch import load as _load_safetensors
from safetensors.torch import save as _save_safetensors

from skspeckle.nn.device import torch_seeded

__all__ = ["module_state", "restore_module"]


def module_state(module):
    """``{"safetensors": bytes, "training": bool}`` of a module, from CPU copies.

    The copies are contiguous and never share memory (safetensors refuses tied or
    overlapping tensors; loading assigns each entry, so tied weights stay equal), and they
    come from ``.cpu()``, so a module left on a GPU is stored as CPU data.
    """
    tensors = {
        key: value.detach().to("cpu", copy=True).contiguous()
        for key, value in module.state_dict().items()
    }
    return {"safetensors": _save_safetensors(tensors), "training": bool(module.training)}


def restore_module(build, state, owner):
    """The module that ``build()`` returns, with the weights and mode of ``state``.

    Parameters
    ----------
    build : callable
        Returns a fresh module of the fitted architecture (random initial weights, which are
        overwritten; drawn inside a fork of torch's random state, which is left untouched).
    state : dict
        As returned by :func:`module_state`.
    owner : str
        Names the fitted attribute in the error, e.g. ``"TripletEmbedder.module_"``.

    Returns
    -------
    module : torch.nn.Module
        On the CPU.

    Raises
    ------
    ValueError
        If the saved weights do not fit the rebuilt module (a parameter that sets the
        architecture was changed after ``fit``), or the blob is no safetensors data.
    """
    with torch_seeded(0, torch.device("cpu")):
        module = build()
    try:
        module.load_state_dict(_load_safetensors(state["safetensors"]), strict=True)
    except Exception as exc:  # safetensors and load_state_dict raise several types
        raise ValueError(
            f"The saved weights of {owner} do not fit the network its parameters build "
            f"({type(exc).__name__}: {exc}). Was a parameter that sets the architecture "
            "changed (set_params) after fit? Restore it, or refit the estimator."
        ) from exc
    return module.cpu().train(state["training"])
