"""European XFEL runs: AGIPD 1M frames by train and pulse, read lazily with EXtra-data and
assembled with EXtra-geom (the ``euxfel`` extra).

A run at European XFEL is a directory of EXDF HDF5 files, one per detector module and
sequence (``RAW-R0238-AGIPD07-S00000.h5``, or ``CORR-...`` for the corrected "proc" data).
The AGIPD 1M records up to 352 frames per train of X-ray pulses, 10 trains per second; each
frame is a stack of 16 modules of 512 x 128 pixels, placed in the detector plane by a
geometry (a CrystFEL ``.geom`` file, or the positions of the four quadrants). EXtra-data
reads the modules of a train by pulse (``extra_data.components.AGIPD1M``); EXtra-geom
assembles them into an image with NaN in the gaps (``AGIPD_1MGeometry.position_modules``).
Both are the facility's own packages (https://extra-data.readthedocs.io,
https://extra-geom.readthedocs.io); this module only maps them onto a frame source
(:mod:`skspeckle.io.sources`), so that :func:`skspeckle.streaming.predict_file` classifies
a run as it does a file, with the train and pulse id of every frame in the results.
"""

import hashlib
from pathlib import Path

import numpy as np

from skspeckle.io._identity import file_identity
from skspeckle.utils._optional import import_optional

__all__ = ["DEFAULT_CHUNK_BYTES", "EuXFELRun", "agipd_geometry"]

N_MODULES, MODULE_SHAPE = 16, (512, 128)
DEFAULT_CHUNK_BYTES = 64 * 2**20  # as FrameReader: 16 AGIPD 1M frames as float32


def agipd_geometry(geometry):
    """An EXtra-geom AGIPD 1M geometry from a CrystFEL file or quadrant positions.

    Parameters
    ----------
    geometry : str, path-like, sequence of 4 (x, y) pairs, or extra_geom geometry
        A CrystFEL ``.geom`` file (``AGIPD_1MGeometry.from_crystfel_geom``), the positions
        in mm of the corner of each quadrant, Q1 to Q4, as in the instrument's run
        logbook (``AGIPD_1MGeometry.from_quad_positions``), or a geometry (returned as is).

    Returns
    -------
    geometry : extra_geom.AGIPD_1MGeometry (or the geometry passed)

    Raises
    ------
    FileNotFoundError
        If the ``.geom`` file does not exist.
    ValueError
        If the quadrant positions are not 4 pairs of finite numbers.
    ImportError
        Without the ``euxfel`` extra.
    """
    if hasattr(geometry, "position_modules"):
        return geometry
    extra_geom = import_optional("extra_geom", "euxfel", purpose="assembling AGIPD frames")
    if isinstance(geometry, (str, Path)):
        if not Path(geometry).is_file():
            raise FileNotFoundError(f"Geometry file {str(geometry)!r} does not exist.")
        return extra_geom.AGIPD_1MGeometry.from_crystfel_geom(str(geometry))
    quads = np.asarray(geometry, dtype=float)
    if quads.shape != (4, 2) or not np.isfinite(quads).all():
        raise ValueError(
            "geometry must be a CrystFEL .geom file or the 4 quadrant positions as (x, y) "
            f"pairs in mm, e.g. [(-525, 625), (-550, -10), (520, -160), (542.5, 475)]; got "
            f"{geometry!r}."
        )
    return extra_geom.AGIPD_1MGeometry.from_quad_positions([tuple(q) for q in quads])


class EuXFELRun:
    """AGIPD 1M frames of a European XFEL run, by train and pulse: a lazy frame source.

    Only the run's index (train ids, frame counts, pulse and cell ids) is read on opening;
    frames are read on demand, a chunk at a time, so memory stays bounded by the chunk size.
    Frames come in the order of the run (train by train, pulses in the order recorded).

    - Corrected ("proc") runs: ``image.data`` (float32, calibrated), with the pixels flagged
      in the correction pipeline's per-frame ``image.mask`` (any bad-pixel bit set) NaN
      when ``facility_mask`` is True.
    - Raw runs: the data plane of ``image.data`` (uint16 ADU, no dark subtraction or gain
      correction; the gain plane is not read). Classify corrected data where the run has
      them; raw frames suit only a model trained on raw frames.
    - A module without data in a train (missing from the files) is NaN in that train's
      frames; a module absent from the whole run is False in :attr:`mask`.

    Parameters
    ----------
    run : str, path-like or extra_data.DataCollection
        Run directory (``.../raw/r0238`` or ``.../proc/r0238``), or a run opened with
        ``extra_data.RunDirectory`` / ``open_run``.
    detector : str or None, default=None
        Detector name, e.g. ``"SPB_DET_AGIPD1M-1"``; None means the only AGIPD 1M of the run.
    geometry : None, str, path-like, sequence of 4 (x, y) pairs or extra_geom geometry
        None keeps the modules: frames ``(16 * 512, 128)``, module ``m`` in rows
        ``512 m`` to ``512 (m + 1)`` (as :class:`~skspeckle.io.cxi.FrameReader` reads a
        ``(n, 16, 512, 128)`` dataset). Else the frames are the assembled images of this
        geometry (see :func:`agipd_geometry`), NaN (and False in :attr:`mask`) in the gaps:
        the frames of :meth:`skspeckle.detector.Detector.from_extra_geom`.
    trains : slice, extra_data.by_id / by_index or None, default=None
        Trains to read, as EXtra-data's ``select_trains``: a slice by position, or
        ``by_id[10000:10010]``, ``by_id[[10000, 10004]]``. None: all.
    pulses : slice, sequence of int or None, default=None
        Frames to read within each train, by position (EXtra-data's ``by_index``):
        ``np.s_[0:64:2]``, ``[1, 5, 9]``; positions past a train's end are ignored, and the
        frames stay in the run's order (a list selects, it does not reorder). None: all.
    raw : bool or None, default=None
        True: raw data, False: corrected data, None: corrected data when the run has them
        (EXtra-data's rule).
    facility_mask : bool, default=True
        NaN where the corrected data's ``image.mask`` flags a pixel of that frame.
    min_modules : int, default=1
        Leave out trains with data from fewer modules.
    chunk_frames : int or None, default=None
        Frames per chunk; None: as many as fit in 64 MiB as float32 (16 AGIPD 1M frames).

    Attributes
    ----------
    shape : tuple of int
        ``(n_frames, H, W)``.
    mask : ndarray of bool of shape (H, W)
        False for pixels without data in every frame (gaps, absent modules).
    frame_ids : dict of str to ndarray of uint64 of shape (n_frames,)
        ``train_id``, ``pulse_id`` and ``cell_id`` (the AGIPD memory cell) of each frame.
    path : str
        The run directory.
    data_paths : tuple of str
        Detector and data kind, geometry (SHA-256 of its pixel positions) and frame
        selection (SHA-256 of the train ids and positions): what a resume must match.
    detector_name : str
    raw : bool
        Whether raw data are read.
    geometry : extra_geom geometry or None
    chunk_frames : int

    Raises
    ------
    ImportError
        Without the ``euxfel`` extra (``pip install 'skspeckle[euxfel]'``).
    FileNotFoundError
        If the run directory does not exist.
    ValueError
        If the run has several AGIPD 1M and no ``detector``, the selection holds no frames,
        or a parameter is malformed.
    KeyError
        If the run has no AGIPD 1M (of that name): EXtra-data's ``SourceNameError``.

    See Also
    --------
    skspeckle.streaming.predict_file : Classify it (``skspeckle classify RUN_DIR``).
    skspeckle.detector.Detector.from_extra_geom : Simulate frames of the same geometry.

    Examples
    --------
    >>> import tempfile
    >>> from extra_data.tests.make_examples import make_modern_spb_proc_run
    >>> tmp = tempfile.TemporaryDirectory()
    >>> make_modern_spb_proc_run(tmp.name)
    >>> quads = [(-525, 625), (-550, -10), (520, -160), (542.5, 475)]
    >>> with EuXFELRun(tmp.name, geometry=quads, trains=slice(0, 2)) as run:
    ...     print(run.shape, run.frame_ids["train_id"][[0, -1]], run[0:3].dtype)
    (64, 1256, 1092) [10000 10001] float32
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        run,
        detector=None,
        *,
        geometry=None,
        trains=None,
        pulses=None,
        raw=None,
        facility_mask=True,
        min_modules=1,
        chunk_frames=None,
    ):
        extra_data = import_optional("extra_data", "euxfel", purpose="reading European XFEL runs")
        from extra_data.components import AGIPD1M

        if isinstance(run, (str, Path)):
            if not Path(run).is_dir():
                raise FileNotFoundError(
                    f"European XFEL run directory {str(run)!r} does not exist (give the "
                    "run's directory, e.g. .../proc/r0238)."
                )
            self.path = str(Path(run).resolve())
            run = extra_data.RunDirectory(self.path)
        else:
            self.path = str(Path(run.files[0].filename).resolve().parent)
        det = AGIPD1M(run, detector_name=detector, min_modules=min_modules, raw=raw)
        if trains is not None:
            det = det.select_trains(trains)
        self._det, self.detector_name = det, det.detector_name
        self.raw = det["image.data"].ndim == 5  # raw AGIPD: (modules, frames, data/gain, ...)
        self._masked = bool(facility_mask) and not self.raw and "image.mask" in det
        self.geometry = None if geometry is None else agipd_geometry(geometry)
        self._index(pulses)
        present = np.zeros(N_MODULES, dtype=bool)
        present[list(det.modno_to_source)] = True  # its keys: the module numbers
        modules = np.zeros((N_MODULES, *MODULE_SHAPE), dtype=np.float32)
        modules[~present] = np.nan
        self.mask = np.isfinite(self._place(modules))
        self.shape = (len(self._tid), *self.mask.shape)
        if not self.shape[0]:
            raise ValueError(
                f"No frames of {self.detector_name} in the selected trains and pulses of "
                f"{self.path!r}."
            )
        if chunk_frames is None:
            chunk_frames = max(1, DEFAULT_CHUNK_BYTES // (4 * self.mask.size))
        if int(chunk_frames) != chunk_frames or chunk_frames < 1:
            raise ValueError(f"chunk_frames must be a positive int, got {chunk_frames!r}.")
        self.chunk_frames = int(chunk_frames)
        self.data_paths = (
            f"{self.detector_name} {'raw' if self.raw else 'proc'} image.data"
            + (" masked by image.mask" if self._masked else ""),
            "modules (16 x 512 rows, 128 columns)"
            if self.geometry is None
            else f"geometry sha256:{_sha256(self.geometry.get_pixel_positions())}",
            f"frames sha256:{_sha256(self._tid, self._pos)}",
        )

    def _index(self, pulses):
        """Per-frame train id, pulse id, cell id and position in the train, for the frames
        selected by ``pulses``."""
        key = self._det["image.data"]
        tid = key.train_id_coordinates()
        counts = np.asarray(self._det.frame_counts.values, dtype=np.int64)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        pos = np.arange(len(tid)) - first
        keep = np.ones(len(tid), dtype=bool)
        if pulses is not None:
            if not isinstance(pulses, slice):
                pulses = np.asarray(pulses)
                if pulses.ndim != 1 or not np.issubdtype(pulses.dtype, np.integer):
                    raise ValueError(
                        "pulses must be a slice or a 1-D sequence of frame positions within "
                        f"the train (ints), e.g. np.s_[0:64:2] or [1, 5, 9]; got {pulses!r}."
                    )
                if pulses.size and pulses.min() < 0:
                    raise ValueError(f"pulses must be non-negative positions, got {pulses!r}.")
            length = np.repeat(counts, counts)
            for c in np.unique(counts):  # trains of one length share one selection
                sel = np.zeros(c, dtype=bool)
                sel[np.arange(c)[pulses] if isinstance(pulses, slice) else pulses[pulses < c]] = 1
                keep[length == c] = sel[pos[length == c]]
        self._tid = np.asarray(tid, dtype=np.uint64)[keep]
        self._pos = pos[keep]
        self.frame_ids = {
            "train_id": self._tid,
            "pulse_id": np.asarray(key.pulse_id_coordinates(), dtype=np.uint64)[keep],
            "cell_id": np.asarray(key.cell_id_coordinates(), dtype=np.uint64)[keep],
        }

    def _place(self, modules):
        """``(..., 16, 512, 128)`` module data as frames: assembled with the geometry, or the
        modules stacked along the rows."""
        modules = np.asarray(modules, dtype=np.float32)
        if self.geometry is None:
            return modules.reshape(*modules.shape[:-3], N_MODULES * MODULE_SHAPE[0], -1)
        image, _ = self.geometry.position_modules(modules)
        return image.reshape(*modules.shape[:-3], *image.shape[-2:])

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        """Frames as float32: ``run[i]`` is ``(H, W)``, ``run[a:b]`` and ``run[[i, j]]``
        are ``(k, H, W)``."""
        n = self.shape[0]
        if isinstance(key, (int, np.integer)):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"Frame index {key} out of range for {n} frames.")
            return self._read(np.array([i]))[0]
        if isinstance(key, slice):
            return self._read(np.arange(*key.indices(n)))
        index = np.asarray(key)
        if index.ndim != 1 or not (np.issubdtype(index.dtype, np.integer) or index.size == 0):
            raise TypeError(
                f"EuXFELRun indices must be an int, a slice or a 1-D integer array; got {key!r}."
            )
        index = np.where(index < 0, index + n, index).astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"Frame indices out of range for {n} frames.")
        unique, inverse = np.unique(index, return_inverse=True)
        return self._read(unique)[inverse]

    def _read(self, index):
        """Frames ``index`` (increasing), read train by train."""
        from extra_data import by_id, by_index

        # Module-major, as EXtra-data reads (one contiguous block per module and train), so
        # corrected data are read straight into it; the geometry takes the frame-major view.
        modules = np.empty((N_MODULES, len(index), *MODULE_SHAPE), dtype=np.float32)
        tids = self._tid[index]
        bounds = np.flatnonzero(np.diff(tids)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(index)]):
            train = self._det.select_trains(by_id[[int(tids[lo])]])
            key = train.masked_data() if self._masked else train["image.data"]
            key = key.select_pulses(by_index[self._pos[index[lo:hi]]])
            if self.raw:  # uint16: EXtra-data cannot read a pulse selection into float32
                modules[:, lo:hi] = key.ndarray(module_gaps=True, roi=(np.s_[0:1],))[:, :, 0]
            else:
                key.ndarray(module_gaps=True, out=modules[:, lo:hi])
            # Modules without data in this train (EXtra-data fills them with 0 for raw data).
            missing = ~train["image.data"].data_availability(module_gaps=True).any(axis=1)
            modules[missing, lo:hi] = np.nan
        return self._place(np.moveaxis(modules, 0, 1))

    def iter_chunks(self):
        """Yield ``(start, frames)`` for consecutive chunks of ``chunk_frames`` frames."""
        for start in range(0, self.shape[0], self.chunk_frames):
            yield start, self[start : start + self.chunk_frames]

    def identity(self):
        """``input_file`` (the run directory), ``input_size`` and ``input_mtime_ns`` of the
        detector's files, for the resume check."""
        return file_identity([f.filename for f in self._det.data.files], self.path)

    def close(self):
        """Close the run's files (EXtra-data keeps a bounded pool of open files)."""
        for f in self._det.data.files:
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return (
            f"EuXFELRun({self.path!r}, detector={self.detector_name!r}, shape={self.shape}, "
            f"{'raw' if self.raw else 'proc'}, "
            f"{'modules' if self.geometry is None else 'assembled'})"
        )


def _sha256(*arrays):
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()
