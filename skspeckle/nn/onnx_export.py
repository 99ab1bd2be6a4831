"""A torch module as an ONNX graph with a dynamic batch axis, in memory.

Uses torch's ``torch.export``-based exporter (``torch.onnx.export(..., dynamo=True)``, which
needs ``onnxscript``), the default since torch 2.9: the TorchScript-based exporter it replaces
is deprecated and warns that it will be removed. The exporter traces the module once on an
example batch and marks the batch axis dynamic, so one graph serves batches of any size,
including 1.
"""

import contextlib
import logging
import warnings

import torch

__all__ = ["onnx_model"]

# The exporter logs one warning per torchvision operator it cannot register when torchvision
# is absent; none of those operators occur in skspeckle's graphs.
_REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"


@contextlib.contextmanager
def _quiet_exporter():
    logger = logging.getLogger(_REGISTRATION_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # torch's own deprecation notices from inside torch.export, not the caller's.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def onnx_model(module, example, *, input_name="frames", output_names=None, opset_version=18):
    """Export ``module`` (in eval mode) to an ONNX ``ModelProto`` with a dynamic batch axis.

    Parameters
    ----------
    module : torch.nn.Module
        On the CPU; put in eval mode (and left so). Its ``forward`` takes one tensor whose
        first axis is the batch and returns a tensor or a tuple of tensors.
    example : torch.Tensor
        An input batch of at least two samples (torch.export specialises a batch axis of
        size 1), e.g. ``torch.zeros(2, H, W)``.
    input_name : str, default="frames"
        Name of the graph input.
    output_names : list of str or None, default=None
        Names of the graph outputs, in the order ``forward`` returns them.
    opset_version : int, default=18
        ONNX operator set (18: onnxruntime >= 1.14).

    Returns
    -------
    model : onnx.ModelProto
        Weights included as initialisers; ``model.SerializeToString()`` gives the file bytes.

    Raises
    ------
    ImportError
        If ``onnxscript`` (which the exporter needs) is not installed.
    ValueError
        If ``example`` has fewer than two samples.
    """
    if example.shape[0] < 2:
        raise ValueError(
            f"The example batch must hold at least 2 samples; got shape {tuple(example.shape)}."
        )
    module.eval()
    batch = torch.export.Dim("batch")
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            module,
            (example,),
            dynamo=True,
            input_names=[input_name],
            output_names=output_names,
            dynamic_shapes=({0: batch},),
            opset_version=opset_version,
            optimize=True,
            verbose=False,
        )
    return program.model_proto
