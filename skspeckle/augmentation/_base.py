"""The shared base of the fit-time augmentation steps of :mod:`skspeckle.augmentation`.

:class:`_FitTimeAugmentation` gives every step its two faces (a perturbed copy from
``fit_transform``, the identity from ``transform``, and ``augment_tensor`` for the embedder's
per-batch protocol); the steps themselves only name their :mod:`skspeckle.nn.augment`
function and check their parameters.
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, check_random_state

from skspeckle.utils._images import restore_layout, validate_images
from skspeckle.utils._sklearn_compat import fit_context, validate_params

# Frames perturbed per torch call in fit_transform: bounds the sampling grid's memory
# (B * H * W * 2 floats) whatever the size of X.
_CHUNK = 256


class _FitTimeAugmentation(TransformerMixin, BaseEstimator):
    """Shared fit / fit_transform / transform / augment_tensor of the augmentation steps.

    Subclasses name their function of :mod:`skspeckle.nn.augment` in ``_function`` and
    implement ``_kwargs()``, which checks the parameter values that the type constraints
    cannot express and returns the keyword arguments of that function.
    """

    _parameter_constraints: dict = {
        "random_state": ["random_state"],
        "image_shape": ["array-like", None],
    }

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the frame shape; nothing is learnt from the pixel values.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Training frames (photons or ADU).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer, with ``image_shape_`` and ``n_features_in_``.

        Raises
        ------
        ValueError
            On empty input, a wrong number of dimensions, non-finite pixels or invalid
            parameter values.
        """
        validate_images(self, X, reset=True, image_shape=self.image_shape)
        self._kwargs()
        return self

    @fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit, then return a randomly perturbed copy of the training frames.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Training frames (photons or ADU). Not modified.
        y : None
            Ignored.

        Returns
        -------
        X_aug : ndarray of shape like X, float32
            One perturbed frame per input frame, in the layout (2-D or 3-D) of ``X``. The same
            ``random_state`` gives the same output.

        Raises
        ------
        ValueError
            On empty input, a wrong number of dimensions, non-finite pixels or invalid
            parameter values.
        """
        images = validate_images(self, X, reset=True, image_shape=self.image_shape)
        kwargs = self._kwargs()
        rng = check_random_state(self.random_state)
        generator = torch.Generator().manual_seed(int(rng.randint(np.iinfo(np.int32).max)))
        out = np.empty_like(images)
        for start in range(0, len(images), _CHUNK):
            # torch.tensor copies, so read-only or memory-mapped X works and stays untouched.
            batch = torch.tensor(images[start : start + _CHUNK])
            out[start : start + _CHUNK] = self._function(batch, generator, **kwargs).numpy()
        return restore_layout(out, X)

    def transform(self, X):
        """Return the frames unchanged: augmentation happens at fit time only.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames with the shape seen in ``fit``.

        Returns
        -------
        X_out : ndarray of shape like X, float32
            The validated frames, in the layout of ``X`` (may share memory with ``X`` when it is
            already a float32 array).

        Raises
        ------
        ValueError
            If the frame shape differs from the one seen in ``fit``, or on non-finite pixels.
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        """
        check_is_fitted(self)
        images = validate_images(self, X, reset=False)
        return restore_layout(images, X)

    def augment_tensor(self, x, generator):
        """Perturb a torch batch on its own device (the per-batch protocol of the embedder).

        Needs no prior ``fit``; ``random_state`` is not used here, the randomness comes from
        ``generator``.

        Parameters
        ----------
        x : torch.Tensor of shape (B, H, W), float32
            Mini-batch of frames on the training device. Not modified.
        generator : torch.Generator
            Source of all randomness.

        Returns
        -------
        torch.Tensor of shape (B, H, W)
            Perturbed copy of ``x`` on the same device.

        Raises
        ------
        ValueError
            If ``x`` is not a floating-point (B, H, W) tensor or a parameter is invalid.
        """
        validate_params(self)
        return self._function(x, generator, **self._kwargs())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def pair(value, name, *, positive):
    """``value`` as a tuple of two floats, checked against ``positive``."""
    pair = np.asarray(value, dtype=float).ravel()
    if pair.shape != (2,) or not np.all(np.isfinite(pair)) or (positive and np.any(pair <= 0)):
        kind = "positive " if positive else ""
        raise ValueError(f"{name} must be two finite {kind}numbers; got {value!r}.")
    return float(pair[0]), float(pair[1])


def center_or_none(center):
    """A beam centre ``(row, col)`` as two floats, or None for the frame centre."""
    return None if center is None else pair(center, "center", positive=False)
