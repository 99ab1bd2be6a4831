"""Validation of image stacks shared by every estimator.

Estimators accept detector frames either as a stack ``(n_samples, H, W)`` or flattened as
``(n_samples, H * W)``; the latter is what scikit-learn's own tools and many analysis scripts
pass around. This module turns both into a float32 stack and remembers the image shape seen in
``fit`` so that ``transform``/``predict`` can refuse frames from another detector.
"""

import math
import warnings

import numpy as np
from sklearn.utils.validation import validate_data

__all__ = ["validate_images", "restore_layout"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _infer_image_shape(n_features, image_shape):
    if image_shape is not None:
        h, w = (int(v) for v in image_shape)
        if h * w != n_features:
            raise ValueError(
                f"image_shape={tuple(image_shape)} has {h * w} pixels but X has {n_features} "
                "features per sample; pass the detector's (H, W) or give X as (n, H, W)."
            )
        return (h, w)
    side = math.isqrt(n_features)
    if side * side == n_features:
        return (side, side)
    # Not a square frame: treat each sample as a one-row strip (e.g. a row-wise decomposition
    # or any plain feature vector), but tell the user, since a flattened non-square detector
    # frame lands here too.
    warnings.warn(
        f"X is 2-D with {n_features} features per sample, which is not a square image; "
        f"treating each sample as a 1 x {n_features} strip. Pass image_shape=(H, W) or give "
        "X as a stack of shape (n_samples, H, W) if these are flattened detector frames.",
        UserWarning,
        stacklevel=3,
    )
    return (1, n_features)


def validate_images(estimator, X, *, reset, image_shape=None, allow_nonfinite=False, y=None):
    """Validate ``X`` as a stack of detector frames.

    Parameters
    ----------
    estimator : BaseEstimator
        The calling estimator; ``n_features_in_`` and ``image_shape_`` are set on it when
        ``reset`` is True and checked against otherwise.
    X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
        Frames in photons or ADU.
    reset : bool
        True in ``fit``; False afterwards.
    image_shape : tuple of int or None
        ``(H, W)`` for flattened input. When None, ``H * W`` features are read as a square
        ``H x H`` frame, and any other width as a ``1 x n_features`` strip (with a warning).
    allow_nonfinite : bool
        Whether NaN / inf pixels may pass (for steps that mask them).
    y : array-like or None
        Targets validated together with ``X`` when given.

    Returns
    -------
    images : ndarray of shape (n_samples, H, W), float32
    y : ndarray or None
        Only returned when ``y`` is not None.

    Raises
    ------
    ValueError
        On empty input, wrong number of dimensions, non-finite values (unless allowed),
        finite values outside the float32 range (``|x| > 3.4e38``, which float32 would turn
        into inf; the message names the first such frame), a flattened width that does not
        match ``image_shape``, or frames whose shape differs from the one seen in ``fit``.
    """
    ndim = _ndim(X)
    if ndim not in (2, 3):
        raise ValueError(
            f"Expected frames as an array of shape (n_samples, H, W) or (n_samples, H * W); "
            f"got an array with {ndim} dimension(s). Reshape your data: a single frame with "
            "X[np.newaxis], a 1-D feature vector with X.reshape(1, -1), and stack frames "
            "along the first axis."
        )
    kwargs = dict(
        reset=reset,
        allow_nd=True,
        dtype=[np.float32, np.float64],
        ensure_all_finite="allow-nan" if allow_nonfinite else True,
        ensure_min_features=1,
    )
    if allow_nonfinite:
        # "allow-nan" still rejects inf; skip sklearn's check and let the caller mask both.
        kwargs["ensure_all_finite"] = False
    if y is None:
        X = validate_data(estimator, X, **kwargs)
    else:
        X, y = validate_data(estimator, X, y, **kwargs)
    if X.dtype != np.float32:
        _check_float32_range(X)
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3:
        shape = X.shape[1:]
    else:
        shape = _infer_image_shape(X.shape[1], image_shape if reset else _fitted_shape(estimator))
        X = X.reshape(X.shape[0], *shape)
    if reset:
        estimator.image_shape_ = tuple(int(s) for s in shape)
    elif tuple(shape) != tuple(estimator.image_shape_):
        raise ValueError(
            f"Frames have shape {tuple(shape)} but {type(estimator).__name__} was fitted on "
            f"frames of shape {tuple(estimator.image_shape_)}; use frames from the same "
            "detector geometry (same crop and binning) as in fit."
        )
    return X if y is None else (X, y)


def _check_float32_range(X):
    """Refuse finite values that the cast to float32 would turn into inf."""
    # Fast path: the extremes (NaN ignored) are in range. inf fails it, hence the slow path,
    # which counts only the finite values beyond the range: inf is a bad pixel, not an overflow.
    if -_FLOAT32_MAX <= np.fmin.reduce(X, axis=None) and (
        np.fmax.reduce(X, axis=None) <= _FLOAT32_MAX
    ):
        return
    outside = np.isfinite(X) & (np.abs(X) > _FLOAT32_MAX)
    if not outside.any():
        return
    per_frame = outside.reshape(len(X), -1).any(axis=1)
    frame = int(np.argmax(per_frame))
    value = X[frame].ravel()[int(np.argmax(outside[frame].ravel()))]
    raise ValueError(
        f"Frame {frame} has the pixel value {value:.6g}, outside the float32 range "
        f"[-{_FLOAT32_MAX:.6g}, {_FLOAT32_MAX:.6g}] in which the estimators compute "
        f"({int(np.count_nonzero(outside))} pixel(s) in {int(np.count_nonzero(per_frame))} "
        "frame(s) in all); these values are finite, but float32 would make them inf. Rescale "
        "the frames (e.g. ADU to photons), or clip them first, e.g. np.clip(X, -3e38, 3e38)."
    )


def _ndim(X):
    # Lists and other array-likes have no ndim attribute; np.ndim would fail on ragged input.
    return X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim


def _fitted_shape(estimator):
    return getattr(estimator, "image_shape_", None)


def restore_layout(images, like):
    """Return ``images`` (n, H, W) in the layout of the input ``like`` (2-D or 3-D)."""
    if _ndim(like) == 2:
        return images.reshape(images.shape[0], -1)
    return images
