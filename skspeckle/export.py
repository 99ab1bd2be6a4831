"""Export a fitted pipeline as one graph for edge devices and trigger systems.

An online veto runs next to the detector, often on a machine without Python or scikit-learn
(an FPGA host, a C++ DAQ process, an ONNX Runtime server). :func:`to_onnx` writes the whole
fitted pipeline -- :class:`~skspeckle.preprocessing.DetectorMask`,
:class:`~skspeckle.preprocessing.PixelBinning`, the :class:`~skspeckle.embedding.TripletEmbedder`
(input scaling, network, L2 normalisation) and the
:class:`~skspeckle.few_shot.FewShotCentroidClassifier` head as distances to its supports --
into one ONNX graph; :func:`to_torchscript` writes the same module as TorchScript for C++
(libtorch). Both take raw frames and return the label index, the class scores as
``decision_function`` and ``predict_proba`` define them, the distances and the embeddings;
the class names and the provenance travel in the file's metadata::

    from skspeckle.export import to_onnx
    import onnxruntime
    to_onnx(pipe, "veto.onnx")
    session = onnxruntime.InferenceSession("veto.onnx")
    label, decision, proba, distances, embeddings, valid = session.run(
        None, {"frames": frames.astype("float32")}
    )
"""

import copy
import hashlib
import json
import os
import pickle
from datetime import datetime, timezone

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from skspeckle._version import __version__
from skspeckle.augmentation._base import _FitTimeAugmentation
from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.io._atomic import check_output_path, temporary_sibling
from skspeckle.nn.onnx_export import onnx_model
from skspeckle.nn.pipeline_graph import (
    PIPELINE_OUTPUTS,
    BinPixels,
    FewShotHead,
    MaskPixels,
    PipelineGraph,
)
from skspeckle.preprocessing import DetectorMask, PixelBinning
from skspeckle.utils._optional import import_optional

__all__ = ["to_onnx", "to_torchscript", "pipeline_graph"]

_KNOWN = (
    "DetectorMask, PixelBinning, the fit-time augmentations (identity at predict time), "
    "TripletEmbedder, and FewShotCentroidClassifier as the last step"
)


def _steps(estimator, where="pipeline"):
    """The fitted steps of ``estimator`` in order, nested pipelines and FrozenEstimator
    unwrapped, ``None`` / ``"passthrough"`` left out: ``[(name, step), ...]``."""
    if isinstance(estimator, FrozenEstimator):
        return _steps(estimator.estimator, where)
    if isinstance(estimator, Pipeline):
        out = []
        for name, step in estimator.steps:
            if step is None or step == "passthrough":
                continue
            out += _steps(step, f"{where}[{name!r}]")
        return out
    return [(where, estimator)]


def pipeline_graph(pipeline):
    """The torch module computing what the fitted ``pipeline`` computes, and its description.

    Parameters
    ----------
    pipeline : Pipeline or estimator
        Fitted: ``[DetectorMask] [PixelBinning] [augmentations] TripletEmbedder
        [FewShotCentroidClassifier]`` (a bare embedder, nested pipelines and
        ``sklearn.frozen.FrozenEstimator`` steps are accepted).

    Returns
    -------
    module : skspeckle.nn.pipeline_graph.PipelineGraph
        On the CPU, in eval mode; the embedder's module is a copy.
    info : dict
        ``input_shape`` (H, W), ``outputs`` (names), ``classes`` (list or None).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If a step is not fitted.
    TypeError
        For a step the export does not know (the message lists those it does).
    ValueError
        If there is no TripletEmbedder, a step follows the classifier or comes between the
        embedder and it, the classifier has an open-set rejection rule, or the steps'
        frame shapes do not chain.
    """
    steps = _steps(pipeline)
    layers, embedding, head, classes, input_shape, shape = [], None, None, None, None, None
    for where, step in steps:
        name = type(step).__name__
        if head is not None:
            raise ValueError(
                f"{where} ({name}) follows the FewShotCentroidClassifier; it must be the last "
                "step of an exported pipeline."
            )
        if isinstance(step, FewShotCentroidClassifier):
            if embedding is None:
                raise ValueError(
                    f"{where}: the FewShotCentroidClassifier must follow a TripletEmbedder."
                )
            head, classes = _head(step, where), step.classes_.tolist()
            continue
        if embedding is not None:
            raise ValueError(
                f"{where} ({name}) comes after the TripletEmbedder; only a "
                "FewShotCentroidClassifier may follow it in an exported pipeline."
            )
        if isinstance(step, (DetectorMask, PixelBinning, TripletEmbedder)):
            check_is_fitted(step)
            step_shape = tuple(int(s) for s in step.image_shape_)
            if shape is not None and step_shape != shape:
                raise ValueError(
                    f"{where} ({name}) was fitted on {step_shape} frames, but the steps "
                    f"before it make {shape} frames."
                )
            input_shape = input_shape or step_shape
        if isinstance(step, DetectorMask):
            mask = torch.from_numpy(np.asarray(step.mask_, dtype=bool))
            layers.append(MaskPixels(mask, step.fill_value, step.nonfinite == "mask"))
            shape = step_shape
        elif isinstance(step, PixelBinning):
            layers.append(BinPixels(step.factor, step_shape))
            shape = (step_shape[0] // step.factor, step_shape[1] // step.factor)
        elif isinstance(step, _FitTimeAugmentation):
            continue  # the identity after fit
        elif isinstance(step, TripletEmbedder):
            embedding = copy.deepcopy(step.module_).cpu().eval()
            shape = step_shape
        else:
            raise TypeError(f"{where} is a {name}, which cannot be exported. Known: {_KNOWN}.")
    if embedding is None:
        raise ValueError(f"The pipeline has no TripletEmbedder to export ({_KNOWN}).")
    outputs = PIPELINE_OUTPUTS if head is not None else ("embeddings", "valid")
    info = {"input_shape": list(input_shape), "outputs": list(outputs), "classes": classes}
    return PipelineGraph(layers, embedding, head).eval().requires_grad_(False), info


def _head(clf, where):
    check_is_fitted(clf)
    if clf.rejection_rate is not None or clf.max_distance_ratio is not None:
        raise ValueError(
            f"{where}: the open-set rejection rules (rejection_rate, max_distance_ratio) are "
            "not exported. Export a copy without them "
            "(set_params(rejection_rate=None, max_distance_ratio=None)) and apply the rule to "
            "the 'distances' output (skspeckle.open_set)."
        )
    label_index = np.searchsorted(clf.classes_, clf.support_labels_)
    sizes = np.bincount(label_index, minlength=len(clf.classes_)).tolist()
    return FewShotHead(
        torch.from_numpy(np.asarray(clf.support_, dtype=np.float64)),
        sizes,
        clf.aggregation,
        clf.temperature,
    )


def _metadata(pipeline, info, fmt):
    params = {
        name: value
        for name, value in pipeline.get_params(deep=True).items()
        if not hasattr(value, "get_params") and name != "steps"
    }
    try:
        digest = hashlib.sha256(pickle.dumps(pipeline)).hexdigest()
    except (pickle.PicklingError, TypeError, AttributeError):
        digest = None
    return {
        "producer": "skspeckle",
        "format": fmt,
        "skspeckle_version": __version__,
        "torch_version": torch.__version__,
        "created": datetime.now(timezone.utc).isoformat(),
        "input": "frames",
        "input_shape": json.dumps(["batch", *info["input_shape"]]),
        "input_dtype": "float32",
        "outputs": json.dumps(info["outputs"]),
        "classes": json.dumps(info["classes"]),
        "label_meaning": "index into classes; -1 where valid is False",
        "model": repr(pipeline),
        "model_params": json.dumps(params, default=repr, sort_keys=True),
        "model_sha256": digest or "",
    }


def _write_atomically(path, overwrite, write):
    path = check_output_path(path, overwrite)
    tmp = temporary_sibling(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def to_onnx(pipeline, path, *, overwrite=False):
    """Write the fitted ``pipeline`` as one ONNX graph, atomically.

    The graph takes ``frames``, raw float32 frames ``(batch, H, W)`` (any batch size; the
    frame shape of the first step's ``fit``), and computes, in float32, what the pipeline's
    steps do at predict time: the ``DetectorMask`` (mask and ``fill_value``; NaN / inf
    pixels too with ``nonfinite="mask"``), ``PixelBinning``, the embedder's input scaling,
    network and L2 normalisation (SpeckleNN, Wang et al., Sec. III A), and the few-shot rule
    as the aggregated squared distances to the supports (Sec. III F; ``aggregation`` mean,
    centroid or min). Outputs, in order:

    - ``label`` (batch,) int64: index into the class names (``predict`` is
      ``classes[label]``); -1 where ``valid`` is False;
    - ``decision_function``: as the classifier's ``decision_function``, (batch,) for two
      classes (``d0 - d1``), else (batch, n_classes) (``-d``);
    - ``probabilities`` (batch, n_classes): ``predict_proba``;
    - ``distances`` (batch, n_classes): the aggregated squared distances;
    - ``embeddings`` (batch, n_components): the embedder's unit vectors;
    - ``valid`` (batch,) bool: False for frames with NaN / inf pixels that no step masks
      (the pipeline raises on them; their other outputs are meaningless).

    A pipeline that ends with the embedder has only ``embeddings`` and ``valid``. Metadata
    (``metadata_props``): ``classes`` (JSON list, the column order), ``input_shape``,
    ``outputs``, ``skspeckle_version``, ``torch_version``, ``created`` (UTC), ``model``
    (repr), ``model_params`` (JSON), ``model_sha256`` (of the pickled pipeline). Run it with
    ``onnxruntime.InferenceSession(path).run(None, {"frames": X})``; read the metadata with
    ``session.get_modelmeta().custom_metadata_map``.

    Parameters
    ----------
    pipeline : Pipeline or TripletEmbedder
        Fitted: ``[DetectorMask] [PixelBinning] [augmentations] TripletEmbedder
        [FewShotCentroidClassifier]``; nested pipelines and ``FrozenEstimator`` steps are
        unwrapped.
    path : str or path-like
        Output file, e.g. ``veto.onnx``. Written under a temporary name and renamed into
        place when complete.
    overwrite : bool, default=False
        Replace an existing file.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If a step is not fitted.
    TypeError
        For a step the export does not know.
    ValueError
        For a pipeline of the wrong shape or a classifier with an open-set rule (see
        :func:`pipeline_graph`).
    FileExistsError, FileNotFoundError, IsADirectoryError
        If ``path`` exists (without ``overwrite``), its directory is missing, or it is a
        directory.
    ImportError
        Without onnx / onnxscript (the ``onnx`` extra).

    Notes
    -----
    The graph agrees with the pipeline to about 1e-6 in the scores (float32 against the
    classifier's float64; ``tests/test_export.py`` checks 1e-5 and identical labels on
    simulated and real PR772 frames). Exported with torch's ``torch.export``-based ONNX
    exporter, opset 18 (:func:`skspeckle.nn.onnx_export.onnx_model`).
    """
    import_optional("onnx", "onnx", purpose="skspeckle.export.to_onnx")
    import_optional("onnxscript", "onnx", purpose="skspeckle.export.to_onnx")
    check_output_path(path, overwrite)  # fail before the export's seconds
    module, info = pipeline_graph(pipeline)
    example = torch.zeros((2, *info["input_shape"]), dtype=torch.float32)
    model = onnx_model(module, example, output_names=info["outputs"])
    meta = _metadata(pipeline, info, "onnx")
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name, model.producer_version = "skspeckle", __version__
    data = model.SerializeToString()
    return _write_atomically(path, overwrite, lambda tmp: tmp.write_bytes(data))


def to_torchscript(pipeline, path, *, overwrite=False):
    """Write the fitted ``pipeline`` as a TorchScript module (for libtorch), atomically.

    The module is :func:`pipeline_graph`'s, traced on a batch of two zero frames; it takes
    float32 frames ``(batch, H, W)`` and returns the tuple of outputs :func:`to_onnx`
    describes. The metadata are the extra file ``skspeckle.json`` (``torch.jit.load(path,
    _extra_files={"skspeckle.json": ""})``).

    Parameters
    ----------
    pipeline : Pipeline or TripletEmbedder
        As :func:`to_onnx`.
    path : str or path-like
        Output file, e.g. ``veto.pt``.
    overwrite : bool, default=False
        Replace an existing file.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    As :func:`to_onnx`, but no ImportError (TorchScript is part of torch).

    Warns
    -----
    DeprecationWarning
        From torch >= 2.10, whose ``torch.jit`` is deprecated in favour of ``torch.export``:
        prefer :func:`to_onnx` for new deployments; this file serves existing libtorch
        (C++) hosts.
    """
    check_output_path(path, overwrite)
    module, info = pipeline_graph(pipeline)
    example = torch.zeros((2, *info["input_shape"]), dtype=torch.float32)
    with torch.no_grad():
        traced = torch.jit.trace(module, example, check_trace=False)
    extra = {"skspeckle.json": json.dumps(_metadata(pipeline, info, "torchscript"))}
    return _write_atomically(
        path, overwrite, lambda tmp: torch.jit.save(traced, str(tmp), _extra_files=extra)
    )
