"""The SFX peak finder: connected pixels standing out of a local, sigma-clipped background.

:func:`find_peaks` works in the spirit of Cheetah's peakfinder8 (Barty et al., J. Appl. Cryst.
47, 1118, 2014): connected pixels standing ``snr`` local standard deviations above a local,
sigma-clipped background; :func:`count_peaks` counts them on each frame of a stack.
"""

import numpy as np
from scipy import ndimage

__all__ = ["count_peaks", "find_peaks"]

# 8-connected pixels in a frame, never across frames of a stack.
_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_STRUCTURE[1] = True


def _peak_labels(X, mask, snr, min_value, background_size, min_pixels, max_pixels):
    """Label the peaks of a stack ``(n, H, W)``; returns (labels, n_labels, signal, sizes)."""
    valid = np.isfinite(X)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)[None]
    x = np.where(valid, X, 0).astype(np.float64)
    outer, inner = background_size, min(5, background_size - 2)
    keep = valid.astype(np.float64)

    def ring_sum(a):
        # Sum over the box of side `outer` minus the box of side `inner` around each pixel:
        # the background is measured around a peak, not on it (peakfinder8 uses an annulus).
        return (
            ndimage.uniform_filter(a, (1, outer, outer), mode="constant") * outer**2
            - ndimage.uniform_filter(a, (1, inner, inner), mode="constant") * inner**2
        )

    # Local mean and standard deviation over the valid pixels of the ring, twice: the
    # second pass leaves out the pixels the first flagged, so that neighbouring peaks do not
    # inflate the background (peakfinder8 clips iteratively as well).
    for _ in range(2):
        weight = np.maximum(ring_sum(keep), 1e-12)
        mean = ring_sum(x * keep) / weight
        var = ring_sum(x * x * keep) / weight - mean**2
        sigma = np.sqrt(np.maximum(var, 0))
        above = valid & (x - mean > snr * sigma) & (x - mean > min_value)
        keep = (valid & ~above).astype(np.float64)
    labels, n = ndimage.label(above, structure=_STRUCTURE)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    good = (sizes >= min_pixels) & (sizes <= max_pixels)
    good[0] = False
    return labels, good, x - mean, sizes


def _check_peak_params(snr, min_value, background_size, min_pixels, max_pixels):
    if not snr > 0:
        raise ValueError(f"snr must be positive; got {snr}.")
    if int(background_size) != background_size or background_size < 5 or background_size % 2 == 0:
        raise ValueError(f"background_size must be an odd integer >= 5; got {background_size}.")
    if not 1 <= min_pixels <= max_pixels:
        raise ValueError(
            f"Need 1 <= min_pixels <= max_pixels; got min_pixels={min_pixels}, "
            f"max_pixels={max_pixels}."
        )
    if not np.isfinite(min_value):
        raise ValueError(f"min_value must be finite; got {min_value}.")


def find_peaks(
    frame, *, snr=6.0, min_value=1.0, background_size=11, min_pixels=2, max_pixels=50, mask=None
):
    """Find Bragg peaks on one detector frame.

    A pixel belongs to a peak when it exceeds the local background mean by more than ``snr``
    local standard deviations and by more than ``min_value``; the background is the mean and
    standard deviation of the valid pixels in a ``background_size`` box around it, estimated
    twice, the second time without the pixels the first pass flagged. 8-connected flagged
    pixels form one peak; peaks of fewer than ``min_pixels`` or more than ``max_pixels``
    pixels (streaks, ice rings) are dropped. ``min_pixels=2`` rejects hot pixels and
    single-photon noise at the price of faint one-pixel spots (Bragg spots are often one
    pixel wide, Li 2018, Sec. III A): the peak count underestimates the spot count.

    Parameters
    ----------
    frame : array-like of shape (H, W)
        Photons or ADU. NaN / inf pixels are treated as masked.
    snr : float, default=6.0
        Threshold in local standard deviations (peakfinder8's ``minSNR``).
    min_value : float, default=1.0
        Threshold above the local mean in the units of ``frame`` (peakfinder8's
        ``ADCthresh``): one photon by default, so that isolated photons on an empty
        background, where the local standard deviation vanishes, are no peaks. Set it in ADU
        for frames in ADU (e.g. a few times the read noise).
    background_size : int, default=11
        Odd side (pixels, >= 5) of the box of the local background; the central 5 x 5 (3 x 3
        for a side of 5) is left out, so the background is a square annulus around the
        pixel.
    min_pixels, max_pixels : int, default=2, 50
        Accepted peak sizes (pixels).
    mask : array-like of shape (H, W), bool, or None, default=None
        True for good pixels; masked pixels are neither peaks nor background.

    Returns
    -------
    peaks : ndarray of shape (n_peaks, 2), float64
        ``(row, column)`` of each peak: the centroid of its pixels weighted by their signal
        above the local background, in raster order of the peaks' first pixels.

    Raises
    ------
    ValueError
        If ``frame`` is not 2-D, ``mask`` has another shape, or a parameter is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines import find_peaks
    >>> frame = np.ones((20, 20))
    >>> frame[5, 5:7] = 50
    >>> find_peaks(frame)
    array([[5. , 5.5]])
    """
    frame = np.asarray(frame, dtype=np.float64)
    if frame.ndim != 2:
        raise ValueError(
            f"frame must be a 2-D array (H, W); got {frame.ndim} dimension(s). "
            "For a stack of frames use count_peaks."
        )
    if mask is not None and np.shape(mask) != frame.shape:
        raise ValueError(f"mask has shape {np.shape(mask)} but frame has {frame.shape}.")
    _check_peak_params(snr, min_value, background_size, min_pixels, max_pixels)
    labels, good, signal, _ = _peak_labels(
        frame[None], mask, snr, min_value, int(background_size), min_pixels, max_pixels
    )
    index = np.flatnonzero(good)
    if index.size == 0:
        return np.empty((0, 2))
    centres = ndimage.center_of_mass(np.maximum(signal[0], 0), labels[0], index)
    return np.asarray(centres, dtype=np.float64).reshape(-1, 2)


def count_peaks(
    X, *, snr=6.0, min_value=1.0, background_size=11, min_pixels=2, max_pixels=50, mask=None
):
    """Number of Bragg peaks on each frame of a stack (:func:`find_peaks` on each).

    Parameters
    ----------
    X : array-like of shape (n_frames, H, W)
    snr, min_value, background_size, min_pixels, max_pixels, mask
        As :func:`find_peaks`.

    Returns
    -------
    counts : ndarray of shape (n_frames,), int64

    Raises
    ------
    ValueError
        If ``X`` is not 3-D or a parameter is out of range.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(
            f"X must be a stack of frames (n_frames, H, W); got {X.ndim} dimension(s)."
        )
    _check_peak_params(snr, min_value, background_size, min_pixels, max_pixels)
    labels, good, _, _ = _peak_labels(
        X, mask, snr, min_value, int(background_size), min_pixels, max_pixels
    )
    # Labels are numbered in raster order over the whole stack: each belongs to one frame.
    frame_of = np.zeros(len(good), dtype=np.int64)
    flat = labels.reshape(len(X), -1)
    rows, cols = np.nonzero(flat)
    frame_of[flat[rows, cols]] = rows
    return np.bincount(frame_of[good], minlength=len(X)).astype(np.int64)
