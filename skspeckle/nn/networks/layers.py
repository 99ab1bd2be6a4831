"""Layers, model wrappers and helpers shared by the network families.

- :class:`EmbeddingModel` and :class:`ClassifierModel` are what the estimators store as
  ``module_``: input scaling (:class:`~skspeckle.nn.scaling.InputScaling`), then any network,
  then (for embeddings) :class:`L2Normalize`.
- :class:`NetworkFeatures`, :func:`capture_features` and :func:`pool_features` read the
  ``.features`` output of any network that follows the ``.features`` / ``.head`` layout
  (SpeckleNN, the SPI and the SFX networks).
- :func:`pad_to` zero-pads small frames up to a network's minimum size; :func:`n_parameters`
  counts trainable parameters.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Flatten(), nn.Linear(9, 5))
>>> model = EmbeddingModel(net)
>>> out = model(torch.rand(4, 3, 3))
>>> tuple(out.shape), n_parameters(model)
((4, 5), 50)
>>> tuple(pad_to(torch.zeros(2, 1, 4, 20), (16, 16)).shape)
(2, 1, 16, 20)
"""

import contextlib

import torch
from torch import nn
from torch.nn import functional as F

from skspeckle.nn.scaling import InputScaling

__all__ = [
    "L2Normalize",
    "EmbeddingModel",
    "ClassifierModel",
    "NetworkFeatures",
    "capture_features",
    "pool_features",
    "pad_to",
    "frame_padding",
    "n_parameters",
]


def pad_to(x, sizes):
    """Zero-pad the trailing dimensions of ``x`` symmetrically up to ``sizes``.

    Parameters
    ----------
    x : torch.Tensor
        E.g. ``(B, C, H, W)`` frames or ``(B, L)`` profiles.
    sizes : sequence of int
        Minimum sizes of the last ``len(sizes)`` dimensions; larger dimensions are left as
        they are. The odd pixel of an odd padding goes to the end (right / bottom).

    Returns
    -------
    torch.Tensor
        ``x`` itself when no padding is needed.
    """
    pad = []
    for have, want in zip(reversed(x.shape[-len(sizes) :]), reversed(sizes)):
        extra = max(0, want - have)
        pad += [extra // 2, extra - extra // 2]
    return F.pad(x, pad) if any(pad) else x


def frame_padding(image_shape, min_size):
    """The fixed zero padding that brings frames of ``image_shape`` up to ``min_size``.

    Computed once when a network is built, so that its forward pass does no shape
    arithmetic per frame.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` of the frames, in pixels.
    min_size : int
        The smallest side the network's layers accept.

    Returns
    -------
    shape : tuple of int
        ``(H, W)`` as ints.
    padded : tuple of int
        ``(max(H, min_size), max(W, min_size))``.
    padding : tuple of int
        ``(left, right, top, bottom)`` for ``torch.nn.functional.pad``; all zero when the
        frame is large enough. The odd pixel goes to the right / bottom.

    Raises
    ------
    ValueError
        If a side is not positive.
    """
    h, w = (int(s) for s in image_shape)
    if h < 1 or w < 1:
        raise ValueError(f"image_shape must be positive; got {tuple(image_shape)}.")
    ph, pw = max(h, min_size), max(w, min_size)
    padding = ((pw - w) // 2, pw - w - (pw - w) // 2, (ph - h) // 2, ph - h - (ph - h) // 2)
    return (h, w), (ph, pw), padding


class L2Normalize(nn.Module):
    """Scale each row to unit L2 norm (idempotent), in float32: under mixed precision the
    16-bit rows of a network would otherwise come out with norms off by up to 0.4 %."""

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            return F.normalize(x.flatten(1).float(), dim=1)


class EmbeddingModel(nn.Sequential):
    """Raw frames ``(B, H, W)`` -> input scaling -> ``network`` -> unit vectors.

    This is what the embedding estimators store as ``module_``: it maps raw photon frames
    straight to embeddings, so it can be used on its own (e.g. in an online veto pipeline).
    """

    def __init__(self, network, normalize="log1p"):
        super().__init__(InputScaling(normalize), network, L2Normalize())

    @property
    def network(self):
        return self[1]


class ClassifierModel(nn.Sequential):
    """Raw frames -> input scaling -> ``network`` -> logits ``(B, n_outputs)``.

    What the classifier estimators store as ``module_``; ``.network`` is the CNN with
    ``.features`` and ``.head``.
    """

    def __init__(self, network, normalize="log1p"):
        super().__init__(InputScaling(normalize), network)

    @property
    def network(self):
        return self[1]


@contextlib.contextmanager
def capture_features(network):
    """Record the output of ``network.features`` during forward passes inside the block.

    Yields a list to which each forward pass appends the feature tensor; this reads the
    features of any network without knowing the input handling (padding, channel axis) its
    ``forward`` does before them.
    """
    captured = []
    handle = network.features.register_forward_hook(lambda m, args, out: captured.append(out))
    try:
        yield captured
    finally:
        handle.remove()


def pool_features(x, pooling):
    """``(B, C, ...)`` feature maps to ``(B, C)`` by global ``"avg"`` / ``"max"`` pooling, or
    to ``(B, C * ...)`` by flattening (None)."""
    if x.ndim > 2 and pooling == "avg":
        return x.flatten(2).mean(dim=2)
    if x.ndim > 2 and pooling == "max":
        return x.flatten(2).amax(dim=2)
    return x.flatten(1)


class NetworkFeatures(nn.Module):
    """The ``.features`` output of a trained model's network, pooled.

    ``model`` maps raw frames to its own output (e.g. a :class:`ClassifierModel` or an
    :class:`EmbeddingModel`, input scaling included); this module runs it and returns what
    its ``model.network.features`` produced, passed through :func:`pool_features`.
    """

    def __init__(self, model, pooling="avg"):
        super().__init__()
        self.model, self.pooling = model, pooling

    def forward(self, x):
        with capture_features(self.model.network) as captured:
            self.model(x)
        return pool_features(captured[-1], self.pooling)


def n_parameters(module):
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
