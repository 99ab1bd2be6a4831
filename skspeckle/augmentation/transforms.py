"""The fit-time augmentation steps: rotation, patch masking, zoom, shift and fluence jitter
(SpeckleNN, Sec. III.E), and Poisson resampling of the photon counts; see
:mod:`skspeckle.augmentation`."""

from numbers import Integral, Real

import numpy as np

from skspeckle.augmentation._base import _FitTimeAugmentation, center_or_none, pair
from skspeckle.nn import augment
from skspeckle.utils._sklearn_compat import Interval

__all__ = [
    "RandomRotation",
    "RandomPatchMask",
    "RandomZoom",
    "RandomShift",
    "FluenceJitter",
    "PoissonResample",
]


class RandomRotation(_FitTimeAugmentation):
    """Random in-plane rotation about the beam centre, at fit time only.

    Each training frame is rotated by an angle drawn uniformly from ``[-max_angle, max_angle]``
    with bilinear interpolation, mimicking the random orientation of the particle about the
    beam (SpeckleNN, Sec. III.E). Pixels that rotate in from outside the frame are 0.

    Parameters
    ----------
    max_angle : float, default=180.0
        Largest rotation in degrees, in [0, 180]; 180 covers the full circle.
    center : tuple of float or None, default=None
        Beam centre ``(row, col)`` in pixels; the frame centre ``((H-1)/2, (W-1)/2)`` when None.
    random_state : int, RandomState instance or None, default=None
        Seeds the angles drawn by ``fit_transform``.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` for flattened input; square frames are assumed when None.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(H, W)`` of the frames seen in ``fit``.
    n_features_in_ : int
        Number of features of the input as given (``H * W`` for flattened frames).

    See Also
    --------
    skspeckle.nn.augment.random_rotation : The torch implementation.

    Notes
    -----
    The rotation turns the whole frame, hidden pixels included: after a
    :class:`~skspeckle.preprocessing.DetectorMask` (or on frames with detector gaps and a
    beam stop) the training frames show the visible area, and the dark hidden area, at
    places where they never are at prediction time. A rotated particle would scatter onto
    the same detector, so the frames the model is trained on then differ from the measured
    ones. On the online scenario of ``benchmarks/paper/online_table1.py`` the rotation helps at
    full detector area, but at 25 % area it lowers the 3-way accuracy (multi hits taken for
    non-sample hits); the figures are in docs/results.md (Ablation, and Figures moved from
    docstrings).

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.augmentation import RandomRotation
    >>> X = np.random.default_rng(0).poisson(1.0, size=(4, 16, 16))
    >>> rot = RandomRotation(random_state=0)
    >>> rot.fit_transform(X).shape, np.array_equal(rot.transform(X), X)
    ((4, 16, 16), True)
    """

    _parameter_constraints: dict = {
        **_FitTimeAugmentation._parameter_constraints,
        "max_angle": [Interval(Real, 0, 180, closed="both")],
        "center": ["array-like", None],
    }

    _function = staticmethod(augment.random_rotation)

    def __init__(self, max_angle=180.0, *, center=None, random_state=None, image_shape=None):
        self.max_angle = max_angle
        self.center = center
        self.random_state = random_state
        self.image_shape = image_shape

    def _kwargs(self):
        return {"max_angle": float(self.max_angle), "center": center_or_none(self.center)}


class RandomPatchMask(_FitTimeAugmentation):
    """Cover random rectangles of each training frame with a constant, at fit time only.

    Teaches the embedding to ignore bad pixels and parasitic scattering (SpeckleNN,
    Sec. III.E). Every pixel is equally likely to be covered; patches may overlap and be
    clipped by the frame edge.

    Parameters
    ----------
    n_patches : int, default=10
        Rectangles per frame.
    patch_size : int or tuple of int, default=10
        Patch height and width in pixels; an int gives square patches.
    fill_value : float, default=0.0
        Value written into the covered pixels (photons or ADU).
    random_state : int, RandomState instance or None, default=None
        Seeds the patch positions drawn by ``fit_transform``.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` for flattened input; square frames are assumed when None.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(H, W)`` of the frames seen in ``fit``.
    n_features_in_ : int
        Number of features of the input as given.

    See Also
    --------
    skspeckle.nn.augment.random_patch_mask : The torch implementation.
    """

    _parameter_constraints: dict = {
        **_FitTimeAugmentation._parameter_constraints,
        "n_patches": [Interval(Integral, 0, None, closed="left")],
        "patch_size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "fill_value": [Real],
    }

    _function = staticmethod(augment.random_patch_mask)

    def __init__(
        self, n_patches=10, *, patch_size=10, fill_value=0.0, random_state=None, image_shape=None
    ):
        self.n_patches = n_patches
        self.patch_size = patch_size
        self.fill_value = fill_value
        self.random_state = random_state
        self.image_shape = image_shape

    def _kwargs(self):
        size = np.broadcast_to(np.asarray(self.patch_size), (2,))
        if not (np.issubdtype(size.dtype, np.integer) and np.all(size >= 1)):
            raise ValueError(
                f"patch_size must be a positive int or a pair of positive ints (height, "
                f"width) in pixels; got {self.patch_size!r}."
            )
        return {
            "n_patches": int(self.n_patches),
            "patch_size": (int(size[0]), int(size[1])),
            "fill_value": float(self.fill_value),
        }


class RandomZoom(_FitTimeAugmentation):
    """Random magnification about the beam centre, at fit time only.

    Each training frame is magnified by a factor drawn uniformly from ``zoom_range``, so the
    embedding learns features independent of detector distance and wavelength (SpeckleNN,
    Sec. III.E). Bilinear interpolation; pixels from outside the frame are 0.

    Parameters
    ----------
    zoom_range : tuple of float, default=(0.8, 1.2)
        ``(low, high)`` magnification, ``0 < low <= high``; above 1 enlarges the pattern.
    center : tuple of float or None, default=None
        Beam centre ``(row, col)`` in pixels; the frame centre when None.
    random_state : int, RandomState instance or None, default=None
        Seeds the factors drawn by ``fit_transform``.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` for flattened input; square frames are assumed when None.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(H, W)`` of the frames seen in ``fit``.
    n_features_in_ : int
        Number of features of the input as given.

    See Also
    --------
    skspeckle.nn.augment.random_zoom : The torch implementation.
    """

    _parameter_constraints: dict = {
        **_FitTimeAugmentation._parameter_constraints,
        "zoom_range": ["array-like"],
        "center": ["array-like", None],
    }

    _function = staticmethod(augment.random_zoom)

    def __init__(self, zoom_range=(0.8, 1.2), *, center=None, random_state=None, image_shape=None):
        self.zoom_range = zoom_range
        self.center = center
        self.random_state = random_state
        self.image_shape = image_shape

    def _kwargs(self):
        low, high = pair(self.zoom_range, "zoom_range", positive=True)
        if low > high:
            raise ValueError(f"zoom_range must be (low, high) with low <= high; got {(low, high)}.")
        return {"zoom_range": (low, high), "center": center_or_none(self.center)}


class RandomShift(_FitTimeAugmentation):
    """Random whole-pixel translation along rows and columns, at fit time only.

    Each training frame is moved by integer offsets drawn independently per axis from
    ``[-max_shift, max_shift]``, so the embedding does not rely on the exact beam centre
    (SpeckleNN, Sec. III.E). Pixel values are moved without interpolation; vacated pixels are 0.

    Parameters
    ----------
    max_shift : int, default=5
        Largest offset in pixels along each axis.
    random_state : int, RandomState instance or None, default=None
        Seeds the offsets drawn by ``fit_transform``.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` for flattened input; square frames are assumed when None.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(H, W)`` of the frames seen in ``fit``.
    n_features_in_ : int
        Number of features of the input as given.

    See Also
    --------
    skspeckle.nn.augment.random_shift : The torch implementation.
    """

    _parameter_constraints: dict = {
        **_FitTimeAugmentation._parameter_constraints,
        "max_shift": [Interval(Integral, 0, None, closed="left")],
    }

    _function = staticmethod(augment.random_shift)

    def __init__(self, max_shift=5, *, random_state=None, image_shape=None):
        self.max_shift = max_shift
        self.random_state = random_state
        self.image_shape = image_shape

    def _kwargs(self):
        return {"max_shift": int(self.max_shift)}


class FluenceJitter(_FitTimeAugmentation):
    """Random per-frame fluence (intensity) scaling, at fit time only.

    Each training frame is multiplied by ``exp(sigma * z - sigma**2 / 2)``, ``z ~ N(0, 1)``: a
    log-normal factor with mean 1 (the mean photon count is kept) whose logarithm has standard
    deviation ``sigma``. SpeckleNN rescales its training patterns with factors drawn from a
    measured photon-number distribution (Sec. IV.A.1, Fig. 5); the log-normal is a stand-in
    for that distribution when it is not at hand.

    Parameters
    ----------
    sigma : float, default=0.5
        Standard deviation of the log multiplier (dimensionless, >= 0); 0.5 gives factors
        between about 0.33 and 2.4 for 95 % of the frames.
    random_state : int, RandomState instance or None, default=None
        Seeds the factors drawn by ``fit_transform``.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` for flattened input; square frames are assumed when None.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(H, W)`` of the frames seen in ``fit``.
    n_features_in_ : int
        Number of features of the input as given.

    See Also
    --------
    skspeckle.nn.augment.fluence_jitter : The torch implementation.
    """

    _parameter_constraints: dict = {
        **_FitTimeAugmentation._parameter_constraints,
        "sigma": [Interval(Real, 0, None, closed="left")],
    }

    _function = staticmethod(augment.fluence_jitter)

    def __init__(self, sigma=0.5, *, random_state=None, image_shape=None):
        self.sigma = sigma
        self.random_state = random_state
        self.image_shape = image_shape

    def _kwargs(self):
        return {"sigma": float(self.sigma)}


class PoissonResample(_FitTimeAugmentation):
    """A fresh draw of the shot noise of each training frame, at fit time only.

    Every pixel is replaced by a Poisson draw whose mean is its photon count (negative values,
    dark-subtraction noise, count as 0): another frame of the same particle, orientation and
    fluence with new shot noise. It is the default physics view of the contrastive stage of
    :class:`~skspeckle.embedding.TripletEmbedder` (``contrastive_epochs``), where the network
    learns to ignore what tells two such frames apart.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds the draws of ``fit_transform``.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` for flattened input; square frames are assumed when None.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(H, W)`` of the frames seen in ``fit``.
    n_features_in_ : int
        Number of features of the input as given.

    See Also
    --------
    skspeckle.nn.augment.poisson_resample : The torch implementation.

    Notes
    -----
    The frames must be photon counts (or counts scaled by a constant of about one photon per
    unit): on ADU frames of many units per photon the draws add far too little noise, on
    ``log1p``-scaled frames far too much.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.augmentation import PoissonResample
    >>> X = np.full((2, 8, 8), 100.0)
    >>> X_aug = PoissonResample(random_state=0).fit_transform(X)
    >>> bool(abs(X_aug.mean() - 100) < 5), bool(np.all(X_aug == np.round(X_aug)))
    (True, True)
    """

    _function = staticmethod(augment.poisson_resample)

    def __init__(self, *, random_state=None, image_shape=None):
        self.random_state = random_state
        self.image_shape = image_shape

    def _kwargs(self):
        return {}
