"""The small ResNet of the SPI good-versus-bad study."""

from numbers import Integral, Real

from skspeckle.baselines._classifier import NeuralNetClassifier
from skspeckle.nn.networks.spi import SPIResNet
from skspeckle.utils._sklearn_compat import Interval

__all__ = ["ResNetClassifier"]


class ResNetClassifier(NeuralNetClassifier):
    """Residual CNN classifier of SPI diffraction patterns ("good" single hits vs "bad").

    A stride-2 convolution stem, a stage of ``n`` residual blocks (2n 3x3 convolutions), a
    stage of ``m`` residual blocks (2m convolutions), each stage halving the resolution, with
    an identity shortcut around every two convolutions; then 2x2 average pooling, dropout and a
    linear layer to one logit per class, trained on the softmax cross-entropy. Every
    convolution is followed by batch norm and ReLU. Any number of classes.

    Parameters
    ----------
    n : int, default=2
        Residual blocks of the first stage (``widths[1]`` channels).
    m : int, default=2
        Residual blocks of the second stage (``widths[2]`` channels). n = m = 2 is the
        paper's ResNet10 (1 + 4 + 4 convolutions and the linear layer).
    widths : tuple of 3 int, default=(16, 32, 64)
        Channels of the stem and the two stages (the paper's 16, 32, 64: feature maps of
        64 x 64 x 16, 32 x 32 x 32 and 16 x 16 x 64 for 128 x 128 crops).
    dropout : float in [0, 1), default=0.2
        Dropout before the linear layer (the paper uses dropout without saying where or how
        much).
    .. shared-parameters:: max_epochs, batch_size, learning_rate, validation_fraction, \
n_iter_no_change, tol, class_weight, augment, normalize, init_from, freeze, image_shape, \
device, precision, random_state, verbose

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    module_, history_, n_iter_, image_shape_, n_features_in_
        As in :class:`~skspeckle.baselines._classifier.NeuralNetClassifier`.

    Notes
    -----
    Architecture of "CNN classifiers of SPI diffraction patterns" (paper 004 of this project,
    Methods: ResNet), after He, Zhang, Ren and Sun, "Deep residual learning for image
    recognition", CVPR 2016. The stage transitions use parameter-free shortcuts (subsampled
    identity with zero-padded channels, He et al.'s option A), so every shortcut is an
    identity map as in the paper. Frames smaller than 16 x 16 are zero-padded to 16 x 16.
    ``freeze=k`` counts the 1 + 2n + 2m convolutions. The paper standardises each pixel over
    the training set and crops 128 x 128 at the centre; here the frames pass through
    ``normalize`` (``"log1p"``) and any crop is an upstream step.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines.spi.resnet import ResNetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(3.0, size=(40, 16, 16)).astype(np.float32)
    >>> y = np.repeat(["good", "bad"], 20)
    >>> clf = ResNetClassifier(n=1, m=1, max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape
    (40, 2)
    """

    _parameter_constraints = {
        **NeuralNetClassifier._parameter_constraints,
        "n": [Interval(Integral, 1, None, closed="left")],
        "m": [Interval(Integral, 1, None, closed="left")],
        "widths": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        n=2,
        m=2,
        *,
        widths=(16, 32, 64),
        dropout=0.2,
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
        self.n = n
        self.m = m
        self.widths = widths
        self.dropout = dropout

    def _build_network(self, input_shape, n_outputs):
        if len(self.widths) != 3 or min(int(w) for w in self.widths) < 1:
            raise ValueError(
                f"widths must be 3 positive channel counts (stem, first stage, second stage); "
                f"got {self.widths!r}."
            )
        return SPIResNet(
            input_shape, n_outputs, n=self.n, m=self.m, widths=self.widths, dropout=self.dropout
        )
