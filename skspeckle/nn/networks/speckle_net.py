"""The SpeckleNN embedding network, the default ``network`` of the embedder.

The SpeckleNN embedding model (Wang et al., SpeckleNN, Sec. III A and Fig. 2): two 5x5
convolutions (1 -> 32 -> 64 channels, stride 1, no padding), each followed by an activation,
batch normalisation and 2x2 max-pooling; then two fully connected layers (-> 512 ->
``n_components``) and an L2 normalisation, so that every speckle pattern lands on the unit
hypersphere and squared distances lie in [0, 4]. The input scaling in front of it and the
model wrapper the estimators store are in :mod:`skspeckle.nn.scaling` and
:mod:`skspeckle.nn.networks.layers`.

>>> import torch
>>> net = speckle_net((20, 20), n_components=8)
>>> out = net(torch.rand(3, 20, 20)).detach()
>>> tuple(out.shape), round(float(out.norm(dim=1).min()), 4)
((3, 8), 1.0)
"""

from torch import nn
from torch.nn import functional as F

from skspeckle.nn.networks.layers import frame_padding

__all__ = ["SpeckleNet", "speckle_net", "MIN_FRAME_SIZE", "flat_size"]

#: Smallest frame side the SpeckleNN network accepts: 5x5 conv, 2x2 pool, 5x5 conv, 2x2 pool
#: need ((s - 4) // 2 - 4) // 2 >= 1, i.e. s >= 16. Smaller frames are zero-padded to it.
MIN_FRAME_SIZE = 16


def _activation(name, n_channels):
    if name == "relu":
        return nn.ReLU()
    if name == "prelu":
        return nn.PReLU(num_parameters=n_channels)
    raise ValueError(f"activation must be 'relu' or 'prelu'; got {name!r}.")


def _conv_out(size):
    """Side length after conv5 -> pool2 -> conv5 -> pool2 (no padding, floor pooling)."""
    return ((size - 4) // 2 - 4) // 2


class SpeckleNet(nn.Module):
    """The SpeckleNN embedding network for frames of a given size.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` of the frames. Frames smaller than :data:`MIN_FRAME_SIZE` (16) in a
        dimension are zero-padded symmetrically up to 16 inside :meth:`forward` (after the
        input scaling, so the padding is the per-image mean when the input is standardised);
        this lets the network run on thumbnails and 1 x F strips.
    n_components : int, default=128
        Size of the embedding (the paper uses 128).
    activation : {"relu", "prelu"}, default="relu"
        Non-linearity after each convolution and between the two fully connected layers.
        The paper uses ReLU; the reference code also tried PReLU.
    hidden : int, default=512
        Width of the first fully connected layer.
    init : {"default", "paper"}, default="default"
        ``"default"`` keeps PyTorch's Kaiming-uniform initialisation, which is scaled to each
        layer's fan-in. ``"paper"`` draws every weight from N(0, 0.2) and zeroes the biases
        (SpeckleNN Sec. III D); with ~5,000 inputs to the first fully connected layer that
        makes pre-activations ~15x larger than the inputs, which the final L2 normalisation
        hides in the forward pass but which trains more slowly and less reliably.

    Notes
    -----
    Input: float32 tensor ``(B, H, W)`` or ``(B, 1, H, W)``. Output: float32 ``(B,
    n_components)`` rows of unit L2 norm. Layer order follows the paper: conv -> activation ->
    batch norm -> max pool.
    """

    def __init__(
        self, image_shape, n_components=128, *, activation="relu", hidden=512, init="default"
    ):
        super().__init__()
        self.image_shape, (ph, pw), self.padding = frame_padding(image_shape, MIN_FRAME_SIZE)
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=5),
            _activation(activation, 32),
            nn.BatchNorm2d(32),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=5),
            _activation(activation, 64),
            nn.BatchNorm2d(64),
            nn.MaxPool2d(2),
        )
        self.n_flat = 64 * _conv_out(ph) * _conv_out(pw)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.n_flat, hidden),
            _activation(activation, 1),
            nn.Linear(hidden, n_components),
        )
        if init == "paper":
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    nn.init.normal_(module.weight, mean=0.0, std=0.2)
                    nn.init.zeros_(module.bias)
        elif init != "default":
            raise ValueError(f"init must be 'default' or 'paper'; got {init!r}.")

    def forward(self, x):
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if any(self.padding):
            x = F.pad(x, self.padding)
        return F.normalize(self.head(self.features(x)), dim=1)


def speckle_net(image_shape, n_components=128, **kwargs):
    """Factory for :class:`SpeckleNet`, with the ``network=`` signature of the estimators."""
    return SpeckleNet(image_shape, n_components, **kwargs)


def flat_size(image_shape):
    """Length of the flattened convolutional features of :class:`SpeckleNet`."""
    h, w = (max(int(s), MIN_FRAME_SIZE) for s in image_shape)
    return 64 * _conv_out(h) * _conv_out(w)
