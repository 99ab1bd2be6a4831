"""How a set of frames looks in q: radial profiles and speckle contrast, for real or simulated data.

The two measures users compare when they ask whether simulated patterns look like their
detector's (docs/simulation_to_detector.md): the azimuthal average of the intensity in shells
of momentum transfer ``|q| = 2 sin(theta) / lambda`` (Å^-1, the convention of
:meth:`skspeckle.detector.Detector.q_vectors`), and the speckle contrast in the same shells,
from photon statistics. Both take frames in the detector's pixels with its
:class:`~skspeckle.detector.Detector` (geometry, beam centre and mask), and both skip masked
pixels rather than averaging zeros into the shells.
"""

import numbers

import numpy as np

from skspeckle.detector import Detector

__all__ = ["radial_profile", "speckle_contrast"]

_NONFINITE = ("error", "mask")


def _check_frames(frames, detector, mask, nonfinite):
    """Frames as a float (n, H, W) array and the good pixels of each frame, (n, H, W) bool."""
    if not isinstance(detector, Detector):
        raise TypeError(
            f"detector must be a skspeckle.detector.Detector (e.g. Detector.pnccd_back()), "
            f"got {type(detector).__name__}."
        )
    if nonfinite not in _NONFINITE:
        raise ValueError(f"nonfinite must be one of {_NONFINITE}, got {nonfinite!r}.")
    X = np.asarray(frames)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)  # float32 frames stay float32: sums are taken in float64
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3 or X.shape[1:] != detector.shape:
        raise ValueError(
            f"frames must have shape (n_frames, {detector.shape[0]}, {detector.shape[1]}) "
            f"(the detector's), got {np.shape(frames)}; for binned frames pass "
            f"detector.bin(factor)."
        )
    good = detector.mask
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != detector.shape or mask.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array of shape {detector.shape} (True = good pixel), "
                f"got {mask.dtype} of shape {mask.shape}."
            )
        good = good & mask
    finite = np.isfinite(X)
    if nonfinite == "error" and not finite[:, good].all():
        bad = np.flatnonzero(~finite[:, good].all(axis=1))
        raise ValueError(
            f"frames {bad[:10].tolist()} hold NaN or infinite values on good pixels (bad "
            f"pixels of the detector); pass nonfinite='mask' to leave them out, or add them "
            f"to mask."
        )
    return X, good[None] & finite


def _shells(detector, photon_energy_kev, bins, q_range, good):
    """Bin index of every pixel (-1 outside the bins), the bin edges and their centres."""
    q = np.linalg.norm(detector.q_vectors(photon_energy_kev), axis=-1)
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        if bins < 1:
            raise ValueError(f"bins must be a positive number of shells, got {bins!r}.")
        if q_range is None:
            any_good = good.any(axis=0)
            if not any_good.any():
                raise ValueError("no good pixel in any frame: check the mask.")
            q_range = (q[any_good].min(), q[any_good].max())
        lo, hi = (float(v) for v in q_range)
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
            raise ValueError(
                f"q_range must be (q_min, q_max) in Å^-1, 0 <= q_min < q_max, got {q_range!r}."
            )
        edges = np.linspace(lo, hi, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0):
            raise ValueError(
                f"bins must be a number of shells or increasing shell edges in Å^-1, got {bins!r}."
            )
    index = np.searchsorted(edges, q, side="right") - 1
    index[q == edges[-1]] = len(edges) - 2  # the last edge belongs to the last shell
    index[(index < 0) | (index >= len(edges) - 1)] = -1
    return index, edges, (edges[:-1] + edges[1:]) / 2


def _shell_moments(X, good, index, n_bins):
    """Per frame and shell: number of good pixels, sum and sum of squares of their values."""
    n = len(X)
    keep = good & (index >= 0)[None]
    frame = np.broadcast_to(np.arange(n)[:, None, None], X.shape)[keep]
    flat = frame * n_bins + np.broadcast_to(index, X.shape)[keep]
    values = X[keep].astype(np.float64)
    size = n * n_bins
    count = np.bincount(flat, minlength=size).reshape(n, n_bins)
    total = np.bincount(flat, weights=values, minlength=size).reshape(n, n_bins)
    squares = np.bincount(flat, weights=values**2, minlength=size).reshape(n, n_bins)
    return count, total, squares


def radial_profile(
    frames, detector, photon_energy_kev, *, bins=50, q_range=None, mask=None, nonfinite="error"
):
    """Azimuthal average of each frame in shells of momentum transfer ``|q|``.

    The mean value of the good pixels whose centre falls in each ``|q|`` shell, about the
    detector's beam centre (not the array's middle), with ``|q|`` on the Ewald sphere
    (:meth:`~skspeckle.detector.Detector.q_vectors`). Masked pixels (the detector's mask, the
    ``mask`` given, and with ``nonfinite="mask"`` each frame's NaN / inf pixels) are left out
    of the shells, so a beam stop or a gap does not pull a shell's mean towards zero. Negative
    values (dark-subtracted read noise) are data and are averaged as they are.

    Parameters
    ----------
    frames : array-like of float of shape (n_frames, H, W) or (H, W)
        Frames in any linear unit (photons, ADU) on ``detector``'s pixels.
    detector : Detector
        Geometry and mask of the frames' pixels; ``detector.bin(f)`` for frames binned f x f.
    photon_energy_kev : float
        Photon energy in keV (1.6 for the bundled PR772 frames).
    bins : int or array-like of float, default=50
        Number of equal-width shells between ``q_range``, or the shell edges in Å^-1.
    q_range : (float, float) or None, default=None
        ``(q_min, q_max)`` in Å^-1 for an integer ``bins``; None means the smallest and
        largest ``|q|`` of the good pixels.
    mask : array-like of bool of shape (H, W) or None, default=None
        More pixels to leave out (False), on top of ``detector.mask`` (e.g. the PR772 frames'
        parasitic-scattering artefacts).
    nonfinite : {"error", "mask"}, default="error"
        What NaN / inf values on good pixels do: raise, or leave those pixels out of that
        frame's shells.

    Returns
    -------
    q : ndarray of float64 of shape (n_bins,)
        Shell centres in Å^-1.
    profile : ndarray of float64 of shape (n_frames, n_bins)
        Mean value per good pixel in each shell, in the frames' unit; NaN for a shell with no
        good pixel.
    n_pixels : ndarray of int64 of shape (n_frames, n_bins)
        Good pixels in each shell of each frame.

    Raises
    ------
    TypeError
        If ``detector`` is not a :class:`~skspeckle.detector.Detector`.
    ValueError
        If the frames do not have the detector's shape, hold NaN / inf with
        ``nonfinite="error"``, or ``bins``, ``q_range``, ``mask`` or ``nonfinite`` are invalid.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.detector import Detector
    >>> from skspeckle.diagnostics import radial_profile
    >>> detector = Detector((64, 64), pixel_size=3e-4, distance=0.586)
    >>> q, profile, n = radial_profile(np.ones((2, 64, 64)), detector, 1.6, bins=8)
    >>> q.shape, profile.shape, bool(np.allclose(profile, 1.0))
    ((8,), (2, 8), True)
    """
    X, good = _check_frames(frames, detector, mask, nonfinite)
    index, _, q = _shells(detector, photon_energy_kev, bins, q_range, good)
    count, total, _ = _shell_moments(X, good, index, len(q))
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(count > 0, total / count, np.nan)
    return q, profile, count


def speckle_contrast(
    frames,
    detector,
    photon_energy_kev,
    *,
    bins=20,
    q_range=None,
    subshells=8,
    mask=None,
    read_noise=0.0,
    min_pixels=20,
    nonfinite="error",
):
    """Speckle contrast per ``|q|`` shell from photon statistics (the speckle beta).

    In a ring of good pixels with counts ``k`` (photons) of mean ``<k>`` and variance
    ``var(k)``, the photon counts of a speckle pattern of ``M`` modes per pixel follow a
    negative-binomial law, ``var(k) = <k> + <k>^2 / M`` (J. W. Goodman, *Statistical Optics*,
    Wiley 1985, Ch. 9, photocount statistics of polarized thermal light), plus
    ``read_noise^2`` for a detector's Gaussian read noise. The contrast

        beta = (var(k) - <k> - read_noise^2) / <k>^2 = 1 / M

    is the normalised variance of the intensity around the ring with the shot and read noise
    taken out, as in XPCS's photon-statistics estimates of contrast. The intensity of an SPI
    pattern falls steeply with ``|q|``, which a wide shell would count as variance: each shell
    is therefore cut into ``subshells`` thin rings, and beta pools them,
    ``sum_r N_r (var_r - <k>_r - read_noise^2) / sum_r N_r <k>_r^2`` (rings of fewer than 2
    pixels skipped). For a fully developed speckle pattern (a random object, fully coherent)
    beta is 1; for a pattern that is round (a sphere) it is 0; a single particle lies between
    (its azimuthal modulation), and a coherent sum of particles (a multi hit) raises it.
    Shells of few photons give noisy estimates (the standard error grows like
    ``1 / (<k> sqrt(N))``), and any excess pixel noise of a real detector (gain
    non-uniformity, stray light) raises beta where the signal is weak.

    Parameters
    ----------
    frames : array-like of float of shape (n_frames, H, W) or (H, W)
        Frames in photons (ADU divided by the gain), not clipped or rounded, on ``detector``'s
        pixels; NaN / inf only with ``nonfinite="mask"``.
    detector : Detector
        Geometry and mask of the frames' pixels.
    photon_energy_kev : float
        Photon energy in keV.
    bins : int or array-like of float, default=20
        Number of equal-width shells between ``q_range``, or the shell edges in Å^-1.
    q_range : (float, float) or None, default=None
        As in :func:`radial_profile`.
    subshells : int, default=8
        Thin rings per shell over which the moments are taken; about one pixel wide is right
        (a ring of radius r pixels spans ``|q|`` changes of one pixel's).
    mask : array-like of bool of shape (H, W) or None, default=None
        More pixels to leave out (False), on top of ``detector.mask``.
    read_noise : float, default=0.0
        Standard deviation of the Gaussian read noise per pixel, in photons (for the bundled
        PR772 frames ``PR772_READ_NOISE_ADU / PR772_ADU_PER_PHOTON``, 0.18).
    min_pixels : int, default=20
        Shells with fewer good pixels in a frame give NaN.
    nonfinite : {"error", "mask"}, default="error"
        As in :func:`radial_profile`.

    Returns
    -------
    q : ndarray of float64 of shape (n_bins,)
        Shell centres in Å^-1.
    beta : ndarray of float64 of shape (n_frames, n_bins)
        Contrast per shell and frame (dimensionless); NaN where the shell has fewer than
        ``min_pixels`` good pixels or a mean count <= 0. Can be negative in shells dominated
        by noise.
    mean : ndarray of float64 of shape (n_frames, n_bins)
        Mean photons per good pixel in each shell, to judge how well beta is measured.

    Raises
    ------
    TypeError
        If ``detector`` is not a :class:`~skspeckle.detector.Detector`.
    ValueError
        As :func:`radial_profile`, and if ``read_noise`` is negative, ``subshells`` < 1 or
        ``min_pixels`` < 2.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.detector import Detector
    >>> from skspeckle.diagnostics import speckle_contrast
    >>> detector = Detector((128, 128), pixel_size=3e-4, distance=0.586)
    >>> rng = np.random.default_rng(0)
    >>> speckle = rng.poisson(rng.exponential(50.0, size=(1, 128, 128)))  # M = 1 mode
    >>> q, beta, mean = speckle_contrast(speckle, detector, 1.6, bins=4)
    >>> bool(np.all(np.abs(beta - 1) < 0.1))
    True
    """
    if not (isinstance(read_noise, numbers.Real) and np.isfinite(read_noise) and read_noise >= 0):
        raise ValueError(f"read_noise must be a finite number >= 0 of photons, got {read_noise!r}.")
    for name, value, least in (("subshells", subshells, 1), ("min_pixels", min_pixels, 2)):
        if not isinstance(value, numbers.Integral) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}.")
    X, good = _check_frames(frames, detector, mask, nonfinite)
    index, edges, q = _shells(detector, photon_energy_kev, bins, q_range, good)
    n_bins = len(q)
    # Thin rings: each shell's edges interpolated subshells-fold; ring r lies in shell r // s.
    fine = np.interp(np.arange(n_bins * subshells + 1) / subshells, np.arange(n_bins + 1), edges)
    ring, _, _ = _shells(detector, photon_energy_kev, fine, None, good)
    count, total, squares = _shell_moments(X, good, ring, len(fine) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        # Unbiased variance: thin rings near the beam stop hold few pixels.
        var = (squares - count * mean**2) / (count - 1)
    use = count >= 2
    numerator = np.where(use, count * (var - mean - float(read_noise) ** 2), 0.0)
    denominator = np.where(use, count * mean**2, 0.0)
    shape = (len(X), n_bins, subshells)
    numerator = numerator.reshape(shape).sum(axis=2)
    denominator = denominator.reshape(shape).sum(axis=2)
    n_pixels = count.reshape(shape).sum(axis=2)
    shell_mean = total.reshape(shape).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = numerator / denominator
        shell_mean = np.where(n_pixels > 0, shell_mean / n_pixels, np.nan)
    usable = (n_pixels >= min_pixels) & (shell_mean > 0)
    return q, np.where(usable, beta, np.nan), shell_mean
