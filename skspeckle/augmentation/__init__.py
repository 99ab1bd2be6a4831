"""Fit-time-only random augmentation of speckle patterns (SpeckleNN, Sec. III.E).

SpeckleNN augments the *training* frames with random in-plane rotation, patch masking, zoom
and shift, and rescales them with a random fluence, and warns that augmenting before the
train/test split leaks training data into the test set. Each transformer here therefore has
two faces:

- ``fit_transform(X)`` returns a randomly perturbed float32 copy of ``X`` (one perturbed frame
  per input frame, so ``y`` stays aligned), and ``transform(X)`` returns ``X`` unchanged. In a
  :class:`~sklearn.pipeline.Pipeline` the training frames are perturbed and the frames seen by
  ``predict`` or ``score`` are not.
- ``augment_tensor(x, generator)`` perturbs a torch batch ``(B, H, W)`` on its own device; the
  ``TripletEmbedder`` calls it on every mini-batch, which gives a fresh perturbation per epoch
  instead of one fixed copy.

The torch work lives in :mod:`skspeckle.nn.augment`, the shared estimator face in
:mod:`skspeckle.augmentation._base`; the six steps are defined in
:mod:`skspeckle.augmentation.transforms`.
"""

from skspeckle.utils._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "FluenceJitter": "skspeckle.augmentation.transforms",
        "PoissonResample": "skspeckle.augmentation.transforms",
        "RandomPatchMask": "skspeckle.augmentation.transforms",
        "RandomRotation": "skspeckle.augmentation.transforms",
        "RandomShift": "skspeckle.augmentation.transforms",
        "RandomZoom": "skspeckle.augmentation.transforms",
    },
)
