"""The label file of a labelling session: one label per frame, saved atomically after every
change, locked against a second session, with undo per browser tab and exports.

A label file is keyed by the run's file and the frame index in it (CSV or JSON, by its
suffix). Each change rewrites the whole file through a temporary sibling and ``os.replace``
(:mod:`skspeckle.io._atomic`), after ``fsync``, before the change is acknowledged: a crash of
the server loses at most the label being written. A session holds an exclusive ``flock`` on
a lock file beside the labels for its lifetime, so a second ``skspeckle label`` on the same
file is refused with a message instead of overwriting the first one's work; several tabs of
one session share its store (their changes are per frame, so none overwrites another's).
"""

import csv
import io
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

from skspeckle.io._atomic import temporary_sibling

__all__ = [
    "CLASS_LABELS",
    "LABELS",
    "REFERENCE_CODES",
    "LabelFileLocked",
    "LabelStore",
]

#: Labels a frame can get, in the order of the keyboard keys 1-6.
LABELS = ("single-hit", "multi-hit", "non-sample-hit", "no-hit", "unknown", "needs-help")
#: The labels that are classes of the few-shot classifier (``unknown`` and ``needs-help`` are
#: notes to the scientist, not classes).
CLASS_LABELS = LABELS[:4]
#: skspeckle label -> label code of the SpeckleNN group's labelling tool
#: (carbonscott/hit-labeler: single, multi, no-hit/non-sample, unknown, needs-help,
#: background), written beside each label so its label files can be compared and imported.
REFERENCE_CODES = {
    "single-hit": "single",
    "multi-hit": "multi",
    "non-sample-hit": "non-sample",
    "no-hit": "no-hit",
    "unknown": "unknown",
    "needs-help": "needs-help",
}
# Reference codes read back: "background" (an empty frame) is a no hit here.
_FROM_CODE = {**{v: k for k, v in REFERENCE_CODES.items()}, "background": "no-hit"}
_FIELDS = ("file", "frame_index", "label", "reference_code", "time_utc")


class LabelFileLocked(RuntimeError):
    """The label file is in use by another labelling session."""


def _lock(path):
    """An exclusive, non-blocking lock on ``.<name>.lock`` beside ``path``; the kernel drops it
    when the process ends, crash or not, so a stale lock never blocks the next session."""
    import fcntl

    lock_path = path.with_name(f".{path.name}.lock")
    handle = open(lock_path, "a+")  # noqa: SIM115 (held open for the session's lifetime)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise LabelFileLocked(
            f"{str(path)!r} is open in another labelling session (process {owner}); use that "
            "session's page (all its tabs share the labels), stop it first, or pass another "
            "--labels file."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _label_from(text):
    """A label or a reference code -> the skspeckle label."""
    if text in LABELS:
        return text
    if text in _FROM_CODE:
        return _FROM_CODE[text]
    raise ValueError(
        f"Unknown label {text!r}; expected one of {list(LABELS)} or a reference code "
        f"{sorted(_FROM_CODE)}."
    )


class LabelStore:
    """Labels of the frames of one run, persisted to a CSV or JSON file after every change.

    Parameters
    ----------
    path : str or path-like
        The label file (``.csv`` or ``.json``). An existing file is read (labels of other
        runs in it are kept and written back untouched); a missing one is created at the
        first label. Its directory must exist.
    run : str
        The run's key in the file (its path, as the session names it).
    n_frames : int
        Frames in the run: indices ``0 .. n_frames - 1``.
    lock : bool, default=True
        Take the session lock (:class:`LabelFileLocked` if another session holds it).

    Attributes
    ----------
    labels : dict of int -> str
        Frame index -> label of this run.

    Raises
    ------
    LabelFileLocked
        If another session holds the file.
    ValueError
        If the suffix is neither ``.csv`` nor ``.json``, or the file holds an unknown label
        or a frame index outside the run.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    """

    def __init__(self, path, run, n_frames, *, lock=True):
        self.path = Path(path)
        if self.path.suffix.lower() not in (".csv", ".json"):
            raise ValueError(
                f"Label file {str(self.path)!r} must end in .csv or .json (the format is chosen "
                "by the suffix)."
            )
        if not self.path.parent.is_dir():
            raise FileNotFoundError(
                f"The directory of the label file {str(self.path)!r} does not exist; create it."
            )
        self.run, self.n_frames = str(run), int(n_frames)
        self._mutex = threading.Lock()
        self._lock_handle = _lock(self.path) if lock else None
        self.labels, self._times, self._others = {}, {}, []
        self._history = {}  # tab id -> [(frame index, previous label or None), ...]
        self.revision = 0
        if self.path.exists():
            self._read()

    # ------------------------------------------------------------------ reading
    def _read(self):
        text = self.path.read_text()
        if not text.strip():
            return
        rows = (
            json.loads(text)["labels"]
            if self.path.suffix.lower() == ".json"
            else list(csv.DictReader(io.StringIO(text)))
        )
        for row in rows:
            if str(row["file"]) != self.run:
                self._others.append(row)
                continue
            index = int(row["frame_index"])
            if not 0 <= index < self.n_frames:
                raise ValueError(
                    f"{str(self.path)!r} labels frame {index} of {self.run!r}, which has "
                    f"{self.n_frames} frames; is it the label file of another run?"
                )
            self.labels[index] = _label_from(str(row["label"]))
            self._times[index] = str(row.get("time_utc") or "")

    # ------------------------------------------------------------------ changes
    def set(self, index, label, tab="default"):
        """Label frame ``index`` (None removes its label) and save; returns the revision.

        Raises
        ------
        IndexError
            If ``index`` is outside the run.
        ValueError
            If ``label`` is not one of :data:`LABELS` (or a reference code).
        """
        index = self.check_index(index)
        label = None if label is None else _label_from(label)
        with self._mutex:
            previous = self.labels.get(index)
            self._apply(index, label)
            self._history.setdefault(str(tab), []).append((index, previous))
            return self._save()

    def undo(self, tab="default"):
        """Undo the last change made from ``tab``; returns ``(frame index, revision)``, or
        ``(None, revision)`` when that tab has nothing to undo."""
        with self._mutex:
            history = self._history.get(str(tab))
            if not history:
                return None, self.revision
            index, previous = history.pop()
            self._apply(index, previous)
            return index, self._save()

    def _apply(self, index, label):
        if label is None:
            self.labels.pop(index, None)
            self._times.pop(index, None)
        else:
            self.labels[index] = label
            self._times[index] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def check_index(self, index):
        """``index`` as an int; IndexError unless it is a frame of the run."""
        if isinstance(index, bool) or int(index) != index or not 0 <= index < self.n_frames:
            raise IndexError(
                f"Frame index {index!r} is outside the run (0 to {self.n_frames - 1})."
            )
        return int(index)

    # ------------------------------------------------------------------ writing
    def rows(self):
        """The rows of this run, sorted by frame index (dicts with the export fields)."""
        return [
            {
                "file": self.run,
                "frame_index": i,
                "label": self.labels[i],
                "reference_code": REFERENCE_CODES[self.labels[i]],
                "time_utc": self._times.get(i, ""),
            }
            for i in sorted(self.labels)
        ]

    def to_csv(self):
        """The label file's text in CSV (this run's rows after other runs')."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._others + self.rows())
        return out.getvalue()

    def to_json(self):
        """The label file's text in JSON: ``{"labels": [...], "reference_codes": {...}}``."""
        payload = {
            "format": "skspeckle-labels-1",
            "reference_codes": REFERENCE_CODES,
            "labels": self._others + self.rows(),
        }
        return json.dumps(payload, indent=1) + "\n"

    def _save(self):
        text = self.to_json() if self.path.suffix.lower() == ".json" else self.to_csv()
        tmp = temporary_sibling(self.path)
        try:
            with open(tmp, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())  # on disk before the rename, so a crash cannot leave it empty
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self.revision += 1
        return self.revision

    def counts(self):
        """Frames per label, every label of :data:`LABELS` present (0 when unused)."""
        counts = dict.fromkeys(LABELS, 0)
        for label in self.labels.values():
            counts[label] += 1
        return counts

    def close(self):
        """Release the session lock."""
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None
