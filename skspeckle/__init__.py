"""skspeckle: SpeckleNN few-shot classification of X-ray single-particle-imaging diffraction
patterns as scikit-learn estimators.

The pipeline steps are importable from the top level; the simulator and bundled structures
live in :mod:`skspeckle.datasets`, the plain-torch machinery in :mod:`skspeckle.nn`.
"""

from skspeckle.augmentation import (
    FluenceJitter,
    RandomPatchMask,
    RandomRotation,
    RandomShift,
    RandomZoom,
)
from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.persistence import load_model, save_model
from skspeckle.preprocessing import DetectorMask, PixelBinning
from skspeckle.streaming import predict_file

__version__ = "0.1.0"

__all__ = [
    "DetectorMask",
    "FewShotCentroidClassifier",
    "FluenceJitter",
    "PixelBinning",
    "RandomPatchMask",
    "RandomRotation",
    "RandomShift",
    "RandomZoom",
    "TripletEmbedder",
    "__version__",
    "load_model",
    "predict_file",
    "save_model",
]
