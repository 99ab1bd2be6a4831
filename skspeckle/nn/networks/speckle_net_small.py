"""A small SpeckleNN embedding network for single-frame latency (``network="speckle_nn_small"``).

Dave, Wang, Russell, Herbst and Thayer ("FPGA-accelerated SpeckleNN with SNL for real-time
X-ray single-particle imaging", Frontiers in High Performance Computing 3, 2025) specialise
SpeckleNN for an FPGA next to the detector: 64.6 K parameters instead of 5.6 M, a 50-d
embedding instead of 128, 90 % accuracy and 45 us per frame on a KCU1500 board. This network is
built to that class (size, embedding, latency); its layers and widths are this package's, not
taken from that paper:

- a 5x5 convolution (1 -> 16 channels), batch norm, activation, 4x4 max pool;
- a 3x3 convolution (16 -> 32 channels), batch norm, activation;
- two fully connected layers (-> 24 -> ``n_components``).

At 48 x 48 frames and ``n_components=50`` it has 68,586 trainable parameters and needs 1.2 M
multiply-accumulates per frame (the full network with 128 components: 2.77 M parameters and
20.9 M multiply-accumulates). The first convolution keeps stride 1, because at 2 x 2 binning the
speckle is sampled near the Nyquist rate, and the features end on a 9 x 9 grid; most of the
parameters sit in the narrow first fully connected layer. The convolutions have no bias: the
batch norm after each of them has its own shift, so a bias would be redundant; and the order
conv -> batch norm -> activation (the full network has conv -> activation -> batch norm) lets
each batch norm fold into its convolution's weights and one bias for inference, the form that
fixed-point (FPGA, int8) deployments quantise. Its accuracy and latency beside the full network
are on the results page (``docs/results.md``, Small network).

>>> import torch
>>> from skspeckle.nn.networks.layers import n_parameters
>>> net = speckle_net_small((48, 48), n_components=50)
>>> n_parameters(net)
68586
>>> out = net(torch.rand(3, 48, 48)).detach()
>>> tuple(out.shape), round(float(out.norm(dim=1).min()), 4)
((3, 50), 1.0)
"""

from torch import nn
from torch.nn import functional as F

from skspeckle.nn.networks.layers import frame_padding
from skspeckle.nn.networks.speckle_net import _activation

__all__ = ["SmallSpeckleNet", "speckle_net_small", "MIN_FRAME_SIZE"]

#: Smallest frame side the network accepts: conv5 -> pool4 -> conv3 needs (s - 4) // 4 - 2 >= 1,
#: i.e. s >= 16 (as the full network). Smaller frames are zero-padded to it.
MIN_FRAME_SIZE = 16


def _side_out(size):
    """Side length after conv5 -> pool4 -> conv3 (no padding, floor pooling)."""
    return (size - 4) // 4 - 2


class SmallSpeckleNet(nn.Module):
    """A SpeckleNN embedding network of the FPGA class (69 K parameters at 48 x 48).

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` of the frames. Frames smaller than :data:`MIN_FRAME_SIZE` (19) in a
        dimension are zero-padded symmetrically up to 16 inside :meth:`forward`.
    n_components : int, default=50
        Size of the embedding (50 in Dave et al. 2025).
    activation : {"relu", "prelu"}, default="relu"
        Non-linearity after each batch norm and between the fully connected layers. ReLU
        keeps the network a chain of operations that fixed-point hardware supports.
    channels : tuple of two int, default=(16, 32)
        Output channels of the two convolutions.
    hidden : int, default=24
        Width of the first fully connected layer: a narrow bottleneck, since its input
        (``channels[1] * 9 * 9`` at 48 x 48) holds most of the parameters.

    Notes
    -----
    Input: float32 tensor ``(B, H, W)`` or ``(B, 1, H, W)`` (the scaled frames). Output:
    float32 ``(B, n_components)`` rows of unit L2 norm. The parameter count grows with the
    frame size through the first fully connected layer (``channels[1] * h' * w'`` inputs,
    with ``h' = w' = 9`` at 48 x 48 and 21 at 96 x 96): bin large frames (e.g.
    :class:`~skspeckle.preprocessing.PixelBinning`) to stay in the FPGA class.
    Source: Dave et al. 2025 for the class (parameters, embedding size, latency); the layers
    and widths are this package's (see the module docstring).
    """

    def __init__(
        self, image_shape, n_components=50, *, activation="relu", channels=(16, 32), hidden=24
    ):
        super().__init__()
        self.image_shape, (ph, pw), self.padding = frame_padding(image_shape, MIN_FRAME_SIZE)
        c1, c2 = (int(c) for c in channels)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=5, bias=False),
            nn.BatchNorm2d(c1),
            _activation(activation, c1),
            nn.MaxPool2d(4),
            nn.Conv2d(c1, c2, kernel_size=3, bias=False),
            nn.BatchNorm2d(c2),
            _activation(activation, c2),
        )
        self.n_flat = c2 * _side_out(ph) * _side_out(pw)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.n_flat, hidden),
            _activation(activation, 1),
            nn.Linear(hidden, n_components),
        )

    def forward(self, x):
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if any(self.padding):
            x = F.pad(x, self.padding)
        return F.normalize(self.head(self.features(x)), dim=1)


def speckle_net_small(image_shape, n_components=50, **kwargs):
    """Factory for :class:`SmallSpeckleNet`, with the ``network=`` signature of the estimators."""
    return SmallSpeckleNet(image_shape, n_components, **kwargs)
