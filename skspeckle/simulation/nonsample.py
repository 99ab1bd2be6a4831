"""Parasitic scattering that is not the sample: droplets, clusters of grains and streaks.

Real "non-sample hits" in SPI come from whatever else the injector puts in the beam. Three kinds
are modelled. The first two are homogeneous spheres whose amplitude is analytic (Rayleigh 1911;
Guinier & Fournet 1955):

    F(q) = rho_e V 3 [sin(x) - x cos(x)] / x^3,  x = 2 pi |q| R,  V = 4/3 pi R^3,

with rho_e the electron density (e/Å^3) and |q| = 2 sin(theta) / lambda (Å^-1).

- A droplet of carrier buffer (water, 334 e/nm^3): concentric rings. A 100 nm droplet has ring
  spacing 1 / (2R) = 5e-4 Å^-1, finer than a 0.6 mm pixel at 1.66 keV (8e-4 Å^-1), so the
  intensity is integrated over each pixel: the pixel is cut into sub-pixels and over each
  sub-pixel the analytic ring intensity is averaged exactly over the distribution of |q| in
  it (through antiderivatives of I(|q|) tabulated 32 points per ring period). This cannot
  alias whatever the radius.
- A cluster of small dense grains (the dried salt residue of evaporated droplets, taken as NaCl,
  0.62 e/Å^3): amplitudes summed coherently with phases exp(-2 pi i q . t_j). Its speckle is
  ~1 / (cluster size) wide; each pixel is sampled by enough sub-pixels (three per fringe
  period) for its average to be accurate.

Streaks from the jet or from aperture edges are not modelled.
"""

import functools

import numpy as np
from scipy.special import j1

from skspeckle.detector import wavelength

__all__ = [
    "WATER_ELECTRON_DENSITY",
    "SALT_ELECTRON_DENSITY",
    "sphere_form_factor",
    "droplet_intensity",
    "cluster_intensity",
    "streak_intensity",
]

WATER_ELECTRON_DENSITY = 0.334  # e/Å^3: 10 electrons per 29.9 Å^3 molecule
SALT_ELECTRON_DENSITY = 0.62  # e/Å^3: NaCl, 4 x 28 electrons per (5.64 Å)^3 cell


def sphere_form_factor(q, radius):
    """Normalised amplitude of a homogeneous sphere, 1 at q = 0.

    Parameters
    ----------
    q : array-like of float
        ``|q|`` in Å^-1 (``2 sin(theta) / lambda``).
    radius : float
        Sphere radius in Å.

    Returns
    -------
    phi : ndarray of float (float32 for float32 q, else float64)
        ``3 [sin(x) - x cos(x)] / x^3`` with ``x = 2 pi q radius``; its square is the
        normalised intensity ``I(q) / I(0)``.
    """
    q = np.asarray(q)
    x = (2 * np.pi * radius) * (q if np.issubdtype(q.dtype, np.floating) else q.astype(float))
    small = x < 0.1
    xs = np.where(small, 1, x)
    # Below x = 0.1 the closed form loses digits to cancellation (badly in float32); the
    # series, whose next term is x^6 / 15120 < 1e-10, is exact there.
    return np.where(small, 1 - x**2 / 10 + x**4 / 280, 3 * (np.sin(xs) - xs * np.cos(xs)) / xs**3)


def _block_mean(a, s):
    h, w = a.shape[0] // s, a.shape[1] // s
    return a.reshape(h, s, w, s).mean(axis=(1, 3))


# The sub-pixel geometry depends only on the detector (hashed by identity), the energy and the
# sub-pixel count; caching it makes a pattern cost only its own physics.
@functools.lru_cache(maxsize=8)
def _radial_footprint(detector, photon_energy_kev, s):
    """How |q| spreads over each of the (H s, W s) sub-pixels: centre and two widths (Å^-1).

    Across a sub-pixel |q| is nearly linear in position, so its distribution over the area is
    the convolution of two boxes, of widths the changes of |q| along the two sides (a
    trapezoid). Near the beam centre |q| is a cone, not a plane; there a single box from the
    nearest corner (from 0 for the sub-pixel holding the centre) to the farthest is used.
    """
    h, w = detector.shape
    rows = np.arange(h * s + 1) / s - 0.5
    cols = np.arange(w * s + 1) / s - 0.5
    qc = np.linalg.norm(
        detector.q_vectors(photon_energy_kev, rows[:, None], cols[None, :]), axis=-1
    )
    q00, q10, q01, q11 = qc[:-1, :-1], qc[1:, :-1], qc[:-1, 1:], qc[1:, 1:]
    centre = (q00 + q10 + q01 + q11) / 4
    w1 = np.abs(q10 + q11 - q00 - q01) / 2
    w2 = np.abs(q01 + q11 - q00 - q10) / 2
    quad = np.stack([q00, q10, q01, q11])
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    r, c = (np.asarray(detector.beam_center) + 0.5) * s
    if 0 <= r < h * s and 0 <= c < w * s:
        lo[int(r), int(c)] = 0.0
    cone = centre < 2 * (w1 + w2)
    centre[cone] = (lo[cone] + hi[cone]) / 2
    w1[cone], w2[cone] = hi[cone] - lo[cone], 0.0
    return centre, np.maximum(w1, w2), np.minimum(w1, w2)


@functools.lru_cache(maxsize=8)
def _subpixel_q(detector, photon_energy_kev, s):
    """q-vectors (float32, (H s * W s, 3), Å^-1) at the centres of s x s sub-pixels."""
    h, w = detector.shape
    rows = (np.arange(h * s) + 0.5) / s - 0.5
    cols = (np.arange(w * s) + 0.5) / s - 0.5
    q = detector.q_vectors(photon_energy_kev, rows[:, None], cols[None, :]).reshape(-1, 3)
    return q.astype(np.float32), np.linalg.norm(q, axis=1).astype(np.float32)


def droplet_intensity(
    detector, photon_energy_kev, radius, *, electron_density=WATER_ELECTRON_DENSITY, subpixels=2
):
    """Pixel-averaged |F|^2 of a homogeneous sphere, free of aliasing of its rings.

    Each pixel is cut into ``subpixels x subpixels`` sub-pixels. Over each, |q| is taken as
    linear in position, so its distribution is a trapezoid (two convolved boxes of widths
    ``a >= b``) and the mean ring intensity is exact:
    ``[C2(c + (a+b)/2) - C2(c + (a-b)/2) - C2(c - (a-b)/2) + C2(c - (a+b)/2)] / (a b)``,
    with C2 the second antiderivative of I(|q|), tabulated 32 points per ring period.
    Rings of any spacing, even many per pixel, are averaged, never aliased.

    Parameters
    ----------
    detector : Detector
    photon_energy_kev : float
    radius : float
        Sphere radius in Å.
    electron_density : float, default=WATER_ELECTRON_DENSITY
        In e/Å^3.
    subpixels : int, default=2
        Sub-pixels per pixel side (they follow the curvature of the rings).

    Returns
    -------
    intensity : ndarray of float64 of shape (H, W)
        Mean of ``|F|^2`` over each pixel, in electrons^2.
    """
    s = int(subpixels)
    c, a, b = _radial_footprint(detector, float(photon_energy_kev), s)
    q_top = (c + a).max()
    n = int(np.ceil(q_top / min(1 / (2 * radius) / 32, q_top / 4096))) + 2
    step = q_top / (n - 2)
    q = np.arange(n) * step
    f0 = electron_density * 4 / 3 * np.pi * radius**3
    i_q = (f0 * sphere_form_factor(q, radius)) ** 2

    def antiderivative(y):
        return np.concatenate([[0.0], np.cumsum((y[1:] + y[:-1]) * (step / 2))])

    def lookup(x, table):  # linear interpolation on the uniform grid q, x in [0, q_top]
        t = x / step
        i = np.minimum(t.astype(np.intp), n - 2)
        return table[i] + (t - i) * (table[i + 1] - table[i])

    c1 = antiderivative(i_q)
    c2 = antiderivative(c1)
    mean = lookup(c, i_q)  # sub-pixels whose |q| barely varies
    # b << a: a single box (the trapezoid formula would cancel catastrophically).
    box = (a > 1e-12) & (b <= 1e-2 * a)
    cb, ab = c[box], a[box]
    mean[box] = (lookup(cb + ab / 2, c1) - lookup(cb - ab / 2, c1)) / ab
    trap = b > 1e-2 * a
    ct, wide, narrow = c[trap], a[trap], b[trap]
    mean[trap] = (
        lookup(ct + (wide + narrow) / 2, c2)
        - lookup(ct + (wide - narrow) / 2, c2)
        - lookup(ct - (wide - narrow) / 2, c2)
        + lookup(ct - (wide + narrow) / 2, c2)
    ) / (wide * narrow)
    return _block_mean(mean, s)


def cluster_intensity(
    detector,
    photon_energy_kev,
    centers,
    radii,
    *,
    electron_density=SALT_ELECTRON_DENSITY,
    max_subpixels=6,
):
    """Pixel-averaged |F|^2 of a cluster of homogeneous spheres, summed coherently.

    ``F(q) = sum_j rho_e V_j phi(q, R_j) exp(-2 pi i q . t_j)``, averaged over
    ``s x s`` sub-pixels with ``s = ceil(3 * extent * dq_pixel)``: three samples per period
    1 / extent of the finest fringes (``dq_pixel`` is the q-step of a pixel at the beam
    centre, the largest), which keeps the pixel averages within ~3 % of the exact ones.
    Computed in float32 (phases of up to ~1e3 rad keep 1e-4 rad precision).

    Parameters
    ----------
    detector : Detector
    photon_energy_kev : float
    centers : array-like of float of shape (k, 3)
        Sphere centres in Å (lab frame).
    radii : array-like of float of shape (k,)
        Sphere radii in Å.
    electron_density : float, default=SALT_ELECTRON_DENSITY
        In e/Å^3.
    max_subpixels : int, default=6
        Upper bound on ``s`` (the cost grows as s^2).

    Returns
    -------
    intensity : ndarray of float64 of shape (H, W)
        Mean of ``|F|^2`` over each pixel, in electrons^2.
    """
    centers = np.asarray(centers, dtype=np.float64)
    radii = np.asarray(radii, dtype=np.float64)
    h, w = detector.shape
    extent = 2 * np.max(np.linalg.norm(centers - centers.mean(axis=0), axis=1) + radii)
    # q-step of one pixel at the beam centre, in 1/Å (wavelength in Å, lengths in m).
    dq_pixel = detector.pixel_size / (wavelength(photon_energy_kev) * detector.distance)
    s = int(np.clip(np.ceil(3 * extent * dq_pixel), 1, max_subpixels))
    q, q_abs = _subpixel_q(detector, float(photon_energy_kev), s)
    re = np.zeros(len(q), dtype=np.float32)
    im = np.zeros(len(q), dtype=np.float32)
    for t, radius in zip(centers.astype(np.float32), radii):
        f = np.float32(electron_density * 4 / 3 * np.pi * radius**3) * sphere_form_factor(
            q_abs, np.float32(radius)
        )
        phase = np.float32(-2 * np.pi) * (q @ t)
        re += f * np.cos(phase)
        im += f * np.sin(phase)
    return _block_mean((re.astype(np.float64) ** 2 + im**2).reshape(h * s, w * s), s)


@functools.lru_cache(maxsize=8)
def _pixel_q_steps(detector, photon_energy_kev):
    """q at the pixel centres and its change across a pixel along rows and columns (Å^-1)."""
    h, w = detector.shape
    rows, cols = np.arange(h, dtype=float)[:, None], np.arange(w, dtype=float)[None, :]
    q = detector.q_vectors(photon_energy_kev, rows, cols)
    d_row = detector.q_vectors(photon_energy_kev, rows + 0.5, cols) - detector.q_vectors(
        photon_energy_kev, rows - 0.5, cols
    )
    d_col = detector.q_vectors(photon_energy_kev, rows, cols + 0.5) - detector.q_vectors(
        photon_energy_kev, rows, cols - 0.5
    )
    return q, d_row, d_col


def streak_intensity(
    detector,
    photon_energy_kev,
    radius,
    length,
    direction,
    *,
    electron_density=SALT_ELECTRON_DENSITY,
):
    """Pixel-averaged |F|^2 of a thin cylinder crossing the beam: a streak through the centre.

    ``|F|^2 = (rho_e pi a^2 l)^2 [2 J1(x) / x]^2 sinc^2(q_par l)``, ``x = 2 pi q_perp a``. The
    sinc^2 sheet is narrower than a pixel, so its pixel mean is ``(1 / l) p(q_par)``, with p
    the density of ``q . u`` over the pixel at 0: the convolution of two boxes of widths the
    changes ``|dq . u|`` across the pixel along rows and columns. The rod factor is taken at
    the pixel centre (its fringes, of period ``1 / (2 a)``, span several pixels for
    ``a`` up to ~200 Å on the default detectors).

    Parameters
    ----------
    detector : Detector
    photon_energy_kev : float
    radius : float
        Cylinder radius a in Å.
    length : float
        Illuminated length l in Å (the beam diameter for a rod longer than the focus); the
        approximation needs ``1 / l`` well below a pixel's q-step.
    direction : array-like of float of shape (3,)
        Cylinder axis u in the lab frame (normalised here); the streak runs perpendicular to
        its projection on the detector.
    electron_density : float, default=SALT_ELECTRON_DENSITY
        In e/Å^3.

    Returns
    -------
    intensity : ndarray of float64 of shape (H, W)
        Mean of ``|F|^2`` over each pixel, in electrons^2.

    Raises
    ------
    ValueError
        If ``direction`` is not a non-zero 3-vector or ``radius`` / ``length`` are not positive.
    """
    u = np.asarray(direction, dtype=np.float64)
    if u.shape != (3,) or not np.isfinite(u).all() or not np.linalg.norm(u) > 0:
        raise ValueError(f"direction must be a non-zero 3-vector, got {direction!r}.")
    if not (radius > 0 and length > 0):
        raise ValueError(
            f"radius and length must be positive numbers of Å, got {radius!r} and {length!r}."
        )
    u = u / np.linalg.norm(u)
    q, d_row, d_col = _pixel_q_steps(detector, float(photon_energy_kev))
    q_par = q @ u
    q_perp = np.linalg.norm(q - q_par[..., None] * u, axis=-1)
    x = 2 * np.pi * radius * q_perp
    xs = np.where(x < 1e-6, 1.0, x)
    rod = np.where(x < 1e-6, 1.0, 2 * j1(xs) / xs)
    wide = np.maximum(np.abs(d_row @ u), np.abs(d_col @ u))
    narrow = np.minimum(np.abs(d_row @ u), np.abs(d_col @ u))
    # Density at 0 of (box of width wide) * (box of width narrow), centred on q_par.
    d = np.abs(q_par)
    flat = d <= (wide - narrow) / 2
    density = np.where(
        flat,
        1 / np.maximum(wide, 1e-300),
        np.clip((wide + narrow) / 2 - d, 0, None) / np.maximum(wide * narrow, 1e-300),
    )
    f0 = electron_density * np.pi * radius**2 * length
    return f0**2 * rod**2 * density / length
