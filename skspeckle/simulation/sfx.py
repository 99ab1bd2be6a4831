"""Synthetic serial femtosecond crystallography (SFX) frames labelled hit / maybe / miss.

Each frame is a binned view of a whole SFX detector: a smooth background (air and detector,
``background``), the water ring of the liquid jet (a Gaussian in ``|q|`` centred at 0.318 Å^-1,
i.e. d = 3.14 Å, whose radius on the detector follows from the photon energy and the
geometry; its strength varies from frame to frame with the jet thickness), both scaled by the
solid angle of each pixel (``cos^3 2theta`` on a flat detector), ``n_spots`` Bragg spots, Poisson
noise, occasional hot pixels, and zeros in the panel gaps and behind the beam stop.

Spots are placed at random on the active pixels (not on a lattice: this generator models what
a hit finder sees -- how many spots, how bright, how wide, on what background -- not the
crystal's orientation). Each spot is a 2-D Gaussian of width ``spot_sigma`` integrated over
the pixels; its integrated photon count is a floor that makes its brightest pixel stand
``min_spot_snr`` standard deviations above the local background, plus an exponentially
distributed excess (the acentric Wilson distribution) whose mean falls with resolution as
``spot_photons * exp(-wilson_b * q^2 / 2)``. Every spot is therefore visible, and the label
follows the rule with which Ke et al. (2018) annotated CXIDB entry 76 (used by Xie et al.,
Sec. 3.1): ``"hit"`` for 10 spots or more, ``"maybe"`` for 4 to 9, ``"miss"`` for 3 or fewer.
"""

import numpy as np
from scipy.ndimage import minimum_filter
from scipy.special import ndtr
from sklearn.utils import check_random_state

from skspeckle.detector import wavelength

__all__ = ["SFX_DATASETS", "SFX_CLASSES", "make_sfx_frames"]

SFX_CLASSES = ("hit", "maybe", "miss")
_SPOT_RANGES = {"hit": (10, None), "maybe": (4, 9), "miss": (0, 3)}
WATER_RING_Q = 0.318  # Å^-1 (1/d): the first maximum of liquid water's structure factor
WATER_RING_WIDTH = 0.04  # Å^-1, standard deviation of that maximum

#: Named detector / beam / sample presets. Every frame is a ``shape`` binned view of the
#: whole detector, so ``pixel_size`` is the binned pixel.
#:
#: - ``photon_energy_kev`` (keV); ``distance`` (m) sample to detector; ``pixel_size`` (m);
#:   ``shape`` (H, W) default frame shape (pixels);
#: - ``beam_offset`` (rows, cols): beam centre minus frame centre (pixels);
#: - ``panel_grid`` (rows, cols) of detector panels, separated by ``gap_width`` inactive
#:   pixels; ``beam_stop_radius`` (pixels) of the inactive disk at the beam;
#: - ``background`` (photons / pixel) flat background before the solid-angle factor;
#:   ``water_ring`` (photons / pixel) peak of the water ring; ``water_jitter`` relative
#:   standard deviation (log-normal) of the ring's strength between frames;
#: - ``spot_photons`` (photons) mean excess integrated intensity of a spot at q = 0;
#:   ``wilson_b`` (Å^2) its resolution fall-off; ``spot_sigma`` (pixels) the spot width;
#:   ``min_spot_snr`` the peak signal-to-noise ratio of the faintest spot;
#:   ``max_spots`` the most spots of a hit (hits draw from 10 to it, log-uniformly; a larger
#:   unit cell or crystal gives more spots);
#: - ``hot_pixels`` mean number of single hot pixels per frame (Poisson) and
#:   ``hot_pixel_photons`` their value (photons): the salt-and-pepper a hit finder must ignore.
SFX_DATASETS = {
    # LCLS CXI, CSPAD (32 sensors of 110 um pixels, ~1750 px across), lambda = 1.273 Å as in
    # the CSPAD frames of the shared data; a thin jet, moderate background, bright spots.
    "cxi-cspad": dict(
        photon_energy_kev=9.74,
        distance=0.10,
        pixel_size=1.5e-3,
        shape=(128, 128),
        beam_offset=(0.0, 0.0),
        panel_grid=(4, 4),
        gap_width=1,
        beam_stop_radius=2.0,
        background=0.3,
        water_ring=2.0,
        water_jitter=0.3,
        spot_photons=400.0,
        wilson_b=20.0,
        spot_sigma=0.7,
        min_spot_snr=6.0,
        max_spots=120,
        hot_pixels=0.3,
        hot_pixel_photons=40.0,
    ),
    # LCLS MFX, Rayonix MX340 (1920 px of 177 um, 124 mm away, lambda = 1.304 Å as in the
    # Rayonix frame of the shared data): one monolithic sensor, off-centre beam, a thick jet
    # (strong water ring) and more spots per hit.
    "mfx-rayonix": dict(
        photon_energy_kev=9.51,
        distance=0.124,
        pixel_size=2.66e-3,
        shape=(128, 128),
        beam_offset=(1.5, -2.0),
        panel_grid=(1, 1),
        gap_width=0,
        beam_stop_radius=3.0,
        background=1.0,
        water_ring=8.0,
        water_jitter=0.5,
        spot_photons=600.0,
        wilson_b=30.0,
        spot_sigma=0.6,
        min_spot_snr=5.0,
        max_spots=200,
        hot_pixels=0.2,
        hot_pixel_photons=80.0,
    ),
    # A softer beam on a tiled detector with 50 um pixels close to the sample (SACLA-style
    # MPCCD octal sensor, 8 panels): low background, faint and wider spots, few per hit.
    "sacla-mpccd": dict(
        photon_energy_kev=7.0,
        distance=0.05,
        pixel_size=0.94e-3,
        shape=(128, 128),
        beam_offset=(-1.0, 0.5),
        panel_grid=(4, 2),
        gap_width=2,
        beam_stop_radius=2.5,
        background=0.05,
        water_ring=1.0,
        water_jitter=0.3,
        spot_photons=150.0,
        wilson_b=15.0,
        spot_sigma=1.0,
        min_spot_snr=6.0,
        max_spots=60,
        hot_pixels=0.5,
        hot_pixel_photons=25.0,
    ),
}


def make_sfx_frames(
    n_frames=300,
    *,
    dataset="cxi-cspad",
    shape=None,
    class_weights=None,
    params=None,
    return_n_spots=False,
    random_state=None,
):
    """Simulate SFX detector frames labelled ``"hit"``, ``"maybe"`` or ``"miss"``.

    Parameters
    ----------
    n_frames : int, default=300
        Number of frames.
    dataset : str, default="cxi-cspad"
        A key of :data:`SFX_DATASETS` (``"cxi-cspad"``, ``"mfx-rayonix"``, ``"sacla-mpccd"``):
        the photon energy, detector geometry, background and sample. Frames of different
        presets differ as different experiments do, for cross-dataset tests.
    shape : tuple of int or None, default=None
        ``(H, W)`` of the frames; the preset's (128 x 128) by default. The pixel size is
        kept, so a larger shape sees further out in ``|q|``.
    class_weights : dict or None, default=None
        Relative frequency of each class, e.g. ``{"hit": 1, "maybe": 1, "miss": 8}`` for a
        realistic low hit rate; equal thirds by default. The number of frames per class is
        drawn from the multinomial distribution.
    params : dict or None, default=None
        Overrides of the preset's entries (see :data:`SFX_DATASETS` for names and units),
        e.g. ``{"background": 2.0}``.
    return_n_spots : bool, default=False
        Also return the number of Bragg spots of each frame.
    random_state : int, RandomState instance or None, default=None
        Seeds everything; the same value gives identical frames.

    Returns
    -------
    X : ndarray of shape (n_frames, H, W), float32
        Photon counts (0 in panel gaps and behind the beam stop).
    y : ndarray of shape (n_frames,), str
        ``"hit"`` (10 spots or more), ``"maybe"`` (4 to 9) or ``"miss"`` (0 to 3).
    n_spots : ndarray of shape (n_frames,), int64
        Only when ``return_n_spots`` is True.

    Raises
    ------
    ValueError
        For an unknown ``dataset``, class or parameter name, a negative weight or weights
        summing to zero, a shape smaller than 8 x 8, or a non-positive ``n_frames``.

    Notes
    -----
    The labelling rule is Ke et al., "A convolutional neural-network-based screening tool
    for X-ray serial crystallography", J. Synchrotron Rad. 25, 655 (2018), as described by
    Xie et al. (Sec. 3.1); the water ring position follows from ``|q| = 2 sin(theta) /
    lambda`` with ``tan(2 theta) = r / distance``. The images cost O(n H W): 1000 frames of
    128 x 128 take about a second.

    Examples
    --------
    >>> from skspeckle.simulation.sfx import make_sfx_frames
    >>> X, y = make_sfx_frames(6, dataset="mfx-rayonix", random_state=0)
    >>> X.shape, X.dtype
    ((6, 128, 128), dtype('float32'))
    >>> sorted(set(y)) <= ["hit", "maybe", "miss"]
    True
    """
    if dataset not in SFX_DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {sorted(SFX_DATASETS)}.")
    p = dict(SFX_DATASETS[dataset])
    unknown = sorted(set(params or {}) - set(p))
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {unknown} in params; the preset's parameters are {sorted(p)}."
        )
    p.update(params or {})
    if shape is not None:
        p["shape"] = shape
    h, w = (int(s) for s in p["shape"])
    if h < 8 or w < 8:
        raise ValueError(f"shape must be at least (8, 8); got {(h, w)}.")
    n_frames = int(n_frames)
    if n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer; got {n_frames}.")
    rng = check_random_state(random_state)

    y = _draw_labels(n_frames, class_weights, rng)
    n_spots = _draw_spot_counts(y, int(p["max_spots"]), rng)

    q, solid = _pixel_q(h, w, p)
    active = _active_pixels(h, w, p)
    ring = np.exp(-0.5 * ((q - WATER_RING_Q) / WATER_RING_WIDTH) ** 2)
    jitter = np.exp(
        p["water_jitter"] * rng.standard_normal(n_frames) - 0.5 * p["water_jitter"] ** 2
    )
    expected = solid * (p["background"] + p["water_ring"] * ring * jitter[:, None, None])
    expected = expected.astype(np.float64)
    _add_spots(expected, n_spots, q, active, p, rng)
    X = rng.poisson(expected).astype(np.float32)
    _add_hot_pixels(X, active, p, rng)
    X *= active
    return (X, y, n_spots) if return_n_spots else (X, y)


def _draw_labels(n_frames, class_weights, rng):
    if class_weights is None:
        class_weights = {c: 1.0 for c in SFX_CLASSES}
    unknown = sorted(set(class_weights) - set(SFX_CLASSES))
    if unknown:
        raise ValueError(
            f"Unknown class(es) {unknown} in class_weights; the classes are {list(SFX_CLASSES)}."
        )
    weights = np.array([float(class_weights.get(c, 0.0)) for c in SFX_CLASSES])
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"class_weights must be non-negative and not all zero; got {dict(class_weights)}."
        )
    counts = rng.multinomial(n_frames, weights / weights.sum())
    y = np.repeat(np.array(SFX_CLASSES), counts)
    return y[rng.permutation(n_frames)]


def _draw_spot_counts(y, max_spots, rng):
    if max_spots < 10:
        raise ValueError(
            f"max_spots must be at least 10 (a hit has 10 spots or more); got {max_spots}."
        )
    n = np.empty(len(y), dtype=np.int64)
    for label, (lo, hi) in _SPOT_RANGES.items():
        sel = y == label
        if hi is None:  # hits: log-uniform from 10 to max_spots, as real hits span decades
            n[sel] = np.floor(
                np.exp(rng.uniform(np.log(lo), np.log(max_spots + 1), sel.sum()))
            ).astype(np.int64)
        else:
            n[sel] = rng.randint(lo, hi + 1, sel.sum())
    return n


def _pixel_q(h, w, p):
    """``|q|`` (Å^-1) and the relative solid angle ``cos^3(2 theta)`` of every pixel."""
    cy = (h - 1) / 2 + p["beam_offset"][0]
    cx = (w - 1) / 2 + p["beam_offset"][1]
    rows, cols = np.mgrid[0:h, 0:w]
    r = p["pixel_size"] * np.hypot(rows - cy, cols - cx)
    two_theta = np.arctan2(r, p["distance"])
    q = 2 * np.sin(two_theta / 2) / wavelength(p["photon_energy_kev"])
    return q, np.cos(two_theta) ** 3


def _active_pixels(h, w, p):
    """1 for pixels that measure, 0 in the panel gaps and behind the beam stop."""
    active = np.ones((h, w), dtype=np.float32)
    gap = int(p["gap_width"])
    for axis, (n_panels, size) in enumerate(zip(p["panel_grid"], (h, w))):
        for k in range(1, int(n_panels)):
            start = round(k * size / n_panels) - gap // 2
            index = [slice(None), slice(None)]
            index[axis] = slice(max(start, 0), max(start, 0) + gap)
            active[tuple(index)] = 0
    cy = (h - 1) / 2 + p["beam_offset"][0]
    cx = (w - 1) / 2 + p["beam_offset"][1]
    rows, cols = np.mgrid[0:h, 0:w]
    active[np.hypot(rows - cy, cols - cx) <= p["beam_stop_radius"]] = 0
    return active


def _add_spots(expected, n_spots, q, active, p, rng):
    """Add pixel-integrated Gaussian spots to the expected photon counts, in place."""
    n_frames, h, w = expected.shape
    total = int(n_spots.sum())
    if total == 0:
        return
    sigma = float(p["spot_sigma"])
    # Spot centres on active pixels at least two pixels from any inactive one, so that the
    # whole spot is measured (a spot cut by a gap is not a countable spot).
    allowed = np.flatnonzero(minimum_filter(active, size=5, mode="constant", cval=0) > 0)
    if allowed.size == 0:
        raise ValueError(
            "No pixel of this detector can hold a spot (gaps and beam stop cover "
            "everything); use a larger shape or fewer panels."
        )
    frame = np.repeat(np.arange(n_frames), n_spots)
    centre = allowed[rng.randint(0, allowed.size, total)]
    cy = centre // w + rng.uniform(-0.5, 0.5, total)
    cx = centre % w + rng.uniform(-0.5, 0.5, total)

    radius = int(np.ceil(4 * sigma)) + 1
    d = np.arange(-radius, radius + 1)
    iy = np.round(cy).astype(np.int64)[:, None] + d  # (total, 2r+1)
    ix = np.round(cx).astype(np.int64)[:, None] + d
    wy = ndtr((iy + 0.5 - cy[:, None]) / sigma) - ndtr((iy - 0.5 - cy[:, None]) / sigma)
    wx = ndtr((ix + 0.5 - cx[:, None]) / sigma) - ndtr((ix - 0.5 - cx[:, None]) / sigma)
    weights = wy[:, :, None] * wx[:, None, :]  # fraction of the spot in each pixel

    # Floor: the brightest pixel stands min_spot_snr Poisson standard deviations above the
    # expected background there (+1 so that a spot on an empty background is still several
    # photons); excess: exponential with a Wilson fall-off.
    pix = (frame, np.round(cy).astype(np.int64), np.round(cx).astype(np.int64))
    background = expected[pix]
    peak_fraction = weights.reshape(total, -1).max(axis=1)
    floor = p["min_spot_snr"] * np.sqrt(background + 1.0) / peak_fraction
    mean_excess = p["spot_photons"] * np.exp(-0.5 * p["wilson_b"] * q[pix[1], pix[2]] ** 2)
    intensity = floor + rng.exponential(1.0, total) * mean_excess

    inside = ((iy >= 0) & (iy < h))[:, :, None] & ((ix >= 0) & (ix < w))[:, None, :]
    flat = (frame[:, None, None] * h + iy[:, :, None]) * w + ix[:, None, :]
    expected.reshape(-1)[:] += np.bincount(
        flat[inside], (weights * intensity[:, None, None])[inside], minlength=expected.size
    )


def _add_hot_pixels(X, active, p, rng):
    n_frames, h, w = X.shape
    counts = rng.poisson(p["hot_pixels"], n_frames)
    total = int(counts.sum())
    if total == 0:
        return
    frame = np.repeat(np.arange(n_frames), counts)
    pixel = rng.randint(0, h * w, total)
    X.reshape(n_frames, -1)[frame, pixel] += np.float32(p["hot_pixel_photons"])
