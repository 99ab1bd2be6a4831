"""Classify the frames of a run file chunk by chunk with a fitted pipeline.

A run of 1e5 frames does not fit in memory, a batch scheduler stops a job with SIGTERM at
its time limit, and a crash at frame 90,000 must neither leave a results file that looks
complete nor lose the 90,000 frames done. :func:`predict_file` reads the run with
:class:`skspeckle.io.cxi.FrameReader` (or any frame source of :mod:`skspeckle.io.sources`,
e.g. a European XFEL run) a bounded chunk at a time, commits each finished chunk
to a :class:`skspeckle.io.journal.Journal` beside the output, and writes the output with
:class:`skspeckle.io.results.ResultsWriter` only when every frame is done. An interrupted
run continues from its last finished chunk with ``resume=True``.
"""

import json
import os
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from skspeckle._run_control import (
    NONFINITE,
    Progress,
    RunInterrupted,
    Scorer,
    StopOnSignal,
    classify_chunk,
    open_journal,
)
from skspeckle._run_control import model_sha256 as _model_sha256
from skspeckle._version import __version__
from skspeckle.io._atomic import check_output_path
from skspeckle.io._hdf5 import open_h5
from skspeckle.io.cxi import FrameReader
from skspeckle.io.journal import Journal, journal_path
from skspeckle.io.results import ResultsWriter
from skspeckle.io.sources import FrameSource
from skspeckle.preprocessing import DetectorMask

__all__ = ["RunInterrupted", "predict_file"]


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


def _mask_value(model):
    """The value of a masked pixel for ``model``: the ``fill_value`` of its first step when
    that is a DetectorMask (so masking a bad pixel before the model is exactly what
    ``DetectorMask(nonfinite="mask")`` does), else 0 (no photons)."""
    first = model.steps[0][1] if isinstance(model, Pipeline) else model
    return float(first.fill_value) if isinstance(first, DetectorMask) else 0.0


def predict_file(
    model,
    input_path,
    output_path=None,
    *,
    data_path=None,
    chunk_frames=None,
    embeddings=False,
    group="skspeckle_results",
    nonfinite="mask",
    resume=False,
    overwrite=False,
    in_place=False,
    model_sha256=None,
    operating_point=None,
    progress=False,
    verbose=0,
    log=print,
):
    """Classify every frame of an HDF5 / CXI file; survive interrupts; publish atomically.

    The frames are read ``chunk_frames`` at a time as float32. Each finished chunk is
    committed to a journal beside the output (``.<output name>.partial/``, see
    :class:`skspeckle.io.journal.Journal`); when all are done, the results are written to
    ``group`` of a new file (or, with ``in_place``, of the input file), one row per input
    frame, and the journal is removed. The input frames are never modified.

    ``input_path`` may also be an open frame source (:mod:`skspeckle.io.sources`), e.g.
    :class:`skspeckle.io.euxfel.EuXFELRun` for a European XFEL run: its per-frame ids
    (``train_id``, ``pulse_id``, ``cell_id``) are written next to the results, and the
    pixels False in its ``mask`` (gaps between modules, NaN in its frames) are set to the
    masked value and not counted as non-finite.

    An interrupted run keeps its finished chunks: the first SIGTERM or SIGINT (Ctrl-C) lets
    the current chunk finish, commits it and raises :class:`RunInterrupted`; a second one
    acts at once. A crash, ``kill -9`` or power loss loses at most the chunk being worked
    on. ``resume=True`` continues from the finished chunks and gives the same results, bit
    for bit, as an uninterrupted run; it is refused if the input file (path, size, mtime),
    the model (``model_sha256``) or an option changed.

    Output datasets in ``group`` (``n`` frames, ``c`` classes, ``d`` embedding dimensions):

    - ``predicted_label`` ``(n,)``: ``model.predict`` (strings as UTF-8);
    - ``probabilities`` ``(n, c)`` float64 from ``predict_proba`` when the model has it,
      else ``decision_function`` from ``decision_function``, if any;
    - ``classes`` ``(c,)``: the column order of the scores (``model.classes_``);
    - ``embeddings`` ``(n, d)`` float32: the output of all steps but the last (e.g. the
      TripletEmbedder's unit vectors), only with ``embeddings=True``;
    - ``valid`` ``(n,)`` bool: False for the frames left out by ``nonfinite="skip"``,
      whose other rows hold a sentinel: ``""`` for string labels, the most negative value
      for signed integer labels, NaN for scores and embeddings;
    - ``nonfinite_pixels`` ``(n,)`` int64: NaN / inf pixels of each frame;
    - the frame source's ids, e.g. ``train_id``, ``pulse_id``, ``cell_id`` ``(n,)`` uint64
      of a European XFEL run;
    - ``accepted`` ``(n,)`` bool: the frames that pass ``operating_point`` (valid frames
      whose probability of its positive class reaches its threshold), only with one.

    Group attributes: ``model`` (repr), ``model_params`` (JSON of ``get_params(deep=True)``,
    nested estimators left out), ``model_sha256``, ``skspeckle_version``,
    ``sklearn_version``, ``input_file``, ``data_path``, ``n_frames``, ``created`` (UTC, ISO
    8601), ``seconds`` (of this call), ``resumed_frames`` (taken from the journal),
    ``nonfinite`` (the mode), ``nonfinite_frames``, ``nonfinite_pixels``,
    ``skipped_frames``; with ``operating_point``, ``threshold`` and its provenance
    (:meth:`skspeckle.calibration.OperatingPoint.to_attrs`) and ``accepted_frames``.

    Parameters
    ----------
    model : fitted estimator
        A classifier, typically the Pipeline ``DetectorMask -> TripletEmbedder ->
        FewShotCentroidClassifier`` fitted on frames of the file's shape (e.g. from
        :func:`skspeckle.persistence.load_model`).
    input_path : str, path-like or frame source
        HDF5 / CXI file of frames, or an open frame source (used as is, not closed).
    output_path : str, path-like or None, default=None
        New results file; must be None with ``in_place``.
    data_path : str, sequence of str or None, default=None
        Frame dataset(s), as :class:`~skspeckle.io.cxi.FrameReader`
        (``entry_1/data_1/data`` by default).
    chunk_frames : int or None, default=None
        Frames per chunk; None means as many as fit in 64 MiB as float32 (with ``resume``:
        the interrupted run's). Peak memory is a few chunks plus the model's own working
        memory; a signal waits for the current chunk to finish.
    embeddings : bool, default=False
        Also write the embeddings (needs a Pipeline).
    group : str, default="skspeckle_results"
        Group receiving the results.
    nonfinite : {"mask", "skip", "error"}, default="mask"
        NaN / inf pixels (bad pixels of real frames), frame by frame: ``"mask"`` sets them
        to the masked value (the ``fill_value`` of the model's first step when it is a
        :class:`~skspeckle.preprocessing.DetectorMask`, else 0) before the model sees the
        frame, as ``DetectorMask(nonfinite="mask")`` does; ``"skip"`` leaves such frames out
        (``valid`` False); ``"error"`` raises on the first. The default keeps one bad pixel
        from stopping a run of 1e5 frames, and the counts are recorded in any mode.
    resume : bool, default=False
        Continue the interrupted run whose journal is beside the output (a fresh run if
        there is none).
    overwrite : bool, default=False
        Replace an existing output file, and discard (without ``resume``) the journal of an
        interrupted run.
    in_place : bool, default=False
        Add ``group`` to the input file instead of writing a new file. The input file is
        opened for writing only at the very end, to add the group (no existing object in it
        is changed); a process killed outright (power loss, SIGKILL) while the file is open
        for writing can leave HDF5 files unreadable, so a separate output file is the safer
        choice for raw data.
    model_sha256 : str or None, default=None
        Identity of the model in the journal, checked on resume: the command line passes
        the payload SHA-256 from the model file's header. None: the SHA-256 of
        ``pickle.dumps(model)`` (of ``repr(model)`` if it cannot be pickled).
    operating_point : skspeckle.calibration.OperatingPoint or None, default=None
        A veto on the probability of one class (e.g. single hits at 95 % precision); needs
        a model with ``predict_proba``. It is applied when the results are written, so a
        resumed run may use another one.
    progress : bool or None, default=False
        A progress bar over the frames (tqdm, on stderr: frames/s, ETA); None: only when
        stderr is a terminal (the command line's default).
    verbose : int, default=0
        1: progress (frames done, frames/s, ETA) every 10 s, also within a chunk, and a
        final line; 2: also every chunk.
    log : callable, default=print
        Receives the progress lines and the notes on resumed or discarded journals.

    Returns
    -------
    summary : dict
        ``n_frames``, ``seconds`` (this call), ``frames_per_s`` (frames classified by this
        call per second), ``output_path`` (str), ``group``, ``class_counts`` (dict of
        predicted class to frames, valid frames only), ``resumed_frames``, ``nonfinite``,
        ``nonfinite_frames``, ``nonfinite_pixels``, ``skipped_frames``, and
        ``accepted_frames`` with ``operating_point``.

    Raises
    ------
    RunInterrupted
        After SIGTERM or SIGINT (a KeyboardInterrupt; the journal is kept).
    FileNotFoundError, OSError, KeyError
        If the input cannot be read or the frame dataset is missing (see FrameReader).
    FileExistsError
        If ``output_path`` exists and ``overwrite`` is False, or a journal of an interrupted
        run is there and neither ``resume`` nor ``overwrite`` is set.
    BlockingIOError
        If another process is writing the same results.
    ValueError
        If ``output_path`` is the input file (the raw data would be replaced), is missing
        without ``in_place`` or given with it, ``in_place`` is given with a frame source,
        ``group`` exists with ``in_place``, a frame has non-finite pixels with
        ``nonfinite="error"`` (the message gives its index in the file), a resume does
        not match the interrupted run, the model rejects the frames, or
        ``operating_point`` needs probabilities the model lacks or a class it does not know.
        Finished chunks stay in the journal after any error.
    TypeError
        If the model has no ``predict``.
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    """
    if nonfinite not in NONFINITE:
        raise ValueError(f"nonfinite must be one of {NONFINITE}, got {nonfinite!r}.")
    source = input_path if isinstance(input_path, FrameSource) else None
    if source is not None:
        if in_place:
            raise ValueError(
                "in_place=True adds the results to an HDF5 input file; a frame source such as "
                "a European XFEL run is only read. Give output_path instead."
            )
        input_path = Path(source.path)
    input_path = Path(input_path)
    if in_place:
        if output_path is not None:
            raise ValueError(
                "Pass output_path=None with in_place=True (results go into the "
                "input file), or in_place=False to write a new file."
            )
        target = input_path
    else:
        if output_path is None:
            raise ValueError(
                "output_path is required (or pass in_place=True to add the results "
                "to the input file)."
            )
        target = output_path = Path(output_path)
        if (
            output_path.exists()
            and input_path.is_file()
            and os.path.samefile(output_path, input_path)
        ):
            raise ValueError(
                f"output_path {str(output_path)!r} is the input file: the raw frames would be "
                "replaced. Choose a new output file, or in_place=True to add a results group."
            )
        check_output_path(output_path, overwrite)
    scorer = Scorer(model, embeddings)
    if operating_point is not None:
        if scorer.score_name != "probabilities" or scorer.classes is None:
            raise ValueError(
                f"operating_point needs a model with predict_proba and classes_; "
                f"{type(model).__name__} has none. Calibrate it (sklearn.calibration."
                "CalibratedClassifierCV) or classify without a threshold."
            )
        operating_point.accept(np.zeros((0, len(scorer.classes))), scorer.classes)  # checks
    if model_sha256 is None:
        model_sha256 = _model_sha256(model)
    if source is None:
        opened = FrameReader(input_path, data_path, mask=None, chunk_frames=chunk_frames)
    else:
        opened = nullcontext(source)
    with opened as reader:
        n = len(reader)
        if not n:
            raise ValueError(f"{str(input_path)!r} has no frames in {reader.data_paths}.")
        if in_place:
            with open_h5(input_path) as h5:  # fail now, not after the whole run
                if group.strip("/") in h5:
                    raise ValueError(
                        f"{str(input_path)!r} already has an object {group!r}; existing data "
                        "are never replaced in place. Pass another group= name."
                    )
        frame_ids = {name: np.asarray(ids) for name, ids in reader.frame_ids.items()}
        manifest = {
            **reader.identity(),
            "model_sha256": model_sha256,
            "data_path": list(reader.data_paths),
            "n_frames": n,
            "frame_shape": list(reader.shape[1:]),
            "chunk_frames": reader.chunk_frames,
            "group": group,
            "embeddings": bool(embeddings),
            "nonfinite": nonfinite,
            "skspeckle_version": __version__,
            "started": datetime.now(timezone.utc).isoformat(),
        }
        journal = Journal(journal_path(target, group))
        if resume and chunk_frames is None and journal.exists():
            # Same chunks as the interrupted run, so that the results are bit-identical.
            try:
                old = json.loads((journal.path / "manifest.json").read_text())
                manifest["chunk_frames"] = int(old["chunk_frames"])
            except (OSError, ValueError, KeyError, TypeError):
                pass  # Journal.read reports the unreadable manifest
        journal = open_journal(target, group, manifest, resume, overwrite, log)
        resumed = journal.n_finished()
        with StopOnSignal() as stop:
            try:
                seconds = _run(
                    scorer,
                    reader,
                    journal,
                    manifest,
                    _mask_value(model),
                    stop,
                    (verbose, log, progress),
                )
            except BaseException as exc:
                _keep_journal(journal, exc)
                raise
    return _finish(
        model,
        scorer,
        journal,
        manifest,
        target,
        overwrite,
        in_place,
        seconds,
        resumed,
        frame_ids=frame_ids,
        operating_point=operating_point,
    )


def _keep_journal(journal, exc, resume_hint="resume=True / --resume"):
    """Close the journal of a run that ``exc`` stopped; unless it was interrupted (whose
    message says it already), note where its finished frames are kept."""
    journal.close()
    if journal.finished and not isinstance(exc, RunInterrupted) and hasattr(exc, "add_note"):
        exc.add_note(
            f"({journal.n_finished()} finished frames are kept in {str(journal.path)!r}; "
            f"{resume_hint} continues with them)"
        )


def _finish(
    model,
    scorer,
    journal,
    manifest,
    target,
    overwrite,
    in_place,
    seconds,
    resumed,
    extra_attrs=None,
    frame_ids=None,
    operating_point=None,
):
    """The final write of a complete run, then the journal's removal; returns the run's
    summary. A first signal now waits for the write, since the run is complete by then."""
    attrs = {"seconds": seconds, "resumed_frames": resumed, **(extra_attrs or {})}
    with StopOnSignal():
        try:
            summary = _publish(
                model,
                scorer,
                journal,
                manifest,
                target,
                overwrite,
                in_place,
                attrs,
                frame_ids=frame_ids,
                operating_point=operating_point,
            )
        except BaseException:
            journal.close()
            raise
        journal.remove()
    return {
        **summary,
        "seconds": seconds,
        "frames_per_s": (manifest["n_frames"] - resumed) / max(seconds, 1e-9),
        "resumed_frames": resumed,
    }


def _run(scorer, reader, journal, manifest, mask_value, stop, reporting):
    """Classify and commit every chunk not yet in the journal; returns the seconds taken.
    ``reporting`` is ``(verbose, log, progress)`` of :class:`Progress`."""
    n, step = manifest["n_frames"], manifest["chunk_frames"]
    progress = Progress(n, journal.n_finished(), *reporting)
    no_data = None if reader.mask is None else ~np.asarray(reader.mask, dtype=bool)
    try:
        for start in range(0, n, step):
            if start in journal.finished:
                continue
            end = min(start + step, n)
            progress.chunk_started(start, end)
            frames = reader[start:end]
            if no_data is not None:
                frames[:, no_data] = mask_value  # gaps are masked pixels, not bad ones
            try:
                arrays = classify_chunk(
                    scorer, frames, start, manifest["nonfinite"], mask_value, reader.path
                )
            except Exception as exc:
                # Say where in the file it happened; the type and message stay the model's own.
                if hasattr(exc, "add_note"):
                    exc.add_note(f"(while classifying frames {start}:{end} of {reader.path!r})")
                raise
            journal.commit(start, arrays)
            progress.chunk_done(journal.n_finished())
            if stop.signum is not None and journal.n_finished() < n:
                raise RunInterrupted(stop.signum, journal.path, journal.n_finished(), n)
    finally:
        progress.close()
    return time.perf_counter() - progress.t0


def _publish(
    model,
    scorer,
    journal,
    manifest,
    target,
    overwrite,
    in_place,
    extra_attrs,
    frame_ids=None,
    operating_point=None,
):
    """Write the journal's chunks, the frames' ids and the operating point's decisions to the
    output (atomically, by ResultsWriter); returns the per-run counts."""
    n, group = manifest["n_frames"], manifest["group"]
    totals = {"nonfinite_frames": 0, "nonfinite_pixels": 0, "skipped_frames": 0}
    counts = {}
    attrs = {
        **_model_attrs(model),
        "model_sha256": manifest["model_sha256"],
        "input_file": manifest["input_file"],
        "data_path": manifest["data_path"],
        "nonfinite": manifest["nonfinite"],
        **extra_attrs,
        **(operating_point.to_attrs() if operating_point is not None else {}),
    }
    if operating_point is not None:
        totals["accepted_frames"] = 0
    h5 = open_h5(target, "r+") if in_place else None
    try:
        with ResultsWriter(
            h5 if in_place else target,
            n,
            group=group,
            attrs=attrs,
            overwrite=overwrite and not in_place,
            in_place=in_place,
        ) as writer:
            if scorer.classes is not None:
                writer.set("classes", scorer.classes)
            if frame_ids:
                writer.write_rows(0, **frame_ids)
            for start, arrays in journal.chunks():
                valid, pixels = arrays["valid"], arrays["nonfinite_pixels"]
                if operating_point is not None:
                    arrays = dict(arrays)
                    arrays["accepted"] = valid & operating_point.accept(
                        arrays["probabilities"], scorer.classes
                    )
                    totals["accepted_frames"] += int(arrays["accepted"].sum())
                writer.write_rows(start, **arrays)
                totals["nonfinite_frames"] += int(np.count_nonzero(pixels))
                totals["nonfinite_pixels"] += int(pixels.sum())
                totals["skipped_frames"] += int(np.count_nonzero(~valid))
                labels, k = np.unique(arrays["predicted_label"][valid], return_counts=True)
                for label, count in zip(labels.tolist(), k.tolist()):
                    counts[label] = counts.get(label, 0) + count
            writer.set_attrs(totals)
    finally:
        if h5 is not None:
            h5.close()
    if scorer.classes is not None:  # in the model's class order, zeros included
        counts = {c: counts.get(c, 0) for c in np.asarray(scorer.classes).tolist()}
    return {
        "n_frames": n,
        "output_path": str(writer.path),
        "group": writer.group,
        "class_counts": counts,
        "nonfinite": manifest["nonfinite"],
        **totals,
    }
