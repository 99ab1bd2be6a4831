"""The torch networks of the SFX hit-finding baselines.

Both map the scaled input to logits and expose ``.features`` (convolutional) and ``.head``
(fully connected), the layout :mod:`skspeckle.nn.transfer` copies and freezes.

- :class:`HitFinderNet`: the 2-D CNN of Li (2018, CS229 report, Table I) for the SFX hit / miss
  screening of Ke et al. (2018): two 7x7 convolutions with 4 filters, dropout, batch norm,
  ReLU and 5x5 max pooling, then two fully connected layers of 16 units.
- :class:`RowProfileNet`: a 1-D CNN for row-wise decompositions (Xie et al., Sec. 3.4.2).
"""

from torch import nn

from skspeckle.nn.networks.layers import pad_to

__all__ = ["HitFinderNet", "RowProfileNet", "HIT_FINDER_MIN_SIZE", "ROW_PROFILE_MIN_LENGTH"]

#: Smallest frame side the hit-finder network accepts: conv7 -> pool5 -> conv7 -> pool5 needs
#: ((s - 6) // 5 - 6) // 5 >= 1, i.e. s >= 61. Smaller frames are zero-padded to it.
HIT_FINDER_MIN_SIZE = 61
#: Shortest profile the 1-D network accepts (three 2x poolings); shorter ones are zero-padded.
ROW_PROFILE_MIN_LENGTH = 8


class HitFinderNet(nn.Module):
    """The SFX hit-finding CNN of Li (2018), Table I.

    Layers (output shapes for the paper's 350 x 350 input): conv 7x7, 4 filters (344 x 344
    x 4) -> dropout -> batch norm -> ReLU -> max pool 5 (68 x 68 x 4) -> conv 7x7, 4 filters
    (62 x 62 x 4) -> batch norm -> ReLU -> max pool 5 (12 x 12 x 4) -> dropout -> flatten
    (576) -> dense 16 -> batch norm -> ReLU -> dropout -> dense ``n_outputs``. The paper's
    last layer has 34 parameters, i.e. 16 -> 2 logits; its 'sample-wise' batch norm after
    the convolutions is taken here as the usual per-channel batch norm.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` of the (cropped) frames; frames smaller than :data:`HIT_FINDER_MIN_SIZE`
        are zero-padded up to it inside :meth:`forward`.
    n_outputs : int
        Number of logits.
    dropout : float, default=0.25
        Dropout probability of the three dropout layers (not stated in the paper).
    """

    def __init__(self, image_shape, n_outputs, dropout=0.25):
        super().__init__()
        self.input_shape = tuple(max(int(s), HIT_FINDER_MIN_SIZE) for s in image_shape)
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=7),
            nn.Dropout(dropout),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(5),
            nn.Conv2d(4, 4, kernel_size=7),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(5),
            nn.Dropout(dropout),
        )
        h, w = (((s - 6) // 5 - 6) // 5 for s in self.input_shape)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(4 * h * w, 16),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(16, n_outputs),
        )

    def forward(self, x):
        x = pad_to(x, self.input_shape).unsqueeze(1)
        return self.head(self.features(x))


class RowProfileNet(nn.Module):
    """A 1-D CNN for row-wise decomposition profiles ``(B, L)``.

    Xie et al. (Sec. 3.4.2) train "a 1D CNN" on the profiles without giving its layers; this
    one transposes their 2-D network's blocks (their Fig. 2) to 1-D: three blocks of
    convolution (kernel 5, 'same' padding; 8, 16 and 32 channels), batch norm, ReLU and 2x
    max pooling, dropout on top, then two fully connected layers (32 units, ReLU, dropout,
    ``n_outputs`` logits).

    Parameters
    ----------
    length : int
        Profile length L (the number of detector rows); shorter than
        :data:`ROW_PROFILE_MIN_LENGTH` is zero-padded.
    n_outputs : int
        Number of logits.
    dropout : float, default=0.25
    """

    def __init__(self, length, n_outputs, dropout=0.25):
        super().__init__()
        self.length = max(int(length), ROW_PROFILE_MIN_LENGTH)
        blocks, channels = [], 1
        for out in (8, 16, 32):
            blocks += [
                nn.Conv1d(channels, out, kernel_size=5, padding=2),
                nn.BatchNorm1d(out),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            channels = out
        self.features = nn.Sequential(*blocks, nn.Dropout(dropout))
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * (self.length // 8), 32),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(32, n_outputs),
        )

    def forward(self, x):
        x = pad_to(x, (self.length,)).unsqueeze(1)
        return self.head(self.features(x))
