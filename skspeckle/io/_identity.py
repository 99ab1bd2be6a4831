"""The identity of the files a frame source reads, recorded in a run's journal so that a
resume on changed input is refused (:mod:`skspeckle.io.sources`)."""

from pathlib import Path

__all__ = ["file_identity"]


def file_identity(paths, root):
    """``identity()`` of a frame source reading the files ``paths``: ``root`` resolved, the
    total size in bytes and the latest modification time in ns."""
    stats = [Path(p).stat() for p in paths]
    return {
        "input_file": str(Path(root).resolve()),
        "input_size": int(sum(s.st_size for s in stats)),
        "input_mtime_ns": int(max(s.st_mtime_ns for s in stats)),
    }
