"""LCLS runs through psana (LCLS-II psana 4.x): a detector's frames, event by event, into the
results file of :func:`skspeckle.streaming.predict_file`, keyed by the event timestamps.

At LCLS frames do not come as HDF5 files but through psana: ``DataSource(exp=..., run=...)``
(or ``files=`` xtc2 files), a run's events, and for each a detector's ``calib`` (pedestal-
and gain-corrected segments) or ``image`` (segments placed by the geometry) array.
:func:`iter_psana_frames` reads them in chunks with their timestamps; :func:`predict_psana`
classifies them with the same chunk scoring, journal (resumable) and results writer as
``predict_file``, and adds a ``timestamp`` dataset (psana's 64-bit event timestamp) so every
row can be matched back to its event.

Needs the ``lcls`` extra (``pip install 'skspeckle[lcls]'``), i.e. psana, which builds mpi4py
and pykerberos: on Debian, ``apt-get install libopenmpi-dev libkrb5-dev`` first.
"""

import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

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
from skspeckle.streaming import _finish, _keep_journal, _mask_value
from skspeckle.utils._optional import import_optional

__all__ = ["KINDS", "iter_psana_frames", "predict_psana"]

#: The detector arrays :func:`iter_psana_frames` reads: ``det.raw.<kind>(evt)``.
KINDS = ("calib", "image", "raw")


def _as_frame(array, kind):
    """A detector array as one float32 frame ``(H, W)``: segments ``(n_seg, h, w)`` stacked
    along the rows, as :class:`skspeckle.io.cxi.FrameReader` does for panel datasets."""
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3:
        return array.reshape(-1, array.shape[-1])
    if array.ndim != 2:
        raise ValueError(
            f"The detector's {kind} array has shape {array.shape}; expected (H, W) or "
            "(n_segments, h, w). Choose another kind (calib, image, raw) or detector."
        )
    return array


def _datasource_kwargs(exp, run, files, extra):
    if (files is None) == (exp is None or run is None):
        raise ValueError(
            "Give either exp= and run= (an experiment's run at LCLS) or files= (xtc2 files), "
            f"not both and not neither; got exp={exp!r}, run={run!r}, files={files!r}."
        )
    if files is not None:
        files = [str(files)] if isinstance(files, (str, Path)) else [str(f) for f in files]
        kwargs = {"files": files}
    else:
        kwargs = {"exp": exp, "run": int(run)}
    return {**kwargs, **(extra or {})}


def iter_psana_frames(
    detector,
    *,
    exp=None,
    run=None,
    files=None,
    kind="calib",
    chunk_frames=64,
    skip=0,
    datasource_kwargs=None,
):
    """Yield a psana run's frames of one detector in chunks, with their event timestamps.

    Parameters
    ----------
    detector : str
        Detector name in the run (e.g. ``"jungfrau"``, ``"epix10k2M"``, ``"amopnccd"``).
    exp, run : str and int, optional
        The experiment and run number (``DataSource(exp=..., run=...)``, at LCLS).
    files : str, path-like or list of these, optional
        xtc2 file(s) instead (``DataSource(files=...)``).
    kind : {"calib", "image", "raw"}, default="calib"
        ``det.raw.calib(evt)``: segments corrected with the run's calibration constants,
        ``(n_segments, h, w)``, stacked along the rows into ``(n_segments * h, w)``;
        ``"image"``: placed by the detector geometry into one ``(H, W)`` image; ``"raw"``:
        uncorrected ADU.
    chunk_frames : int, default=64
        Frames per chunk.
    skip : int, default=0
        Frames to leave out first (events with a frame; used to resume a run).
    datasource_kwargs : dict or None, default=None
        More arguments of ``psana.DataSource`` (e.g. ``max_events``, ``detectors``,
        ``skip_calib_load="all"`` for files without calibration constants, ``dir``).

    Yields
    ------
    timestamps : ndarray of uint64 of shape (k,)
        psana's event timestamps (``evt.timestamp``).
    frames : ndarray of float32 of shape (k, H, W)
        ``k <= chunk_frames``. Events where the detector has no data are left out.

    Raises
    ------
    ImportError
        Without psana (the ``lcls`` extra).
    ValueError
        If the run is not given by exactly one of ``exp``/``run`` and ``files``, ``kind``
        is unknown, or the detector's arrays have another number of dimensions.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    psana = import_optional("psana", "lcls", purpose="reading LCLS runs")
    ds = psana.DataSource(**_datasource_kwargs(exp, run, files, datasource_kwargs))
    stamps, frames, seen = [], [], 0
    for psana_run in ds.runs():
        det = psana_run.Detector(detector)
        read = getattr(det.raw, kind)
        for evt in psana_run.events():
            array = read(evt)
            if array is None:  # the detector did not read out in this event
                continue
            seen += 1
            if seen <= skip:
                continue
            stamps.append(evt.timestamp)
            frames.append(_as_frame(array, kind))
            if len(frames) == chunk_frames:
                yield np.array(stamps, dtype=np.uint64), np.stack(frames)
                stamps, frames = [], []
    if frames:
        yield np.array(stamps, dtype=np.uint64), np.stack(frames)


def predict_psana(
    model,
    output_path,
    *,
    detector,
    exp=None,
    run=None,
    files=None,
    kind="calib",
    chunk_frames=64,
    embeddings=False,
    group="skspeckle_results",
    nonfinite="mask",
    resume=False,
    overwrite=False,
    model_sha256=None,
    datasource_kwargs=None,
    verbose=0,
    log=print,
):
    """Classify every frame of a detector in a psana run into a new results file.

    The results are those of :func:`skspeckle.streaming.predict_file` (``predicted_label``,
    ``probabilities``, ``classes``, ``valid``, ``nonfinite_pixels``, optionally
    ``embeddings``, and the provenance attributes; ``input_file`` is the xtc2 file(s) or
    ``exp=...:run=...``, ``data_path`` the detector and kind), one row per event with a
    frame, in event order, plus:

    - ``timestamp`` ``(n,)`` uint64: psana's event timestamp (``evt.timestamp``) of each row.

    Chunks are committed to the journal beside the output as they finish; a run stopped by
    SIGTERM / Ctrl-C, a crash or an error continues with ``resume=True``, skipping the frames
    already done. The number of frames is known only at the end of the run.

    Parameters
    ----------
    model : fitted estimator
        A classifier fitted on frames of the detector's shape, e.g. the Pipeline
        ``DetectorMask -> TripletEmbedder -> FewShotCentroidClassifier``.
    output_path : str or path-like
        New results file (HDF5).
    detector, exp, run, files, kind, chunk_frames, datasource_kwargs
        As :func:`iter_psana_frames`.
    embeddings, group, nonfinite, resume, overwrite, model_sha256, verbose, log
        As ``predict_file``. The progress lines start with ``predict_psana:``.

    Returns
    -------
    summary : dict
        As ``predict_file``'s.

    Raises
    ------
    ImportError
        Without psana (the ``lcls`` extra).
    RunInterrupted
        After SIGTERM or SIGINT (the journal is kept).
    ValueError
        As ``iter_psana_frames``; also a run without any frame of the detector, a resume that
        does not match, and the errors of ``predict_file`` (``nonfinite="error"``, a model
        that rejects the frames).
    FileExistsError, BlockingIOError
        As ``predict_file``.
    """
    if nonfinite not in NONFINITE:
        raise ValueError(f"nonfinite must be one of {NONFINITE}, got {nonfinite!r}.")
    kwargs = _datasource_kwargs(exp, run, files, datasource_kwargs)  # checks the run
    scorer = Scorer(model, embeddings)
    output_path = check_output_path(output_path, overwrite)
    if files is not None:
        paths = [Path(f).resolve() for f in kwargs["files"]]
        source = [str(p) for p in paths]
        sizes = [p.stat().st_size for p in paths]
        mtimes = [p.stat().st_mtime_ns for p in paths]
    else:
        source, sizes, mtimes = f"exp={exp}:run={int(run)}", None, None
    manifest = {
        "input_file": source,
        "input_size": sizes,
        "input_mtime_ns": mtimes,
        "model_sha256": model_sha256 or _model_sha256(model),
        "data_path": [f"{detector}.raw.{kind}"],
        "n_frames": None,  # known at the end of the run
        "frame_shape": None,
        "chunk_frames": int(chunk_frames),
        "group": group,
        "embeddings": bool(embeddings),
        "nonfinite": nonfinite,
        "skspeckle_version": __version__,
        "started": datetime.now(timezone.utc).isoformat(),
    }
    journal = open_journal(output_path, group, manifest, resume, overwrite, log)
    resumed = journal.n_finished()
    mask_value = _mask_value(model)
    t0 = time.perf_counter()
    progress = Progress(0, resumed, verbose, log, name="predict_psana")
    chunks = iter_psana_frames(
        detector,
        kind=kind,
        chunk_frames=chunk_frames,
        skip=resumed,
        datasource_kwargs={k: v for k, v in kwargs.items() if k not in ("exp", "run", "files")},
        **{k: kwargs[k] for k in ("exp", "run", "files") if k in kwargs},
    )
    start = resumed
    try:
        with StopOnSignal() as stop:
            for stamps, frames in chunks:
                arrays = classify_chunk(scorer, frames, start, nonfinite, mask_value, source)
                journal.commit(start, {**arrays, "timestamp": stamps})
                start += len(frames)
                progress.n = start  # a run's length is known only at its end
                progress.chunk_done(start)
                if stop.signum is not None:
                    raise RunInterrupted(stop.signum, journal.path, start, "?")
    except BaseException as exc:
        _keep_journal(journal, exc, resume_hint="resume=True")
        raise
    finally:
        progress.close()
    seconds = time.perf_counter() - t0
    if not start:
        journal.remove()
        raise ValueError(
            f"The run {source!r} has no frame of detector {detector!r} ({kind}); check the "
            "detector name (run.detnames lists them) and the run."
        )
    manifest["n_frames"] = start
    return _finish(
        model, scorer, journal, manifest, output_path, overwrite, False, seconds, resumed
    )
