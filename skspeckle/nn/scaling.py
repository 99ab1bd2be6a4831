"""Per-image input scaling of photon frames, the first step of every stored model.

:func:`scale_frames` is the function, :class:`InputScaling` the same as a parameter-free
module; the estimators' ``normalize`` parameter selects the method, and
:class:`~skspeckle.nn.networks.layers.EmbeddingModel` and
:class:`~skspeckle.nn.networks.layers.ClassifierModel` put it in front of their network.

>>> import torch
>>> x = torch.tensor([[[0.0, 1.0], [3.0, -2.0]]])
>>> [round(v, 4) for v in scale_frames(x, "log1p").flatten().tolist()]
[0.0, 0.6931, 1.3863, 0.0]
>>> scale_frames(x, "log1p-standardize").mean().abs().item() < 1e-6
True
"""

import torch
from torch import nn

__all__ = ["InputScaling", "scale_frames", "SCALINGS"]

#: The accepted ``method`` values of :func:`scale_frames`.
SCALINGS = ("log1p", "log1p-standardize", "standardize", None)

_EPS = 1e-6


def scale_frames(x, method="log1p"):
    """Input scaling of a batch of photon frames.

    Parameters
    ----------
    x : torch.Tensor of shape (B, H, W), float32
        Photon counts (or ADU).
    method : {"log1p", "log1p-standardize", "standardize"} or None
        ``"log1p"``: clip negative values (dark-subtraction noise) to 0 and take
        ``log(1 + x)``. The logarithm compresses the orders of magnitude between the centre
        and the edge of a speckle pattern so that the high-q speckles carry weight, and keeps
        the absolute photon count, which tells multi hits (n particles scatter n² times more
        at low q) from single hits. ``"log1p-standardize"``: the same, then each image
        standardised to zero mean and unit variance, which makes the embedding independent
        of the pulse fluence at the price of that information. ``"standardize"``: only the
        per-image standardisation (frames scaled upstream). ``None``: identity. A constant
        image (e.g. an empty frame) standardises to all zeros.

    Returns
    -------
    torch.Tensor of shape (B, H, W), float32

    Raises
    ------
    ValueError
        For an unknown ``method``.
    """
    if method not in SCALINGS:
        raise ValueError(f"normalize must be one of {SCALINGS}; got {method!r}.")
    if method is None:
        return x
    if method.startswith("log1p"):
        x = torch.log1p(torch.clamp(x, min=0.0))
    if method == "log1p":
        return x
    dims = tuple(range(1, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) / torch.clamp(std, min=_EPS)


class InputScaling(nn.Module):
    """:func:`scale_frames` as a module (no parameters).

    Raises
    ------
    ValueError
        For an unknown ``method``.
    """

    def __init__(self, method="log1p"):
        super().__init__()
        if method not in SCALINGS:
            raise ValueError(f"normalize must be one of {SCALINGS}; got {method!r}.")
        self.method = method

    def forward(self, x):
        return scale_frames(x, self.method)

    def extra_repr(self):
        return f"method={self.method!r}"
