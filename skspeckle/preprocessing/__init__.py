"""Detector masking, pixel binning and q resampling: the image transformers before the embedding.

SpeckleNN shows that the unified embedding still classifies well when only 25 % of the
detector area is read out (Sec. IV.B.2, Table I): modular detectors lose panels to noise or
damage, and skipping panels saves read-out and assembly time. :class:`DetectorMask` builds
that situation reproducibly, either from a visible fraction and a layout or from a real
detector mask, and also hides bad (NaN / inf) pixels when asked. :class:`PixelBinning` sums
blocks of pixels, bringing large real frames (e.g. the 260 x 257 binned pnCCD) to a size the
network trains on quickly. :class:`QGridResampler` maps frames of one detector geometry onto
another's pixels by momentum transfer (e.g. pnCCD frames onto the pretrained embedder's grid).
Each has its module (:mod:`~skspeckle.preprocessing.detector_mask`,
:mod:`~skspeckle.preprocessing.binning`, :mod:`~skspeckle.preprocessing.resampling`); all are
importable from here.

>>> import numpy as np
>>> from sklearn.pipeline import make_pipeline
>>> from skspeckle.preprocessing import DetectorMask, PixelBinning
>>> X = np.ones((3, 8, 8))
>>> out = make_pipeline(DetectorMask(0.25), PixelBinning(2)).fit_transform(X)
>>> out.shape
(3, 4, 4)
>>> out[0].tolist()
[[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0]]
"""

from skspeckle.utils._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "DetectorMask": "skspeckle.preprocessing.detector_mask",
        "PixelBinning": "skspeckle.preprocessing.binning",
        "QGridResampler": "skspeckle.preprocessing.resampling",
    },
)
