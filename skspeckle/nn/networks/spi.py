"""The torch networks of the literature's CNN baselines.

Every classifier network maps the scaled frames, a float32 tensor ``(B, H, W)``, to logits
``(B, n_outputs)`` and exposes a convolutional feature extractor ``.features`` and a ``.head``,
so that :mod:`skspeckle.nn.transfer` can copy and freeze the features and
:func:`~skspeckle.nn.networks.layers.capture_features` can read them. The model wrapper the
classifiers store (:class:`~skspeckle.nn.networks.layers.ClassifierModel`) and the feature
readers are in :mod:`skspeckle.nn.networks.layers`.
"""

import torch
from torch import nn
from torch.nn import functional as F

from skspeckle.nn.gradient_reversal import GradientReversal
from skspeckle.nn.networks.layers import pad_to, pool_features

__all__ = ["Shi19Net", "SPIResNet", "ResidualBlock", "VGGFeatures", "VGG_CONFIGS", "DomainHead"]


class Shi19Net(nn.Module):
    """The single-hit classifier CNN of Shi et al., IUCrJ 6, 331 (2019), as re-implemented
    for the SpeckleNN comparison.

    Three motifs ``conv -> batch norm -> PReLU -> dropout -> 2x2 max pool`` with 5, 3 and 2
    channels (kernels 5, 3, 3; no padding), then ``linear -> PReLU -> dropout -> linear`` to
    ``n_outputs`` logits (one: the single-hit log-odds).

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)``; frames smaller than :attr:`MIN_SIZE` (24) are zero-padded up to it.
    n_outputs : int, default=1
    hidden_units : int, default=2
        Width of the first fully connected layer (2 in the SpeckleNN re-implementation).
    dropout : float, default=0.2
    """

    MIN_SIZE = 24  # conv5, pool, conv3, pool, conv3, pool must leave at least 1 pixel

    def __init__(self, image_shape, n_outputs=1, *, hidden_units=2, dropout=0.2):
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)

        def motif(c_in, c_out, k):
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, k),
                nn.BatchNorm2d(c_out),
                nn.PReLU(),
                nn.Dropout(dropout),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(motif(1, 5, 5), motif(5, 3, 3), motif(3, 2, 3))
        side = [max(s, self.MIN_SIZE) for s in self.image_shape]
        for k in (5, 3, 3):
            side = [(s - k + 1) // 2 for s in side]
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * side[0] * side[1], hidden_units),
            nn.PReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_units, n_outputs),
        )

    def forward(self, x):
        return self.head(self.features(pad_to(x.unsqueeze(1), (self.MIN_SIZE, self.MIN_SIZE))))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and ReLU around an identity shortcut (He et al.,
    CVPR 2016). When the block halves the resolution and widens the channels, the shortcut
    subsamples and zero-pads the channels (their option A): it stays parameter-free."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.extra_channels = stride, c_out - c_in

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.extra_channels:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels))
        return F.relu(out + shortcut)


class SPIResNet(nn.Module):
    """The small ResNet of the SPI good-versus-bad study (paper 004 of the project).

    A stride-2 3x3 convolution stem (``widths[0]`` channels; 64 x 64 x 16 for the paper's
    128 x 128 crops), ``n`` residual blocks (2n convolutions, ``widths[1]`` channels, the first
    at stride 2), ``m`` residual blocks (2m convolutions, ``widths[2]`` channels, stride 2),
    2x2 average pooling, dropout, and a linear layer to ``n_outputs`` logits. n = m = 2 is the
    paper's ResNet10.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)``; frames smaller than :attr:`MIN_SIZE` (16) are zero-padded up to it.
    n_outputs : int
    n, m : int, default=2
    widths : tuple of 3 int, default=(16, 32, 64)
    dropout : float, default=0.2
    """

    MIN_SIZE = 16  # three stride-2 stages and the 2x2 pool must leave at least 1 pixel

    def __init__(self, image_shape, n_outputs, *, n=2, m=2, widths=(16, 32, 64), dropout=0.2):
        super().__init__()
        w0, w1, w2 = (int(w) for w in widths)
        self.image_shape = tuple(int(s) for s in image_shape)
        blocks = [ResidualBlock(w0, w1, stride=2)] + [ResidualBlock(w1, w1) for _ in range(n - 1)]
        blocks += [ResidualBlock(w1, w2, stride=2)] + [ResidualBlock(w2, w2) for _ in range(m - 1)]
        self.features = nn.Sequential(
            nn.Conv2d(1, w0, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(w0),
            nn.ReLU(),
            *blocks,
            nn.AvgPool2d(2),
        )
        side = [max(s, self.MIN_SIZE) for s in self.image_shape]
        for _ in range(3):
            side = [(s + 1) // 2 for s in side]
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(w2 * (side[0] // 2) * (side[1] // 2), n_outputs),
        )

    def forward(self, x):
        return self.head(self.features(pad_to(x.unsqueeze(1), (self.MIN_SIZE, self.MIN_SIZE))))


#: Convolution widths of torchvision's VGG configurations; "M" is a 2x2 max pool.
VGG_CONFIGS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ),
}


class VGGFeatures(nn.Module):
    """The convolutional part of VGG (Simonyan and Zisserman, ICLR 2015) as a feature
    extractor for grey-scale frames.

    ``features`` is laid out as torchvision's ``vgg11`` / ``vgg13`` / ``vgg16`` (3x3 conv with
    padding 1 and ReLU, 2x2 max pools, same indices), so that a torchvision ``state_dict``
    (``features.N.weight``, ``features.N.bias``) loads into it. The frame is repeated on the
    three colour channels. The output concatenates the outputs of the last ``n_blocks``
    blocks (a block ends with a max pool), each pooled over the image (``"avg"``, ``"max"``)
    or flattened (None; 4 x 4 x 512 = 8192 values for VGG16 on 128 x 128 frames, paper 004).

    Parameters
    ----------
    architecture : {"vgg11", "vgg13", "vgg16"}, default="vgg16"
    width : float, default=1.0
        Multiplier of every convolution width (< 1 for fast tests; only 1.0 matches
        torchvision's weights).
    n_blocks : int, default=1
    pooling : {"avg", "max"} or None, default="avg"
    """

    MIN_SIZE = 32  # five 2x2 pools must leave at least 1 pixel

    def __init__(self, architecture="vgg16", *, width=1.0, n_blocks=1, pooling="avg"):
        super().__init__()
        if architecture not in VGG_CONFIGS:
            raise ValueError(
                f"architecture must be one of {sorted(VGG_CONFIGS)}; got {architecture!r}."
            )
        layers, c_in, self.block_ends = [], 3, []
        for v in VGG_CONFIGS[architecture]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                self.block_ends.append(len(layers) - 1)
            else:
                c_out = max(1, int(round(v * width)))
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
        if not 1 <= n_blocks <= len(self.block_ends):
            raise ValueError(f"n_blocks must be in [1, {len(self.block_ends)}]; got {n_blocks}.")
        if pooling not in ("avg", "max", None):
            raise ValueError(f"pooling must be 'avg', 'max' or None; got {pooling!r}.")
        self.features = nn.Sequential(*layers)
        self.n_blocks, self.pooling = n_blocks, pooling

    def forward(self, x):
        x = pad_to(x.unsqueeze(1), (self.MIN_SIZE, self.MIN_SIZE)).expand(-1, 3, -1, -1)
        taps, outs = set(self.block_ends[-self.n_blocks :]), []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in taps:
                outs.append(pool_features(x, self.pooling))
        return torch.cat(outs, dim=1)


class DomainHead(nn.Module):
    """The domain classifier of a domain-adversarial network (Ganin et al., JMLR 17, 2016):
    gradient reversal, then ``linear -> ReLU -> linear`` to one logit (target domain)."""

    def __init__(self, n_features, hidden_units=100):
        super().__init__()
        self.reversal = GradientReversal()
        self.layers = nn.Sequential(
            nn.Flatten(), nn.Linear(n_features, hidden_units), nn.ReLU(), nn.Linear(hidden_units, 1)
        )

    def forward(self, features):
        return self.layers(self.reversal(features))[:, 0]
