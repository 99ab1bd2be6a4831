"""A run's journal: finished chunks of results kept on disk until the whole run is done.

A long classification run (1e5-1e6 frames) must survive a batch scheduler's SIGTERM, a
``kill -9`` or a crash without losing its finished work. :class:`Journal` keeps each finished
chunk of results in a hidden directory beside the output, ``.<output name>.partial/``:

- ``manifest.json``: what the run is (input file, its size and mtime, model SHA-256, options),
  so that a resume against another input or model can be refused;
- ``chunk_<start>.npz``: the results of frames ``start:start + k`` (``numpy.savez``, no
  pickle), each written under a temporary name and renamed when complete, so a chunk is
  either whole or absent;
- ``lock``: held (``fcntl.flock``) while a process uses the journal; the kernel releases it
  when the process dies, however it dies, which tells a live run from a stale journal.

The journal knows nothing of models or physics; :func:`skspeckle.streaming.predict_file`
decides what goes into it and when a resume is allowed.
"""

import json
import os
import re
import shutil
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


def _fsync_dir(path):
    # Makes a rename durable: without it a power loss can forget that the file was renamed.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path, write):
    """Call ``write(file)`` on ``<path>.tmp``, flush it to disk, and rename it to ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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

    Raises
    ------
    BlockingIOError
        From :meth:`lock`, if another live process holds the journal (two runs writing the
        same output).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.manifest = None
        self.finished = {}
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

        Leftover temporary files of a process killed while committing are deleted.

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
        for entry in self.path.iterdir():
            match = _CHUNK.fullmatch(entry.name)
            if match:
                with np.load(entry, allow_pickle=False) as data:
                    self.finished[int(match.group(1))] = len(data[data.files[0]])
            elif entry.name.endswith(".tmp"):
                entry.unlink()
        return self

    def write_manifest(self):
        """Store :attr:`manifest` (atomically)."""
        text = json.dumps(self.manifest, indent=1, sort_keys=True).encode()
        _write_atomic(self.path / "manifest.json", lambda f: f.write(text))

    def commit(self, start, arrays):
        """Store the results ``arrays`` (dict of name to array, equal lengths) of the chunk
        starting at frame ``start``, durably (written, flushed to disk, renamed)."""
        arrays = {name: np.asarray(value) for name, value in arrays.items()}
        _write_atomic(
            self.path / f"chunk_{start:012d}.npz",
            lambda f: np.savez(f, allow_pickle=False, **arrays),
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
