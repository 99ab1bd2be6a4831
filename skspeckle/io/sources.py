"""Frame sources: what :func:`skspeckle.streaming.predict_file` and ``skspeckle classify``
read frames from, whatever the facility's file layout.

A frame source is an object with these members (:class:`skspeckle.io.cxi.FrameReader` for
HDF5 / CXI files and :class:`skspeckle.io.euxfel.EuXFELRun` for European XFEL runs are
the two shipped); code that classifies frames elsewhere (e.g. on a cluster) needs nothing
else:

- ``shape``: ``(n_frames, H, W)`` of the frames as returned; ``chunk_frames``: frames per
  chunk of ``iter_chunks``; ``path`` (str): the file or run directory; ``data_paths``
  (tuple of str): what is read (datasets, or detector, geometry and selection), recorded
  with the results and checked on resume;
- ``mask``: ``(H, W)`` bool or None. False marks pixels that hold no data in any frame (the
  gaps between detector modules and tiles after assembly, modules missing from the run):
  their values are NaN in the frames, and they are masked pixels, not bad pixels;
- ``frame_ids``: dict of name to ``(n_frames,)`` array, the identity of each frame in the
  facility's terms, written next to the results (``train_id``, ``pulse_id``, ``cell_id``
  for European XFEL; empty for a file, where the frame index is the identity);
- ``len(source)``; ``source[i]`` ``(H, W)``, ``source[a:b]`` and ``source[[i, j]]``
  ``(k, H, W)``: frames as float32, NaN (or inf) where a pixel has no valid value;
- ``iter_chunks()``: ``(start, frames)`` pairs, ``chunk_frames`` frames at a time;
- ``identity()``: dict with ``input_file`` (absolute path), ``input_size`` (bytes) and
  ``input_mtime_ns`` (latest modification time) of what is read, so that a resume on
  changed data is refused;
- ``close()``, and use as a context manager.
"""

from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["FrameSource", "open_frames"]

SOURCES = ("auto", "cxi", "euxfel")


@runtime_checkable
class FrameSource(Protocol):
    """The interface of a frame source (see the module docstring for each member)."""

    shape: tuple
    chunk_frames: int
    path: str
    data_paths: tuple
    mask: object
    frame_ids: dict

    def __len__(self): ...

    def __getitem__(self, key): ...

    def iter_chunks(self): ...

    def identity(self): ...

    def close(self): ...


def open_frames(path, source="auto", *, data_path=None, chunk_frames=None, **options):
    """Open the frames of a file or facility run as a frame source.

    Parameters
    ----------
    path : str or path-like
        An HDF5 / CXI file, or a European XFEL run directory.
    source : {"auto", "cxi", "euxfel"}, default="auto"
        ``"cxi"``: :class:`~skspeckle.io.cxi.FrameReader` (any HDF5 file of frames);
        ``"euxfel"``: :class:`~skspeckle.io.euxfel.EuXFELRun`; ``"auto"``: ``"euxfel"``
        for a directory, else ``"cxi"``.
    data_path : str, sequence of str or None, default=None
        Frame dataset(s) of a file (``"cxi"`` only).
    chunk_frames : int or None, default=None
        Frames per chunk (None: as many as fit in 64 MiB as float32).
    **options
        Keyword arguments of :class:`~skspeckle.io.euxfel.EuXFELRun` (``detector``,
        ``geometry``, ``trains``, ``pulses``, ``raw``, ``facility_mask``); ``"euxfel"`` only.

    Returns
    -------
    FrameSource
        Open; close it (or use it in a ``with`` block).

    Raises
    ------
    ValueError
        If ``source`` is unknown, or options are given that the source does not take.
    FileNotFoundError, OSError, KeyError
        As the source's constructor.
    ImportError
        For ``"euxfel"`` without the ``euxfel`` extra (EXtra-data, EXtra-geom).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if source == "auto":
        source = "euxfel" if Path(path).is_dir() else "cxi"
    if source == "cxi":
        if options:
            raise ValueError(
                f"{sorted(options)} are options of European XFEL runs (source='euxfel'), not "
                f"of an HDF5 / CXI file such as {str(path)!r}."
            )
        from skspeckle.io.cxi import FrameReader

        return FrameReader(path, data_path, mask=None, chunk_frames=chunk_frames)
    if data_path is not None:
        raise ValueError(
            "data_path is for HDF5 / CXI files; a European XFEL run is read by detector "
            "(detector='SPB_DET_AGIPD1M-1', --detector on the command line)."
        )
    from skspeckle.io.euxfel import EuXFELRun

    return EuXFELRun(path, chunk_frames=chunk_frames, **options)
