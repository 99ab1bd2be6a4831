"""What comes out of a classified run: the kept frames for reconstruction, and a keep/drop
list for the facility's data reduction.

After :func:`skspeckle.streaming.predict_file`, only the frames of some classes (the single
hits) go on to 3-D reconstruction by EMC, e.g. Dragonfly (Ayyer et al., J. Appl. Cryst. 49,
1320 (2016)), which reads CXI files; and the facility can reduce the raw data to the frames
kept. :func:`keep_frames` writes both from the results file, reading the kept frames once
more from their source. The input data are only read; every output is written under a
temporary name and renamed when complete.
"""

import csv
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from skspeckle._version import __version__
from skspeckle.io._atomic import check_output_path, temporary_sibling
from skspeckle.io._hdf5 import open_h5, read_labels
from skspeckle.io.cxi import CXIWriter
from skspeckle.io.results import write_results

__all__ = ["keep_frames", "parse_classes"]

KEEP_LIST_GROUP = "keep_list"


def parse_classes(values):
    """Class names from ``["single-hit", "multi-hit,no-hit"]`` (repeated or comma-separated),
    in order, without duplicates or empty names."""
    names = [name.strip() for value in values for name in str(value).split(",")]
    return list(dict.fromkeys(name for name in names if name))


def keep_frames(
    source,
    results_path,
    classes,
    *,
    frames_path=None,
    list_paths=(),
    group="skspeckle_results",
    overwrite=False,
):
    """Write the frames classified as ``classes`` to a new CXI file, and a keep/drop list.

    A frame is kept when its ``predicted_label`` is one of ``classes`` and it is ``valid``
    (frames left out by ``nonfinite="skip"`` are dropped).

    The CXI file (:class:`~skspeckle.io.cxi.CXIWriter` layout) holds the kept frames as
    float32, as read from the source (NaN where the source has no valid value, e.g. the
    gaps of an assembled AGIPD image, which ``entry_1/data_1/mask`` flags as bad), and per
    kept frame in ``entry_1/frame_info/``: ``input_index`` (int64, the frame's index in the
    source and the row of the results), the source's ids (``train_id``, ``pulse_id``,
    ``cell_id`` of a European XFEL run), ``predicted_label`` and, when the results have
    ``probabilities``, ``probability`` (float64, of the predicted class). Root attributes
    give the provenance: ``source``, ``data_path``, ``results_file``, ``kept_classes``,
    ``model``, ``model_sha256``, ``n_kept``, ``n_frames``, ``created``.

    The keep/drop list has one row per frame of the source, with the same columns as
    ``frame_info`` and ``keep`` (bool): a CSV file (header row, ``keep`` as 1 / 0) for a
    path ending in ``.csv``, else an HDF5 file with one dataset per column in the group
    ``keep_list`` (with the provenance as its attributes).

    Parameters
    ----------
    source : frame source
        The frames classified (:func:`skspeckle.io.sources.open_frames`), open.
    results_path : str or path-like
        The results file of :func:`~skspeckle.streaming.predict_file` on ``source``.
    classes : sequence of str
        Classes to keep, e.g. ``["single-hit"]`` (see :func:`parse_classes`).
    frames_path : str, path-like or None, default=None
        New CXI file for the kept frames; None writes none.
    list_paths : sequence of str or path-like, default=()
        New keep/drop list files (``.csv`` or HDF5, e.g. ``.h5``).
    group : str, default="skspeckle_results"
        The results group.
    overwrite : bool, default=False
        Replace existing output files.

    Returns
    -------
    summary : dict
        ``n_frames``, ``n_kept``, ``kept_classes`` (list), ``frames_path`` (str or None),
        ``list_paths`` (list of str).

    Raises
    ------
    ValueError
        If a class is not one of the model's classes (the message lists them), no output is
        asked for, or the results do not belong to ``source`` (another input or frame
        count).
    FileExistsError
        If an output exists and ``overwrite`` is False (checked before anything is written).
    FileNotFoundError, OSError, KeyError
        If the results file or group cannot be read.
    """
    classes = parse_classes(classes)
    if not classes:
        raise ValueError("Name at least one class to keep, e.g. classes=['single-hit'].")
    outputs = [Path(p) for p in ([frames_path] if frames_path is not None else [])]
    outputs += [Path(p) for p in list_paths]
    if not outputs:
        raise ValueError("Give frames_path (kept frames, CXI) and/or list_paths (keep/drop list).")
    for path in outputs:
        check_output_path(path, overwrite)
    columns, attrs = _read_results(results_path, group, source, classes)
    keep = columns.pop("keep")
    kept = np.flatnonzero(keep)
    attrs.update(kept_classes=classes, n_kept=len(kept), n_frames=len(keep))
    if frames_path is not None:
        with CXIWriter(
            frames_path, source.shape[1:], mask=source.mask, attrs=attrs, overwrite=overwrite
        ) as writer:
            for lo in range(0, len(kept), source.chunk_frames):
                index = kept[lo : lo + source.chunk_frames]
                writer.append(source[index], frame_info={n: c[index] for n, c in columns.items()})
    for path in list_paths:
        table = {**columns, "keep": keep}
        if Path(path).suffix.lower() == ".csv":
            _write_csv(path, table, overwrite)
        else:
            write_results(path, table, group=KEEP_LIST_GROUP, attrs=attrs, overwrite=overwrite)
    return {
        "n_frames": len(keep),
        "n_kept": len(kept),
        "kept_classes": classes,
        "frames_path": None if frames_path is None else str(frames_path),
        "list_paths": [str(p) for p in list_paths],
    }


def _read_results(results_path, group, source, classes):
    """The per-frame columns of the keep/drop list (with ``keep``) and the provenance."""
    with open_h5(results_path) as h5:
        if group not in h5:
            raise KeyError(f"{str(results_path)!r} has no results group {group!r}.")
        g = h5[group]
        n = int(g.attrs["n_frames"])
        identity = source.identity()
        if n != len(source) or g.attrs.get("input_file") != identity["input_file"]:
            raise ValueError(
                f"The results in {str(results_path)!r} are of {g.attrs.get('input_file')!r} "
                f"({n} frames), not of {identity['input_file']!r} ({len(source)} frames): "
                "keep frames from the source that was classified."
            )
        labels = read_labels(g["predicted_label"])
        known = read_labels(g["classes"]).astype(str).tolist() if "classes" in g else None
        if known is not None:
            unknown = [c for c in classes if c not in known]
            if unknown:
                raise ValueError(
                    f"{unknown} not among the model's classes {known}; name classes to keep "
                    "from that list."
                )
        columns = {"input_index": np.arange(n, dtype=np.int64)}
        for name in source.frame_ids:
            columns[name] = g[name][()]
        columns["predicted_label"] = labels
        if "probabilities" in g and known is not None:
            # The score of the predicted class (NaN for frames without a prediction).
            p = np.column_stack([g["probabilities"][()], np.full(n, np.nan)])
            column = {c: i for i, c in enumerate(known)}
            which = [column.get(label, len(known)) for label in labels.astype(str)]
            columns["probability"] = p[np.arange(n), which]
        columns["keep"] = g["valid"][()] & np.isin(labels.astype(str), classes)
        attrs = {
            "source": identity["input_file"],
            "data_path": list(source.data_paths),
            "results_file": str(Path(results_path).resolve()),
            "results_group": group,
            "model": g.attrs.get("model", ""),
            "model_sha256": g.attrs.get("model_sha256", ""),
            "skspeckle_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(),
        }
    return columns, attrs


def _write_csv(path, table, overwrite):
    path = check_output_path(path, overwrite)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(list(table))
            rows = zip(
                *(np.asarray(c).astype(int) if c.dtype == bool else c for c in table.values())
            )
            out.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
