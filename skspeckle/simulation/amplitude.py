"""The 3-D Fourier amplitude F(q) of a particle, sampled on a reciprocal-space grid.

Kinematic (first Born) scattering: the far-field amplitude is the Fourier transform of the
electron density, ``F(q) = integral rho(r) exp(-2 pi i q . r) d^3 r`` in electrons, with
``|q| = 2 sin(theta) / lambda`` in Å^-1 (Als-Nielsen & McMorrow, Elements of Modern X-ray
Physics, 2nd ed., Ch. 4). Every diffraction pattern of the particle is a slice of this one
3-D function through the Ewald sphere, so it is computed once per particle (and cached on
disk) and then sampled for each orientation.

The density is built with gemmi from the atoms' International Tables (IT92) form factors, each
atom widened by a common Gaussian blur B so that a coarse grid samples it without aliasing; the
blur is undone in reciprocal space by the factor ``exp(B |q|^2 / 4)`` (the scheme of gemmi's
DensityCalculator and of Refmac). Dispersion corrections f', f'' are neglected: at 1.66 keV
C, N, O (K edges < 0.55 keV) and P, S (2.15 and 2.47 keV) are far from resonance, and the few
metal ions near an edge (Mg K 1.30 keV, Zn L 1.0-1.2 keV) hold a negligible share of the
electrons. The FFT is scipy.fft's.

Slices are interpolated trilinearly: 8 grid points per sample instead of the quadratic
spline's 27, gathered in cache-sized blocks, about three times faster than
scipy.ndimage.map_coordinates (order 2; timings in docs/results.md). On the grid the FFT gives
(the particle's box, hence F, sampled 4x finer than the speckle) trilinear interpolation would
err by up to ~8 % of the intensity, so that grid is first refined 2x: the quadratic B-spline
through the FFT samples is evaluated at the half-integer points, which is separable and exact
for the spline (values at ``k + 1/2`` are the means of the neighbouring spline coefficients).
Trilinear interpolation between those points would still lose ~1 % of the intensity on
average (it is a convolution with a tent, which damps the outer parts of the particle), so the
density is divided by the tent's Fourier transform before the FFT (:func:`_trilinear_correction`),
at no cost. Against a direct sum over the atoms (benchmarks/tools/simulator_accuracy.py,
1n7g, 172 x 172 detector; docs/results.md, "Simulator corrections") the total intensity is
then within 0.1 % (was -0.9 %), every q shell within 0.2 % (was -1.4 %), and single pixels
within -1.0 % / +1.0 % (5th / 95th percentile; was -2.9 % / +0.4 %): the interpolation is
exact on average over a cell and overshoots at the grid nodes (+1.2 % at q = 0). Finer
oversampling reaches the same only at 8x (7x the memory of the refined grid, which at 4x is
already 0.7 GB for 3jb9 over the full q range of the 172 x 172 detector).
"""

import os
from pathlib import Path

import gemmi
import numpy as np
import scipy.fft
from joblib import Memory
from scipy import ndimage

__all__ = ["FourierAmplitude", "default_cache_dir"]

# Real-space grid step as a fraction of the finest resolution 1 / q_max: gemmi's default
# oversampling (rate 1.5 -> spacing d_min / 3); comfortably finer than the Nyquist 1 / 2.
_SPACING_FRACTION = 1 / 3
# Grid points kept beyond q_max on each side: the quadratic-spline prefilter is computed on the
# cropped cube, and its boundary error decays by 0.17 per point (the spline's pole).
_MARGIN = 4
# Quadratic B-spline: interpolation error of a sphere's intensity < 0.2 % of I(0) at 4x
# oversampling, where trilinear interpolation errs by ~8 % (measured on the analytic sphere
# amplitude of tests/simulation/test_amplitude.py); used to refine the grid 2x.
_SPLINE_ORDER = 2
# Samples per trilinear gather block: the (block, 8) temporaries stay in the CPU cache, ~1.1x
# faster than whole-array operations on 2e6 samples (measured on the 2-core test machine).
_BLOCK = 8192


def default_cache_dir():
    """Where simulated Fourier amplitudes are cached by default.

    Returns
    -------
    path : pathlib.Path
        ``$SKSPECKLE_CACHE_DIR`` if set, else ``~/.cache/skspeckle``.
    """
    env = os.environ.get("SKSPECKLE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "skspeckle"


def _memory(cache_dir):
    if cache_dir is False:
        return Memory(None, verbose=0)
    location = default_cache_dir() if cache_dir is None else Path(cache_dir)
    return Memory(location, verbose=0)


def _density_on_grid(positions, atomic_numbers, b_factors, spacing, n, blur):
    """Electron density (e/Å^3, float32, shape (n, n, n)) of atoms in a periodic cubic box.

    Voxel (0, 0, 0) sits at the origin; atoms at negative coordinates wrap around, which is
    what the discrete Fourier transform assumes. Atom j is its IT92 form factor times
    ``exp(-(B_j + blur) |q|^2 / 4)``.
    """
    box = n * spacing
    calc = gemmi.DensityCalculatorX()
    calc.grid.unit_cell = gemmi.UnitCell(box, box, box, 90, 90, 90)
    calc.grid.spacegroup = gemmi.SpaceGroup("P 1")
    calc.grid.set_size(n, n, n)
    calc.d_min = 0.0  # keep the grid size set above
    calc.blur = blur
    # gemmi cuts each atom off where its density falls below an absolute level; set it 1e-6 of
    # the peak of a blurred carbon so that no measurable charge is lost (its default 1e-5
    # e/Å^3 would drop ~2 % of the electrons of these broad Gaussians).
    calc.cutoff = 1e-6 * 6.0 * (4 * np.pi / blur) ** 1.5
    calc.initialize_grid()
    atom = gemmi.Atom()
    elements = {z: gemmi.Element(z) for z in np.unique(atomic_numbers).tolist()}
    # gemmi.Atom() starts with b_iso = 20 Å^2, which would damp every atom by
    # exp(-20 |q|^2 / 4): B is always set explicitly.
    for xyz, z, b in zip(positions.tolist(), atomic_numbers.tolist(), b_factors.tolist()):
        atom.pos = gemmi.Position(*xyz)
        atom.element = elements[z]
        atom.b_iso = b
        calc.add_atom_density_to_grid(atom)
    return np.array(calc.grid, copy=True)


def _trilinear_correction(n):
    """Per-axis weights ``1 / sinc^2(x / (2 box))`` of the grid positions x of an n-point box.

    Trilinear interpolation on the 2x-refined grid (step ``1 / (2 box)`` in q) is a
    convolution with a tent, whose Fourier transform multiplies the density at x by
    ``sinc^2(x / (2 box))`` per axis (np.sinc(t) = sin(pi t) / (pi t)): up to 2.5 % of the
    amplitude at the edge of a particle filling a quarter of the box. Dividing the density by
    it first makes the interpolated F exact on average over a grid cell (the deapodisation of
    gridding methods: Jackson et al., IEEE Trans. Med. Imaging 10, 473 (1991), Sec. II).
    """
    x = np.fft.fftfreq(n)  # position / box, in [-1/2, 1/2)
    return (1 / np.sinc(x / 2) ** 2).astype(np.float32)


def _amplitude_cube(density, spacing, blur, half_width):
    """FFT of a periodic density, corrected for the trilinear interpolation of
    :class:`FourierAmplitude`, de-blurred, cropped to |k_i| <= half_width (complex64)."""
    n = density.shape[0]
    w = _trilinear_correction(n)
    density = density * w[:, None, None]  # a new array: the caller's density is kept
    density *= w[None, :, None]
    density *= w[None, None, :]
    f = scipy.fft.fftn(density, workers=1)
    idx = np.arange(-half_width, half_width + 1) % n
    cube = f[np.ix_(idx, idx, idx)].astype(np.complex128)
    k = np.arange(-half_width, half_width + 1) / (n * spacing)
    k2 = k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2
    cube *= spacing**3 * np.exp(blur * k2 / 4)
    return cube.astype(np.complex64)


def _structure_cube(positions, atomic_numbers, b_factors, spacing, n, blur, half_width):
    # The unit of caching: joblib keys it on the atoms and the grid parameters.
    density = _density_on_grid(positions, atomic_numbers, b_factors, spacing, n, blur)
    return _amplitude_cube(density, spacing, blur, half_width)


def _refine_axis(c, axis):
    """Quadratic B-spline of coefficients ``c`` at integer and half-integer points of ``axis``.

    At integer positions the spline is ``(c[k-1] + 6 c[k] + c[k+1]) / 8`` and at half-integer
    ones ``(c[k] + c[k+1]) / 2`` (the B-spline's values at 0, +-1 and +-1/2). The end
    coefficients only serve as neighbours: L coefficients give ``2 L - 5`` samples, from
    position 1 to L - 2.
    """
    c = np.moveaxis(c, axis, 0)
    out = np.empty((2 * len(c) - 5, *c.shape[1:]), dtype=np.complex64)
    _at_node(c[:-2], c[1:-1], c[2:], out[0::2])
    _at_midpoint(c[1:-2], c[2:-1], out[1::2])
    return np.moveaxis(out, 0, axis)


def _at_node(prev, cur, nxt, out):
    # (prev + 6 cur + nxt) / 8, in place: no temporaries.
    np.multiply(cur, np.float32(6), out=out)
    out += prev
    out += nxt
    out *= np.float32(1 / 8)


def _at_midpoint(cur, nxt, out):
    np.add(cur, nxt, out=out)
    out *= np.float32(1 / 2)


def _refine(coef):
    """The quadratic B-spline of 3-D coefficients on a grid 2x finer (complex64).

    Plane by plane (each refined along its two axes while it sits in the CPU cache), then
    combined along the first axis straight into the output.
    """
    n = coef.shape[0]
    out = np.empty((2 * n - 5,) * 3, dtype=np.complex64)

    def plane(k):
        return _refine_axis(_refine_axis(coef[k], 0), 1)

    prev, cur, nxt = plane(0), plane(1), plane(2)
    for k in range(1, n - 1):
        _at_node(prev, cur, nxt, out[2 * k - 2])
        if k < n - 2:
            _at_midpoint(cur, nxt, out[2 * k - 1])
            prev, cur, nxt = cur, nxt, plane(k + 2)
    return out


class FourierAmplitude:
    """Complex Fourier amplitude F(q) of a particle on a cube of reciprocal-space samples.

    Build it with :meth:`from_structure` or :meth:`from_density`; evaluate it anywhere inside
    the sampled ball with :meth:`sample` (trilinear interpolation of the real and imaginary
    parts on the grid refined 2x by the quadratic B-spline through ``values``; see the module
    docstring).

    Parameters
    ----------
    values : ndarray of complex of shape (2K + 1, 2K + 1, 2K + 1)
        ``F`` in electrons at ``q = (i - K, j - K, l - K) * q_spacing``, the samples that are
        interpolated. :meth:`from_density` and :meth:`from_structure` store the transform of
        the density divided by the interpolation kernel's (see the module docstring), so that
        :meth:`sample` is exact on average over a grid cell.
    q_spacing : float
        Reciprocal-grid step in Å^-1, ``1 / box`` for a real-space box of side ``box`` Å.

    Attributes
    ----------
    values : ndarray of complex64
        As given, read-only.
    q_spacing : float
    q_max : float
        Largest ``|q|`` (Å^-1) that :meth:`sample` accepts, ``(K - 4) * q_spacing``.

    Raises
    ------
    ValueError
        If ``values`` is not an odd-sided cube of at least 11 points a side.
    """

    def __init__(self, values, q_spacing):
        values = np.asarray(values, dtype=np.complex64)
        if (
            values.ndim != 3
            or len(set(values.shape)) != 1
            or values.shape[0] % 2 == 0
            or values.shape[0] < 2 * _MARGIN + 3
        ):
            raise ValueError(
                f"values must be an odd-sided cube of >= {2 * _MARGIN + 3} points, "
                f"got shape {values.shape}."
            )
        values.flags.writeable = False
        self.values = values
        self.q_spacing = float(q_spacing)
        self._half_width = values.shape[0] // 2
        self.q_max = (self._half_width - _MARGIN) * self.q_spacing
        fine = _refine(ndimage.spline_filter(values, order=_SPLINE_ORDER, output=np.complex64))
        self._fine = fine.ravel()
        m = fine.shape[0]
        self._fine_size = m
        # Flat offsets of the 8 corners of a grid cell, in (z, y, x) bit order.
        self._corners = np.array(
            [a * m * m + b * m + c for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=np.intp
        )

    @classmethod
    def from_density(cls, density, spacing, *, q_max, blur=0.0):
        """Fourier amplitude of an electron density sampled on a periodic cubic grid.

        Parameters
        ----------
        density : array-like of float of shape (n, n, n)
            Electron density in e/Å^3 on a grid of step ``spacing``; voxel ``(0, 0, 0)`` is at
            the origin and the grid is periodic (negative coordinates wrap to the end).
        spacing : float
            Real-space grid step in Å; must be <= ``1 / (2 q_max)`` (Nyquist).
        q_max : float
            Largest ``|q|`` to be sampled later, in Å^-1.
        blur : float, default=0.0
            Gaussian blur B (Å^2) already applied to the density, i.e. the density is the true
            one convolved with a Gaussian of variance ``B / (8 pi^2)`` per axis; it is undone
            by multiplying F by ``exp(B |q|^2 / 4)``.

        Returns
        -------
        amplitude : FourierAmplitude
            ``F(q) = sum_r density(r) exp(-2 pi i q . r) spacing^3`` in electrons (its
            ``values``: of the density corrected for the interpolation kernel).

        Raises
        ------
        ValueError
            If the grid is too coarse or too small for ``q_max``.
        """
        density = np.asarray(density, dtype=np.float32)
        spacing, q_max = float(spacing), float(q_max)
        n = density.shape[0]
        if density.ndim != 3 or len(set(density.shape)) != 1:
            raise ValueError(f"density must be a cubic (n, n, n) grid, got {density.shape}.")
        if spacing > 1 / (2 * q_max):
            raise ValueError(
                f"spacing {spacing:g} Å cannot represent q up to {q_max:g} Å^-1; "
                f"use a grid step <= 1 / (2 q_max) = {1 / (2 * q_max):g} Å."
            )
        half_width = int(np.ceil(q_max * n * spacing)) + _MARGIN
        if 2 * half_width + 1 > n:
            raise ValueError(
                f"a {n}^3 grid is too small to sample q up to {q_max:g} Å^-1 "
                "with an interpolation margin; use a finer spacing or more points."
            )
        return cls(_amplitude_cube(density, spacing, float(blur), half_width), 1 / (n * spacing))

    @classmethod
    def from_structure(cls, structure, q_max, *, oversampling=4.0, cache_dir=None):
        """Fourier amplitude of a structure's atoms, computed once and cached on disk.

        Grid: real-space step ``d = 1 / (3 q_max)``; cubic box of side
        ``>= oversampling * 2 * max_radius`` (so F is sampled ``oversampling`` times finer
        than the speckle size ~1 / D); Gaussian blur ``B = 8 pi^2 d^2 / 1.1`` (gemmi's
        Refmac-compatible choice, an atom width of about one grid step), undone after the FFT.
        The result is cached with :class:`joblib.Memory`, keyed on the atom positions and
        atomic numbers and on the grid parameters.

        Parameters
        ----------
        structure : Structure
            The particle (see :func:`load_structure`).
        q_max : float
            Largest ``|q|`` to be sampled, in Å^-1 (e.g. the detector's largest).
        oversampling : float, default=4.0
            Box side over the particle's bounding diameter, >= 2.
        cache_dir : str or os.PathLike or None or False, default=None
            Cache folder; None means :func:`default_cache_dir`, False disables caching.

        Returns
        -------
        amplitude : FourierAmplitude

        Raises
        ------
        ValueError
            If ``q_max`` or ``oversampling`` are out of range.
        """
        q_max = float(q_max)
        if not np.isfinite(q_max) or q_max <= 0:
            raise ValueError(f"q_max must be a positive number of Å^-1, got {q_max!r}.")
        if not oversampling >= 2:
            raise ValueError(
                f"oversampling must be >= 2 (Nyquist for |F|^2), got {oversampling!r}."
            )
        spacing = _SPACING_FRACTION / q_max
        n_min = 3 * (2 * _MARGIN + 3)  # so that the cropped cube fits in the grid
        n = scipy.fft.next_fast_len(
            max(int(np.ceil(oversampling * 2 * structure.max_radius / spacing)), n_min)
        )
        blur = 8 * np.pi**2 / 1.1 * spacing**2
        half_width = int(np.ceil(q_max * n * spacing)) + _MARGIN
        compute = _memory(cache_dir).cache(_structure_cube)
        cube = compute(
            np.ascontiguousarray(structure.positions),
            np.ascontiguousarray(structure.atomic_numbers),
            np.ascontiguousarray(structure.b_factors),
            spacing,
            n,
            blur,
            half_width,
        )
        return cls(cube, 1 / (n * spacing))

    def sample(self, q):
        """Interpolate F at momentum transfers q.

        Parameters
        ----------
        q : array-like of float of shape (..., 3)
            Momentum transfer vectors in Å^-1, in the particle's frame.

        Returns
        -------
        f : ndarray of complex64 of shape (...)
            Amplitude in electrons.

        Raises
        ------
        ValueError
            If some component of q lies beyond the sampled cube (about ``q_max``).
        """
        q = np.asarray(q, dtype=np.float64)
        steps = (2 / self.q_spacing * q.reshape(-1, 3)).astype(np.float32)
        return self._interpolate(steps).reshape(q.shape[:-1])

    def slices(self, q, rotations):
        """F on the same lab-frame q-vectors for several particle orientations.

        A particle rotated by R (its atoms moved from r to R r) has amplitude
        ``F_R(q) = F(R^T q)``.

        Parameters
        ----------
        q : array-like of float of shape (..., 3)
            Lab-frame momentum transfers in Å^-1 (e.g. ``Detector.q_vectors``).
        rotations : array-like of float of shape (m, 3, 3)
            Rotation matrices of the particle.

        Returns
        -------
        f : ndarray of complex64 of shape (m, ...)
            Amplitude in electrons, one slice per rotation.

        Raises
        ------
        ValueError
            If ``rotations`` is not of shape (m, 3, 3), or some rotated q lies beyond the
            sampled cube (about ``q_max``).
        """
        q = np.asarray(q, dtype=np.float64)
        rotations = np.asarray(rotations, dtype=np.float64)
        if rotations.ndim != 3 or rotations.shape[1:] != (3, 3):
            raise ValueError(f"rotations must have shape (m, 3, 3), got {rotations.shape}.")
        # Fine-grid coordinates of R^T q: (R^T q)_l = sum_k q_k R_kl, i.e. the row vector q R.
        steps = (2 / self.q_spacing * q.reshape(-1, 3)).astype(np.float32)
        points = (steps @ rotations.astype(np.float32)).reshape(-1, 3)
        return self._interpolate(points).reshape(len(rotations), *q.shape[:-1])

    def _interpolate(self, points):
        """F at ``points`` (float32, (N, 3)), given in fine-grid steps from q = 0."""
        # The fine grid starts at coarse index 1 (the spline needs a neighbour on each side).
        points = points + np.float32(2 * (self._half_width - 1))
        lo, hi = 2 * (_MARGIN - 2), 2 * (2 * self._half_width - _MARGIN)
        if points.size and (points.min() < lo or points.max() > hi):
            raise ValueError(
                f"q reaches beyond the sampled range |q_i| <= {self.q_max:.4g} "
                "Å^-1; build the amplitude with a larger q_max."
            )
        m = self._fine_size
        out = np.empty(len(points), dtype=np.complex64)
        for start in range(0, len(points), _BLOCK):
            p = points[start : start + _BLOCK]
            corner = np.floor(p)
            f = p - corner  # float32: a float64 weight would make every product complex128
            i = corner.astype(np.intp)
            v = np.take(
                self._fine, (i[:, 0] * (m * m) + i[:, 1] * m + i[:, 2])[:, None] + self._corners
            )
            v = v[:, 0::2] + (v[:, 1::2] - v[:, 0::2]) * f[:, 2:3]  # along x
            v = v[:, 0::2] + (v[:, 1::2] - v[:, 0::2]) * f[:, 1:2]  # along y
            out[start : start + _BLOCK] = v[:, 0] + (v[:, 1] - v[:, 0]) * f[:, 0]  # along z
        return out

    def __repr__(self):
        return (
            f"FourierAmplitude(grid={self.values.shape[0]}^3, "
            f"q_spacing={self.q_spacing:.3g} Å^-1, q_max={self.q_max:.3g} Å^-1)"
        )
