"""Classify the frames of a run file chunk by chunk with a fitted pipeline.

A run of 1e5 frames does not fit in memory, and a crash at frame 90,000 must not leave a
results file that looks complete. :func:`predict_file` reads the run with
:class:`skspeckle.io.cxi.FrameReader` a bounded chunk at a time and writes the results
with :class:`skspeckle.io.results.ResultsWriter`, which publishes them only when every
frame is done.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from skspeckle.io._hdf5 import open_h5
from skspeckle.io.cxi import FrameReader
from skspeckle.io.results import ResultsWriter

__all__ = ["predict_file"]


def _model_attrs(model):
    """Provenance of ``model`` as HDF5 attributes: its parameters (JSON) and versions."""
    params = {
        name: value
        for name, value in model.get_params(deep=True).items()
        if not isinstance(value, BaseEstimator) and name != "steps"
    }
    import sklearn

    return {
        "model": repr(model),
        "model_params": json.dumps(params, default=repr, sort_keys=True),
        "sklearn_version": sklearn.__version__,
    }


class _Scorer:
    """Runs a fitted model on a chunk: labels, class scores and (optionally) embeddings.

    For a Pipeline, the steps before the last transform each chunk once; the last step then
    predicts and scores the result, which is what ``Pipeline.predict`` / ``predict_proba``
    do, without running the embedding network two or three times.
    """

    def __init__(self, model, embeddings):
        if not hasattr(model, "predict"):
            raise TypeError(
                f"{type(model).__name__} has no predict method; pass a classifier "
                "or a Pipeline ending in one."
            )
        check_is_fitted(model)
        if isinstance(model, Pipeline) and len(model.steps) > 1:
            self.head, self.final = model[:-1], model.steps[-1][1]
        elif embeddings:
            raise ValueError(
                "embeddings=True needs a Pipeline whose steps before the last transform frames "
                f"into embeddings (e.g. ... TripletEmbedder(), FewShotCentroidClassifier()); got "
                f"{type(model).__name__}."
            )
        else:
            self.head, self.final = None, model
        self.embeddings = embeddings
        if hasattr(self.final, "predict_proba"):
            self.score_name, self.score = "probabilities", self.final.predict_proba
        elif hasattr(self.final, "decision_function"):
            self.score_name, self.score = "decision_function", self.final.decision_function
        else:
            self.score_name = self.score = None
        self.classes = getattr(model, "classes_", None)

    def __call__(self, frames):
        Xt = frames if self.head is None else self.head.transform(frames)
        out = {"predicted_label": self.final.predict(Xt)}
        if self.score is not None:
            out[self.score_name] = self.score(Xt)
        if self.embeddings:
            out["embeddings"] = np.asarray(Xt, dtype=np.float32)
        return out


def predict_file(
    model,
    input_path,
    output_path=None,
    *,
    data_path=None,
    chunk_frames=None,
    embeddings=False,
    group="skspeckle_results",
    overwrite=False,
    in_place=False,
    verbose=0,
    log=print,
):
    """Classify every frame of an HDF5 / CXI file and write the results atomically.

    The frames are read ``chunk_frames`` at a time (as float32, without any cleaning: NaN /
    inf pixels reach the model, whose ``DetectorMask(nonfinite="mask")`` step may hide them;
    otherwise the model raises). The results are written to ``group`` of a new file, one row
    per input frame, and published only when all frames are done: an error or an interrupt
    (KeyboardInterrupt) leaves no output file, no temporary file and, with ``in_place``, no
    group. The input frames are never modified.

    Output datasets in ``group`` (``n`` frames, ``c`` classes, ``d`` embedding dimensions):

    - ``predicted_label`` ``(n,)``: ``model.predict`` (strings as UTF-8);
    - ``probabilities`` ``(n, c)`` float64 from ``predict_proba`` when the model has it,
      else ``decision_function`` from ``decision_function``, if any;
    - ``classes`` ``(c,)``: the column order of the scores (``model.classes_``);
    - ``embeddings`` ``(n, d)`` float32: the output of all steps but the last (e.g. the
      TripletEmbedder's unit vectors), only with ``embeddings=True``.

    Group attributes: ``model`` (repr), ``model_params`` (JSON of ``get_params(deep=True)``,
    nested estimators left out), ``skspeckle_version``, ``sklearn_version``, ``input_file``,
    ``data_path``, ``n_frames``, ``created`` (UTC, ISO 8601), ``seconds``.

    Parameters
    ----------
    model : fitted estimator
        A classifier, typically the Pipeline ``DetectorMask -> TripletEmbedder ->
        FewShotCentroidClassifier`` fitted on frames of the file's shape (e.g. from
        :func:`skspeckle.persistence.load_model`).
    input_path : str or path-like
        HDF5 / CXI file of frames.
    output_path : str, path-like or None, default=None
        New results file; must be None with ``in_place``.
    data_path : str, sequence of str or None, default=None
        Frame dataset(s), as :class:`~skspeckle.io.cxi.FrameReader`
        (``entry_1/data_1/data`` by default).
    chunk_frames : int or None, default=None
        Frames per chunk; None means as many as fit in 64 MiB as float32. Peak memory is a
        few chunks plus the model's own working memory.
    embeddings : bool, default=False
        Also write the embeddings (needs a Pipeline).
    group : str, default="skspeckle_results"
        Group receiving the results.
    overwrite : bool, default=False
        Replace an existing output file.
    in_place : bool, default=False
        Add ``group`` to the input file instead of writing a new file (the only time the
        input file is opened for writing; no existing object in it is changed). A process
        killed outright (power loss, SIGKILL) while the file is open for writing can leave
        HDF5 files unreadable, so a separate output file is the safer choice for raw data.
    verbose : int, default=0
        1: progress (frames done, frames/s, ETA) every 10 s and a final line; 2: every chunk.
    log : callable, default=print
        Receives the progress lines.

    Returns
    -------
    summary : dict
        ``n_frames``, ``seconds``, ``frames_per_s``, ``output_path`` (str), ``group``.

    Raises
    ------
    FileNotFoundError, OSError, KeyError
        If the input cannot be read or the frame dataset is missing (see FrameReader).
    FileExistsError
        If ``output_path`` exists and ``overwrite`` is False.
    ValueError
        If ``output_path`` is the input file (the raw data would be replaced), is missing
        without ``in_place`` or given with it, ``group`` exists with ``in_place``, or the
        model rejects the frames (e.g. non-finite pixels, another frame shape).
    TypeError
        If the model has no ``predict``.
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    """
    input_path = Path(input_path)
    if in_place:
        if output_path is not None:
            raise ValueError(
                "Pass output_path=None with in_place=True (results go into the "
                "input file), or in_place=False to write a new file."
            )
    else:
        if output_path is None:
            raise ValueError(
                "output_path is required (or pass in_place=True to add the results "
                "to the input file)."
            )
        output_path = Path(output_path)
        if (
            output_path.exists()
            and input_path.exists()
            and os.path.samefile(output_path, input_path)
        ):
            raise ValueError(
                f"output_path {str(output_path)!r} is the input file: the raw frames would be "
                "replaced. Choose a new output file, or in_place=True to add a results group."
            )
    scorer = _Scorer(model, embeddings)
    h5 = open_h5(input_path, "r+") if in_place else None
    try:
        with FrameReader(
            h5 if in_place else input_path, data_path, mask=None, chunk_frames=chunk_frames
        ) as reader:
            if not len(reader):
                raise ValueError(f"{str(input_path)!r} has no frames in {reader.data_paths}.")
            attrs = {
                **_model_attrs(model),
                "input_file": str(input_path.resolve()),
                "data_path": list(reader.data_paths),
            }
            target = h5 if in_place else output_path
            with ResultsWriter(
                target,
                len(reader),
                group=group,
                attrs=attrs,
                overwrite=overwrite,
                in_place=in_place,
            ) as writer:
                if scorer.classes is not None:
                    writer.set("classes", scorer.classes)
                seconds = _run(scorer, reader, writer, verbose, log)
                writer.set_attrs({"seconds": seconds})
    finally:
        if h5 is not None:
            h5.close()
    n = len(reader)
    return {
        "n_frames": n,
        "seconds": seconds,
        "frames_per_s": n / max(seconds, 1e-9),
        "output_path": str(writer.path),
        "group": writer.group,
    }


def _run(scorer, reader, writer, verbose, log):
    n, t0, last = len(reader), time.perf_counter(), -float("inf")
    for start, frames in reader.iter_chunks():
        try:
            writer.write_rows(start, **scorer(frames))
        except Exception as exc:
            # Say where in the file it happened; the type and message stay the model's own.
            if hasattr(exc, "add_note"):
                exc.add_note(
                    f"(while classifying frames {start}:{start + len(frames)} of {reader.path!r})"
                )
            raise
        done, now = start + len(frames), time.perf_counter()
        if verbose >= 2 or (verbose >= 1 and (now - last >= 10 or done == n)):
            last = now
            rate = done / max(now - t0, 1e-9)
            log(
                f"predict_file: {done}/{n} frames, {rate:.1f} frames/s, "
                f"{now - t0:.1f} s elapsed, ETA {(n - done) / rate:.1f} s"
            )
            sys.stdout.flush()
    return time.perf_counter() - t0
