"""The literature's baselines as scikit-learn estimators, one module per baseline.

- SPI: :class:`Shi19Classifier`, :class:`ResNetClassifier`, :class:`PretrainedFeatures`,
  :class:`DANNClassifier`, and the unsupervised :func:`make_pca_svc` and
  :class:`SpectralFewShotClassifier`.
- SFX hit finding: :class:`HitFinderCNN`, :class:`RowWiseDecomposition` +
  :class:`CNN1DClassifier`, :class:`TotalIntensityClassifier`, :class:`PeakCountClassifier`.

CNN classifiers share :class:`~skspeckle.baselines._base.NeuralNetClassifier` (weighted
cross-entropy, early stopping, transfer learning through ``init_from`` / ``freeze``).
"""

from skspeckle.baselines.dann import DANNClassifier
from skspeckle.baselines.hit_finder import HitFinderCNN
from skspeckle.baselines.intensity import (PeakCountClassifier, TotalIntensityClassifier,
                                           count_peaks, find_peaks)
from skspeckle.baselines.pretrained import PretrainedFeatures
from skspeckle.baselines.resnet import ResNetClassifier
from skspeckle.baselines.row_wise import CNN1DClassifier, RowWiseDecomposition
from skspeckle.baselines.shi19 import Shi19Classifier
from skspeckle.baselines.unsupervised import SpectralFewShotClassifier, make_pca_svc

__all__ = [
    "CNN1DClassifier",
    "DANNClassifier",
    "HitFinderCNN",
    "PeakCountClassifier",
    "PretrainedFeatures",
    "ResNetClassifier",
    "RowWiseDecomposition",
    "Shi19Classifier",
    "SpectralFewShotClassifier",
    "TotalIntensityClassifier",
    "count_peaks",
    "find_peaks",
    "make_pca_svc",
]
