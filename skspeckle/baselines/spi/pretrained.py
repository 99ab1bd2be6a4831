"""Features of a pre-trained CNN (VGG, or a network trained by this package) for any
scikit-learn classifier."""

import copy
import os
from numbers import Integral, Real

import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from skspeckle.base import PARAMETER_CONSTRAINTS, TorchEstimatorMixin, fitted_model
from skspeckle.nn.device import torch_seeded
from skspeckle.nn.networks.layers import NetworkFeatures
from skspeckle.nn.networks.spi import VGG_CONFIGS, VGGFeatures
from skspeckle.nn.scaling import InputScaling
from skspeckle.nn.transfer import copy_matching_weights, load_state_dict_file
from skspeckle.utils._images import validate_images
from skspeckle.utils._sklearn_compat import HasMethods, Interval, StrOptions, fit_context

__all__ = ["PretrainedFeatures"]


class PretrainedFeatures(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, TorchEstimatorMixin, BaseEstimator
):
    """Globally pooled convolutional features of a pre-trained CNN, for a linear classifier.

    The transfer-learning baseline of the SPI good-versus-bad study: VGG16 trained on
    ImageNet as a fixed feature extractor, followed by logistic regression. ``fit`` trains
    nothing: it loads the weights and records the frame shape; ``transform`` maps frames to
    features. Put any scikit-learn classifier after it::

        make_pipeline(PretrainedFeatures("vgg16.pth"), StandardScaler(), LogisticRegression())

    Parameters
    ----------
    weights : None, str, os.PathLike or fitted estimator, default=None
        Where the weights come from (nothing is downloaded):

        - a path to a torchvision-style VGG ``state_dict`` (``features.N.weight`` /
          ``features.N.bias``; ``classifier.*`` entries are ignored), e.g. ImageNet weights
          saved elsewhere with ``torch.save(torchvision.models.vgg16(weights=...)
          .state_dict(), path)``. Its widths must match ``architecture`` and ``width``;
        - a fitted estimator of this package with a ``module_.network.features`` (e.g. a
          :class:`~skspeckle.baselines.spi.resnet.ResNetClassifier` or
          :class:`~skspeckle.embedding.TripletEmbedder` trained on simulated frames, to
          classify experimental ones): the output of its feature extractor, computed from the
          raw frames with its own input scaling, is pooled. ``architecture``, ``width``,
          ``n_blocks`` and ``normalize`` are ignored then, and the frames must have the shape
          it was fitted on. Wrap it in ``sklearn.frozen.FrozenEstimator`` for
          ``GridSearchCV`` / ``clone``, which otherwise replace it by an unfitted copy;
        - None: randomly initialised VGG weights (seeded by ``random_state``), only for
          tests and as a floor in comparisons.
    architecture : {"vgg11", "vgg13", "vgg16"}, default="vgg16"
        The VGG configuration (Simonyan and Zisserman, ICLR 2015, configurations A, B, D).
    width : float > 0, default=1.0
        Multiplier of every convolution width; 1.0 for torchvision's weights, smaller for fast
        tests.
    n_blocks : int, default=1
        Number of trailing VGG blocks (convolutions up to a max pool) whose outputs are pooled
        and concatenated (1: only the last block, 512 features for VGG16).
    pooling : {"avg", "max"} or None, default="avg"
        Global average or max pooling of each feature map over the image, or None to flatten
        the maps (size-dependent: 4 x 4 x 512 = 8192 features for the paper's VGG16 on 128 x
        128 crops).
    normalize : {"log1p", "log1p-standardize", "standardize"} or None, default="log1p-standardize"
        Input scaling before VGG (see :func:`skspeckle.nn.scaling.scale_frames`); the
        per-image standardisation brings the frames to the zero-mean, unit-variance range of
        ImageNet-normalised inputs. The frame is repeated on VGG's three colour channels.
    batch_size : int, default=64
        Frames per forward pass.
    .. shared-parameters:: image_shape, device, precision
    random_state : int, RandomState instance or None, default=None
        Seeds the random weights when ``weights`` is None (inside
        :func:`torch.random.fork_rng`: torch's global random state is left untouched).

    Attributes
    ----------
    module_ : torch.nn.Module
        Raw frames ``(B, H, W)`` -> features ``(B, n_features_out)``, on the CPU in eval mode.
    n_features_out_ : int
        Number of features per frame.
    image_shape_ : tuple of int
        ``(H, W)`` of the frames seen in ``fit``.
    n_features_in_ : int
        ``X.shape[1]`` in ``fit``.

    Notes
    -----
    Paper 004 of this project ("CNN classifiers of SPI diffraction patterns", Methods: VGG16)
    ran logistic regression on 8192 VGG16 features of the last layers; frames smaller than
    32 x 32 are zero-padded to 32 x 32 here so that the five max pools fit.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines.spi.pretrained import PretrainedFeatures
    >>> X = np.random.default_rng(0).poisson(3.0, size=(4, 32, 32)).astype(np.float32)
    >>> PretrainedFeatures(architecture="vgg11", width=0.125, random_state=0).fit_transform(X).shape
    (4, 64)
    """

    _parameter_constraints = {
        "weights": [None, str, os.PathLike, HasMethods(["fit"])],
        "architecture": [StrOptions(set(VGG_CONFIGS))],
        "width": [Interval(Real, 0, None, closed="neither")],
        "n_blocks": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"avg", "max"}), None],
        "normalize": PARAMETER_CONSTRAINTS["normalize"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        **{
            name: PARAMETER_CONSTRAINTS[name]
            for name in ("image_shape", "device", "precision", "random_state")
        },
    }

    def __init__(
        self,
        weights=None,
        *,
        architecture="vgg16",
        width=1.0,
        n_blocks=1,
        pooling="avg",
        normalize="log1p-standardize",
        batch_size=64,
        image_shape=None,
        device="auto",
        precision="float32",
        random_state=None,
    ):
        self.weights = weights
        self.architecture = architecture
        self.width = width
        self.n_blocks = n_blocks
        self.pooling = pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.image_shape = image_shape
        self.device = device
        self.precision = precision
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the weights and record the frame shape; nothing is trained.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames in photons (or ADU); finite values only.
        y : None
            Ignored.

        Returns
        -------
        self : PretrainedFeatures

        Raises
        ------
        ValueError
            If ``X`` is empty, has the wrong number of dimensions or non-finite values; the
            weights file does not match ``architecture`` / ``width`` (the mismatches are
            listed) or is no state_dict; the estimator in ``weights`` is not fitted or was
            fitted on frames of another shape; ``n_blocks`` exceeds the blocks of the
            architecture.
        FileNotFoundError
            If the weights file does not exist.
        """
        X = validate_images(self, X, reset=True, image_shape=self.image_shape)
        if self.weights is not None and not isinstance(self.weights, (str, os.PathLike)):
            module, recipe = self._estimator_features(), "estimator"
        else:
            # The weights are built on the CPU, whatever the device: seed the CPU generator.
            with torch_seeded(self._seed(), torch.device("cpu")):
                module, recipe = self._vgg_features(), "vgg"
            if self.weights is not None:
                copy_matching_weights(module[1], load_state_dict_file(self.weights))
        self.n_features_out_ = int(self._output_shape(module, self.image_shape_)[0])
        self.module_ = module
        self._module_recipe = recipe
        self._n_features_out = self.n_features_out_
        return self

    def _vgg_features(self):
        net = VGGFeatures(
            self.architecture, width=self.width, n_blocks=self.n_blocks, pooling=self.pooling
        )
        return nn.Sequential(InputScaling(self.normalize), net)

    def _rebuild_module(self, name):
        if name != "module_":
            return super()._rebuild_module(name)
        # The weights file is not read again: the saved weights replace the initial ones.
        if self._module_recipe == "vgg":
            return self._vgg_features()
        return NetworkFeatures(copy.deepcopy(fitted_model(self.weights, "weights")), self.pooling)

    def _estimator_features(self):
        source = self.weights
        model = fitted_model(source, "weights")
        if not isinstance(getattr(model.network, "features", None), nn.Module):
            raise TypeError(f"The network of {type(source).__name__} has no .features to extract.")
        fitted_shape = tuple(getattr(source, "image_shape_", self.image_shape_))
        if fitted_shape != tuple(self.image_shape_):
            raise ValueError(
                f"weights={type(source).__name__} was fitted on frames of shape {fitted_shape} "
                f"but X has frames of shape {tuple(self.image_shape_)}; crop or bin the frames "
                "to the shape the network was trained on."
            )
        return NetworkFeatures(copy.deepcopy(model).cpu(), self.pooling)

    def transform(self, X):
        """Features of each frame.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the same shape as in ``fit``.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out_), float32

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            On empty input, the wrong number of dimensions, non-finite values, or frames of
            another shape than in ``fit``.
        """
        check_is_fitted(self, "module_")
        X = validate_images(self, X, reset=False)
        return self._predict_module(X, dtype=torch.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
