"""The :class:`DetectorMask` transformer and the pixel layouts of its visible area.

Public as :class:`skspeckle.preprocessing.DetectorMask`.
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skspeckle.utils._images import restore_layout, validate_images
from skspeckle.utils._sklearn_compat import Interval, StrOptions, fit_context

__all__ = ["DetectorMask"]


class DetectorMask(TransformerMixin, BaseEstimator):
    """Keep a fixed part of the detector visible and set every other pixel to ``fill_value``.

    The visible pixels depend only on the frame shape and the parameters, never on the pixel
    values, so the same pixels are hidden at fit and at predict time (SpeckleNN, Sec. IV.B.2,
    the "25 % detector area" scenario).

    Parameters
    ----------
    visible_fraction : float, default=1.0
        Fraction of the frame's pixels left visible, in (0, 1]. At least one pixel (one panel
        for ``layout="panels"``) is kept.
    mask : array-like of bool of shape (H, W) or None, default=None
        Explicit detector mask, True for a good (visible) pixel, e.g. a real detector's
        bad-pixel, gap and beam-stop mask. It must be boolean: convert integer masks
        explicitly (for CXI-style bit flags, ``mask == 0`` marks the good pixels). When
        ``visible_fraction < 1`` as well, the visible pixels are those good in ``mask`` *and*
        in the layout; the fraction then counts pixels of the whole frame.
    layout : {"quadrant", "panels", "disk", "annulus"}, default="quadrant"
        Which pixels make up ``visible_fraction``; the beam centre is taken at the frame
        centre ``((H - 1) / 2, (W - 1) / 2)``.

        - ``"quadrant"``: an angular sector about the centre, swept from the ``+col``
          direction towards ``+row`` (rows counted downwards). For even ``H`` and ``W``,
          0.25 is exactly the quadrant ``rows >= H/2, cols >= W/2`` -- the quadrant the
          SpeckleNN reference code keeps for its 25 % experiments -- and 0.5 the lower half.
          Every radius (every momentum transfer q) stays represented.
        - ``"panels"``: the frame is tiled into ``panel_grid`` near-equal panels and whole
          panels are kept, those nearest the centre first (they carry most of the speckle
          signal), ties broken in the ``"quadrant"`` order; the number of panels is the one
          whose area is closest to the requested fraction. A modular detector with outer
          panels switched off.
        - ``"disk"``: the pixels nearest the centre (low q only: a smaller or more distant
          detector).
        - ``"annulus"``: the pixels farthest from the centre (a large central hole, as behind
          a big beam stop or between the two halves of a pnCCD).

        ``"quadrant"``, ``"disk"`` and ``"annulus"`` keep exactly
        ``round(visible_fraction * H * W)`` pixels.
    panel_grid : tuple of int, default=(4, 4)
        Panels per column and per row for ``layout="panels"``; clipped to the frame shape.
    fill_value : float, default=0.0
        Value written into hidden pixels (photons or ADU).
    nonfinite : {"error", "mask"}, default="error"
        What to do with NaN / inf pixels (bad pixels of real frames): ``"error"`` raises,
        ``"mask"`` hides them, frame by frame, like the pixels outside the mask.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` for flattened input; when None, the shape of ``mask`` if given, else a square
        frame.

    Attributes
    ----------
    mask_ : ndarray of shape (H, W), bool
        True for the pixels left visible.
    image_shape_ : tuple of int
        ``(H, W)`` of the frames seen in ``fit``.
    n_features_in_ : int
        Number of features of the input as given (``H * W`` for flattened frames).

    See Also
    --------
    skspeckle.augmentation.RandomPatchMask : Random masking as a fit-time augmentation.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.preprocessing import DetectorMask
    >>> X = np.ones((2, 4, 4))
    >>> DetectorMask(0.25).fit_transform(X)[0]
    array([[0., 0., 0., 0.],
           [0., 0., 0., 0.],
           [0., 0., 1., 1.],
           [0., 0., 1., 1.]], dtype=float32)
    """

    _parameter_constraints: dict = {
        "visible_fraction": [Interval(Real, 0, 1, closed="right")],
        "mask": ["array-like", None],
        "layout": [StrOptions({"quadrant", "panels", "disk", "annulus"})],
        "panel_grid": ["array-like"],
        "fill_value": [Real],
        "nonfinite": [StrOptions({"error", "mask"})],
        "image_shape": ["array-like", None],
    }

    def __init__(
        self,
        visible_fraction=1.0,
        *,
        mask=None,
        layout="quadrant",
        panel_grid=(4, 4),
        fill_value=0.0,
        nonfinite="error",
        image_shape=None,
    ):
        self.visible_fraction = visible_fraction
        self.mask = mask
        self.layout = layout
        self.panel_grid = panel_grid
        self.fill_value = fill_value
        self.nonfinite = nonfinite
        self.image_shape = image_shape

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build ``mask_`` for the frame shape of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames (photons or ADU); only their shape is used, plus the non-finite check.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.

        Raises
        ------
        ValueError
            If ``mask`` is not a 2-D boolean array of the frame shape or leaves no pixel
            visible, ``panel_grid`` is not two positive ints, or on empty input, a wrong
            number of dimensions or non-finite pixels with ``nonfinite="error"``.
        """
        explicit = self._check_mask()
        grid = self._check_panel_grid()
        image_shape = self.image_shape
        # Flattened frames as wide as the mask are read in the mask's shape.
        x_shape = getattr(X, "shape", None) or np.shape(np.asarray(X, dtype=object))
        if image_shape is None and explicit is not None and len(x_shape) == 2:
            if x_shape[1] == explicit.size:
                image_shape = explicit.shape
        images = validate_images(self, X, reset=True, image_shape=image_shape, allow_nonfinite=True)
        shape = self.image_shape_
        if explicit is not None and explicit.shape != shape:
            raise ValueError(
                f"mask has shape {explicit.shape} but the frames have shape {shape}; pass the "
                "mask of this detector geometry (after the same crop and binning)."
            )
        visible = self._layout_mask(shape, grid)
        if explicit is not None:
            visible &= explicit
        if not visible.any():
            raise ValueError(
                "No pixel is left visible: mask has no good pixel in the area that layout="
                f"{self.layout!r} keeps at visible_fraction={self.visible_fraction}; raise "
                "visible_fraction or change layout."
            )
        self._check_nonfinite(images)
        self.mask_ = visible
        return self

    def transform(self, X):
        """Set the hidden pixels of every frame to ``fill_value``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames with the shape seen in ``fit``. Not modified.

        Returns
        -------
        X_masked : ndarray of shape like X, float32
            New array in the layout (2-D or 3-D) of ``X``.

        Raises
        ------
        ValueError
            If the frame shape differs from the one seen in ``fit``, or on non-finite pixels
            with ``nonfinite="error"``.
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        """
        check_is_fitted(self)
        images = validate_images(self, X, reset=False, allow_nonfinite=True)
        self._check_nonfinite(images)
        keep = self.mask_[np.newaxis]
        if self.nonfinite == "mask":
            keep = keep & np.isfinite(images)
        return restore_layout(np.where(keep, images, np.float32(self.fill_value)), X)

    def _check_mask(self):
        if self.mask is None:
            return None
        mask = np.asarray(self.mask)
        if mask.dtype != bool or mask.ndim != 2:
            raise ValueError(
                f"mask must be a 2-D boolean array (H, W), True for good pixels; got dtype "
                f"{mask.dtype} and shape {mask.shape}. Convert integer masks explicitly, e.g. "
                "mask=(flags == 0) for bad-pixel flags."
            )
        return mask

    def _check_panel_grid(self):
        grid = np.asarray(self.panel_grid).ravel()
        if grid.shape != (2,) or not np.issubdtype(grid.dtype, np.integer) or np.any(grid < 1):
            raise ValueError(
                f"panel_grid must be two positive ints (panel rows, panel columns); got "
                f"{self.panel_grid!r}."
            )
        return int(grid[0]), int(grid[1])

    def _check_nonfinite(self, images):
        if self.nonfinite == "mask":
            return
        bad = ~np.isfinite(images)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            n_frames = int(np.count_nonzero(bad.any(axis=(1, 2))))
            raise ValueError(
                f"X contains {n_bad} non-finite pixel value(s) (NaN or inf) in {n_frames} "
                "frame(s). Pass nonfinite='mask' to hide them like masked pixels (set to "
                "fill_value), or clean the frames first."
            )

    def _layout_mask(self, shape, grid):
        """Boolean (H, W) mask of the pixels kept by ``layout`` at ``visible_fraction``."""
        h, w = shape
        if self.visible_fraction >= 1:
            return np.ones(shape, dtype=bool)
        if self.layout == "panels":
            return self._panel_mask(shape, grid)
        target = int(np.floor(self.visible_fraction * h * w + 0.5))
        order = _pixel_order(shape, self.layout)
        visible = np.zeros(h * w, dtype=bool)
        visible[order[: max(1, target)]] = True
        return visible.reshape(shape)

    def _panel_mask(self, shape, grid):
        # A panel cannot be thinner than a pixel: a grid finer than the frame is clipped.
        row_edges = np.linspace(0, shape[0], min(grid[0], shape[0]) + 1).round().astype(int)
        col_edges = np.linspace(0, shape[1], min(grid[1], shape[1]) + 1).round().astype(int)
        heights, widths = np.diff(row_edges), np.diff(col_edges)
        # Nearest panels first: rank the panel centres as "disk" ranks pixels.
        centres_r = (row_edges[:-1] + row_edges[1:] - 1) / 2.0
        centres_c = (col_edges[:-1] + col_edges[1:] - 1) / 2.0
        cr, cc = np.meshgrid(centres_r, centres_c, indexing="ij")
        order = _rank(cr.ravel() - (shape[0] - 1) / 2.0, cc.ravel() - (shape[1] - 1) / 2.0, "disk")
        areas = np.outer(heights, widths).ravel()[order]
        # Number of panels whose total area is closest to the target: within half a panel.
        covered = np.cumsum(areas)
        n_keep = int(np.argmin(np.abs(covered - self.visible_fraction * shape[0] * shape[1]))) + 1
        visible = np.zeros(shape, dtype=bool)
        n_cols = len(widths)
        for panel in order[:n_keep]:
            i, j = divmod(int(panel), n_cols)
            visible[row_edges[i] : row_edges[i + 1], col_edges[j] : col_edges[j + 1]] = True
        return visible

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = self.nonfinite == "mask"
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _pixel_order(shape, layout):
    """Flat pixel indices of an (H, W) frame, in the order ``layout`` makes them visible."""
    h, w = shape
    dy, dx = np.meshgrid(np.arange(h) - (h - 1) / 2.0, np.arange(w) - (w - 1) / 2.0, indexing="ij")
    return _rank(dy.ravel(), dx.ravel(), layout)


def _rank(dy, dx, layout):
    """Order points at offsets ``(dy, dx)`` from the centre for ``layout``.

    Azimuth runs from +col towards +row in [0, 2 pi); the radius orders "disk" (ascending) and
    "annulus" (descending) with the azimuth as tie-break, so equal radii are not split by
    memory order. ``np.lexsort`` is stable, so the result is fully deterministic.
    """
    azimuth = np.mod(np.arctan2(dy, dx), 2 * np.pi)
    if layout == "quadrant":
        return np.lexsort((azimuth,))
    radius2 = dy * dy + dx * dx
    return np.lexsort((azimuth, radius2 if layout == "disk" else -radius2))
