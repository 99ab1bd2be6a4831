"""The :class:`QGridResampler` transformer: frames of one detector geometry on another's pixels.

Public as :class:`skspeckle.preprocessing.QGridResampler`.

A diffraction pattern is a function of the momentum transfer q, not of the pixel: the photons
a pixel records are ``dOmega P dI/dOmega(q)``, with ``dI/dOmega = Phi r_e^2 |F(q)|^2`` the
same for every detector that sees the particle under the same pulse (Als-Nielsen & McMorrow,
Elements of Modern X-ray Physics, 2nd ed., Eqs. 1.8-1.9 and Sec. 4.1; the simulator,
:mod:`skspeckle.simulation.spi`, computes exactly this). Resampling therefore divides each
source pixel by its solid angle and polarisation factor, interpolates that intensity per
steradian at the target pixels' q, and multiplies by the target pixels' solid angle and
polarisation factor.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skspeckle.detector import Detector, wavelength
from skspeckle.utils._images import restore_layout, validate_images
from skspeckle.utils._sklearn_compat import Interval, StrOptions, fit_context

__all__ = ["QGridResampler"]

# Sub-points per target pixel side, at most: 256 per pixel bound the operator (2.4 M entries
# for the 48 x 48 pretrained grid); beyond it a target pixel spans more than 16 source pixels
# and the sub-points sample it sparsely rather than skip pixels.
_MAX_SUBSAMPLING = 16
# Frames per sparse product: bounds the float64 copy (140 MB for 260 x 257 frames).
_FRAMES_PER_PRODUCT = 1024
# Geometry arithmetic leaves ~1e-12 pixel of round-off: coordinates this close to a pixel
# centre are put on it, so that identical geometries copy the frame exactly.
_SNAP = 1e-9
# Sub-points per source pixel side, and per target pixel side at least, of
# interpolation="area": its overlaps with the source pixels are resolved to a quarter pixel.
_AREA_POINTS = 4


class QGridResampler(TransformerMixin, BaseEstimator):
    """Resample frames from a source detector geometry onto a target's pixels, by momentum transfer.

    Each target pixel receives the photons that the source frame's intensity per steradian,
    interpolated at the target pixel's momentum transfer q, puts into the target pixel's solid
    angle: the output is what the target detector would have recorded of the same pattern
    (up to interpolation and the source's shot noise), in the unit of the input (photons or
    ADU). So the same weights, e.g. the pretrained embedder's
    (:func:`skspeckle.pretrained.load_embedder`, ``target="pretrained"``), serve frames of
    any detector that covers the q range they were trained on: the 260 x 257 pnCCD, an AGIPD
    assembled image (:meth:`Detector.from_extra_geom`), another distance or energy.

    **Which q.** The 3-D q on the Ewald sphere (:meth:`Detector.q_vectors`, as the simulator
    uses), matched by its length ``|q| = 2 sin(theta) / lambda`` and its azimuth about the
    beam: a target pixel at scattering angle 2 theta_t and azimuth phi reads the source where
    ``sin(theta_s) = sin(theta_t) lambda_s / lambda_t`` on the same azimuth. At the same
    photon energy this is the same 3-D q exactly (the same scattering direction, whatever the
    distance, pixel size or beam centre). Between energies the two Ewald spheres meet only at
    q = 0; matching ``|q|`` keeps the radial structure that carries the particle's size
    (fringe radii) exact and leaves the 3-D q tilted by ``theta_t - theta_s`` (3.5e-4 Å^-1 at
    the pretrained grid's corner between 1.6 and 1.66 keV, a tenth of the finest speckle
    there), where matching the transverse components ``(q_x, q_y)`` would shift every fringe
    radially.

    **What is conserved.** The intensity per steradian, ``I / (dOmega P)``, with dOmega the
    pixel solid angle (:meth:`Detector.solid_angle`) and P the polarisation factor
    (:meth:`Detector.polarization`); each target pixel gets its integral over the target
    pixel: photons per solid angle are conserved, total photons are not where the two
    detectors cover different q ranges. Each target pixel is cut into ``s x s`` sub-points,
    s the number of source pixels its side spans, rounded up (1 when the source pixels are
    as large in q or larger; at most 16), so that every source pixel under a target pixel
    contributes and the source's shot noise averages out. Each sub-point interpolates the
    intensity per steradian bilinearly (the order-1 rule of
    :func:`scipy.ndimage.map_coordinates`) over the good source pixels around it, the
    weights renormalised over the good ones, and is weighted by its own solid angle and
    polarisation factor. The whole map is linear and fixed by the two geometries, so ``fit``
    builds it once as a :mod:`scipy.sparse` matrix and ``transform`` is one sparse product.

    **Coverage.** A sub-point is covered when at least half of its bilinear weight falls on
    good source pixels (it is within the good pixels' area, up to half a pixel beyond their
    centres); a target pixel is kept when it is good in the target's mask and at least
    ``min_coverage`` of its sub-points are covered, and its integral is then scaled up from
    the covered sub-points. Every other target pixel (behind the source's beam stop or gaps,
    beyond its edges, or masked in the target) is ``fill_value``, NaN by default, so that
    ``DetectorMask(nonfinite="mask")`` after it zeroes them as the simulator zeroes masked
    pixels; ``mask_`` holds the kept pixels, for ``DetectorMask(mask=...)`` or a plot.

    Parameters
    ----------
    source : Detector
        Geometry of the input frames: their shape, pixel size (m), distance (m), beam centre
        and mask (False: beam stop, gaps, dead pixels; never read). Frames binned on the
        detector or by :class:`PixelBinning` need the binned geometry (:meth:`Detector.bin`).
    source_energy_kev : float, default=1.66
        Photon energy of the input frames in keV (1.66 is the simulator's default, 1.6 the
        PR772 pnCCD frames').
    target : Detector or "pretrained", default="pretrained"
        Geometry of the output pixels, before ``target_binning``. ``"pretrained"`` is the
        grid of the shipped embedder, :func:`skspeckle.pretrained.frame_geometry`: the 96 x 96
        centre of ``Detector.speckle_nn()`` read out binned 2 x 2 (48 x 48 pixels of 1.2 mm
        at 0.1 m), 1.66 keV, as the simulator makes its frames.
    target_energy_kev : float or None, default=None
        Photon energy in keV at which the target's pixels are read. None means 1.66 for
        ``"pretrained"`` and ``source_energy_kev`` for a Detector.
    target_binning : int, default=1
        Sum ``target_binning x target_binning`` blocks of target pixels, as a binned read-out
        (and :func:`~skspeckle.datasets.make_speckle_patterns`' ``binning``) does: the target
        pixels masked in ``target`` add nothing, so a binned pixel partly behind the beam
        stop keeps its good pixels' photons (``Detector.bin`` would mark it bad). A binned
        pixel is kept when all its good pixels are. Must divide the target's shape; 1 for
        ``"pretrained"``, which has its own (2).
    polarization : {"horizontal", "vertical", "unpolarized"} or None, default="horizontal"
        Polarisation of the beam, for the factor P (:meth:`Detector.polarization`):
        horizontal, as at an XFEL and in the simulator. None leaves P out (it then cancels
        only where source and target see q in the same direction, i.e. at the same energy).
    min_coverage : float, default=0.5
        Fraction of a target pixel's sub-points, in (0, 1], that must fall on good source
        pixels for the pixel to be kept. 1 keeps only pixels wholly inside the source's good
        area.
    fill_value : float, default=nan
        Value of the target pixels that are not kept (photons or ADU).
    q_scale : float, default=1.0
        Magnification in momentum transfer: a target pixel at ``|q|`` reads the source at
        ``|q| / q_scale`` (same azimuth). A particle ``q_scale`` times larger than another of
        the same shape scatters ``|F_{sR}(q)| = s^3 |F_R(s q)|`` (the form factor's scale
        similarity, Born approximation), so with ``q_scale=s`` the frames of a particle s times
        the size of the pretrained embedder's training particles look like theirs, up to a
        constant factor and the shot noise: the speckle keeps the size in pixels the network
        was trained on instead of falling below its 2 x 2-binned sampling. This needs a
        source that samples ``|q| / s`` at least as finely as the target (an unbinned or
        finer detector). Photons per steradian are then not conserved: the output is the
        source's intensity per steradian at ``|q| / s`` times the target's solid angles (the
        per-frame ``normalize="standardize"`` of the pretrained weights removes the factor).
        :func:`skspeckle.pretrained.q_scale_for` gives the scale for a particle's radius of
        gyration.
    interpolation : {"linear", "area"}, default="linear"
        How a sub-point reads the source's intensity per steradian. ``"linear"``: bilinearly
        from the four source pixels around it, with ``s`` the source pixels a target pixel
        side spans (at least 1), as described above. ``"area"``: the value of the source
        pixel that holds it (a piecewise-constant intensity), with 4 sub-points per source
        pixel side and at least 4 per target pixel side (at most 16), so each target pixel
        integrates its overlap with every source pixel to a quarter pixel. Where target
        pixels are smaller than the source's in q (``q_scale > 1`` from a detector of the
        same pitch), bilinear reads blur the speckle by up to half a source pixel, which
        the pretrained embedder pays for (``docs/results.md``, "Pretrained embedder");
        ``"area"`` does not.

    Attributes
    ----------
    mask_ : ndarray of bool of shape (H_t, W_t)
        True for the output pixels that receive photons: good in the target and covered by
        the source. ``(H_t, W_t)`` is the target's shape divided by the binning.
    coverage_ : float
        Fraction of the target's good output pixels (binned: with a good pixel) that are
        kept, in (0, 1].
    subsampling_ : int
        Sub-points per target pixel side, s (of the unbinned target pixels).
    weights_ : scipy.sparse.csr_array of float64 of shape (H_t * W_t, H_s * W_s)
        The linear map: target photons = ``weights_ @`` source photons (row-major pixels).
    image_shape_ : tuple of int
        ``(H_s, W_s)``, the source's shape.
    n_features_in_ : int
        Number of features of the input as given (``H_s * W_s`` for flattened frames).

    See Also
    --------
    skspeckle.detector.Detector : the geometries (``pnccd_back``, ``from_extra_geom``, ...).
    skspeckle.pretrained.frame_geometry : the ``"pretrained"`` target.
    DetectorMask : zeroes the NaN pixels after it, with ``nonfinite="mask"``.

    Notes
    -----
    What the resampling costs the pretrained embedder against frames simulated on its own
    grid (pnCCD frames, the same particles and orientations): ``benchmarks/paper/
    geometry_transfer.py``, results in ``benchmarks/results/geometry_transfer/``.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.detector import Detector
    >>> from skspeckle.preprocessing import QGridResampler
    >>> fine = Detector((8, 8), pixel_size=1e-3, distance=0.1)
    >>> coarse = fine.bin(2)  # the same pixels, binned 2 x 2
    >>> X = np.ones((1, 8, 8), dtype=np.float32)
    >>> out = QGridResampler(fine, target=coarse).fit_transform(X)
    >>> out.shape, bool(np.allclose(out, 4.0, rtol=1e-3))
    ((1, 4, 4), True)
    """

    _required_parameters = ["source"]
    _parameter_constraints: dict = {
        "source": [Detector],
        "source_energy_kev": [Interval(Real, 0, None, closed="neither")],
        "target": [Detector, StrOptions({"pretrained"})],
        "target_energy_kev": [Interval(Real, 0, None, closed="neither"), None],
        "polarization": [StrOptions({"horizontal", "vertical", "unpolarized"}), None],
        "target_binning": [Interval(Integral, 1, None, closed="left")],
        "min_coverage": [Interval(Real, 0, 1, closed="right")],
        "fill_value": [Real],
        "q_scale": [Interval(Real, 0, None, closed="neither")],
        "interpolation": [StrOptions({"linear", "area"})],
    }

    def __init__(
        self,
        source,
        *,
        source_energy_kev=1.66,
        target="pretrained",
        target_energy_kev=None,
        target_binning=1,
        polarization="horizontal",
        min_coverage=0.5,
        fill_value=np.nan,
        q_scale=1.0,
        interpolation="linear",
    ):
        self.source = source
        self.source_energy_kev = source_energy_kev
        self.target = target
        self.target_energy_kev = target_energy_kev
        self.target_binning = target_binning
        self.polarization = polarization
        self.min_coverage = min_coverage
        self.fill_value = fill_value
        self.q_scale = q_scale
        self.interpolation = interpolation

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the resampling map of the two geometries and check the frames' shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, H_s, W_s) or (n_samples, H_s * W_s)
            Frames of the source detector (photons or ADU); only their shape and finiteness
            are used.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.

        Raises
        ------
        ValueError
            If ``target_binning`` does not divide the target's shape (or is not 1 for
            ``"pretrained"``), the frames do not have the source's shape, a good source
            pixel is NaN / inf, an energy is not a positive number of keV, or no target pixel
            is covered by the source (the message gives both q ranges).
        """
        source, target = self.source, self.target
        target_energy, binning = self.target_energy_kev, self.target_binning
        if isinstance(target, str):  # "pretrained"
            from skspeckle.pretrained import frame_geometry

            if binning != 1:
                raise ValueError(
                    f"target='pretrained' has its own binning (2); got target_binning={binning}. "
                    "Leave target_binning=1, or pass a Detector as target."
                )
            target, binning, pretrained_energy = frame_geometry()
            target_energy = pretrained_energy if target_energy is None else target_energy
        elif target_energy is None:
            target_energy = self.source_energy_kev
        binned = target.bin(binning)  # validates that the binning divides the target
        images = validate_images(
            self, X, reset=True, image_shape=source.shape, allow_nonfinite=True
        )
        if self.image_shape_ != source.shape:
            raise ValueError(
                f"Frames have shape {self.image_shape_} but the source detector has "
                f"{source.shape} pixels; pass the Detector of these frames (after any crop or "
                "binning: Detector.crop, Detector.bin)."
            )
        self._check_nonfinite(images)
        weights, kept, s = _resampling_map(
            source,
            float(self.source_energy_kev),
            target,
            float(target_energy),
            self.polarization,
            float(self.min_coverage),
            float(self.q_scale),
            self.interpolation,
        )
        weights, kept = _read_out(weights, kept, target, binning)
        if not kept.any():
            raise ValueError(
                _no_coverage_message(
                    source, self.source_energy_kev, target, target_energy, self.q_scale
                )
            )
        self.weights_ = weights
        self.mask_ = kept
        # Binned pixels with at least one good pixel, the ones a read-out can fill.
        good = target.mask.reshape(binned.shape[0], binning, binned.shape[1], binning)
        self.coverage_ = float(kept.sum() / good.any(axis=(1, 3)).sum())
        self.subsampling_ = s
        return self

    def transform(self, X):
        """Resample every frame onto the target's pixels.

        Parameters
        ----------
        X : array-like of shape (n_samples, H_s, W_s) or (n_samples, H_s * W_s)
            Frames of the source detector; masked source pixels may hold anything (NaN
            included), good ones must be finite. Not modified.

        Returns
        -------
        X_target : ndarray of float32 of shape (n_samples, H_t, W_t), or (n_samples, H_t * W_t)
            for 2-D input
            Photons (or ADU) per target pixel; ``fill_value`` where ``mask_`` is False.

        Raises
        ------
        ValueError
            If the frame shape is not the source's, or a good source pixel is NaN / inf.
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        """
        check_is_fitted(self)
        images = validate_images(self, X, reset=False, allow_nonfinite=True)
        self._check_nonfinite(images)
        out = np.empty((len(images), self.weights_.shape[0]), dtype=np.float32)
        for lo in range(0, len(images), _FRAMES_PER_PRODUCT):
            chunk = images[lo : lo + _FRAMES_PER_PRODUCT]
            flat = np.where(self.source.mask, chunk, 0.0).reshape(len(chunk), -1)
            # float64 products: the sums of up to 4 s^2 weighted pixels keep float32's
            # precision. The rows of the pixels not kept are empty.
            out[lo : lo + len(chunk)] = (self.weights_ @ flat.T).T
        out[:, ~self.mask_.ravel()] = self.fill_value
        return restore_layout(out.reshape(len(images), *self.mask_.shape), X)

    def _check_nonfinite(self, images):
        bad = ~np.isfinite(images) & self.source.mask
        if bad.any():
            rows, cols = np.nonzero(bad.any(axis=0))
            raise ValueError(
                f"X has {int(bad.sum())} non-finite value(s) (NaN or inf) in good pixels of the "
                f"source detector, e.g. at (row, col) ({rows[0]}, {cols[0]}). Mark bad pixels "
                "False in the source Detector's mask (they are then never read), e.g. "
                "Detector(..., mask=detector.mask & np.isfinite(X).all(axis=0))."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _sample_points(detector, s):
    """Row and column of the ``s x s`` sub-point centres of every good pixel, (P, s*s) each."""
    offsets = (np.arange(s) + 0.5) / s - 0.5
    rows, cols = np.nonzero(detector.mask)
    sub_r = rows[:, None, None] + offsets[None, :, None]
    sub_c = cols[:, None, None] + offsets[None, None, :]
    sub_r, sub_c = np.broadcast_arrays(sub_r, sub_c)
    return (
        rows * detector.shape[1] + cols,
        sub_r.reshape(len(rows), -1),
        sub_c.reshape(len(rows), -1),
    )


def _to_source(source, source_energy, target, target_energy, rows, cols, q_scale):
    """Source pixel coordinates of the points of the target at ``|q| / q_scale`` and the same
    azimuth.

    NaN where the source would need a scattering angle of 90 degrees or more.
    """
    p = target.pixel_positions(rows, cols)
    rho_t = np.hypot(p[..., 0], p[..., 1])
    two_theta_t = np.arctan2(rho_t, target.distance)
    sin_s = (
        np.sin(two_theta_t / 2) * wavelength(source_energy) / (wavelength(target_energy) * q_scale)
    )
    with np.errstate(invalid="ignore"):
        two_theta_s = 2 * np.arcsin(np.where(sin_s < np.sqrt(0.5), sin_s, np.nan))
    rho_s = source.distance * np.tan(two_theta_s)
    # rho_s / rho_t at the beam centre: the small-angle ratio of the radii.
    at_centre = (
        source.distance
        * wavelength(source_energy)
        / (target.distance * wavelength(target_energy) * q_scale)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(rho_t > 0, rho_s / rho_t, at_centre)
    row = p[..., 1] * scale / source.pixel_size + source.beam_center[0]
    col = p[..., 0] * scale / source.pixel_size + source.beam_center[1]
    for c in (row, col):
        near = np.abs(c - np.round(c)) < _SNAP
        c[near] = np.round(c[near])
    return row, col


def _omega_p(detector, rows, cols, pitch, polarization):
    """Solid angle (sr) times polarisation factor of pixels of side ``pitch`` (m) at points."""
    p = detector.pixel_positions(rows, cols)
    r = np.linalg.norm(p, axis=-1)
    omega = pitch**2 * detector.distance / r**3  # as Detector.solid_angle
    if polarization is None:
        return omega
    k = p / r[..., None]
    if polarization == "horizontal":
        return omega * (1.0 - k[..., 0] ** 2)
    if polarization == "vertical":
        return omega * (1.0 - k[..., 1] ** 2)
    return omega * (1.0 - (k[..., 0] ** 2 + k[..., 1] ** 2) / 2)


def _subsampling(source, source_energy, target, target_energy, q_scale, interpolation):
    """Sub-points per target pixel side: the source pixels its side spans, rounded up
    (``"linear"``), or four per source pixel and at least four (``"area"``)."""
    rows, cols = np.meshgrid(
        np.arange(target.shape[0] + 1) - 0.5, np.arange(target.shape[1] + 1) - 0.5, indexing="ij"
    )
    r, c = _to_source(source, source_energy, target, target_energy, rows, cols, q_scale)
    steps = [np.hypot(np.diff(r, axis=a), np.diff(c, axis=a)) for a in (0, 1)]
    largest = max(np.nanmax(step, initial=0.0) for step in steps)
    if interpolation == "area":
        return int(np.clip(np.ceil(_AREA_POINTS * largest - 1e-6), _AREA_POINTS, _MAX_SUBSAMPLING))
    return int(np.clip(np.ceil(largest - 1e-6), 1, _MAX_SUBSAMPLING))


def _resampling_map(
    source,
    source_energy,
    target,
    target_energy,
    polarization,
    min_coverage,
    q_scale,
    interpolation,
):
    """The sparse (target pixels x source pixels) map, the kept target pixels and s."""
    s = _subsampling(source, source_energy, target, target_energy, q_scale, interpolation)
    t_index, sub_r, sub_c = _sample_points(target, s)
    row, col = _to_source(source, source_energy, target, target_energy, sub_r, sub_c, q_scale)
    # Photons into each sub-point per unit of intensity per steradian.
    gain = _omega_p(target, sub_r, sub_c, target.pixel_size / s, polarization)
    source_omega_p = _omega_p(source, None, None, source.pixel_size, polarization).ravel()
    good = source.mask.ravel()
    h, w = source.shape
    finite = np.isfinite(row) & np.isfinite(col)
    if interpolation == "area":
        # The source pixel that holds the sub-point: a piecewise-constant intensity, so a
        # target pixel integrates its overlap with each source pixel.
        r0 = np.floor(np.where(finite, row, -2.0) + 0.5).astype(np.int64)
        c0 = np.floor(np.where(finite, col, -2.0) + 0.5).astype(np.int64)
        reads = [(0, 0, np.ones_like(row))]
    else:
        r0 = np.floor(np.where(finite, row, -2.0)).astype(np.int64)
        c0 = np.floor(np.where(finite, col, -2.0)).astype(np.int64)
        fr, fc = np.where(finite, row - r0, 0.0), np.where(finite, col - c0, 0.0)
        reads = [
            (0, 0, (1 - fr) * (1 - fc)),
            (0, 1, (1 - fr) * fc),
            (1, 0, fr * (1 - fc)),
            (1, 1, fr * fc),
        ]
    corners = []
    for dr, dc, wgt in reads:
        rr, cc = r0 + dr, c0 + dc
        inside = finite & (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        index = np.where(inside, rr * w + cc, 0)
        wgt = np.where(inside & good[index], wgt, 0.0)
        corners.append((index, wgt))
    on_good = sum(wgt for _, wgt in corners)
    covered = on_good >= 0.5
    n_covered = covered.sum(axis=1)
    kept = n_covered >= min_coverage * s * s
    # Integral over the pixel from its covered sub-points, scaled up to the whole pixel.
    per_sub = (
        np.where(covered & kept[:, None], gain, 0.0) * (s * s) / np.maximum(n_covered, 1)[:, None]
    )
    per_sub = per_sub / np.where(covered, on_good, 1.0)
    data, rows_out, cols_out = [], [], []
    for index, wgt in corners:
        value = per_sub * wgt / source_omega_p[index]
        nonzero = value != 0
        data.append(value[nonzero])
        rows_out.append(np.broadcast_to(t_index[:, None], value.shape)[nonzero])
        cols_out.append(index[nonzero])
    n_target = target.shape[0] * target.shape[1]
    weights = scipy.sparse.csr_array(
        (np.concatenate(data), (np.concatenate(rows_out), np.concatenate(cols_out))),
        shape=(n_target, h * w),
    )  # duplicate (target, source) entries are summed
    mask = np.zeros(n_target, dtype=bool)
    mask[t_index[kept]] = True
    return weights, mask.reshape(target.shape), s


def _read_out(weights, kept, target, binning):
    """The map and kept pixels after ``binning x binning`` summing, as the simulator reads out.

    A binned pixel sums its pixels; those masked in the target add nothing (they record
    nothing, as behind the beam stop), so one partly masked still holds its good pixels'
    photons. It is kept when it has a good pixel and all of its good pixels are kept (one
    the source misses in part would be too dim).
    """
    if binning == 1:
        return weights, kept
    h, w = target.shape[0] // binning, target.shape[1] // binning
    rows, cols = np.indices(target.shape)
    block = ((rows // binning) * w + cols // binning).ravel()
    missed = (target.mask & ~kept).reshape(h, binning, w, binning).any(axis=(1, 3))
    has_good = target.mask.reshape(h, binning, w, binning).any(axis=(1, 3))
    binned_kept = has_good & ~missed
    summing = scipy.sparse.csr_array(
        (binned_kept.ravel()[block].astype(float), (block, np.arange(block.size))),
        shape=(h * w, block.size),
    )
    return (summing @ weights).tocsr(), binned_kept


def _q_range(detector, energy):
    q = np.linalg.norm(detector.q_vectors(energy)[detector.mask], axis=-1)
    return q.min(), q.max()


def _no_coverage_message(source, source_energy, target, target_energy, q_scale):
    (s_lo, s_hi), (t_lo, t_hi) = _q_range(source, source_energy), _q_range(target, target_energy)
    scaled = "" if q_scale == 1 else f", read at |q| / q_scale = |q| / {q_scale:g}"
    return (
        f"The source detector covers none of the target's pixels: its good pixels see |q| from "
        f"{s_lo:.3g} to {s_hi:.3g} Å^-1 at {source_energy:g} keV, the target's {t_lo:.3g} to "
        f"{t_hi:.3g} Å^-1 at {target_energy:g} keV{scaled} (or they overlap on less than "
        "min_coverage of any pixel). Check the distances and pixel sizes (metres), the energies "
        "(keV) and the beam centres (pixels)."
    )
