"""Inference: a module applied to many frames in batches, and the shape of its output."""

import torch
from tqdm import tqdm

from skspeckle.nn.device import autocast

__all__ = ["predict_batched", "output_shape"]


def predict_batched(
    module, X, batch_size, device, dtype=torch.float64, precision="float32", progress=False
):
    """``module`` applied to ``X`` in batches of ``batch_size``, in eval mode without gradient.

    Parameters
    ----------
    module : torch.nn.Module
        Moved to ``device`` for the call and back to the CPU afterwards (also on error), so
        fitted estimators keep their modules on the CPU between calls.
    X : ndarray of float32 of shape (n_samples, ...)
        Inputs; writeable batches are wrapped without copying on the CPU.
    batch_size : int
    device : torch.device or str
    dtype : torch.dtype, default=torch.float64
        Of the returned array.
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Compute precision of the forward pass (see :func:`skspeckle.nn.device.autocast`).
    progress : bool, default=False
        A progress bar over the batches (tqdm, on stderr, removed when done).

    Returns
    -------
    out : ndarray of shape (n_samples, ...) and ``dtype``
        The module's outputs, concatenated.
    """
    out = []
    try:
        module.to(device).eval()
        with torch.inference_mode(), autocast(torch.device(device), precision):
            starts = range(0, len(X), batch_size)
            for start in tqdm(starts, unit="batch", leave=False, disable=not progress):
                batch = X[start : start + batch_size]
                if not batch.flags.writeable:  # torch warns on sharing read-only memory
                    batch = batch.copy()
                batch = torch.as_tensor(batch, device=device)
                out.append(module(batch).to(dtype).cpu())
    finally:
        module.cpu()
    return torch.cat(out).numpy()


def output_shape(module, input_shape):
    """The shape of one output of ``module`` for one input of ``input_shape``.

    Runs ``module`` once, in eval mode (left so) and without gradient, on a batch of two
    zero inputs: two so that layers that need more than one sample per batch work, eval so
    that no batch-norm statistics move and no random numbers are drawn.

    Parameters
    ----------
    module : torch.nn.Module
        On the CPU.
    input_shape : tuple of int
        Shape of one input, e.g. ``(H, W)``.

    Returns
    -------
    shape : tuple of int
        The output's shape without the batch axis.

    Examples
    --------
    >>> import torch
    >>> from skspeckle.nn.inference import output_shape
    >>> output_shape(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5)), (3, 4))
    (5,)
    """
    module.eval()
    with torch.no_grad():
        out = module(torch.zeros((2, *input_shape)))
    return tuple(out.shape[1:])
