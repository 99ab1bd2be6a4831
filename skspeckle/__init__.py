"""skspeckle: SpeckleNN few-shot classification of X-ray single-particle-imaging diffraction
patterns as scikit-learn estimators.

The pipeline steps are importable from the top level; the simulator and bundled structures
live in :mod:`skspeckle.datasets`, the plain-torch machinery in :mod:`skspeckle.nn`.
"""

from skspeckle._version import __version__
from skspeckle.utils._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "DetectorMask": "skspeckle.preprocessing.detector_mask",
        "FewShotCentroidClassifier": "skspeckle.few_shot",
        "FluenceJitter": "skspeckle.augmentation.transforms",
        "PoissonResample": "skspeckle.augmentation.transforms",
        "load_model": "skspeckle.persistence",
        "PixelBinning": "skspeckle.preprocessing.binning",
        "predict_file": "skspeckle.streaming",
        "QGridResampler": "skspeckle.preprocessing.resampling",
        "RandomPatchMask": "skspeckle.augmentation.transforms",
        "RandomRotation": "skspeckle.augmentation.transforms",
        "RandomShift": "skspeckle.augmentation.transforms",
        "RandomZoom": "skspeckle.augmentation.transforms",
        "save_model": "skspeckle.persistence",
        "TripletEmbedder": "skspeckle.embedding",
    },
)
__all__ = [*__all__, "__version__"]
