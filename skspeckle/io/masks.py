"""Real detector masks from the files of SPI analysis tools, as boolean arrays (True = good).

Every tool has its own convention, and getting it backwards silently swaps the good and the
bad pixels, so :func:`read_mask` names the convention explicitly and checks the values
against it:

=================================  =========================  =========================
format                             default ``convention``     meaning
=================================  =========================  =========================
Dragonfly ``.byt`` (raw uint8)     ``"good=0"``               0 good; 1, 2 masked
HDF5 ``data/data`` (psana/Cheetah) ``"good=1"``               1 good, 0 bad
HDF5 / CXI ``entry_1/data_1/mask`` ``"good=0"``               CXI pixel flags, 0 good
NumPy ``.npy``, boolean            (True = good)              as DetectorMask
NumPy ``.npy``, numbers            none: must be given        e.g. PR772: ``"bad=1"``
=================================  =========================  =========================

Dragonfly (Ayyer et al., J. Appl. Cryst. 49, 1320 (2016)) writes 1 for pixels it ignores and
2 for pixels it merges but does not use to find orientations; both are masked here.
"""

import os
from pathlib import Path

import h5py
import numpy as np

from skspeckle.io._hdf5 import get_dataset, open_h5

__all__ = ["CONVENTIONS", "read_mask"]

CONVENTIONS = ("good=1", "bad=1", "good=0")
_HDF5_SUFFIXES = {".h5", ".hdf5", ".hdf", ".cxi", ".nxs"}
# Default datasets of HDF5 mask files, first match wins, with their conventions.
_HDF5_DEFAULTS = (
    ("data/data", "good=1"),
    ("entry_1/data_1/mask", "good=0"),
    ("entry_1/instrument_1/detector_1/mask", "good=0"),
)


def read_mask(path, *, shape=None, dataset=None, convention=None):
    """Read a detector mask file as a boolean array, True for good pixels.

    Parameters
    ----------
    path : str, path-like or h5py.File
        Mask file: Dragonfly ``.byt`` (raw uint8, row-major), HDF5 (``.h5``, ``.hdf5``,
        ``.hdf``, ``.cxi``, ``.nxs``, or an open ``h5py.File``) or NumPy ``.npy``.
    shape : tuple of int or None, default=None
        ``(H, W)`` of the detector. Required for ``.byt`` (which stores no shape, e.g.
        ``(260, 257)`` for the binned PR772 pnCCD); for the other formats, checked if given.
    dataset : str or None, default=None
        HDF5 dataset holding the mask. None means the first present of ``data/data``,
        ``entry_1/data_1/mask``, ``entry_1/instrument_1/detector_1/mask``.
    convention : {"good=1", "bad=1", "good=0"} or None, default=None
        How stored values map to good pixels:

        - ``"good=1"``: values 0 / 1, 1 = good (psana / Cheetah HDF5 masks);
        - ``"bad=1"``: values 0 / 1, 1 = bad (e.g. the PR772 ``.npy`` mask);
        - ``"good=0"``: non-negative integers, 0 = good, any other value masked (Dragonfly
          flags 1 and 2, CXI bit flags).

        None means the format's default (table in the module docstring); numeric ``.npy``
        arrays have none and need it given. Boolean arrays are read as True = good.

    Returns
    -------
    mask : ndarray of bool of shape (H, W)
        True for good pixels, as :attr:`skspeckle.detector.Detector.mask` and
        ``DetectorMask(mask=...)`` expect.

    Raises
    ------
    ValueError
        On an unknown format or convention, a missing ``shape`` for ``.byt``, a file size or
        array shape that does not match ``shape``, an array that is not 2-D, values outside
        the convention, or a mask without any good pixel (a convention read backwards).
    KeyError
        If the HDF5 dataset is missing (the message lists the file's datasets).
    FileNotFoundError
        If the file does not exist.
    """
    if convention is not None and convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS} or None; got {convention!r}.")
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"shape must be (H, W) with H, W >= 1; got {shape!r}.")
    if isinstance(path, h5py.File):
        values, default, name = _read_hdf5(path, dataset)
    else:
        name = os.fspath(path)
        if not os.path.isfile(name):
            raise FileNotFoundError(f"No such mask file: {name!r}.")
        suffix = Path(name).suffix.lower()
        if suffix == ".byt":
            values, default = _read_byt(name, shape), "good=0"
        elif suffix in _HDF5_SUFFIXES:
            with open_h5(name) as h5:
                values, default, _ = _read_hdf5(h5, dataset)
        elif suffix == ".npy":
            values = np.load(name, allow_pickle=False)
            default = None
        else:
            raise ValueError(
                f"Unknown mask format {suffix!r} of {name!r}; supported: .byt (Dragonfly), "
                f"{', '.join(sorted(_HDF5_SUFFIXES))} (HDF5) and .npy. Convert other formats "
                "to a boolean array (True = good) yourself."
            )
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(
            f"The mask in {name!r} has shape {values.shape}; a 2-D (H, W) array is expected."
        )
    if shape is not None and values.shape != shape:
        raise ValueError(
            f"The mask in {name!r} has shape {values.shape} but shape={shape} was asked for; "
            "use the mask of this detector geometry (same binning and crop)."
        )
    if values.dtype == bool and convention is None:
        good = values.copy()
    else:
        convention = convention or default
        if convention is None:
            raise ValueError(
                f"{name!r} holds numbers ({values.dtype}) with no standard meaning; pass "
                "convention='good=1' (1 = good pixel), 'bad=1' (1 = bad, as the PR772 mask) or "
                "'good=0' (0 = good, other flags bad)."
            )
        good = _apply_convention(values, convention, name)
    if not good.any():
        raise ValueError(
            f"The mask in {name!r} read with convention={convention!r} has no good pixel; the "
            "convention is probably the wrong way round."
        )
    return good


def _read_byt(name, shape):
    if shape is None:
        raise ValueError(
            f"Dragonfly mask {name!r} is raw bytes without a shape; pass shape=(H, W), e.g. "
            "(260, 257) for the binned PR772 back pnCCD."
        )
    size = os.path.getsize(name)
    if size != shape[0] * shape[1]:
        raise ValueError(
            f"Dragonfly mask {name!r} has {size} bytes but shape={shape} needs "
            f"{shape[0] * shape[1]} (one uint8 per pixel); pass the detector's shape."
        )
    return np.fromfile(name, dtype=np.uint8).reshape(shape)


def _read_hdf5(h5, dataset):
    if dataset is None:
        for candidate, default in _HDF5_DEFAULTS:
            if isinstance(h5.get(candidate), h5py.Dataset):
                return h5[candidate][()], default, f"{h5.filename}:{candidate}"
        dataset = _HDF5_DEFAULTS[0][0]
    default = dict(_HDF5_DEFAULTS).get(dataset.strip("/"), "good=1")
    return get_dataset(h5, dataset, "Mask dataset")[()], default, f"{h5.filename}:{dataset}"


def _apply_convention(values, convention, name):
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise ValueError(f"The mask in {name!r} holds {values.dtype}, not numbers.")
    found = np.unique(values)
    if convention == "good=0":
        valid = np.isfinite(found) & (found >= 0) & (found == np.round(found))
        expected = "non-negative integer flags"
    else:
        valid = (found == 0) | (found == 1)
        expected = "only 0 and 1"
    if not valid.all():
        raise ValueError(
            f"The mask in {name!r} holds values {found[~valid][:5].tolist()} but "
            f"convention={convention!r} allows {expected}. Pass the convention of this file "
            f"(one of {CONVENTIONS})."
        )
    return values == 1 if convention == "good=1" else values == 0
