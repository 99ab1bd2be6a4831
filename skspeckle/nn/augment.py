"""Batched random augmentation of speckle patterns in plain PyTorch.

Each function takes a stack of frames ``x`` of shape ``(B, H, W)`` (float, on any device) and
a :class:`torch.Generator`, and returns a new tensor of the same shape, dtype and device; the
input is never modified. All randomness is drawn from ``generator`` (on the generator's own
device, then moved to ``x.device``), so a seeded generator reproduces the output exactly and
the global torch RNG is untouched. Every frame of the batch gets its own random draw.

These are the four augmentations of SpeckleNN (Wang et al., Sec. III.E) -- random in-plane
rotation, random patch masking, random zoom and random shift -- plus the fluence jitter of
Sec. IV.A.1 and a Poisson resampling of the photon counts (a new draw of the shot noise).
Pixel coordinates are ``(row, col)`` with row 0 at the top; the beam centre defaults to the
frame centre ``((H - 1) / 2, (W - 1) / 2)``. Pixels that come from outside the frame are set to
0 (no photons).
"""

import torch
import torch.nn.functional as F

__all__ = [
    "random_rotation",
    "random_patch_mask",
    "random_zoom",
    "random_shift",
    "fluence_jitter",
    "poisson_resample",
]


def _check_frames(x):
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"Expected a floating-point tensor of frames with shape (B, H, W); got {shape}."
        )


def _uniform(generator, n, low, high, device):
    u = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64)
    return (low + (high - low) * u).to(device)


def _warp(x, matrix, center):
    """Bilinear resampling: output pixel ``p`` takes the input value at ``c + A (p - c)``.

    ``matrix`` is ``A`` per frame, shape (B, 2, 2), in (row, col) pixel units. ``affine_grid``
    works in coordinates normalised to [-1, 1] along each axis, so ``A`` is conjugated with
    the per-axis pixel scale; otherwise a rotation of a non-square frame would shear it.
    """
    b, h, w = x.shape
    cy, cx = ((h - 1) / 2.0, (w - 1) / 2.0) if center is None else center
    # affine_grid orders coordinates (x, y) = (col, row); swap A into that order.
    a = matrix[:, [1, 0]][:, :, [1, 0]]
    # With align_corners=False, pixel index j sits at normalised (2 j + 1) / W - 1, i.e.
    # p = S n + t0 with S = diag(W / 2, H / 2) and t0 the frame centre.
    scale = torch.tensor([w / 2.0, h / 2.0], dtype=a.dtype, device=a.device)
    t0 = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], dtype=a.dtype, device=a.device)
    c = torch.tensor([cx, cy], dtype=a.dtype, device=a.device)
    linear = a * scale[None, None, :] / scale[None, :, None]
    offset = ((c - t0)[None, :] - (a @ (c - t0)[:, None])[..., 0]) / scale[None, :]
    theta = torch.cat([linear, offset[..., None]], dim=2).to(x.dtype)
    grid = F.affine_grid(theta, (b, 1, h, w), align_corners=False)
    out = F.grid_sample(
        x[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return out[:, 0]


def random_rotation(x, generator, *, max_angle, center=None):
    """Rotate each frame in-plane by an angle drawn uniformly from ``[-max_angle, max_angle]``.

    Mimics the random in-plane orientation of the particle about the beam axis (SpeckleNN,
    Sec. III.E). Bilinear interpolation; content outside the inscribed circle of the frame can
    leave it, and the corners that rotate in from outside are 0.

    Parameters
    ----------
    x : torch.Tensor of shape (B, H, W), floating point
        Frames (photons or ADU).
    generator : torch.Generator
        Source of all randomness.
    max_angle : float
        Largest rotation in degrees; 180 draws orientations uniformly on the full circle.
    center : tuple of float or None
        Rotation centre ``(row, col)`` in pixels (the beam centre); the frame centre when None.

    Returns
    -------
    torch.Tensor of shape (B, H, W)
        Rotated copy of ``x``.

    Raises
    ------
    ValueError
        If ``x`` is not a floating-point tensor of shape (B, H, W).
    """
    _check_frames(x)
    angle = torch.deg2rad(_uniform(generator, x.shape[0], -max_angle, max_angle, x.device))
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    return _warp(x, matrix, center)


def random_zoom(x, generator, *, zoom_range, center=None):
    """Magnify each frame about the beam centre by a factor drawn uniformly from ``zoom_range``.

    A factor ``s > 1`` enlarges the pattern (as a longer detector distance or a longer
    wavelength would); the output pixel ``p`` samples the input at ``c + (p - c) / s``
    (bilinear). SpeckleNN, Sec. III.E.

    Parameters
    ----------
    x : torch.Tensor of shape (B, H, W), floating point
        Frames (photons or ADU).
    generator : torch.Generator
        Source of all randomness.
    zoom_range : tuple of float
        ``(low, high)`` with ``0 < low <= high``; dimensionless magnification.
    center : tuple of float or None
        Zoom centre ``(row, col)`` in pixels; the frame centre when None.

    Returns
    -------
    torch.Tensor of shape (B, H, W)
        Zoomed copy of ``x``.

    Raises
    ------
    ValueError
        If ``x`` is not a floating-point tensor of shape (B, H, W).
    """
    _check_frames(x)
    low, high = zoom_range
    inverse = 1.0 / _uniform(generator, x.shape[0], low, high, x.device)
    eye = torch.eye(2, dtype=inverse.dtype, device=x.device)
    return _warp(x, inverse[:, None, None] * eye, center)


def random_shift(x, generator, *, max_shift):
    """Translate each frame by whole pixels, independently along rows and columns.

    Offsets are integers drawn uniformly from ``[-max_shift, max_shift]``, so pixel values are
    moved exactly (no interpolation of the speckles); vacated pixels are 0. Mimics a beam centre
    that moves between runs (SpeckleNN, Sec. III.E).

    Parameters
    ----------
    x : torch.Tensor of shape (B, H, W), floating point
        Frames (photons or ADU).
    generator : torch.Generator
        Source of all randomness.
    max_shift : int
        Largest offset in pixels along each axis.

    Returns
    -------
    torch.Tensor of shape (B, H, W)
        Shifted copy of ``x``.

    Raises
    ------
    ValueError
        If ``x`` is not a floating-point tensor of shape (B, H, W).
    """
    _check_frames(x)
    b, h, w = x.shape
    shift = torch.randint(
        -max_shift, max_shift + 1, (b, 2), generator=generator, device=generator.device
    ).to(x.device)
    rows = torch.arange(h, device=x.device)[None, :] - shift[:, :1]  # (B, H) source rows
    cols = torch.arange(w, device=x.device)[None, :] - shift[:, 1:]  # (B, W) source cols
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None]
    gathered = x[batch, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]
    return torch.where(inside, gathered, torch.zeros((), dtype=x.dtype, device=x.device))


def random_patch_mask(x, generator, *, n_patches, patch_size, fill_value=0.0):
    """Cover ``n_patches`` random rectangles of each frame with a constant.

    Teaches robustness to bad pixels and parasitic scattering (SpeckleNN, Sec. III.E). The
    top-left corner of each patch is drawn so that every pixel is equally likely to be covered
    (patches may be clipped by the frame edge); patches may overlap.

    Parameters
    ----------
    x : torch.Tensor of shape (B, H, W), floating point
        Frames (photons or ADU).
    generator : torch.Generator
        Source of all randomness.
    n_patches : int
        Number of rectangles per frame.
    patch_size : tuple of int
        ``(height, width)`` of each rectangle in pixels.
    fill_value : float
        Value written into the covered pixels.

    Returns
    -------
    torch.Tensor of shape (B, H, W)
        Masked copy of ``x``.

    Raises
    ------
    ValueError
        If ``x`` is not a floating-point tensor of shape (B, H, W).
    """
    _check_frames(x)
    b, h, w = x.shape
    ph, pw = patch_size
    size = (b, n_patches)
    top = torch.randint(-(ph - 1), h, size, generator=generator, device=generator.device)
    left = torch.randint(-(pw - 1), w, size, generator=generator, device=generator.device)
    top, left = top.to(x.device), left.to(x.device)
    r = torch.arange(h, device=x.device)
    c = torch.arange(w, device=x.device)
    in_rows = (r >= top[..., None]) & (r < top[..., None] + ph)  # (B, P, H)
    in_cols = (c >= left[..., None]) & (c < left[..., None] + pw)  # (B, P, W)
    # A pixel is covered when some patch holds both its row and its column: a batched
    # (H, P) @ (P, W) product instead of a (B, P, H, W) boolean array.
    covered = torch.bmm(in_rows.transpose(1, 2).to(x.dtype), in_cols.to(x.dtype)) > 0
    return torch.where(covered, torch.full((), fill_value, dtype=x.dtype, device=x.device), x)


def fluence_jitter(x, generator, *, sigma):
    """Scale each frame by a log-normal multiplier with mean 1.

    The multiplier is ``exp(sigma * z - sigma**2 / 2)`` with ``z ~ N(0, 1)``, so its mean is 1
    and the mean photon count is unchanged, while ``sigma`` is the standard deviation of its
    logarithm. It stands in for the shot-to-shot fluence distribution that SpeckleNN samples
    from measured photon numbers (Sec. IV.A.1, Fig. 5).

    Parameters
    ----------
    x : torch.Tensor of shape (B, H, W), floating point
        Frames (photons or ADU).
    generator : torch.Generator
        Source of all randomness.
    sigma : float
        Standard deviation of the log multiplier (dimensionless, >= 0).

    Returns
    -------
    torch.Tensor of shape (B, H, W)
        Rescaled copy of ``x``.

    Raises
    ------
    ValueError
        If ``x`` is not a floating-point tensor of shape (B, H, W).
    """
    _check_frames(x)
    z = torch.randn(x.shape[0], generator=generator, device=generator.device, dtype=torch.float64)
    factor = torch.exp(sigma * z - 0.5 * sigma * sigma).to(device=x.device, dtype=x.dtype)
    return x * factor[:, None, None]


def poisson_resample(x, generator):
    """Replace every pixel by a Poisson draw whose mean is its photon count.

    A measured frame of photon counts is one Poisson draw of the intensity that the particle
    scatters onto the detector; taking the counts as the intensity and drawing again gives
    another frame of the same particle, orientation and fluence with fresh shot noise (the
    parametric bootstrap of the frame). The mean count is kept; the variance about the
    underlying intensity doubles. Meant for two views of one frame in contrastive
    pretraining (:class:`skspeckle.nn.losses.NTXentBatchLoss`), where the network should
    ignore the shot noise.

    Parameters
    ----------
    x : torch.Tensor of shape (B, H, W), floating point
        Frames in photons. Negative values (dark-subtraction noise) are drawn as 0.
    generator : torch.Generator
        Source of all randomness.

    Returns
    -------
    torch.Tensor of shape (B, H, W)
        Integer-valued copy of ``x`` in its dtype and on its device.

    Raises
    ------
    ValueError
        If ``x`` is not a floating-point tensor of shape (B, H, W).
    """
    _check_frames(x)
    rates = x.detach().clamp_min(0).to(device=generator.device, dtype=torch.float32)
    return torch.poisson(rates, generator=generator).to(device=x.device, dtype=x.dtype)
