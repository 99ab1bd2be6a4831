"""The inference backends of :class:`~skspeckle.embedding.TripletEmbedder`: eager torch, or
ONNX Runtime on the exported ``module_``.

Eager torch dispatches every layer from Python and, on a CPU, runs the SpeckleNN forward pass
at about a third of the speed ONNX Runtime reaches on the same graph (the issue's and the
results page's measurements: 2-4x at batch 64 to 512). :class:`InferenceEngine` holds what a
fitted module needs for the faster path -- the ONNX graph (exported once, the costly step)
and one ``onnxruntime.InferenceSession`` -- next to the module it was built from. The
estimator keeps the engine in a private attribute that is never pickled, saved or copied, so
a model file holds only the weights and the engine is rebuilt lazily after unpickling,
:func:`~skspeckle.persistence.load_model` or a refit (a new ``module_`` gets a new engine).
"""

import importlib.util
import threading

import numpy as np
import torch

from skspeckle.nn.device import resolve_device, resolve_precision
from skspeckle.nn.inference import predict_batched
from skspeckle.nn.onnx_export import onnx_model
from skspeckle.utils._optional import import_optional

__all__ = [
    "BACKENDS",
    "AUTO_MIN_PIXELS",
    "DEFAULT_INFERENCE_BATCH",
    "InferenceEngine",
    "choose_backend",
]

BACKENDS = ("auto", "torch", "onnxruntime")

#: ``inference_backend="auto"`` runs onnxruntime for a call of at least this many pixels
#: (frames x H x W: 455 frames of 48 x 48, 114 of 96 x 96, a 4 MiB float32 input) and torch
#: for smaller calls. The export (1-4 s, once per fitted model and process) pays off only for
#: large inputs, so a quick experiment or scikit-learn's estimator checks never pay it; and the
#: backend of a call depends on its size alone, never on the calls before it, so a resumed
#: ``predict_file`` run (same chunks) reproduces an uninterrupted one bit for bit.
AUTO_MIN_PIXELS = 2**20

#: Frames per inference batch when ``inference_batch_size`` is None, by backend: the fastest of
#: 32 ... 1024 at 48 x 48 and 96 x 96 on the CPU (results page, "Inference batch size").
DEFAULT_INFERENCE_BATCH = {"torch": 64, "onnxruntime": 512}

_PURPOSE = "inference_backend='onnxruntime'"


def _installed(name):
    """Whether ``name`` can be imported, without importing it (onnxscript takes seconds)."""
    return importlib.util.find_spec(name) is not None


def _providers(ort, device):
    """onnxruntime execution providers for ``device``, or None when it has none."""
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        index = device.index if device.index is not None else torch.cuda.current_device()
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    return None


def choose_backend(backend, device, precision):
    """The backend that runs inference: ``"torch"`` or ``"onnxruntime"``.

    Parameters
    ----------
    backend : {"auto", "torch", "onnxruntime"}
        ``"auto"``: onnxruntime where it can run the graph at ``precision`` on ``device``
        (float32 or ``"auto"`` precision; the CPU, or CUDA with onnxruntime's
        ``CUDAExecutionProvider``, i.e. the ``onnxruntime-gpu`` package), else torch.
    device : torch.device
    precision : {"auto", "float32", "bfloat16", "float16"}
        onnxruntime runs the float32 graph: ``"auto"`` means float32 there.

    Returns
    -------
    str

    Raises
    ------
    ImportError
        For ``"onnxruntime"`` without onnxruntime or onnxscript (the ``onnx`` extra).
    ValueError
        For ``"onnxruntime"`` with ``precision`` bfloat16 / float16, or on a device it has no
        execution provider for.
    """
    if backend == "torch":
        return "torch"
    if backend not in BACKENDS:
        raise ValueError(f"inference_backend must be one of {BACKENDS}; got {backend!r}.")
    explicit = backend == "onnxruntime"
    if precision not in ("auto", "float32"):
        if explicit:
            raise ValueError(
                f"inference_backend='onnxruntime' runs the float32 graph; precision="
                f"{precision!r} needs inference_backend='torch' (or 'auto', which picks it), "
                "or pass precision='float32'."
            )
        return "torch"
    if explicit:
        ort = import_optional("onnxruntime", "onnx", purpose=_PURPOSE)
        import_optional("onnxscript", "onnx", purpose=f"{_PURPOSE} (torch's ONNX exporter)")
    elif not (_installed("onnxruntime") and _installed("onnxscript")):
        return "torch"
    elif device.type == "cpu":
        return "onnxruntime"
    else:
        ort = import_optional("onnxruntime", "onnx", purpose=_PURPOSE)
    if _providers(ort, device) is None:
        if explicit:
            raise ValueError(
                f"onnxruntime has no execution provider for device {str(device)!r} (available: "
                f"{ort.get_available_providers()}); for CUDA install onnxruntime-gpu, or use "
                "inference_backend='torch' or device='cpu'."
            )
        return "torch"
    return "onnxruntime"


class InferenceEngine:
    """Runs one fitted module with the chosen backend; holds its ONNX graph and session.

    Parameters
    ----------
    module : torch.nn.Module
        The fitted module (on the CPU), mapping ``(B, *input_shape)`` float32 to ``(B, D)``.
    input_shape : tuple of int
        Shape of one input, e.g. ``(H, W)``.

    Attributes
    ----------
    module : torch.nn.Module
        The module this engine was built for: an estimator whose ``module_`` is another
        object (after a refit) builds a new engine.
    backend : str or None
        ``"torch"`` or ``"onnxruntime"``, chosen at the first call (and again if the
        parameters it depends on change).
    """

    def __init__(self, module, input_shape):
        self.module = module
        self.input_shape = tuple(int(s) for s in input_shape)
        self.backend = None
        self._choice_key = None
        self._onnx = None
        self._session_key = self._session = None
        self._lock = threading.Lock()  # one export, also under threaded dask / joblib

    def onnx_bytes(self):
        """The serialised ONNX graph of the module (exported at the first call)."""
        with self._lock:
            if self._onnx is None:
                example = torch.zeros((2, *self.input_shape), dtype=torch.float32)
                self._onnx = onnx_model(self.module, example).SerializeToString()
            return self._onnx

    def session(self, device):
        """The onnxruntime session for ``device``, with ``torch.get_num_threads()`` intra-op
        threads (rebuilt from the cached graph when the thread count changes)."""
        ort = import_optional("onnxruntime", "onnx", purpose=_PURPOSE)
        providers = _providers(ort, device)
        threads = torch.get_num_threads()
        key = (repr(providers), threads)
        graph = self.onnx_bytes()
        with self._lock:
            if self._session_key != key:
                options = ort.SessionOptions()
                # Follow torch's thread setting, so that torch.set_num_threads(1) (low
                # single-frame latency, or one process per core) governs both backends.
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3  # errors only
                self._session = ort.InferenceSession(graph, options, providers=providers)
                self._session_key = key
            return self._session

    def run(self, X, *, backend, device, precision, batch_size=None):
        """Apply the module to ``X`` in batches.

        Parameters
        ----------
        X : ndarray of shape (n_samples, *input_shape), float32
            Validated inputs.
        backend : {"auto", "torch", "onnxruntime"}
        device : str or torch.device
            As the estimators' ``device`` parameter.
        precision : {"auto", "float32", "bfloat16", "float16"}
        batch_size : int or None, default=None
            Frames per batch; None: :data:`DEFAULT_INFERENCE_BATCH` of the backend.

        Returns
        -------
        out : ndarray of shape (n_samples, D), float32
        """
        device = resolve_device(device)
        key = (backend, str(device), precision)
        if self._choice_key != key:
            self.backend, self._choice_key = choose_backend(backend, device, precision), key
        use_onnx = self.backend == "onnxruntime" and (
            backend == "onnxruntime" or X.size >= AUTO_MIN_PIXELS
        )
        if not use_onnx:
            # A small call under "auto": torch at the graph's float32, so that every call of
            # one fitted model computes at the same precision.
            if self.backend == "onnxruntime":
                precision = "float32"
            return predict_batched(
                self.module,
                X,
                batch_size or DEFAULT_INFERENCE_BATCH["torch"],
                device,
                dtype=torch.float32,
                precision=resolve_precision(precision, device),
            )
        session = self.session(device)
        name = session.get_inputs()[0].name
        step = batch_size or DEFAULT_INFERENCE_BATCH["onnxruntime"]
        X = np.ascontiguousarray(X, dtype=np.float32)
        return np.concatenate(
            [session.run(None, {name: X[s : s + step]})[0] for s in range(0, len(X), step)]
        )
