"""Frames as PNG images for the labelling page: a log colour scale, the detector mask in grey.

Rendered on the server, so that the page shows large frames fast whatever the browser, and
the raw frames never leave the machine as numbers. Matplotlib supplies only the colour map;
the PNG is encoded by Pillow (a dependency of matplotlib).
"""

import io

import numpy as np

from skspeckle.utils._optional import import_optional

__all__ = ["clean_frames", "frame_png"]

MASKED_RGB = (110, 110, 110)  # masked / bad pixels: a mid grey no colour of the map reaches


def clean_frames(X, mask=None):
    """Frames a model can take: masked and non-finite pixels set to 0, negatives clipped to 0.

    Parameters
    ----------
    X : ndarray of shape (n, H, W)
        Counts (photons or ADU), possibly with NaN / inf and negative values (dark
        subtraction). Not modified.
    mask : ndarray of bool of shape (H, W) or None
        True for good pixels.

    Returns
    -------
    X_clean : ndarray of float32 of shape (n, H, W)
    """
    X = np.asarray(X, dtype=np.float32)
    good = np.isfinite(X)
    if mask is not None:
        good &= mask
    return np.where(good, np.maximum(X, 0), 0).astype(np.float32)


def frame_png(frame, mask=None, *, cmap="magma", vmax_percentile=99.9):
    """One frame as a PNG: ``log10(1 + max(x, 0))``, scaled from 0 to a high percentile.

    Parameters
    ----------
    frame : ndarray of shape (H, W)
        Counts (photons or ADU); NaN / inf are drawn as masked.
    mask : ndarray of bool of shape (H, W) or None
        True for good pixels; the others are drawn grey.
    cmap : str, default="magma"
        Matplotlib colour map.
    vmax_percentile : float, default=99.9
        Top of the colour scale: this percentile of the good pixels' log values (the
        brightest speckles near the beam stop would otherwise flatten the rest).

    Returns
    -------
    png : bytes
        An 8-bit RGB PNG of ``H x W`` pixels.

    Raises
    ------
    ValueError
        If ``frame`` is not 2-D or ``mask`` has another shape.
    """
    matplotlib = import_optional("matplotlib", "web", purpose="drawing frames for skspeckle label")
    from PIL import Image  # a dependency of matplotlib

    frame = np.asarray(frame, dtype=np.float64)
    if frame.ndim != 2:
        raise ValueError(f"A frame must be 2-D (H, W); got shape {frame.shape}.")
    good = np.isfinite(frame)
    if mask is not None:
        if mask.shape != frame.shape:
            raise ValueError(f"mask has shape {mask.shape}, the frame {frame.shape}.")
        good &= mask
    values = np.log10(1 + np.maximum(np.where(good, frame, 0), 0))
    top = np.percentile(values[good], vmax_percentile) if good.any() else 0.0
    scaled = values / top if top > 0 else np.zeros_like(values)
    rgb = (matplotlib.colormaps[cmap](np.clip(scaled, 0, 1))[..., :3] * 255).astype(np.uint8)
    rgb[~good] = MASKED_RGB
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG", compress_level=1)
    return out.getvalue()
