"""Flat pixel-detector geometry: momentum transfer, solid angle and polarisation per pixel.

Lab frame: the beam travels along +z and hits the detector plane z = ``distance`` at the beam
centre; x runs along detector columns (horizontal), y along rows (vertical). Momentum transfer
uses the crystallographic convention ``q = k_out - k_in`` with ``|k| = 1 / lambda``, so
``|q| = 2 sin(theta) / lambda`` in Å^-1, 2 theta being the scattering angle (no factor 2 pi).
"""

from dataclasses import dataclass

import numpy as np

from skspeckle.datasets._pr772 import bundled_array

__all__ = ["Detector", "PNCCD_BACK_DISTANCE", "wavelength"]

# h c in keV Å (CODATA 2018): lambda[Å] = 12.398... / E[keV].
_HC_KEV_ANGSTROM = 12.398419843320026
#: Distance in metres of the back pnCCD in the LCLS AMO PR772 experiment (Detector.pnccd_back).
PNCCD_BACK_DISTANCE = 0.586


def wavelength(photon_energy_kev):
    """X-ray wavelength in Å for a photon energy in keV.

    Parameters
    ----------
    photon_energy_kev : float
        Photon energy in keV, > 0.

    Returns
    -------
    wavelength : float
        ``h c / E`` in Å (1.66 keV -> 7.469 Å).

    Raises
    ------
    ValueError
        If the energy is not a finite positive number.
    """
    energy = float(photon_energy_kev)
    if not np.isfinite(energy) or energy <= 0:
        raise ValueError(
            f"photon_energy_kev must be a finite positive number of keV, got {photon_energy_kev!r}"
            " (the SpeckleNN simulation uses 1.66)."
        )
    return _HC_KEV_ANGSTROM / energy


@dataclass(frozen=True, eq=False)
class Detector:
    """Geometry of a flat detector perpendicular to the beam.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` pixels.
    pixel_size : float
        Side of a square pixel in metres.
    distance : float
        Sample-to-detector distance in metres.
    beam_center : tuple of float or None, default=None
        ``(row, col)`` where the direct beam hits, in pixel-index coordinates (pixel ``(i, j)``
        has its centre at ``(i, j)``). None means the middle of the array,
        ``((H - 1) / 2, (W - 1) / 2)``.
    mask : array-like of bool of shape (H, W) or None, default=None
        True for good pixels, False for pixels that record nothing (beam stop, gaps between
        panels, dead pixels). None means all pixels are good. Stored read-only.

    Raises
    ------
    ValueError
        If a value has the wrong shape, sign or type.

    See Also
    --------
    Detector.speckle_nn : the geometry of the SpeckleNN simulations.
    Detector.pnccd_back : the geometry of the bundled real PR772 frames.
    """

    shape: tuple
    pixel_size: float
    distance: float
    beam_center: tuple = None
    mask: np.ndarray = None

    def __post_init__(self):
        shape = tuple(int(s) for s in np.atleast_1d(self.shape))
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"shape must be (H, W) with H, W >= 1 pixels, got {self.shape!r}.")
        for name in ("pixel_size", "distance"):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value <= 0:
                raise ValueError(
                    f"{name} must be a positive number of metres, got {getattr(self, name)!r}."
                )
            object.__setattr__(self, name, value)
        if self.beam_center is None:
            center = ((shape[0] - 1) / 2, (shape[1] - 1) / 2)
        else:
            center = tuple(float(c) for c in self.beam_center)
            if len(center) != 2 or not np.isfinite(center).all():
                raise ValueError(
                    f"beam_center must be (row, col) in pixels, got {self.beam_center!r}."
                )
        if self.mask is None:
            mask = np.ones(shape, dtype=bool)
        else:
            mask = np.asarray(self.mask)
            if mask.shape != shape or mask.dtype != bool:
                raise ValueError(
                    f"mask must be a boolean array of shape {shape} (True = good "
                    f"pixel), got {mask.dtype} of shape {mask.shape}."
                )
            mask = mask.copy()
        mask.flags.writeable = False
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "beam_center", center)
        object.__setattr__(self, "mask", mask)

    @classmethod
    def speckle_nn(cls, pixel_size=6e-4):
        """The 172 x 172 detector of the SpeckleNN simulations (Wang et al., Sec. IV.A.1).

        The paper gives a square 172 x 172 detector at 0.1 m, with a 6 x 8 pixel beam stop at
        the centre and a 172 x 4 pixel gap across the middle; here the beam stop is 6 rows by
        8 columns and the gap is horizontal (4 full rows, as between the two pnCCD panels at
        LCLS AMO). Both are False in ``mask``.

        The paper does not give the pixel size. 0.6 mm is chosen so that, at 1.66 keV
        (lambda = 7.47 Å), the default 96 x 96 centre crop binned 2 x 2 still samples the
        speckle of the largest particles of 1e4-1e5 atoms (diameters 110-300 Å) at the
        Nyquist rate while reaching out far enough to show several fringes:

        - one pixel spans ``pixel_size / (lambda * distance)`` = 8.0e-4 Å^-1 near the centre,
          a 2 x 2 binned pixel 1.6e-3 Å^-1;
        - a particle of diameter D has fringes (speckles) of period about 1 / D, and its
          central maximum has its first zero at about 1.43 / D (a sphere's). For D = 300 Å
          (the largest bundled particle) the period is 3.3e-3 Å^-1, 2.1 binned pixels:
          oversampling ratio ``1 / (D dq)`` = 2.1, just above the Nyquist limit of 2; the
          first zero is 3 binned pixels out. For D = 110 Å (the smallest) these are 5.7 and
          8 binned pixels;
        - the crop edge (47.5 pixels from the centre, 2 theta = 15.9 deg) is at
          |q| = 0.037 Å^-1 and its corners at 0.051 Å^-1, i.e. q * D = 4 to 11 fringes
          from the centre to the edge (half-period resolution 13.5 Å there).

        A larger pixel would under-sample the 300 Å particles after binning; a smaller one
        would show fewer fringes in the crop.

        Parameters
        ----------
        pixel_size : float, default=6e-4
            Pixel side in metres.

        Returns
        -------
        detector : Detector
            Shape (172, 172), distance 0.1 m, beam centre at (85.5, 85.5).
        """
        n = 172
        mask = np.ones((n, n), dtype=bool)
        mask[n // 2 - 3 : n // 2 + 3, n // 2 - 4 : n // 2 + 4] = False  # beam stop, 6 x 8
        mask[n // 2 - 2 : n // 2 + 2, :] = False  # gap, 4 x 172
        return cls((n, n), pixel_size=pixel_size, distance=0.1, mask=mask)

    @classmethod
    def pnccd_back(cls, distance=PNCCD_BACK_DISTANCE):
        """The back pnCCD of the LCLS AMO PR772 experiment, 4 x 4 binned: 260 x 257 pixels.

        The geometry of the bundled real frames
        (:func:`~skspeckle.datasets._pr772.load_pr772_frames`): 0.3 mm pixels (4 x 75 um),
        0.586 m from the interaction point, for 1.6 keV photons, as in the Dragonfly
        configuration for these data (its experimental-data quick start, CXIDB entry 58:
        ``detd = 586`` mm, ``pixsize = 0.3`` mm, ``lambda = 7.75`` Å, ``detsize = 260 257``,
        horizontal polarisation); the beam centre (row 129.0, column 128.5) is where the real
        frames are most centrosymmetric; the mask is the frames' own (beam stop of 15 x 17
        pixels and the 5-row gap between the two panels, 1455 pixels).

        The distance is checked against the frames: at 1.6 keV and 0.586 m their radial
        profiles have minima at 37.5, 65.5 and 89.5 pixels (median of the eight
        single-looking frames), in the ratios of a sphere's zeros, which puts the first zero at
        ``|q| = 2.48e-3`` Å^-1: an equivalent sphere of 58 nm, of the size of PR772 (an
        icosahedral virus of roughly 70 nm); at 0.13 m the same minima would imply a 13 nm
        particle.

        To simulate particles of another size with the same speckle size and fringe spacing in
        pixels as these frames, scale the distance with the particle: the first zero of a
        particle of equivalent-sphere diameter D (``2 sqrt(5/3) Rg`` for a structure of
        radius of gyration Rg) falls on pixel 37.5 at ``distance = 0.586 m * D / 58 nm``, with
        ``photon_energy_kev=1.6``; e.g. 0.24 m for 3jb9 (Rg = 91.8 Å, D = 23.7 nm), 0.08 m
        for 1n7g (Rg = 31.6 Å). Measured: the minima, the beam centre and the mask; taken from
        the Dragonfly configuration: pixel size, distance and photon energy.

        Parameters
        ----------
        distance : float, default=0.586
            Sample-to-detector distance in metres.

        Returns
        -------
        detector : Detector
            Shape (260, 257), pixel size 3e-4 m, beam centre (129.0, 128.5).
        """
        return cls(
            (260, 257),
            pixel_size=3e-4,
            distance=distance,
            beam_center=(129.0, 128.5),
            mask=bundled_array("mask"),
        )  # the frames' own mask, stored with them

    @classmethod
    def from_extra_geom(cls, geometry, distance):
        """The assembled image of a European XFEL detector geometry (EXtra-geom).

        The pixels of the image that EXtra-geom's ``geometry.position_modules`` assembles
        from the module stack (e.g. ``(16, 512, 128)`` for the AGIPD 1M): pixel side
        ``geometry.pixel_size``, beam centre at the geometry's origin, and the gaps between
        modules and tiles False in ``mask``. Frames read with
        :class:`skspeckle.io.euxfel.EuXFELRun` and the same geometry have this shape and
        mask, so ``make_speckle_patterns(detector=Detector.from_extra_geom(geom, distance))``
        trains a model for the frames it will see.

        EXtra-geom assembles by moving each tile (an ASIC row of the AGIPD) to the nearest
        whole pixel of the image, so each pixel centre here is within half a pixel of its
        position in ``geometry.get_pixel_positions()`` (x along the image columns, y along
        the rows); the modules' z offsets are ignored (a flat detector at ``distance``).

        Parameters
        ----------
        geometry : extra_geom detector geometry
            E.g. ``AGIPD_1MGeometry.from_crystfel_geom("agipd.geom")`` or
            ``AGIPD_1MGeometry.from_quad_positions(...)``, ``JUNGFRAUGeometry``; anything
            with ``expected_data_shape``, ``pixel_size`` (m) and ``position_modules``.
        distance : float
            Sample-to-detector distance in metres (the geometry files give pixel positions
            in the detector plane, not the distance, which changes with the experiment).

        Returns
        -------
        detector : Detector
            Shape of the assembled image, e.g. (1256, 1092) for the AGIPD 1M quadrant
            positions of the EXtra-geom documentation.

        Raises
        ------
        TypeError
            If ``geometry`` is not an EXtra-geom geometry.
        ValueError
            If ``distance`` is not a positive number of metres.
        """
        if not all(hasattr(geometry, a) for a in ("expected_data_shape", "position_modules")):
            raise TypeError(
                "geometry must be an EXtra-geom detector geometry, e.g. "
                "extra_geom.AGIPD_1MGeometry.from_crystfel_geom('agipd.geom'); got "
                f"{type(geometry).__name__}."
            )
        image, centre = geometry.position_modules(
            np.zeros(geometry.expected_data_shape, dtype=np.float32)
        )
        # EXtra-geom's centre is in pixel-corner coordinates (pixel i spans i to i + 1);
        # Detector puts pixel i's centre at i.
        return cls(
            image.shape,
            pixel_size=geometry.pixel_size,
            distance=distance,
            beam_center=(centre[0] - 0.5, centre[1] - 0.5),
            mask=np.isfinite(image),
        )

    def pixel_positions(self, rows=None, cols=None):
        """Lab-frame positions of points on the detector, in metres.

        Parameters
        ----------
        rows, cols : array-like of float or None
            Pixel-index coordinates (fractional values address points inside a pixel), of a
            common broadcast shape. None (both) means every pixel centre.

        Returns
        -------
        positions : ndarray of float64 of shape (..., 3)
            ``(x, y, z)``; ``(..., 3)`` is ``(H, W, 3)`` for the pixel centres.
        """
        if rows is None and cols is None:
            rows, cols = np.meshgrid(
                np.arange(self.shape[0]), np.arange(self.shape[1]), indexing="ij"
            )
        rows, cols = np.broadcast_arrays(np.asarray(rows, float), np.asarray(cols, float))
        x = (cols - self.beam_center[1]) * self.pixel_size
        y = (rows - self.beam_center[0]) * self.pixel_size
        return np.stack([x, y, np.full_like(x, self.distance)], axis=-1)

    def q_vectors(self, photon_energy_kev, rows=None, cols=None):
        """Momentum transfer of the photons scattered into each pixel (on the Ewald sphere).

        ``q = (k_hat_out - z_hat) / lambda``, so ``|q| = 2 sin(theta) / lambda`` with 2 theta
        the scattering angle (Als-Nielsen & McMorrow, Elements of Modern X-ray Physics, 2nd
        ed., Sec. 4.1, without their factor 2 pi).

        Parameters
        ----------
        photon_energy_kev : float
            Photon energy in keV.
        rows, cols : array-like of float or None
            As in :meth:`pixel_positions`; None means the pixel centres.

        Returns
        -------
        q : ndarray of float64 of shape (..., 3)
            In Å^-1, lab frame; ``(H, W, 3)`` for the pixel centres.

        Raises
        ------
        ValueError
            If the photon energy is not positive.
        """
        lam = wavelength(photon_energy_kev)
        p = self.pixel_positions(rows, cols)
        k_out = p / np.linalg.norm(p, axis=-1, keepdims=True)
        k_out[..., 2] -= 1.0
        return k_out / lam

    def solid_angle(self):
        """Solid angle subtended by each pixel, in steradians.

        ``pixel_size**2 * distance / r**3`` with r the distance from the sample to the pixel
        centre, i.e. ``(pixel_size / distance)**2 * cos(2 theta)**3`` (small-pixel limit: the
        pixel area times the obliquity, over r squared).

        Returns
        -------
        omega : ndarray of float64 of shape (H, W)
        """
        r = np.linalg.norm(self.pixel_positions(), axis=-1)
        return self.pixel_size**2 * self.distance / r**3

    def polarization(self, kind="horizontal"):
        """Polarisation factor P of Thomson scattering into each pixel.

        For linear polarisation along the unit vector e, ``P = 1 - (e . k_hat_out)**2``
        (Als-Nielsen & McMorrow, Sec. 1.3 and 4.1). XFEL undulators emit light linearly
        polarised in the horizontal plane, the default.

        Parameters
        ----------
        kind : {"horizontal", "vertical", "unpolarized"}, default="horizontal"
            Polarisation along x (columns), along y (rows), or the unpolarised average
            ``(1 + cos(2 theta)**2) / 2`` of a rotating-anode source.

        Returns
        -------
        p : ndarray of float64 of shape (H, W)
            Between 0 and 1; 1 at the beam centre.

        Raises
        ------
        ValueError
            If ``kind`` is not one of the three.
        """
        p = self.pixel_positions()
        k = p / np.linalg.norm(p, axis=-1, keepdims=True)
        if kind == "horizontal":
            return 1.0 - k[..., 0] ** 2
        if kind == "vertical":
            return 1.0 - k[..., 1] ** 2
        if kind == "unpolarized":
            return 1.0 - (k[..., 0] ** 2 + k[..., 1] ** 2) / 2
        raise ValueError(f"kind must be 'horizontal', 'vertical' or 'unpolarized', got {kind!r}.")

    def crop(self, size):
        """Centre crop around the beam centre.

        Parameters
        ----------
        size : int or tuple of int
            ``n`` for an n x n crop, or ``(h, w)``.

        Returns
        -------
        detector : Detector
            Same pixels, distance and mask values; the beam centre in the crop's coordinates.

        Raises
        ------
        ValueError
            If the crop does not fit in the detector around the beam centre.
        """
        h, w = (size, size) if np.isscalar(size) else size
        h, w = int(h), int(w)
        r0 = int(round(self.beam_center[0] - (h - 1) / 2))
        c0 = int(round(self.beam_center[1] - (w - 1) / 2))
        if h < 1 or w < 1 or r0 < 0 or c0 < 0 or r0 + h > self.shape[0] or c0 + w > self.shape[1]:
            raise ValueError(
                f"a {h} x {w} crop around the beam centre {self.beam_center} does "
                f"not fit in the {self.shape} detector; ask for a smaller size."
            )
        return Detector(
            (h, w),
            self.pixel_size,
            self.distance,
            beam_center=(self.beam_center[0] - r0, self.beam_center[1] - c0),
            mask=self.mask[r0 : r0 + h, c0 : c0 + w],
        )

    def bin(self, factor):
        """The detector seen through ``factor x factor`` pixel binning.

        Binning sums blocks of ``factor x factor`` pixels into one larger pixel. A binned pixel
        is good only if all its pixels are.

        Parameters
        ----------
        factor : int
            Block side, >= 1, dividing both H and W.

        Returns
        -------
        detector : Detector
            Shape ``(H // factor, W // factor)``, pixel side ``factor * pixel_size``.

        Raises
        ------
        ValueError
            If ``factor`` is not a positive integer dividing the shape.
        """
        b = int(factor)
        if b != factor or b < 1 or self.shape[0] % b or self.shape[1] % b:
            raise ValueError(
                f"binning factor must be a positive integer dividing the detector "
                f"shape {self.shape}, got {factor!r}; crop the detector first."
            )
        h, w = self.shape[0] // b, self.shape[1] // b
        return Detector(
            (h, w),
            self.pixel_size * b,
            self.distance,
            beam_center=(
                (self.beam_center[0] + 0.5) / b - 0.5,
                (self.beam_center[1] + 0.5) / b - 0.5,
            ),
            mask=self.mask.reshape(h, b, w, b).all(axis=(1, 3)),
        )

    def __repr__(self):
        return (
            f"Detector(shape={self.shape}, pixel_size={self.pixel_size:g}, "
            f"distance={self.distance:g}, beam_center={self.beam_center}, "
            f"good_pixels={int(self.mask.sum())}/{self.mask.size})"
        )
