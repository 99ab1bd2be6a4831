"""The literature's baselines as scikit-learn estimators, one module per baseline.

- SPI: :class:`Shi19Classifier`, :class:`ResNetClassifier`, :class:`PretrainedFeatures`,
  :class:`DANNClassifier`, and the unsupervised :func:`make_pca_svc`,
  :class:`SpectralFewShotClassifier` and :class:`DiffusionMapFewShotClassifier` (on
  :class:`DiffusionMapEmbedding`).
- SFX hit finding: :class:`HitFinderCNN`, :class:`RowWiseDecomposition` +
  :class:`CNN1DClassifier`, :class:`TotalIntensityClassifier`, :class:`PeakCountClassifier`.

CNN classifiers share :class:`~skspeckle.baselines._classifier.NeuralNetClassifier` (weighted
cross-entropy, early stopping, transfer learning through ``init_from`` / ``freeze``).
"""

from skspeckle.utils._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "CNN1DClassifier": "skspeckle.baselines.sfx.row_wise",
        "count_peaks": "skspeckle.baselines.sfx.peak_finder",
        "DANNClassifier": "skspeckle.baselines.spi.dann",
        "DiffusionMapEmbedding": "skspeckle.baselines.spi.diffusion_map",
        "DiffusionMapFewShotClassifier": "skspeckle.baselines.spi.diffusion_map",
        "find_peaks": "skspeckle.baselines.sfx.peak_finder",
        "HitFinderCNN": "skspeckle.baselines.sfx.hit_finder",
        "make_pca_svc": "skspeckle.baselines.spi.pca_svc",
        "PeakCountClassifier": "skspeckle.baselines.sfx.peak_count",
        "PretrainedFeatures": "skspeckle.baselines.spi.pretrained",
        "ResNetClassifier": "skspeckle.baselines.spi.resnet",
        "RowWiseDecomposition": "skspeckle.baselines.sfx.row_wise",
        "Shi19Classifier": "skspeckle.baselines.spi.shi19",
        "SpectralFewShotClassifier": "skspeckle.baselines.spi.spectral",
        "TotalIntensityClassifier": "skspeckle.baselines.sfx.total_intensity",
    },
)
