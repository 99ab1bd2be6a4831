"""Classification results out: one new HDF5 group per run, written atomically.

Layout written by :class:`ResultsWriter` (e.g. through
:func:`skspeckle.streaming.predict_file`): one group (default ``skspeckle_results``) of a
new file, holding one dataset per result with row ``i`` for frame ``i`` of the input, and
the provenance (model parameters, package versions, input file) as group attributes.
"""

import os
import uuid
import weakref
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from skspeckle._version import __version__
from skspeckle.io._atomic import check_output_path, temporary_sibling
from skspeckle.io._hdf5 import (
    STRING_DTYPE,
    Transaction,
    discard_file,
    discard_group,
    open_h5,
    set_attrs,
)

__all__ = ["ResultsWriter", "write_results"]


class ResultsWriter(Transaction):
    """Write per-frame results into a new HDF5 group, atomically.

    By default a new file is written under a temporary name next to ``path`` and renamed
    into place by :meth:`close`. With ``in_place=True`` the group is added to the existing
    file ``path`` (e.g. the input CXI file): it is written under a temporary name in that
    file and renamed by :meth:`close`, or deleted on failure; no existing object is touched.
    Leaving the ``with`` block by an exception (KeyboardInterrupt included) discards
    everything.

    Parameters
    ----------
    path : str, path-like or h5py.File
        Output file; with ``in_place``, the existing file (or an ``h5py.File`` open for
        writing, left open).
    n_frames : int
        Rows of every per-frame dataset.
    group : str, default="skspeckle_results"
        Group that receives the datasets.
    attrs : dict or None, default=None
        Attributes of the group (provenance); values HDF5 cannot store are written as JSON.
    overwrite : bool, default=False
        Replace an existing output file (not allowed with ``in_place``).
    in_place : bool, default=False
        Add the group to the existing file ``path`` instead of writing a new file.

    Raises
    ------
    FileExistsError
        If the output file exists and ``overwrite`` is False.
    ValueError
        With ``in_place``, if ``group`` already exists in the file or ``overwrite`` is set.
    """

    def __init__(
        self,
        path,
        n_frames,
        *,
        group="skspeckle_results",
        attrs=None,
        overwrite=False,
        in_place=False,
    ):
        self.n_frames = int(n_frames)
        self.group = group.strip("/")
        if not self.group:
            raise ValueError("group must be a non-empty HDF5 path such as 'skspeckle_results'.")
        self.in_place = in_place
        self._rows = {}
        if in_place:
            if overwrite:
                raise ValueError(
                    "overwrite=True cannot be combined with in_place=True: results are only ever "
                    "added to the input file. Choose another group= instead."
                )
            if isinstance(path, h5py.File):
                self._h5, self._owns = path, False
            else:
                self._h5, self._owns = open_h5(path, "r+"), True
            self.path = Path(self._h5.filename)
            if self.group in self._h5:
                self._close_file()
                raise ValueError(
                    f"{str(self.path)!r} already has an object {self.group!r}; existing data "
                    "are never replaced in place. Pass another group= name."
                )
            parent, _, leaf = self.group.rpartition("/")
            self._tmp_group = f"{parent}/.{leaf}.partial-{uuid.uuid4().hex[:12]}".lstrip("/")
            self._tmp, self.overwrite = None, False
            self._finalizer = weakref.finalize(
                self, discard_group, self._h5, self._tmp_group, self._owns
            )
        else:
            self.path = check_output_path(path, overwrite)
            self.overwrite = overwrite
            self._tmp = temporary_sibling(self.path)
            self._h5, self._owns = h5py.File(self._tmp, "w-"), True
            self._tmp_group = self.group
            self._finalizer = weakref.finalize(self, discard_file, self._h5, str(self._tmp))
        try:
            self._group = self._h5.create_group(self._tmp_group)
            set_attrs(
                self._group,
                {
                    "skspeckle_version": __version__,
                    "created": datetime.now(timezone.utc).isoformat(),
                    "n_frames": self.n_frames,
                    **(attrs or {}),
                },
            )
        except BaseException:
            self.abort()
            raise

    def set_attrs(self, attrs):
        """Add attributes to the group (values HDF5 cannot store are written as JSON)."""
        set_attrs(self._group, attrs)

    def set(self, name, value):
        """Write a whole dataset ``name`` (e.g. the class labels ``classes``)."""
        value = np.asarray(value)
        if value.dtype.kind in "USO":
            self._group.create_dataset(
                name, data=value.astype(str).astype(object), dtype=STRING_DTYPE
            )
        else:
            self._group.create_dataset(name, data=value)

    def write_rows(self, start, **arrays):
        """Write rows ``start:start + len(a)`` of each per-frame dataset ``name=a``.

        Datasets are created on first use with shape ``(n_frames, *a.shape[1:])`` and the
        dtype of ``a`` (strings as variable-length UTF-8).

        Raises
        ------
        ValueError
            If rows fall outside ``n_frames`` or the row shape changes between calls.
        """
        for name, value in arrays.items():
            value = np.asarray(value)
            stop = start + len(value)
            if start < 0 or stop > self.n_frames:
                raise ValueError(f"Rows {start}:{stop} of {name!r} are outside 0:{self.n_frames}.")
            text = value.dtype.kind in "USO"
            if name not in self._group:
                self._group.create_dataset(
                    name,
                    shape=(self.n_frames, *value.shape[1:]),
                    dtype=STRING_DTYPE if text else value.dtype,
                    chunks=(min(max(self.n_frames, 1), 4096), *value.shape[1:]),
                )
            ds = self._group[name]
            if ds.shape[1:] != value.shape[1:]:
                raise ValueError(
                    f"{name!r} rows have shape {value.shape[1:]}, expected {ds.shape[1:]}."
                )
            ds[start:stop] = value.astype(str).astype(object) if text else value
            self._rows[name] = self._rows.get(name, 0) + len(value)

    def close(self):
        """Check that every per-frame dataset is complete and publish the group / file.

        Raises
        ------
        RuntimeError
            If some rows of a per-frame dataset were never written (nothing is published).
        """
        if not self._finalizer.alive:
            return
        try:
            missing = {n: k for n, k in self._rows.items() if k != self.n_frames}
            if missing:
                raise RuntimeError(
                    f"Results incomplete: rows written {missing} of {self.n_frames}; nothing saved."
                )
            if self.in_place:
                self._h5.move(self._tmp_group, self.group)
                self._close_file()
            else:
                self._h5.close()
                if self.path.exists() and not self.overwrite:
                    raise FileExistsError(
                        f"{str(self.path)!r} appeared while writing; pass overwrite=True to "
                        "replace it."
                    )
                os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._finalizer.detach()

    def _close_file(self):
        if self._owns:
            self._h5.close()


def write_results(
    path, results, *, group="skspeckle_results", attrs=None, overwrite=False, in_place=False
):
    """Write per-frame results (labels, scores, embeddings) into a new group, atomically.

    Parameters
    ----------
    path : str or path-like
        New output file (or, with ``in_place``, the existing file to add the group to).
    results : dict of str to array-like
        Datasets to write, each of shape ``(n_frames, ...)`` with the same ``n_frames``.
    group, attrs, overwrite, in_place
        As :class:`ResultsWriter`.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If the results disagree in length or are empty.
    FileExistsError
        As :class:`ResultsWriter`.
    """
    results = {name: np.asarray(value) for name, value in results.items()}
    lengths = {name: len(value) for name, value in results.items()}
    if not results or len(set(lengths.values())) != 1:
        raise ValueError(
            f"results must be a non-empty dict of arrays with one row per frame; got lengths "
            f"{lengths}."
        )
    with ResultsWriter(
        path,
        next(iter(lengths.values())),
        group=group,
        attrs=attrs,
        overwrite=overwrite,
        in_place=in_place,
    ) as writer:
        writer.write_rows(0, **results)
    return writer.path
