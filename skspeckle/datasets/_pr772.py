"""Ten real SPI frames of bacteriophage PR772 on the back pnCCD at LCLS, bundled with the package.

The frames come from the coherent soft X-ray imaging experiment on coliphage PR772 at the AMO
instrument of the Linac Coherent Light Source (Reddy et al., "Coherent soft X-ray diffraction
imaging of coliphage PR772 at the Linac Coherent Light Source", Sci. Data 4, 170079 (2017),
cited by the SpeckleNN paper), as published in the CXIDB (entry 58) in the 4 x 4 binned
geometry of the back pnCCD (260 x 257 pixels) that the Dragonfly and spipy examples use. The
project received them as ``real_frames/pr772_pnccd_back_260x257_{adu,mask,artifacts}.npy``
with no run or frame numbers; which shots they are is not recorded here. They are not
labelled: by eye frames 3 and 4 look like multi-particle hits and the others like single hits,
an impression only. Use them to check that the pipeline reads and classifies real frames and
to compare simulated with real patterns, never as ground truth for accuracy.

Measured on these frames (``load_pr772_frames`` and a 3-Gaussian fit of the histogram of the
good finite pixels between -6 and 20 ADU):

- a zero-photon peak at 0.2 ADU of standard deviation 1.4 ADU (dark-subtracted read noise of
  a binned pixel), a one-photon peak at 7.8 ADU and a two-photon peak at 15.3 ADU: a gain of
  about 7.6 ADU per 1.6 keV photon (:data:`PR772_ADU_PER_PHOTON`, :data:`PR772_READ_NOISE_ADU`);
- totals of 0.6-8e6 ADU per frame, i.e. 0.8-10e5 photons;
- the standard deviation of the logarithm of the totals of the eight single-looking frames is
  0.45 (a rough estimate of the shot-to-shot spread of the scattered signal);
- the first three minima of the radial profile of the eight single-looking frames at a median
  of 37.5, 65.5 and 89.5 pixels from the beam centre (row 129.0, column 128.5, where the
  frames are most centrosymmetric), in the ratios 1 : 1.75 : 2.39, close to a sphere's zeros
  (1 : 1.72 : 2.43); see
  :meth:`skspeckle.detector.Detector.pnccd_back` for what this says about the geometry.
"""

from pathlib import Path

import numpy as np

__all__ = ["PR772_ADU_PER_PHOTON", "PR772_READ_NOISE_ADU", "load_pr772_frames"]

_FILE = Path(__file__).parent / "data" / "pr772_pnccd_back.npz"

#: Gain of the bundled PR772 frames, ADU per 1.6 keV photon: spacing of the zero-, one- and
#: two-photon peaks of their histogram (module docstring).
PR772_ADU_PER_PHOTON = 7.6
#: Standard deviation of the zero-photon peak of the bundled PR772 frames, in ADU per
#: (4 x 4 binned) pixel.
PR772_READ_NOISE_ADU = 1.4


def bundled_array(key):
    with np.load(_FILE) as data:
        return data[key]


def load_pr772_frames(*, return_artifacts=False):
    """The ten bundled real PR772 frames of the back pnCCD, raw, in ADU.

    The values are the detector's dark-subtracted counts, untouched: two pixels of frames 3
    and 4 are ``+inf`` (bad pixels) and noise makes many values negative (down to -582 ADU).
    Before feeding them to a model, mask the non-finite and bad pixels, e.g. with
    ``skspeckle.DetectorMask(nonfinite="mask")`` together with ``mask``, or replace them and
    clip, e.g. ``np.clip(np.where(mask & np.isfinite(X), X, 0), 0, None)``; divide by
    :data:`PR772_ADU_PER_PHOTON` for photons. Provenance and measured properties: see
    :mod:`skspeckle.datasets._pr772`.

    Parameters
    ----------
    return_artifacts : bool, default=False
        Also return the pixels known to show parasitic scattering (two short vertical
        streaks above the beam stop).

    Returns
    -------
    X : ndarray of float32 of shape (10, 260, 257)
        Counts in ADU (about 7.6 ADU per photon), including ``+inf`` and negative values.
    mask : ndarray of bool of shape (260, 257)
        True for good pixels; False for the beam stop (15 x 17 pixels around the beam) and
        the horizontal gap between the two pnCCD panels (rows 128-132), 1455 pixels.
    artifacts : ndarray of bool of shape (260, 257)
        Only with ``return_artifacts``: True for the 175 parasitic-scattering pixels.

    Examples
    --------
    >>> from skspeckle.datasets._pr772 import load_pr772_frames
    >>> X, mask = load_pr772_frames()
    >>> X.shape, X.dtype, mask.dtype, int((~mask).sum())
    ((10, 260, 257), dtype('float32'), dtype('bool'), 1455)
    """
    with np.load(_FILE) as data:
        X, mask = data["frames"], data["mask"]
        artifacts = data["artifacts"] if return_artifacts else None
    if return_artifacts:
        return X, mask, artifacts
    return X, mask
