"""Save and load fitted models (pipelines, embedders, classifiers) with their versions.

A model file is a short text header followed by a joblib pickle of the estimator::

    skspeckle-model
    {"format_version": 1, "skspeckle": "0.1.0", "sklearn": "...", "torch": "...", ...}
    <joblib payload>

The header is read before anything is unpickled, so a file from an incompatible skspeckle
version is refused with a message naming both versions, instead of failing somewhere inside
unpickling. Compatibility rule: the same major and minor version while skspeckle is 0.x
(``0.1.0`` loads ``0.1.3`` but not ``0.2.0``), the same major version from 1.0 on.

Pickles run code when loaded: load only model files you trust.
"""

import json
import os
import platform
import re
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import joblib
from sklearn.base import BaseEstimator

from skspeckle._version import __version__
from skspeckle.io._atomic import check_output_path, temporary_sibling

__all__ = ["load_model", "read_model_header", "save_model"]

_MAGIC = b"skspeckle-model\n"
_FORMAT_VERSION = 1


def _dist_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _release(version):
    """Leading numeric components of a version string: "0.1.0.dev3" -> (0, 1, 0)."""
    parts = []
    for part in str(version).split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.end() < len(part):  # a pre-release or local suffix ends the release
            break
    return tuple(parts)


def _compatible(saved, current):
    saved, current = _release(saved), _release(current)
    if len(saved) < 2 or len(current) < 2:
        return False
    if current[0] == 0:
        return saved[:2] == current[:2]
    return saved[0] == current[0]


def _modules_to_cpu(obj, seen=None):
    """Move every torch module held by ``obj`` (estimators, pipelines, lists, dicts) to CPU.

    Fitted modules are kept on CPU between calls by convention; this makes sure of it before
    pickling, since a pickled CUDA tensor cannot be loaded on a machine without CUDA.
    """
    torch = sys.modules.get("torch")
    if torch is None:  # never imported: the model holds no tensors
        return
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.nn.Module):
        obj.cpu()
    elif isinstance(obj, torch.Tensor) and obj.device.type != "cpu":
        raise ValueError(
            f"The model holds a tensor on {obj.device} outside a torch module; move it to the "
            "CPU (tensor.cpu()) before saving, so the model loads on machines without a GPU."
        )
    elif isinstance(obj, BaseEstimator):
        for value in vars(obj).values():
            _modules_to_cpu(value, seen)
    elif isinstance(obj, (list, tuple, set)):
        for value in obj:
            _modules_to_cpu(value, seen)
    elif isinstance(obj, dict):
        for value in obj.values():
            _modules_to_cpu(value, seen)


def save_model(estimator, path, *, overwrite=False):
    """Save a (fitted) estimator with the package versions, atomically.

    The file is written under a temporary name in the same directory and renamed into place
    when complete, so an interrupted save leaves neither a partial model nor a temporary
    file. Torch modules held by the estimator are moved to the CPU first (they already are,
    by the package's convention), so the model loads on machines without CUDA.

    Parameters
    ----------
    estimator : estimator object
        Typically a fitted ``Pipeline`` such as
        ``make_pipeline(DetectorMask(0.25), TripletEmbedder(), FewShotCentroidClassifier())``.
    path : str or path-like
        Output file, e.g. ``model.joblib``.
    overwrite : bool, default=False
        Replace an existing file.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    ValueError
        If the estimator holds a non-CPU tensor outside a torch module.
    """
    path = check_output_path(path, overwrite)
    _modules_to_cpu(estimator)
    header = {
        "format_version": _FORMAT_VERSION,
        "skspeckle": __version__,
        "sklearn": _dist_version("scikit-learn"),
        "torch": _dist_version("torch"),
        "numpy": _dist_version("numpy"),
        "python": platform.python_version(),
        "estimator": type(estimator).__name__,
        "created": datetime.now(timezone.utc).isoformat(),
    }
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "xb") as f:
            f.write(_MAGIC)
            f.write(json.dumps(header).encode() + b"\n")
            joblib.dump(estimator, f)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_model_header(path):
    """The version header of a model file written by :func:`save_model`, without unpickling.

    Parameters
    ----------
    path : str or path-like
        Model file.

    Returns
    -------
    header : dict
        ``format_version``, ``skspeckle``, ``sklearn``, ``torch``, ``numpy``, ``python``
        versions, ``estimator`` (class name) and ``created`` (UTC, ISO 8601).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it was not written by :func:`save_model` or its header is damaged.
    """
    with open(path, "rb") as f:
        return _read_header(f, path)


def _read_header(f, path):
    if f.read(len(_MAGIC)) != _MAGIC:
        raise ValueError(
            f"{str(path)!r} is not a skspeckle model file (it does not start with the "
            "skspeckle-model header). Save models with skspeckle.save_model; a plain "
            "joblib.dump file can be read with joblib.load if you trust it."
        )
    try:
        header = json.loads(f.readline())
        header["skspeckle"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{str(path)!r} has a damaged skspeckle model header ({exc}); save the model again."
        ) from exc
    return header


def load_model(path):
    """Load an estimator saved by :func:`save_model`, refusing incompatible versions.

    Pickles run code when loaded: load only files you trust.

    Parameters
    ----------
    path : str or path-like
        Model file.

    Returns
    -------
    estimator : estimator object
        As saved; its torch modules are on the CPU.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file was not written by :func:`save_model`, is truncated or corrupt, or was
        written by an incompatible skspeckle version (0.x: another major.minor; from 1.0:
        another major) or a newer file format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such model file: {str(path)!r}.")
    with open(path, "rb") as f:
        header = _read_header(f, path)
        saved, current = header["skspeckle"], __version__
        if not _compatible(saved, current):
            raise ValueError(
                f"{str(path)!r} was saved by skspeckle {saved}, which is incompatible with the "
                f"installed skspeckle {current} (versions 0.x must agree in major.minor, later "
                f"ones in major). Refit the model with skspeckle {current}, or load it with "
                f"skspeckle {saved} installed (pip install 'skspeckle=={saved}')."
            )
        if header.get("format_version", 0) > _FORMAT_VERSION:
            raise ValueError(
                f"{str(path)!r} uses model file format {header.get('format_version')}, newer "
                f"than this skspeckle ({current}) reads; upgrade skspeckle."
            )
        try:
            return joblib.load(f)
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"{str(path)!r} needs code that is not installed here ({exc}); install the "
                "packages the model was saved with (versions in skspeckle.persistence."
                "read_model_header)."
            ) from exc
        except Exception as exc:  # pickle and compression errors come in many types
            raise ValueError(
                f"{str(path)!r} is truncated or corrupt and cannot be loaded "
                f"({type(exc).__name__}: {exc}); save the model again."
            ) from exc
