"""A run's journal: finished chunks of results kept on disk until the whole run is done.

A long classification run (1e5-1e6 frames) must survive a batch scheduler's SIGTERM, a
``kill -9`` or a crash without losing its finished work. :class:`Journal` keeps each finished
chunk of results in a hidden directory beside the output, ``.<output name>.partial/``:

- ``manifest.json``: what the run is (input file, its size and mtime, model SHA-256, options),
  so that a resume against another input or model can be refused;
- ``chunk_<start>.npz``: the results of frames ``start:start + k`` (``numpy.savez``, no
  pickle), each written under a temporary name and renamed when complete, so a process
  killed at any point leaves a chunk whole or absent. Chunks are not flushed to disk one by
  one (an fsync per chunk costs several % of the streaming rate for small chunks): after a
  power loss, a chunk whose data did not reach the disk fails its zip CRC check when the
  journal is read, and is dropped and computed again;
- ``lock``: held (``fcntl.flock``) while a process uses the journal; the kernel releases it
  when the process dies, however it dies, which tells a live run from a stale journal.

The journal knows nothing of models or physics; :func:`skspeckle.streaming.predict_file`
decides what goes into it and when a resume is allowed.
"""

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["Journal", "journal_path"]

_CHUNK = re.compile(r"chunk_(\d{12})\.npz")


def journal_path(target, group):
    """The journal directory of the results of ``group`` going to (or into) file ``target``.

    The default group keeps the short name ``.<name>.partial``; another group is part of the
    name, so two groups added to one file in place have two journals.
    """
    target = Path(target)
    suffix = "" if group == "skspeckle_results" else "." + group.strip("/").replace("/", "_")
    return target.with_name(f".{target.name}{suffix}.partial")


def _write_atomic(path, write, durable):
    """Call ``write(file)`` on ``<path>.tmp`` and rename it to ``path``; with ``durable``,
    flush it to disk first (the manifest: a power loss must not leave an empty one)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


class Journal:
    """The finished chunks of one run, on disk beside its output.

    Take its :meth:`lock`, then :meth:`create` it (a new run) or :meth:`read` it (a resume);
    :meth:`commit` each finished
    chunk; read them back in order with :meth:`chunks`; :meth:`remove` it once the output is
    published. Its lock is held from opening to :meth:`close` (or :meth:`remove`).

    Parameters
    ----------
    path : path-like
        The journal directory (see :func:`journal_path`).

    Attributes
    ----------
    path : pathlib.Path
    manifest : dict or None
        The manifest of the run (None until created or read).
    finished : dict of int to int
        ``start -> number of frames`` of every committed chunk.
    dropped : list of str
        Damaged chunk files deleted by :meth:`read`.

    Raises
    ------
    BlockingIOError
        From :meth:`lock`, if another live process holds the journal (two runs writing the
        same output).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skspeckle.io.journal import Journal, journal_path
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = journal_path(os.path.join(tmp.name, "out.h5"), "skspeckle_results")
    >>> journal = Journal(path).lock().create({"n_frames": 3})
    >>> journal.commit(0, {"label": np.array(["hit", "miss"])})
    >>> journal.close()  # the process stops here; a later one resumes
    >>> again = Journal(path).lock().read()
    >>> again.finished, [arrays["label"].tolist() for _, arrays in again.chunks()]
    ({0: 2}, [['hit', 'miss']])
    >>> again.remove()
    >>> tmp.cleanup()
    """

    def __init__(self, path):
        self.path = Path(path)
        self.manifest = None
        self.finished = {}
        self.dropped = []
        self._lock = None

    def exists(self):
        """Whether a journal (finished or not) is on disk."""
        return self.path.is_dir()

    def lock(self):
        """Create the directory if needed and take its lock (first, before any other call)."""
        self.path.mkdir(exist_ok=True)
        lock = open(self.path / "lock", "a+")
        try:
            import fcntl  # POSIX only; the journal itself works without the lock elsewhere

            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            pass
        except BlockingIOError:
            lock.close()
            raise BlockingIOError(
                f"Another process is writing these results (its journal {str(self.path)!r} is "
                "locked); wait for it to finish, or stop it first."
            ) from None
        self._lock = lock
        return self

    def create(self, manifest):
        """Start an empty journal holding ``manifest`` (a JSON-serialisable dict); an existing
        journal's chunks are deleted first."""
        for entry in self.path.iterdir():
            if entry.name != "lock":
                entry.unlink()
        self.manifest = dict(manifest)
        self.finished = {}
        self.write_manifest()
        return self

    def read(self):
        """Lock the existing journal and read its manifest and list of finished chunks.

        Leftover temporary files of a process killed while committing are deleted, and so
        are damaged chunks (e.g. by a power loss), listed in :attr:`dropped`: they are
        computed again.

        Raises
        ------
        ValueError
            If the manifest is missing or unreadable (the journal is not usable).
        """
        try:
            self.manifest = json.loads((self.path / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            self.close()
            raise ValueError(
                f"The journal {str(self.path)!r} has no readable manifest ({exc}); it cannot be "
                "resumed. Pass --overwrite (overwrite=True) to discard it and start again."
            ) from None
        self.dropped = []
        for entry in sorted(self.path.iterdir()):
            match = _CHUNK.fullmatch(entry.name)
            if match:
                lengths = self._check_chunk(entry)
                if len(lengths) == 1:
                    self.finished[int(match.group(1))] = lengths.pop()
                    continue
                self.dropped.append(entry.name)
                entry.unlink()
            elif entry.name.endswith(".tmp"):
                entry.unlink()
        return self

    @staticmethod
    def _check_chunk(path):
        """The set of array lengths of a chunk file, read in full (which checks the CRC of
        every array); empty if the file is unreadable or damaged."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return {len(data[name]) for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return set()

    def write_manifest(self):
        """Store :attr:`manifest` (atomically)."""
        text = json.dumps(self.manifest, indent=1, sort_keys=True).encode()
        _write_atomic(self.path / "manifest.json", lambda f: f.write(text), durable=True)

    def commit(self, start, arrays):
        """Store the results ``arrays`` (dict of name to array, equal lengths; no object
        arrays: they would need pickle, which :meth:`chunks` refuses) of the chunk starting at
        frame ``start`` (written in full, then renamed)."""
        arrays = {name: np.asarray(value) for name, value in arrays.items()}
        _write_atomic(
            self.path / f"chunk_{start:012d}.npz",
            lambda f: np.savez(f, **arrays),
            durable=False,
        )
        self.finished[start] = len(next(iter(arrays.values())))

    def chunks(self):
        """Yield ``(start, arrays)`` of every committed chunk, in frame order."""
        for start in sorted(self.finished):
            with np.load(self.path / f"chunk_{start:012d}.npz", allow_pickle=False) as data:
                yield start, {name: data[name] for name in data.files}

    def n_finished(self):
        """Frames in the committed chunks."""
        return sum(self.finished.values())

    def close(self):
        """Release the lock (the journal stays on disk)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def remove(self):
        """Delete the journal from disk and release its lock."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
