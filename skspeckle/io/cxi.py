"""Detector frames in HDF5 / CXI files: lazy chunked reading, atomic writing, results.

Real SPI data arrive as HDF5 files, usually in the Coherent X-ray Imaging (CXI) layout of
the CXIDB (Maia, "The Coherent X-ray Imaging Data Bank", Nat. Methods 9, 854 (2012); CXI
format 1.5), where the frames of a run are ``entry_1/data_1/data``, of shape
``(n_frames, H, W)``. Runs hold 1e4-1e6 frames, more than fits in memory, so
:class:`FrameReader` reads them a bounded chunk at a time. :class:`CXIWriter` writes frames
(simulated or real) in the same layout, and :class:`ResultsWriter` writes classification
results; every writer writes to a temporary file (or group) and moves it into place only
when complete, so an interrupted run leaves nothing behind.

Layout written by :class:`CXIWriter` (and read by default by :class:`FrameReader`):

- ``/cxi_version``: int, 150 (CXI 1.5).
- ``entry_1/data_1/data``: ``(n_frames, H, W)`` frames (float32 by default, photons or ADU),
  chunked along the frames, resizable, gzip-compressed by default. Written with
  ``clip=True``, its attributes ``clip_range`` (the storage dtype's ``[min, max]``),
  ``clipped_pixels`` and ``clipped_frames`` record what was clipped.
- ``entry_1/data_1/mask``: ``(H, W)`` uint32 CXI pixel flags, 0 = good pixel, 1 = bad
  (the CXI "invalid" bit), only when a mask is given.
- ``entry_1/labels/y``, ``entry_1/labels/groups``, ``entry_1/labels/n_particles``:
  ``(n_frames,)`` class labels, particle / sample ids and particle counts, each only when
  given; strings are stored as variable-length UTF-8.
- ``entry_1/frame_info/<name>``: ``(n_frames,)`` per-frame information given as
  ``frame_info`` (e.g. the ``input_index``, ``train_id`` and ``pulse_id`` of frames kept
  from a run, see :func:`skspeckle.io.keep.keep_frames`).
- root attributes: ``creator`` (``"skspeckle <version>"``) and the user's ``attrs``.

"""

import os
import weakref

import h5py
import numpy as np

from skspeckle._version import __version__
from skspeckle.io._atomic import check_output_path, temporary_sibling
from skspeckle.io._hdf5 import (
    STRING_DTYPE,
    Transaction,
    dataset_listing,
    discard_file,
    frame_chunks,
    get_dataset,
    open_h5,
    read_labels,
    set_attrs,
)
from skspeckle.io._identity import file_identity
from skspeckle.io.masks import read_mask

__all__ = [
    "DATA_PATH",
    "LABELS_GROUP",
    "MASK_PATH",
    "CXIWriter",
    "FrameReader",
    "read_frames",
    "write_cxi",
]

DATA_PATH = "entry_1/data_1/data"
MASK_PATH = "entry_1/data_1/mask"
LABELS_GROUP = "entry_1/labels"
FRAME_INFO_GROUP = "entry_1/frame_info"
_LABEL_NAMES = ("y", "groups", "n_particles")
# Frames per read when the caller gives no chunk size: as many as fit in this budget as
# float32, so a run of any detector size is read in pieces of bounded size.
DEFAULT_CHUNK_BYTES = 64 * 2**20


class FrameReader:
    """Lazy, chunked reader of detector frames stored in an HDF5 or CXI file.

    Only the metadata and the (small) labels and mask are read on opening; frames are read on
    demand, so iterating with :meth:`iter_chunks` keeps the memory in use bounded by the
    chunk size, whatever the size of the file. Use it as a context manager, which closes the
    file.

    Parameters
    ----------
    path : str, path-like or h5py.File
        The file. An open ``h5py.File`` is used as is and not closed by the reader.
    data_path : str, sequence of str or None, default=None
        Dataset(s) holding the frames, shape ``(n_frames, H, W)``, any numeric dtype (photons
        or ADU). None means ``entry_1/data_1/data`` (CXI) when present, else the only dataset
        of the file with 3 or more dimensions.

        - A dataset of shape ``(n_frames, n_panels, h, w)`` (one detector's panels, e.g. the
          32 ASICs of a CSPAD in psana's unassembled order) is read as frames
          ``(n_frames, n_panels * h, w)``: panel ``p`` occupies rows ``p*h`` to ``(p+1)*h``.
        - A list of datasets (psocake-style files with one dataset per panel, each
          ``(n_frames, h_i, w)`` or 4-D as above) is concatenated along the rows, in list
          order: all must have the same number of frames and the same width ``w``.

        Concatenation does not place panels by the detector geometry (no gaps, rotations or
        offsets); use the facility's geometry tools first when the physical image matters.
    labels_path : str or None, default=None
        1-D dataset of class labels, one per frame. None means ``entry_1/labels/y`` when
        present. Datasets named ``groups`` and ``n_particles`` next to it (in the same group)
        are read as well, when present.
    mask : "auto", None, array-like of bool of shape (H, W) or path-like, default="auto"
        Detector mask, True = good pixel (as :class:`skspeckle.detector.Detector` and
        :class:`skspeckle.preprocessing.DetectorMask`). ``"auto"``: the file's CXI mask
        ``entry_1/data_1/mask`` (0 = good) when present, else None. A path is read with
        :func:`skspeckle.io.masks.read_mask` and its per-format defaults; for another
        convention or a dataset of the input file pass
        ``read_mask(path, dataset=..., convention=...)``. The mask is only reported
        (:attr:`mask`), never applied to the frames.
    chunk_frames : int or None, default=None
        Frames per chunk of :meth:`iter_chunks`. None means as many as fit in 64 MiB as
        float32 (at least one): e.g. 250 frames of 260 x 257 pixels, 16 of 1024 x 1024.

    Attributes
    ----------
    shape : tuple of int
        ``(n_frames, H, W)`` of the frames as returned.
    dtype : numpy.dtype
        Storage dtype of the frames in the file (the returned frames are always float32).
    data_paths : tuple of str
        The frame dataset(s) read.
    mask : ndarray of bool of shape (H, W) or None
        True for good pixels.
    y, groups, n_particles : ndarray of shape (n_frames,) or None
        Labels, particle / sample ids and particle counts when the file has them.
    chunk_frames : int
        Frames per chunk (resolved).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    OSError
        If it is not a readable HDF5 file (e.g. truncated).
    KeyError
        If a dataset path is missing (the message lists the file's datasets), or no frame
        dataset can be chosen automatically.
    ValueError
        If the frame datasets have the wrong number of dimensions or disagree in frame count
        or width, the labels have the wrong length, or the mask the wrong shape or dtype.

    See Also
    --------
    read_frames : The whole file in memory.
    CXIWriter : Write frames in the layout read by default.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skspeckle.io import FrameReader, write_cxi
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = write_cxi(os.path.join(tmp.name, "run.cxi"), np.ones((5, 8, 8)), y=["no-hit"] * 5)
    >>> with FrameReader(path, chunk_frames=2) as reader:
    ...     for start, frames in reader.iter_chunks():
    ...         print(start, frames.shape, frames.dtype)
    0 (2, 8, 8) float32
    2 (2, 8, 8) float32
    4 (1, 8, 8) float32
    >>> tmp.cleanup()
    """

    def __init__(self, path, data_path=None, *, labels_path=None, mask="auto", chunk_frames=None):
        if isinstance(path, h5py.File):
            self._h5, self._owns = path, False
        else:
            self._h5, self._owns = open_h5(path), True
        try:
            self._setup(data_path, labels_path, mask, chunk_frames)
        except BaseException:
            self.close()
            raise

    def _setup(self, data_path, labels_path, mask, chunk_frames):
        h5 = self._h5
        self.path = h5.filename
        if data_path is None:
            data_path = self._default_data_path()
        paths = (data_path,) if isinstance(data_path, (str, os.PathLike)) else tuple(data_path)
        if not paths:
            raise ValueError("data_path is an empty list; give at least one frame dataset.")
        self.data_paths = tuple(str(p) for p in paths)
        self._panels, rows = [], 0
        for p in self.data_paths:
            ds = get_dataset(h5, p, "Frame dataset")
            if ds.ndim not in (3, 4):
                raise ValueError(
                    f"Frame dataset {p!r} has shape {ds.shape}; expected (n_frames, H, W) or "
                    "(n_frames, n_panels, h, w). Give the path of the stacked frames."
                )
            n_frames, width = ds.shape[0], ds.shape[-1]
            height = int(np.prod(ds.shape[1:-1]))
            if self._panels and (n_frames, width) != (self.shape[0], self.shape[2]):
                raise ValueError(
                    f"Panel dataset {p!r} has {n_frames} frames of width {width} but "
                    f"{self.data_paths[0]!r} has {self.shape[0]} of width {self.shape[2]}; "
                    "panels concatenated along the rows need equal frame counts and widths."
                )
            self._panels.append((ds, rows, rows + height))
            rows += height
            self.shape = (int(n_frames), int(rows), int(width))
        self.dtype = np.result_type(*(ds.dtype for ds, _, _ in self._panels))
        if not np.issubdtype(self.dtype, np.number):
            raise ValueError(f"Frame dataset(s) {self.data_paths} hold {self.dtype}, not numbers.")
        self.mask = self._read_mask(mask)
        self.y = self.groups = self.n_particles = None
        self._read_all_labels(labels_path)
        frame_bytes = 4 * self.shape[1] * self.shape[2]
        if chunk_frames is None:
            chunk_frames = max(1, DEFAULT_CHUNK_BYTES // max(1, frame_bytes))
        if int(chunk_frames) != chunk_frames or chunk_frames < 1:
            raise ValueError(f"chunk_frames must be a positive int, got {chunk_frames!r}.")
        self.chunk_frames = int(chunk_frames)

    def _default_data_path(self):
        if isinstance(self._h5.get(DATA_PATH), h5py.Dataset):
            return DATA_PATH
        candidates = []
        self._h5.visititems(
            lambda name, obj: (
                candidates.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim >= 3 else None
            )
        )
        if len(candidates) == 1:
            return candidates[0]
        raise KeyError(
            f"{self._h5.filename!r} has no CXI frame dataset {DATA_PATH!r} and "
            f"{len(candidates)} datasets with 3 or more dimensions; pass data_path=. Datasets "
            f"in the file: {dataset_listing(self._h5)}."
        )

    def _read_mask(self, mask):
        frame_shape = self.shape[1:]
        if isinstance(mask, str) and mask == "auto":
            if not isinstance(self._h5.get(MASK_PATH), h5py.Dataset):
                return None
            return read_mask(self._h5, dataset=MASK_PATH, shape=frame_shape)
        if mask is None:
            return None
        if isinstance(mask, (str, os.PathLike)):
            return read_mask(mask, shape=frame_shape)
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != frame_shape:
            raise ValueError(
                f"mask must be a boolean array of the frame shape {frame_shape} (True = good "
                f"pixel); got {mask.dtype} of shape {mask.shape}. Read mask files with "
                "skspeckle.io.masks.read_mask."
            )
        return mask

    def _read_all_labels(self, labels_path):
        if labels_path is None:
            if not isinstance(self._h5.get(f"{LABELS_GROUP}/y"), h5py.Dataset):
                return
            labels_path = f"{LABELS_GROUP}/y"
        parent = labels_path.rpartition("/")[0]
        names = {"y": labels_path}
        for name in ("groups", "n_particles"):
            sibling = f"{parent}/{name}" if parent else name
            if isinstance(self._h5.get(sibling), h5py.Dataset):
                names[name] = sibling
        for name, path in names.items():
            ds = get_dataset(self._h5, path, "Label dataset")
            if ds.shape != (self.shape[0],):
                raise ValueError(
                    f"Label dataset {path!r} has shape {ds.shape} but there are "
                    f"{self.shape[0]} frames; labels must be 1-D with one entry per frame."
                )
            setattr(self, name, read_labels(ds))

    #: Per-frame ids of the frame-source interface (:mod:`skspeckle.io.sources`): none, the
    #: frame index in the file is the id.
    frame_ids = {}

    def identity(self):
        """``input_file``, ``input_size`` and ``input_mtime_ns`` of the file (frame-source
        interface, :mod:`skspeckle.io.sources`)."""
        return file_identity([self.path], self.path)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        """Frames as float32: ``reader[i]`` is ``(H, W)``, ``reader[a:b]`` and
        ``reader[[i, j, ...]]`` are ``(k, H, W)``."""
        n = self.shape[0]
        if isinstance(key, (int, np.integer)):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"Frame index {key} out of range for {n} frames.")
            return self._read(i, i + 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                return self._read(start, max(start, stop))
            key = np.arange(start, stop, step)
        index = np.asarray(key)
        if index.ndim != 1 or not (np.issubdtype(index.dtype, np.integer) or index.size == 0):
            raise TypeError(
                f"FrameReader indices must be an int, a slice or a 1-D integer array; got {key!r}."
            )
        index = np.where(index < 0, index + n, index)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"Frame indices out of range for {n} frames.")
        # HDF5 point selections must be increasing: read the sorted unique frames, then reorder.
        unique, inverse = np.unique(index, return_inverse=True)
        out = np.empty((len(unique), *self.shape[1:]), dtype=np.float32)
        for j, i in enumerate(unique):
            out[j] = self._read(int(i), int(i) + 1)[0]
        return out[inverse]

    def _read(self, start, stop):
        # Read straight into one float32 buffer (HDF5 converts the type), so a chunk costs its
        # float32 size once, with no temporary copy in the storage dtype. Only a 4-D panel
        # block next to other panels goes through a temporary of its own size.
        k = stop - start
        out = np.empty((k, *self.shape[1:]), dtype=np.float32)
        if k == 0:
            return out
        for ds, r0, r1 in self._panels:
            if ds.ndim == 3:
                ds.read_direct(out, np.s_[start:stop], np.s_[:, r0:r1])
            elif len(self._panels) == 1:
                ds.read_direct(out.reshape(k, *ds.shape[1:]), np.s_[start:stop])
            else:
                out[:, r0:r1] = ds.astype(np.float32)[start:stop].reshape(k, r1 - r0, -1)
        return out

    def iter_chunks(self):
        """Yield ``(start, frames)`` over the file, ``chunk_frames`` frames at a time.

        Yields
        ------
        start : int
            Index of the first frame of the chunk.
        frames : ndarray of float32 of shape (k, H, W)
            Frames ``start`` to ``start + k``; ``k <= chunk_frames``. A new array each time.
        """
        for start in range(0, self.shape[0], self.chunk_frames):
            yield start, self._read(start, min(start + self.chunk_frames, self.shape[0]))

    def close(self):
        """Close the file (unless it was passed in open)."""
        if self._owns and self._h5:
            self._h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return (
            f"FrameReader({self.path!r}, data_path={list(self.data_paths)!r}, shape={self.shape})"
        )


def read_frames(
    path,
    data_path=None,
    *,
    labels_path=None,
    return_labels=False,
    return_n_particles=False,
    max_bytes=2 * 2**30,
):
    """Read all frames of an HDF5 / CXI file into memory (small files).

    Parameters
    ----------
    path : str or path-like
        HDF5 or CXI file.
    data_path, labels_path : see :class:`FrameReader`
    return_labels : bool, default=False
        Also return the labels ``y`` and ``groups`` (None where the file has none).
    return_n_particles : bool, default=False
        Also return ``n_particles`` (None where the file has none).
    max_bytes : int, default=2 GiB
        Refuse files whose frames take more memory than this as float32.

    Returns
    -------
    X : ndarray of float32 of shape (n_frames, H, W)
        Frames in the file's units (photons or ADU).
    y, groups : ndarray of shape (n_frames,) or None
        Only with ``return_labels``.
    n_particles : ndarray of shape (n_frames,) or None
        Only with ``return_n_particles``.

    Raises
    ------
    MemoryError
        If the frames need more than ``max_bytes``: iterate with
        :meth:`FrameReader.iter_chunks` instead.
    FileNotFoundError, OSError, KeyError, ValueError
        As :class:`FrameReader`.
    """
    with FrameReader(path, data_path, labels_path=labels_path, mask=None) as reader:
        n_bytes = 4 * int(np.prod(reader.shape))
        if n_bytes > max_bytes:
            raise MemoryError(
                f"{reader.path!r} holds {reader.shape[0]} frames of {reader.shape[1:]} pixels, "
                f"{n_bytes / 2**30:.1f} GiB as float32, more than max_bytes={max_bytes}; read it "
                "chunk by chunk with FrameReader(...).iter_chunks(), or raise max_bytes."
            )
        out = [reader[:]]
        if return_labels:
            out += [reader.y, reader.groups]
        if return_n_particles:
            out.append(reader.n_particles)
    return out[0] if len(out) == 1 else tuple(out)


class CXIWriter(Transaction):
    """Append detector frames and their labels to a new CXI file, atomically.

    Frames go to ``entry_1/data_1/data`` (chunked, resizable), labels to
    ``entry_1/labels/{y,groups,n_particles}`` (see the module docstring for the layout). The
    file is written under a temporary name in the same directory and renamed to ``path``
    (``os.replace``) only by :meth:`close`; leaving the ``with`` block by an exception
    (KeyboardInterrupt included) deletes the temporary file, so no partial file is left.

    Parameters
    ----------
    path : str or path-like
        Output file (``.cxi`` or ``.h5``).
    frame_shape : tuple of int
        ``(H, W)`` of every frame.
    dtype : dtype, default=numpy.float32
        Storage dtype of the frames, an integer or floating dtype; values are cast to it,
        and never silently changed by the cast:

        - a value the dtype cannot hold raises a ``ValueError`` naming the frame and the
          value (unless ``clip``): for an integer dtype, a value below its minimum (e.g.
          negative ADU after dark subtraction in ``uint16``), above its maximum, or NaN;
          for a floating dtype, a finite value beyond its largest (65504 for float16,
          3.4e38 for float32);
        - an integer dtype rounds float values to the nearest integer (halves to even):
          quantising is what an integer dtype means, so 2.4 ADU is stored as 2;
        - a floating dtype keeps NaN and inf pixels as they are (bad pixels of real data are
          stored, not cleaned).
    clip : bool, default=False
        Clip the values ``dtype`` cannot hold to its range (NaN into an integer dtype is
        still refused) instead of raising. The frame dataset's attributes record it:
        ``clip_range`` (``[min, max]``), ``clipped_pixels`` and ``clipped_frames`` (counts
        over the whole file).
    mask : array-like of bool of shape (H, W) or None, default=None
        Detector mask, True = good pixel; stored as CXI flags in ``entry_1/data_1/mask``.
    attrs : dict or None, default=None
        Root attributes (e.g. simulation parameters); values HDF5 cannot store are written
        as JSON text.
    overwrite : bool, default=False
        Replace an existing ``path`` (only when the new file is complete).
    compression : {"gzip", "lzf"} or None, default="gzip"
        HDF5 filter of the frame dataset; gzip is readable by every HDF5 tool.
    compression_opts : int or None, default=1
        gzip level 0-9 (1: fast, and photon-count frames of mostly zeros compress well).

    Attributes
    ----------
    n_frames : int
        Frames appended so far.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    ValueError
        On a bad ``frame_shape``, ``mask`` or ``dtype``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skspeckle.io import CXIWriter, read_frames
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = os.path.join(tmp.name, "sim.cxi")
    >>> with CXIWriter(path, (8, 8)) as writer:
    ...     for batch in range(3):
    ...         writer.append(np.full((4, 8, 8), batch), ["single-hit"] * 4, ["1n7g"] * 4)
    >>> read_frames(path).shape
    (12, 8, 8)
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        path,
        frame_shape,
        *,
        dtype=np.float32,
        clip=False,
        mask=None,
        attrs=None,
        overwrite=False,
        compression="gzip",
        compression_opts=1,
    ):
        self.path = check_output_path(path, overwrite)
        self.overwrite = overwrite
        frame_shape = tuple(int(s) for s in np.atleast_1d(frame_shape))
        if len(frame_shape) != 2 or min(frame_shape) < 1:
            raise ValueError(f"frame_shape must be (H, W) with H, W >= 1; got {frame_shape!r}.")
        self.frame_shape = frame_shape
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != bool or mask.shape != frame_shape:
                raise ValueError(
                    f"mask must be a boolean array of shape {frame_shape} (True = good pixel); "
                    f"got {mask.dtype} of shape {mask.shape}."
                )
        dtype = np.dtype(dtype)
        if dtype.kind not in "iuf":
            raise ValueError(
                f"dtype must be an integer or floating dtype for detector frames; got {dtype}. "
                "Use numpy.float32 (the default), numpy.uint16 or numpy.int32, for instance."
            )
        self.dtype, self.clip = dtype, bool(clip)
        if compression != "gzip":
            compression_opts = None
        self._tmp = temporary_sibling(self.path)
        self._h5 = h5py.File(self._tmp, "w-")
        self._finalizer = weakref.finalize(self, discard_file, self._h5, str(self._tmp))
        try:
            h5 = self._h5
            h5["cxi_version"] = 150
            set_attrs(h5, {"creator": f"skspeckle {__version__}", **(attrs or {})})
            self._data = h5.create_dataset(
                DATA_PATH,
                shape=(0, *frame_shape),
                maxshape=(None, *frame_shape),
                dtype=dtype,
                chunks=frame_chunks(frame_shape, dtype.itemsize),
                compression=compression,
                compression_opts=compression_opts,
            )
            if self.clip:
                self._data.attrs["clip_range"] = _dtype_range(dtype)
                self._data.attrs["clipped_pixels"] = 0
                self._data.attrs["clipped_frames"] = 0
            if mask is not None:
                h5.create_dataset(MASK_PATH, data=(~mask).astype(np.uint32))
        except BaseException:
            self.abort()
            raise
        self._labels = None  # names of the label datasets, fixed by the first append

    @property
    def n_frames(self):
        return int(self._data.shape[0])

    def append(self, X, y=None, groups=None, n_particles=None, *, frame_info=None):
        """Append frames and, optionally, their labels and other per-frame information.

        Parameters
        ----------
        X : array-like of shape (n, H, W)
            Frames (photons or ADU), real numbers, cast to the storage dtype (see ``dtype``
            and ``clip`` of :class:`CXIWriter`).
        y, groups, n_particles : array-like of shape (n,) or None
            Class labels, particle / sample ids, particle counts. Each must be given in every
            call or in none (decided by the first call with frames).
        frame_info : dict of str to array-like of shape (n,) or None
            Per-frame columns written to ``entry_1/frame_info/<name>`` (numbers or strings),
            the same names in every call.

        Raises
        ------
        ValueError
            If ``X`` is not ``(n, H, W)`` with the writer's frame shape or not real numbers,
            holds a value the storage dtype cannot hold (without ``clip``; the message names
            the frame, counted from the start of the file, and the value), a label has the
            wrong length, or labels are given in some calls and not in others. Nothing of
            the call is written then.
        RuntimeError
            If the writer is closed.
        """
        if not self._h5:
            raise RuntimeError("This CXIWriter is closed; open a new one to write more frames.")
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[1:] != self.frame_shape:
            raise ValueError(
                f"X must be frames of shape (n, {self.frame_shape[0]}, {self.frame_shape[1]}); "
                f"got shape {X.shape}. Stack frames along the first axis (X[np.newaxis] for one)."
            )
        labels = {
            f"{LABELS_GROUP}/{name}": value
            for name, value in zip(_LABEL_NAMES, (y, groups, n_particles))
            if value is not None
        }
        labels.update({f"{FRAME_INFO_GROUP}/{n}": v for n, v in (frame_info or {}).items()})
        if self._labels is None and len(X):
            self._labels = tuple(labels)
        elif len(X) and tuple(labels) != self._labels:
            raise ValueError(
                f"This file's frames carry the labels {_names(self._labels)} (from the first "
                f"append); got {_names(labels)}. Give the same labels in every append."
            )
        labels = {name: np.asarray(value) for name, value in labels.items()}
        for path, value in labels.items():
            if value.shape != (len(X),):
                raise ValueError(
                    f"{path.rpartition('/')[2]} must have shape ({len(X)},), one entry per "
                    f"frame; got {value.shape}."
                )
        if not len(X):
            return
        start, stop = self.n_frames, self.n_frames + len(X)
        X, n_pixels, n_frames = _cast_frames(X, self.dtype, self.clip, start)
        self._data.resize(stop, axis=0)
        self._data[start:stop] = X
        if self.clip:
            attrs = self._data.attrs
            attrs["clipped_pixels"] = int(attrs["clipped_pixels"]) + n_pixels
            attrs["clipped_frames"] = int(attrs["clipped_frames"]) + n_frames
        for path, value in labels.items():
            self._append_labels(path, value, start, stop)

    def _append_labels(self, path, value, start, stop):
        name = path.rpartition("/")[2]
        text = value.dtype.kind in "USO"
        if path not in self._h5:
            dtype = STRING_DTYPE if text else value.dtype
            self._h5.create_dataset(path, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(4096,))
        ds = self._h5[path]
        if text != (h5py.check_string_dtype(ds.dtype) is not None):
            raise ValueError(
                f"{name} was {'text' if not text else 'numeric'} in the first append and is "
                f"{value.dtype} now; keep one type per label."
            )
        ds.resize(stop, axis=0)
        ds[start:stop] = value.astype(str).astype(object) if text else value

    def close(self):
        """Finish the file and move it to ``path``. Does nothing if already closed."""
        if not self._h5:
            return
        self._h5.close()
        try:
            if self.path.exists() and not self.overwrite:
                raise FileExistsError(
                    f"{str(self.path)!r} appeared while writing; pass overwrite=True to replace it."
                )
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._finalizer.detach()


def _names(paths):
    return [p.rpartition("/")[2] for p in paths]


def _dtype_range(dtype):
    """``[min, max]`` of the finite values of a numeric dtype."""
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    return np.array([info.min, info.max], dtype=dtype)


def _cast_frames(X, dtype, clip, first_frame):
    """``X`` cast to the storage ``dtype``, refusing (or with ``clip`` clipping) the values it
    cannot hold, so that neither HDF5 nor NumPy wraps, saturates or overflows them silently.

    Returns the frames to store, and the numbers of clipped pixels and frames.
    """
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"X must hold real numbers (photons or ADU); got dtype {X.dtype}. Convert the "
            "frames first, e.g. np.abs(X) for complex amplitudes or X.astype(np.float32)."
        )
    if np.can_cast(X.dtype, dtype, "safe"):
        return X, 0, 0
    integer = dtype.kind in "iu"
    if integer and X.dtype.kind == "f":
        nan = np.isnan(X)
        if nan.any():
            frame = int(np.argmax(nan.any(axis=(1, 2))))
            raise ValueError(
                f"Frame {first_frame + frame} has NaN pixel(s), which the integer dtype {dtype} "
                f"cannot store ({int(np.count_nonzero(nan))} NaN pixel(s) in these frames). "
                "Store them as float32 (dtype=numpy.float32, the default, keeps NaN and inf), "
                "or replace them first and pass mask= to flag them."
            )
        X = np.rint(X)  # quantise to the nearest integer (halves to even), as documented
    lo, hi = _dtype_range(dtype).tolist()

    def above(values):
        # X holds integers (or integral floats) for an integer dtype: compare with hi + 1,
        # exact as a float even where hi is not (2**63 - 1 rounds up to 2**63).
        return values >= hi + 1 if integer else values > hi

    # Fast path: the extremes (NaN ignored) are in range, so every value is.
    if np.fmin.reduce(X, axis=None) >= lo and not above(np.fmax.reduce(X, axis=None)):
        return X.astype(dtype), 0, 0
    low, high = X < lo, above(X)
    if not integer:  # a floating dtype stores inf (bad pixels) as inf: only finite values
        finite = np.isfinite(X)
        low &= finite
        high &= finite
    outside = low | high
    n_pixels = int(np.count_nonzero(outside))
    if not n_pixels:
        return X.astype(dtype), 0, 0
    per_frame = outside.any(axis=(1, 2))
    if not clip:
        frame = int(np.argmax(per_frame))
        row, col = np.unravel_index(int(np.argmax(outside[frame])), X.shape[1:])
        value = X[frame, row, col]
        below = bool(low[frame, row, col])
        if not integer:
            wider = "numpy.float64" if dtype.itemsize >= 4 else "numpy.float32 (the default)"
        elif below and lo == 0:
            wider = "a signed or floating dtype (numpy.float32, the default, keeps negative ADU)"
        else:
            wider = "a wider dtype (numpy.float32, the default, or a larger integer dtype)"
        raise ValueError(
            f"Frame {first_frame + frame} has the pixel value {value:.6g} at (row {row}, "
            f"column {col}), {'below' if below else 'above'} the {dtype} range "
            f"[{lo:.6g}, {hi:.6g}] of the storage dtype ({n_pixels} pixel(s) in "
            f"{int(np.count_nonzero(per_frame))} frame(s) out of range in all). Pass clip=True "
            "to clip them to the range (the counts are recorded in the file's attributes), "
            f"store them as {wider}, or rescale the frames."
        )
    X = np.where(outside, 0, X).astype(dtype)  # cast only values in range, then set the bounds
    X[low] = lo
    X[high] = hi
    return X, n_pixels, int(np.count_nonzero(per_frame))


def write_cxi(path, X, y=None, groups=None, n_particles=None, **kwargs):
    """Write frames and labels to a new CXI file in one call (see :class:`CXIWriter`).

    Parameters
    ----------
    path : str or path-like
        Output file.
    X : array-like of shape (n_frames, H, W)
        Frames (photons or ADU).
    y, groups, n_particles : array-like of shape (n_frames,) or None
        Labels written to ``entry_1/labels``.
    **kwargs
        ``dtype``, ``clip``, ``mask``, ``attrs``, ``overwrite``, ``compression``,
        ``compression_opts`` of :class:`CXIWriter`.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    FileExistsError, FileNotFoundError, ValueError
        As :class:`CXIWriter` and :meth:`CXIWriter.append` (e.g. a value the storage
        ``dtype`` cannot hold); no file is written then.
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"X must be frames of shape (n, H, W); got shape {X.shape}.")
    with CXIWriter(path, X.shape[1:], **kwargs) as writer:
        writer.append(X, y, groups, n_particles)
    return writer.path
