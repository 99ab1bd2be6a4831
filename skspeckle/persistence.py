"""Save and load fitted models (pipelines, embedders, classifiers): no code runs on load.

A model file is a short text header followed by a ``skops.io`` payload::

    skspeckle-model
    {"format_version": 2, "payload_sha256": "...", "header_sha256": "...", "skspeckle": ...}
    <skops.io payload: a zip of a JSON schema, numpy arrays (.npy) and byte blobs>

Loading runs no code from the file. ``skops.io`` rebuilds objects only of *trusted* types
(scikit-learn's estimators, numpy, scipy, and :func:`trusted_types`: skspeckle's estimators
and network factories); a file that needs any other type is refused before anything is
built, with the names of the types, which you may trust explicitly
(``load_model(path, trusted=[...])``). Network weights are stored as safetensors blobs (raw
CPU tensor data, no pickle) and the estimators rebuild their torch modules from their own
parameters (:mod:`skspeckle._module_state`), so a model fitted on a GPU loads anywhere.

The header carries the SHA-256 of the payload and its own SHA-256, both checked before
anything is deserialised: a truncated or corrupted file is refused with a clear error. It also
records the versions the model was written with. skspeckle's compatibility rule: the same
major and minor version while skspeckle is 0.x (``0.1.0`` loads ``0.1.3`` but not
``0.2.0``), the same major version from 1.0 on; a file from another torch major version or
scikit-learn minor version loads with a :class:`ModelVersionWarning`.

Files of format 1 (skspeckle 0.1: a joblib pickle, which runs any code it contains when
loaded) are refused unless ``allow_pickle=True`` is passed, for files you trust.
"""

import functools
import hashlib
import inspect
import json
import os
import platform
import re
import warnings
from datetime import datetime, timezone
from importlib import import_module, metadata
from pathlib import Path

from skspeckle._version import __version__
from skspeckle.io._atomic import check_output_path, temporary_sibling

__all__ = [
    "ModelVersionWarning",
    "UntrustedTypesError",
    "load_model",
    "read_model_header",
    "save_model",
    "trusted_types",
]

_MAGIC = b"skspeckle-model\n"
_FORMAT_VERSION = 2
_PICKLE_FORMAT = 1  # skspeckle 0.1: header + joblib pickle
# A header is a few hundred bytes; the bound keeps a file without a newline from being read
# whole as "the header".
_MAX_HEADER_BYTES = 1 << 16
# Modules whose public network classes and factories may be called (through the `network`
# parameter of TripletEmbedder) when a model is loaded.
_NETWORK_MODULES = (
    "skspeckle.nn.networks.speckle_net",
    "skspeckle.nn.networks.speckle_net_small",
    "skspeckle.nn.networks.spi",
    "skspeckle.nn.networks.sfx",
)
# Functions that skspeckle's own pipelines hold (make_pca_svc's FunctionTransformer).
_PIPELINE_FUNCTIONS = ("skspeckle.baselines.spi.pca_svc.frames_to_vectors",)
# The fitted parts of sklearn.calibration.CalibratedClassifierCV (plain containers of arrays
# that skops does not list), so that a calibrated model (skspeckle.calibration) loads.
_CALIBRATION_TYPES = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._TemperatureScaling",
)
# What QGridResampler holds: its source / target Detector (geometry and mask arrays) and the
# fitted resampling matrix (scipy's csr_array, which skops lists only as csr_matrix).
_DATA_TYPES = ("skspeckle.detector.Detector", "scipy.sparse._csr.csr_array")


class UntrustedTypesError(ValueError):
    """A model file needs types that are not trusted; nothing of it was run.

    Attributes
    ----------
    types : list of str
        The fully qualified names of the untrusted types, for ``load_model(trusted=...)``.
    """

    def __init__(self, message, types):
        super().__init__(message)
        self.types = list(types)


class ModelVersionWarning(UserWarning):
    """A model file was written with another torch major or scikit-learn minor version."""


def _type_name(obj):
    if isinstance(obj, str):
        return obj
    return f"{obj.__module__}.{obj.__qualname__}"


@functools.cache
def _default_trusted():
    from skspeckle.utils.discovery import all_estimators

    names = {_type_name(cls) for _, cls in all_estimators()}
    # A partial only binds arguments; its function is checked on its own.
    names.add("functools.partial")
    names.update(_PIPELINE_FUNCTIONS)
    names.update(_CALIBRATION_TYPES)
    names.update(_DATA_TYPES)
    for module_name in _NETWORK_MODULES:
        module = import_module(module_name)
        names.update(
            _type_name(obj)
            for obj in (getattr(module, name) for name in module.__all__)
            if inspect.isclass(obj) or inspect.isfunction(obj)
        )
    return tuple(sorted(names))


def trusted_types():
    """The types :func:`load_model` trusts besides skops.io's defaults.

    skops.io itself trusts scikit-learn's estimators, numpy and scipy types and Python's
    built-in containers and scalars; this adds every estimator of skspeckle (see
    :func:`skspeckle.utils.discovery.all_estimators`), ``functools.partial``, the public
    network classes and factories of :mod:`skspeckle.nn.networks` (what
    ``TripletEmbedder(network=...)`` may hold; they are called to rebuild the network) and
    the functions of skspeckle's pipelines (``frames_to_vectors`` of
    :func:`~skspeckle.baselines.spi.pca_svc.make_pca_svc`) and the fitted calibrators of
    :class:`sklearn.calibration.CalibratedClassifierCV` (see :mod:`skspeckle.calibration`), and what
    :class:`~skspeckle.preprocessing.QGridResampler` holds (``Detector``, scipy's ``csr_array``).

    Returns
    -------
    names : list of str
        Fully qualified type names, sorted, e.g. ``"skspeckle.embedding.TripletEmbedder"``.
    """
    return list(_default_trusted())


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


def _header_digest(header):
    """SHA-256 of the header's fields other than itself, in a canonical JSON form."""
    fields = {k: v for k, v in header.items() if k != "header_sha256"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _dumps(estimator):
    import skops.io

    try:
        return skops.io.dumps(estimator)
    except Exception as exc:  # skops raises whatever the object's reduction raises
        raise TypeError(
            f"{type(estimator).__name__} cannot be saved in the safe model format: skops.io "
            f"could not store it ({type(exc).__name__}: {exc}). Torch tensors and modules "
            "are stored only as the fitted networks of skspeckle's estimators; other objects "
            "must be made of scikit-learn, numpy, scipy and plain Python types."
        ) from exc


def save_model(estimator, path, *, overwrite=False):
    """Save a (fitted) estimator in the safe model format, with checksums and versions,
    atomically.

    The estimator is stored with ``skops.io`` (no pickle); the torch networks of skspeckle's
    estimators as safetensors blobs of CPU tensors (a model fitted on a GPU loads on a CPU
    machine). The file is written under a temporary name in the same directory and renamed
    into place when complete, so an interrupted save leaves neither a partial model nor a
    temporary file. The estimator itself is not changed.

    Parameters
    ----------
    estimator : estimator object
        Typically a fitted ``Pipeline`` such as
        ``make_pipeline(DetectorMask(0.25), TripletEmbedder(), FewShotCentroidClassifier())``.
    path : str or path-like
        Output file, e.g. ``model.skops``.
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
    TypeError
        If the estimator holds objects skops.io cannot store (e.g. a torch tensor outside
        a skspeckle estimator's fitted network).

    Warns
    -----
    UserWarning
        If the model holds types outside :func:`trusted_types` and skops.io's defaults (a
        custom estimator class, say): the warning names them, since :func:`load_model`
        needs them in ``trusted=[...]``.
    """
    import skops.io

    path = check_output_path(path, overwrite)
    payload = _dumps(estimator)
    untrusted = sorted(set(skops.io.get_untrusted_types(data=payload)) - set(_default_trusted()))
    if untrusted:
        warnings.warn(
            f"The model holds types that load_model does not trust by default: {untrusted}. "
            f"Loading it will need load_model(path, trusted={untrusted!r}).",
            UserWarning,
            stacklevel=2,
        )
    header = {
        "format_version": _FORMAT_VERSION,
        "payload": "skops.io",
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "skspeckle": __version__,
        "sklearn": _dist_version("scikit-learn"),
        "torch": _dist_version("torch"),
        "numpy": _dist_version("numpy"),
        "skops": _dist_version("skops"),
        "safetensors": _dist_version("safetensors"),
        "python": platform.python_version(),
        "estimator": type(estimator).__name__,
        "created": datetime.now(timezone.utc).isoformat(),
    }
    header["header_sha256"] = _header_digest(header)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "xb") as f:
            f.write(_MAGIC)
            f.write(json.dumps(header, sort_keys=True).encode() + b"\n")
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())  # the rename must not publish data still in the page cache
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_model_header(path):
    """The header of a model file written by :func:`save_model`; nothing is deserialised.

    The header's own checksum is verified (not the payload's: :func:`load_model` does that).

    Parameters
    ----------
    path : str or path-like
        Model file.

    Returns
    -------
    header : dict
        ``format_version``, ``skspeckle``, ``sklearn``, ``torch``, ``numpy``, ``skops``,
        ``safetensors``, ``python`` versions, ``estimator`` (class name), ``created`` (UTC,
        ISO 8601), ``payload`` (``"skops.io"``), ``payload_bytes``, ``payload_sha256`` and
        ``header_sha256``. Files of format 1 (joblib) have only the first versions,
        ``estimator`` and ``created``.

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
            "skspeckle-model header), or its first bytes are damaged. Save models with "
            "skspeckle.save_model."
        )
    line = f.readline(_MAX_HEADER_BYTES)
    try:
        header = json.loads(line)
        header["skspeckle"], header["format_version"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{str(path)!r} has a damaged skspeckle model header ({type(exc).__name__}: "
            f"{exc}); the file is corrupt: save the model again or use another copy."
        ) from exc
    if header["format_version"] != _PICKLE_FORMAT and (
        header.get("header_sha256") != _header_digest(header)
    ):
        raise ValueError(
            f"{str(path)!r} has a damaged skspeckle model header (its SHA-256 checksum does "
            "not match); the file is corrupt: save the model again or use another copy."
        )
    return header


def _check_payload(payload, header, path):
    expected = header.get("payload_bytes")
    if not isinstance(expected, int):
        raise ValueError(
            f"{str(path)!r} has a damaged skspeckle model header (no payload size); the file "
            "is corrupt: save the model again or use another copy."
        )
    if len(payload) < expected:
        raise ValueError(
            f"{str(path)!r} is truncated: the model data holds {len(payload)} of "
            f"{expected} bytes (an interrupted copy or download?); copy the file again."
        )
    digest = hashlib.sha256(payload).hexdigest()
    if len(payload) != expected or digest != header.get("payload_sha256"):
        raise ValueError(
            f"{str(path)!r} is corrupt: the SHA-256 of its model data ({digest[:16]}...) does "
            f"not match the one in its header ({str(header.get('payload_sha256'))[:16]}...); "
            "nothing was loaded. Copy the file again or save the model again."
        )


def _warn_versions(header, path):
    checks = (("torch", "torch", 1), ("scikit-learn", "sklearn", 2))
    for dist, key, depth in checks:
        saved, current = header.get(key), _dist_version(dist)
        if saved and current and _release(saved)[:depth] != _release(current)[:depth]:
            what = "major" if depth == 1 else "minor"
            warnings.warn(
                f"{str(path)!r} was saved with {dist} {saved}; this is {dist} {current} "
                f"(another {what} version). The model may predict differently or fail: check "
                f"its predictions, or install {dist}=={saved}.",
                ModelVersionWarning,
                stacklevel=3,
            )


def load_model(path, *, trusted=None, allow_pickle=False):
    """Load an estimator saved by :func:`save_model`; no code from the file runs.

    The header's and the payload's SHA-256 are verified first, then the versions; the
    payload is deserialised by ``skops.io`` into trusted types only (skops.io's defaults:
    scikit-learn, numpy, scipy, built-ins; and :func:`trusted_types`: skspeckle's
    estimators and networks), and the estimators rebuild their torch networks from their
    parameters and the stored weights.

    Parameters
    ----------
    path : str or path-like
        Model file.
    trusted : list of str or type, default=None
        More types to trust, by fully qualified name (``"mylab.MyScaler"``) or as the class.
        Trust only types you know, from files whose source you trust: a trusted type's
        ``__setstate__`` runs on load.
    allow_pickle : bool, default=False
        Load files of the old format 1 (skspeckle 0.1: a joblib pickle). **Unsafe**: a
        pickle runs any code it contains, with your permissions; use it only for files you
        made or whose source you fully trust, then save them again with :func:`save_model`.

    Returns
    -------
    estimator : estimator object
        As saved; its torch modules are on the CPU.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    UntrustedTypesError
        (A ValueError) If the file needs types that are not trusted; they are named, and
        nothing of the file was run.
    ValueError
        If the file was not written by :func:`save_model`; is truncated or corrupt (header
        or payload checksum); is of format 1 and ``allow_pickle`` is False; was written by
        an incompatible skspeckle version (0.x: another major.minor; from 1.0: another
        major) or a newer file format.

    Warns
    -----
    ModelVersionWarning
        If the file was written with another torch major or scikit-learn minor version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such model file: {str(path)!r}.")
    with open(path, "rb") as f:
        header = _read_header(f, path)
        file_format = header["format_version"]
        if file_format == _PICKLE_FORMAT and not allow_pickle:
            raise ValueError(
                f"{str(path)!r} is an old-format skspeckle model (format 1, a joblib pickle) "
                "and was not loaded: unpickling runs any code the file contains, with your "
                "permissions, so a crafted file can take over your account. Only if you made "
                "this file yourself or fully trust its source, load it with "
                "load_model(path, allow_pickle=True) and save it again with save_model, "
                "which writes the safe format."
            )
        saved, current = header["skspeckle"], __version__
        if not _compatible(saved, current):
            raise ValueError(
                f"{str(path)!r} was saved by skspeckle {saved}, which is incompatible with the "
                f"installed skspeckle {current} (versions 0.x must agree in major.minor, later "
                f"ones in major). Refit the model with skspeckle {current}, or load it with "
                f"skspeckle {saved} installed (pip install 'skspeckle=={saved}')."
            )
        if file_format not in (_PICKLE_FORMAT, _FORMAT_VERSION):
            raise ValueError(
                f"{str(path)!r} uses model file format {file_format}, which this skspeckle "
                f"({current}) does not read (it reads formats 1 and 2); upgrade skspeckle."
            )
        if file_format == _PICKLE_FORMAT:
            return _load_pickle(f, path)
        payload = f.read()
    _check_payload(payload, header, path)
    _warn_versions(header, path)
    return _load_payload(payload, path, trusted)


def _load_payload(payload, path, trusted):
    import skops.io

    trusted = set(_default_trusted()) | {_type_name(t) for t in (trusted or ())}
    try:
        untrusted = sorted(set(skops.io.get_untrusted_types(data=payload)) - trusted)
    except Exception as exc:  # a payload that matches its checksum but skops cannot parse
        raise ValueError(
            f"{str(path)!r} holds model data that skops.io cannot read "
            f"({type(exc).__name__}: {exc}); was it written by another program?"
        ) from exc
    if untrusted:
        raise UntrustedTypesError(
            f"{str(path)!r} needs types that are not trusted: {', '.join(untrusted)}. Nothing "
            "from the file was run. Trust them only if you know what they are and trust the "
            f"file's source: load_model(path, trusted={untrusted!r}).",
            untrusted,
        )
    try:
        return skops.io.loads(payload, trusted=sorted(trusted))
    except (ImportError, AttributeError) as exc:
        raise _missing_code(path, exc) from exc


def _missing_code(path, exc):
    return ValueError(
        f"{str(path)!r} needs code that is not installed here ({exc}); install the packages "
        "the model was saved with (versions in skspeckle.persistence.read_model_header)."
    )


def _load_pickle(f, path):
    import joblib

    try:
        return joblib.load(f)
    except (ImportError, AttributeError) as exc:
        raise _missing_code(path, exc) from exc
    except Exception as exc:  # pickle and compression errors come in many types
        raise ValueError(
            f"{str(path)!r} is truncated or corrupt and cannot be loaded "
            f"({type(exc).__name__}: {exc}); save the model again."
        ) from exc
