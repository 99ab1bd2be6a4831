"""Output-path checks and temporary siblings shared by every writer, so that a file is either
complete or absent: writers fill a hidden temporary file next to the target and ``os.replace``
it into place only when done."""

import re
import uuid
from pathlib import Path

__all__ = ["check_output_path", "stale_temporaries", "temporary_sibling"]


def temporary_sibling(path):
    """A fresh hidden file name next to ``path`` (same file system, so os.replace is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def stale_temporaries(path):
    """The temporary siblings of ``path`` on disk (``.<name>.<12 hex>.tmp``): files of writers
    that were killed before they could delete them, or of one writing now."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"[0-9a-f]{12}\.tmp")
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name))


def check_output_path(path, overwrite):
    """``Path(path)`` after checking that it can be written; raises IsADirectoryError,
    FileExistsError (unless ``overwrite``) or FileNotFoundError (missing directory)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"Output path {str(path)!r} is a directory; give a file name.")
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{str(path)!r} already exists; pass overwrite=True to replace it, or choose "
            "another output path."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"The directory of {str(path)!r} does not exist; create it first.")
    return path
