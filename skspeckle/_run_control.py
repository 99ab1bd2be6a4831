"""The control of a long streaming run (:func:`skspeckle.streaming.predict_file`): scoring a
chunk, bad pixels frame by frame, SIGTERM / SIGINT between chunks, progress lines on a timer,
and when the journal of an interrupted run may be resumed."""

import hashlib
import pickle
import signal
import sys
import threading
import time

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from tqdm import tqdm

from skspeckle.io._atomic import stale_temporaries
from skspeckle.io.journal import Journal, journal_path

__all__ = [
    "NONFINITE",
    "Progress",
    "RunInterrupted",
    "StopOnSignal",
    "classify_chunk",
    "model_sha256",
    "open_journal",
]

NONFINITE = ("error", "mask", "skip")
# Seconds between progress lines with verbose=1, also while one large chunk is being worked on.
PROGRESS_SECONDS = 10.0


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGTERM or SIGINT after committing its current chunk.

    A KeyboardInterrupt, so that code catching Ctrl-C catches it too.

    Attributes
    ----------
    signum : int
        The signal received (``signal.SIGTERM`` or ``signal.SIGINT``).
    journal : pathlib.Path
        The journal holding the finished chunks (see :class:`skspeckle.io.journal.Journal`).
    frames_done, n_frames : int
        Frames finished (kept in the journal) and frames of the run.
    """

    def __init__(self, signum, journal, frames_done, n_frames):
        self.signum, self.journal = signum, journal
        self.frames_done, self.n_frames = frames_done, n_frames
        super().__init__(
            f"stopped by {signal.Signals(signum).name} after {frames_done} of {n_frames} frames; "
            f"the finished chunks are kept in {str(journal)!r}"
        )


class StopOnSignal:
    """Context manager turning the first SIGTERM / SIGINT into a request (:attr:`signum`) that
    the run honours between chunks; the previous handlers come back at once, so a second
    signal acts as usual (Ctrl-C raises KeyboardInterrupt, SIGTERM ends the process).

    Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._request)
        return self

    def _request(self, signum, frame):
        self.signum = signum
        self._restore()

    def _restore(self):
        while self._previous:
            sig, handler = self._previous.popitem()
            signal.signal(sig, handler)

    def __exit__(self, *exc):
        self._restore()


def model_sha256(model):
    """Identity of a fitted model in a run's journal: the SHA-256 of ``pickle.dumps(model)``
    (of ``repr(model)`` if it cannot be pickled)."""
    try:
        state = pickle.dumps(model)
    except (pickle.PicklingError, TypeError, AttributeError):
        state = repr(model).encode()  # e.g. a class defined in a function
    return hashlib.sha256(state).hexdigest()


class Progress:
    """Progress lines of a run: every chunk (``verbose >= 2``), every
    :data:`PROGRESS_SECONDS` (``verbose >= 1``, from a timer thread, so also in the middle of
    a chunk that takes minutes) and a final line, each starting with ``name``; and a tqdm bar
    over the frames (on stderr) when ``progress`` is True, or None and stderr is a terminal."""

    def __init__(self, n_frames, done, verbose, log, progress=False, name="predict_file"):
        self.n, self.done, self.start_done = n_frames, done, done
        self.verbose, self.log, self.name = verbose, log, name
        self.working = None
        self.t0 = time.perf_counter()
        self.bar = tqdm(
            total=n_frames,
            initial=done,
            desc=name,
            unit="frame",
            disable=None if progress is None else not progress,
        )
        if log is print:
            self.log = self.bar.write  # printed above the bar instead of through it
        self._stop = threading.Event()
        self._thread = None
        if verbose >= 1:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def _tick(self):
        while not self._stop.wait(PROGRESS_SECONDS):
            self.report()

    def report(self):
        elapsed = time.perf_counter() - self.t0
        rate = (self.done - self.start_done) / max(elapsed, 1e-9)
        eta = f"ETA {(self.n - self.done) / rate:.1f} s" if rate > 0 else "ETA unknown"
        working = "" if self.working is None or self.done == self.n else f", on {self.working}"
        self.log(
            f"{self.name}: {self.done}/{self.n} frames, {rate:.1f} frames/s, "
            f"{elapsed:.1f} s elapsed, {eta}{working}"
        )
        sys.stdout.flush()

    def chunk_started(self, start, stop):
        self.working = f"frames {start}:{stop}"

    def chunk_done(self, done):
        self.bar.update(done - self.done)
        self.done = done
        if self.verbose >= 2 or (self.verbose >= 1 and done == self.n):
            self.report()

    def close(self):
        self.bar.close()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class Scorer:
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


def _sentinel(dtype):
    """Fill value of a skipped frame's results: "" for strings, NaN for floats, the most
    negative value for signed integers, the largest for unsigned ones, False for booleans."""
    if dtype.kind == "U":
        return ""
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "i":
        return np.iinfo(dtype).min
    if dtype.kind == "u":
        return np.iinfo(dtype).max
    return False


def _as_storable(out):
    # Object arrays (e.g. string labels) become fixed-width strings: the journal stores
    # arrays without pickle.
    return {
        name: np.asarray(v).astype(str) if np.asarray(v).dtype == object else np.asarray(v)
        for name, v in out.items()
    }


def classify_chunk(scorer, frames, start, nonfinite, mask_value, path):
    """Results of one chunk, with the per-frame ``valid`` and ``nonfinite_pixels`` columns.

    ``frames`` (float32, ``(k, H, W)``, a fresh array from the reader) is changed in place:
    with ``nonfinite="mask"`` its NaN / inf pixels are set to ``mask_value``. With ``"skip"``
    the frames holding any are not given to the model; their rows are filled with
    :func:`_sentinel` values and ``valid`` is False. With ``"error"`` the first such frame
    raises ValueError naming its index in the file (``start`` + its index in the chunk).
    """
    bad = ~np.isfinite(frames)
    per_frame = bad.reshape(len(frames), -1).sum(axis=1)
    valid = np.ones(len(frames), dtype=bool)
    if per_frame.any():
        if nonfinite == "error":
            i = int(np.flatnonzero(per_frame)[0])
            raise ValueError(
                f"Frame {start + i} of {path!r} has {per_frame[i]} non-finite pixel value(s) "
                "(NaN or inf). Pass nonfinite='mask' (skspeckle classify --nonfinite mask) to "
                "treat them as masked pixels, or nonfinite='skip' (--nonfinite skip) to leave "
                "such frames out."
            )
        if nonfinite == "mask":
            frames[bad] = mask_value
        else:
            valid = per_frame == 0
    if valid.all():
        out = _as_storable(scorer(frames))
    else:
        # The model still runs once, on a blank frame if none is left, for the dtypes and
        # shapes of its outputs.
        kept = frames[valid] if valid.any() else np.zeros_like(frames[:1])
        sub = _as_storable(scorer(kept))
        out = {}
        for name, value in sub.items():
            column = np.full((len(frames), *value.shape[1:]), _sentinel(value.dtype), value.dtype)
            if valid.any():
                column[valid] = value
            out[name] = column
    out["valid"] = valid
    out["nonfinite_pixels"] = per_frame.astype(np.int64)
    return out


# Manifest entries that must match for a resume, and how a refusal names them.
_RESUME_KEYS = {
    "input_file": "input file",
    "input_size": "input file's size (bytes)",
    "input_mtime_ns": "input file's modification time (ns)",
    "model_sha256": "model (SHA-256)",
    "data_path": "data path",
    "n_frames": "number of frames",
    "frame_shape": "frame shape",
    "chunk_frames": "chunk size (frames)",
    "group": "results group",
    "embeddings": "embeddings option",
}


def _check_resume(journal, old, new):
    changed = [
        f"{label}: {old.get(key)!r} then, {new[key]!r} now"
        for key, label in _RESUME_KEYS.items()
        if old.get(key) != new[key]
    ]
    # Chunks finished under "error" hold no non-finite frame, so any mode may take them over.
    if old.get("nonfinite") not in (new["nonfinite"], "error"):
        changed.append(f"nonfinite: {old.get('nonfinite')!r} then, {new['nonfinite']!r} now")
    if changed:
        raise ValueError(
            f"Cannot resume the interrupted run in {str(journal.path)!r}: "
            + "; ".join(changed)
            + ". Its finished chunks are reused only for the same input file, model and "
            "options; pass overwrite=True (--overwrite) to discard them and start again."
        )


def open_journal(target, group, manifest, resume, overwrite, log):
    """Lock the journal of ``target``'s ``group`` and create it, or read it to resume
    (``resume``), or discard it (``overwrite``); remove the stale temporary files of killed
    writers of ``target``. Raises FileExistsError for an unfinished run that is neither
    resumed nor discarded, ValueError for a resume that does not match it."""
    journal = Journal(journal_path(target, group)).lock()
    try:
        if journal.exists() and (journal.path / "manifest.json").exists():
            if resume:
                journal.read()
                _check_resume(journal, journal.manifest, manifest)
                journal.manifest["nonfinite"] = manifest["nonfinite"]
                journal.write_manifest()
                log(
                    f"predict_file: resuming {str(journal.path)!r}: {journal.n_finished()} of "
                    f"{manifest['n_frames']} frames already done"
                )
                for name in journal.dropped:
                    log(f"predict_file: {name} of the journal was damaged; computing it again")
            elif overwrite:
                journal.create(manifest)
                log(f"predict_file: discarded the unfinished run in {str(journal.path)!r}")
            else:
                journal.read()
                raise FileExistsError(
                    f"{str(journal.path)!r} holds the unfinished results of an earlier run "
                    f"({journal.n_finished()} of {journal.manifest.get('n_frames', '?')} frames "
                    f"done, started {journal.manifest.get('started', '?')}) that was stopped, "
                    "killed or failed; pass resume=True (--resume) to continue it, or "
                    "overwrite=True (--overwrite) to discard it and start again."
                )
        else:
            journal.create(manifest)
        for tmp in stale_temporaries(target):
            tmp.unlink()
            log(f"predict_file: removed {str(tmp)!r}, left by a killed writer")
    except BaseException:
        journal.close()
        raise
    return journal
