"""The SFX hit-finding CNN of Ke et al. (2018) / Li (2018) as a scikit-learn classifier."""

from numbers import Integral

import numpy as np

from skspeckle.baselines._classifier import NeuralNetClassifier
from skspeckle.nn.networks.sfx import HitFinderNet
from skspeckle.utils._images import validate_images

__all__ = ["HitFinderCNN"]


class HitFinderCNN(NeuralNetClassifier):
    """Classify SFX frames as hit / miss (or hit / maybe / miss) with a small 2-D CNN.

    The network (:class:`skspeckle.nn.networks.sfx.HitFinderNet`) is Li (2018, CS229 report
    "Data classification for diffraction images", Table I), the screening CNN for the
    streptavidin SFX data of Ke et al. (2018): two 7x7 convolutions with 4 filters, dropout,
    batch norm, ReLU and 5x5 max pooling, two dense layers of 16 units; about 10^4 weights
    on a 350 x 350 centre crop, small enough to train from a few hundred labelled frames. It
    is also the 2-D CNN whose convolutional base Xie et al. (Sec. 2.3.1, Table 3) transfer
    between datasets: pass ``init_from`` a fitted ``HitFinderCNN`` (same ``crop``) and
    ``freeze="features"`` to fine-tune only the dense layers on a new experiment.

    Parameters
    ----------
    crop : int, tuple of int or None, default=350
        Side (or ``(H, W)``) of the centre crop the network sees; Bragg spots are one pixel
        wide, so the frame is cropped rather than downsampled (Li 2018, Sec. III A). None uses
        the full frame. Frames smaller than 61 x 61 (after cropping) are zero-padded inside
        the network.
    dropout : float in [0, 1), default=0.25
        Probability of the three dropout layers (the paper does not state it).
    .. shared-parameters:: max_epochs, batch_size, learning_rate, validation_fraction, \
n_iter_no_change, tol, class_weight, augment, normalize, init_from, freeze, image_shape, \
device, precision, random_state, verbose

    Attributes
    ----------
    classes_, module_, history_, n_iter_, image_shape_, n_features_in_
        See :class:`skspeckle.baselines._classifier.NeuralNetClassifier`; ``image_shape_`` is the
        full frame shape, the network sees the crop.

    Notes
    -----
    The crop is centred on the frame, ``[(H - h) // 2 : (H - h) // 2 + h]`` (and likewise for
    the columns); centre the beam in the frame upstream if it is not. Input scaling
    ``"log1p"`` (default) replaces the paper's raw counts; ``normalize=None`` feeds them
    unchanged. The paper trains with SGD (learning rate 0.002, momentum 0.9, batch 100); here
    Adam as in every classifier of this package. ``augment`` sees the cropped frames.

    Examples
    --------
    >>> from skspeckle.simulation.sfx import make_sfx_frames
    >>> from skspeckle.baselines.sfx.hit_finder import HitFinderCNN
    >>> X, y = make_sfx_frames(40, random_state=0)
    >>> clf = HitFinderCNN(crop=64, max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **NeuralNetClassifier._parameter_constraints,
        "crop": [Integral, tuple, list, None],
        "dropout": [float, int],
    }

    def __init__(
        self,
        crop=350,
        *,
        dropout=0.25,
        max_epochs=100,
        batch_size=64,
        learning_rate=1e-3,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        class_weight=None,
        augment=None,
        normalize="log1p",
        init_from=None,
        freeze=None,
        image_shape=None,
        device="auto",
        precision="float32",
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            max_epochs=max_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            class_weight=class_weight,
            augment=augment,
            normalize=normalize,
            init_from=init_from,
            freeze=freeze,
            image_shape=image_shape,
            device=device,
            precision=precision,
            random_state=random_state,
            verbose=verbose,
        )
        self.crop = crop
        self.dropout = dropout

    def _build_network(self, input_shape, n_outputs):
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}.")
        return HitFinderNet(input_shape, n_outputs, dropout=float(self.dropout))

    def _validate_X(self, X, *, reset):
        X = validate_images(self, X, reset=reset, image_shape=self.image_shape)
        return centre_crop(X, self.crop)


def centre_crop(X, crop):
    """Centre crop ``(h, w)`` of a stack ``(n, H, W)``; ``crop=None`` returns ``X``.

    Raises
    ------
    ValueError
        If ``crop`` is not positive or larger than the frames.
    """
    if crop is None:
        return X
    h, w = (int(crop), int(crop)) if isinstance(crop, Integral) else (int(c) for c in crop)
    H, W = X.shape[1:]
    if h < 1 or w < 1:
        raise ValueError(f"crop must be positive; got {crop!r}.")
    if h > H or w > W:
        raise ValueError(
            f"crop={crop!r} is larger than the frames ({H} x {W}); use a crop of at most "
            f"({H}, {W}) or crop=None for the full frame."
        )
    top, left = (H - h) // 2, (W - w) // 2
    return np.ascontiguousarray(X[:, top : top + h, left : left + w])
