"""HDF5 plumbing shared by the CXI reader and writers: opening with clear errors, dataset
lookup, attributes, storage chunking and the all-or-nothing write protocol."""

import json
import os

import h5py
import numpy as np

# Target size of one HDF5 storage chunk: big enough for efficient compression and I/O, small
# enough to fit the default 1 MiB HDF5 chunk cache, so appends and slices stay cheap.
STORAGE_CHUNK_BYTES = 512 * 2**10
STRING_DTYPE = h5py.string_dtype("utf-8")


def open_h5(path, mode="r"):
    """Open an HDF5 file, turning HDF5's terse errors into ones that name the fix."""
    path = os.fspath(path)
    if mode in ("r", "r+") and not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        raise OSError(
            f"{path!r} could not be opened as an HDF5/CXI file ({exc}). It may be truncated "
            "(an interrupted copy or write), not HDF5 at all, or locked by a writer; check "
            "the file (h5ls / h5dump) or copy it again."
        ) from exc


def dataset_listing(h5, limit=20):
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found.append(f"{name} {obj.shape} {obj.dtype}")

    h5.visititems(visit)
    more = f", ... ({len(found) - limit} more)" if len(found) > limit else ""
    return ", ".join(found[:limit]) + more if found else "none"


def get_dataset(h5, path, what):
    obj = h5.get(path)
    if not isinstance(obj, h5py.Dataset):
        raise KeyError(
            f"{what} {path!r} is not a dataset of {h5.filename!r}. Datasets in the file: "
            f"{dataset_listing(h5)}. Pass the right dataset path."
        )
    return obj


def read_labels(dataset):
    """A 1-D label dataset as a NumPy array (strings as ``str``, not bytes)."""
    if h5py.check_string_dtype(dataset.dtype) is not None:
        return np.asarray(dataset.asstr()[()], dtype=str)
    return dataset[()]


def set_attrs(obj, attrs):
    """Store ``attrs`` as HDF5 attributes; values HDF5 cannot hold are stored as JSON."""
    for key, value in (attrs or {}).items():
        try:
            obj.attrs[key] = value
        except (TypeError, ValueError):
            obj.attrs[key] = json.dumps(value, default=repr)


def frame_chunks(frame_shape, itemsize):
    frame_bytes = int(np.prod(frame_shape)) * itemsize
    return (max(1, STORAGE_CHUNK_BYTES // max(1, frame_bytes)), *frame_shape)


def discard_file(h5, tmp_path):
    """Close and delete an unfinished temporary file (also run if a writer is garbage collected)."""
    try:
        h5.close()
    finally:
        if tmp_path is not None and os.path.exists(tmp_path):
            os.unlink(tmp_path)


class Transaction:
    """``with`` protocol of the writers: ``close`` (publish) on success, ``abort`` (discard the
    temporary file or group, through ``self._finalizer``) on any exception."""

    def abort(self):
        """Discard everything written so far; the output path is left untouched."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def discard_group(h5, tmp_group, owns):
    """Delete an unfinished in-place results group (also run if a writer is garbage collected)."""
    try:
        if h5 and tmp_group in h5:
            del h5[tmp_group]
    finally:
        if owns and h5:
            h5.close()
