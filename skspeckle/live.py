"""Live vetoes: classify the frames of a karabo-bridge stream train by train, as they arrive.

At European XFEL the online data of a detector come over a karabo-bridge ZMQ socket, one
message per train (10 Hz; up to 352 AGIPD frames per train). :class:`LiveClassifier` connects
to that socket as a :class:`karabo_bridge.Client`, classifies each train's frames with a
fitted pipeline, publishes the per-frame vetoes (train id, pulse id, label, score, valid) on a
ZMQ PUB socket in the karabo-bridge protocol, so that any karabo-bridge client (an online
monitor, a DAQ veto) can subscribe, and keeps them in a journal beside a results file that is
written, atomically, when the stream stops (SIGINT / SIGTERM, ``max_trains`` or ``timeout``).
"""

import signal
import time
from datetime import datetime, timezone

import numpy as np

from skspeckle._run_control import (
    NONFINITE,
    Scorer,
    StopOnSignal,
    classify_chunk,
)
from skspeckle._version import __version__
from skspeckle.io._atomic import check_output_path
from skspeckle.io.journal import Journal, journal_path
from skspeckle.io.results import ResultsWriter
from skspeckle.streaming import _mask_value, _model_attrs
from skspeckle.utils._optional import import_optional

__all__ = ["VETO_SOURCE", "LiveClassifier", "frames_of_train", "stream_vetoes"]

#: Source name of the vetoes in the published karabo-bridge messages.
VETO_SOURCE = "skspeckle/VETO"
# Seconds a receive waits before the loop checks for a signal, max_trains and timeout again.
_POLL_SECONDS = 0.25
# Manifest entries that must match for a journal to be continued by ``resume=True``.
_RESUME_KEYS = ("model_sha256", "source", "key", "group")

_PURPOSE = "classifying a karabo-bridge stream"


def _train_id(data, metadata, source):
    """The train id of ``source``'s message: its metadata's ``timestamp.tid`` (protocol 2.2 /
    1.0), else the first entry of a ``*.trainId`` array."""
    meta = (metadata or {}).get(source) or data[source].get("metadata") or {}
    if "timestamp.tid" in meta:
        return int(meta["timestamp.tid"])
    for name, value in data[source].items():
        if name.endswith("trainId") and np.size(value):
            return int(np.ravel(value)[0])
    raise ValueError(
        f"The message of source {source!r} carries no train id (no metadata 'timestamp.tid' "
        "and no '*.trainId' key); it is not a karabo-bridge train."
    )


def _frames_of_source(data, metadata, source, key, pulse_axis):
    """(train id, pulse ids, float32 frames (n, H, W)) of one source; see frames_of_train."""
    if source not in data:
        raise KeyError(
            f"Source {source!r} is not in this train; the stream sends {sorted(data)}. "
            "Pass one of them as source (--source)."
        )
    values = data[source]
    if key not in values:
        keys = sorted(k for k in values if k != "metadata")
        raise KeyError(
            f"Key {key!r} is not in source {source!r}; it has {keys}. Pass one as key (--key)."
        )
    frames = np.asarray(values[key])
    if frames.ndim < 2 or frames.dtype.kind not in "biuf":
        raise ValueError(
            f"{source} {key} is not an image (shape {frames.shape}, dtype {frames.dtype}); "
            "pass the key of the detector frames (--key), e.g. image.data."
        )
    frames = frames[None] if frames.ndim == 2 else np.moveaxis(frames, pulse_axis, 0)
    if frames.ndim > 3:
        frames = frames.reshape(len(frames), -1, frames.shape[-1])
    pulse_key = key.rpartition(".")[0] + ".pulseId"
    if pulse_key in values:
        pulse_ids = np.asarray(values[pulse_key]).astype(np.uint64).ravel()
        if len(pulse_ids) != len(frames):
            raise ValueError(
                f"{source} has {len(pulse_ids)} pulse ids ({pulse_key}) for {len(frames)} "
                f"frames ({key}); check pulse_axis (--pulse-axis)."
            )
    else:
        pulse_ids = np.arange(len(frames), dtype=np.uint64)
    return _train_id(data, metadata, source), pulse_ids, frames


def frames_of_train(data, metadata, source, key="image.data", pulse_axis=0):
    """The frames of one train of a karabo-bridge message, with their train and pulse ids.

    Parameters
    ----------
    data, metadata : dict
        One message as returned by :meth:`karabo_bridge.Client.next`: source name to a dict
        of key to value.
    source : str or sequence of str
        Detector source, e.g. a module ``"SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"`` or the stacked
        ``"SPB_DET_AGIPD1M-1/DET/APPEND"`` of ``karabo-bridge-serve-files
        --append-detector-modules``; or several sources (e.g. the 16 modules, in order),
        whose frames are stacked along the rows, as ``skspeckle classify`` does with one
        ``--data-path`` per panel; they must hold the same train and pulse ids.
    key : str, default="image.data"
        Key of the frames in the source(s).
    pulse_axis : int, default=0
        Axis of the frames along which the pulses run (0 for the layout of EXDF files and of
        ``karabo-bridge-serve-files``: ``(pulses, ...)``; -1 for a pulse-last layout).

    Returns
    -------
    train_id : int
        From the source's metadata (``timestamp.tid``), else its ``*.trainId`` key.
    pulse_ids : ndarray of shape (n,), uint64
        The sibling key ``<prefix>.pulseId`` (e.g. ``image.pulseId``) when the source has one,
        else ``0 .. n-1``.
    frames : ndarray of shape (n, H, W), float32
        A fresh copy. A 2-D value is one frame (a camera: one frame per train). Frames of
        more than two axes (after the pulse axis is moved first) have their modules stacked
        along the rows: the AGIPD 1M's ``(n, 16, 512, 128)`` become ``(n, 8192, 128)``.

    Raises
    ------
    KeyError
        If a source or ``key`` is not in the message (the message names what there is).
    ValueError
        If the value is not an image array, its pulse ids do not match its frames, or
        several sources disagree in train id, pulse ids or frame width.

    Examples
    --------
    A train of three pulses of a two-module detector:

    >>> import numpy as np
    >>> from skspeckle.live import frames_of_train
    >>> data = {"DET": {"image.data": np.zeros((3, 2, 4, 5), np.uint16),
    ...                 "image.pulseId": np.array([0, 4, 8])}}
    >>> metadata = {"DET": {"timestamp.tid": 10000}}
    >>> train_id, pulse_ids, frames = frames_of_train(data, metadata, "DET")
    >>> train_id, pulse_ids.tolist(), frames.shape, frames.dtype
    (10000, [0, 4, 8], (3, 8, 5), dtype('float32'))
    """
    sources = [source] if isinstance(source, str) else list(source)
    if not sources:
        raise ValueError("Pass at least one detector source (--source).")
    parts = [_frames_of_source(data, metadata, s, key, pulse_axis) for s in sources]
    train_id, pulse_ids, _ = parts[0]
    for name, (tid, pids, frames) in zip(sources[1:], parts[1:]):
        if tid != train_id or not np.array_equal(pids, pulse_ids):
            raise ValueError(
                f"Sources {sources[0]!r} and {name!r} of one message hold different trains or "
                f"pulses (train {train_id} vs {tid}, {len(pulse_ids)} vs {len(pids)} pulse "
                "ids); stack only the modules of one detector."
            )
        if frames.shape[2:] != parts[0][2].shape[2:]:
            raise ValueError(
                f"Source {name!r} has frames {frames.shape[1:]}, {sources[0]!r} "
                f"{parts[0][2].shape[1:]}: modules stacked along the rows need equal widths."
            )
    # A fresh float32 copy: the received buffers may be read-only, and classify_chunk masks
    # bad pixels in place.
    frames = np.concatenate([np.asarray(p[2], dtype=np.float32) for p in parts], axis=1)
    return train_id, pulse_ids, frames


def _check_endpoint(name, endpoint):
    if not isinstance(endpoint, str) or not endpoint.startswith(("tcp://", "ipc://")):
        raise ValueError(
            f"{name} must be a ZMQ endpoint such as 'tcp://127.0.0.1:4545', got {endpoint!r}."
        )
    return endpoint


class LiveClassifier:
    """Classify a karabo-bridge stream train by train; publish and keep the vetoes.

    Use it as a context manager: entering connects to the stream, binds the PUB socket
    (:attr:`publish_endpoint`) and opens the journal; :meth:`run` classifies trains until
    told to stop and writes the results file; leaving closes the sockets.

    Per train, the frames (:func:`frames_of_train`) go through the model's steps once
    (:class:`skspeckle._run_control.Scorer`, the same code as ``skspeckle classify``, so the
    labels equal the offline ones frame for frame); non-finite pixels are handled frame by
    frame as in :func:`skspeckle.streaming.predict_file`.

    Published message, one per train, in the karabo-bridge protocol (source
    :data:`VETO_SOURCE`, metadata ``timestamp.tid`` = the train id), read with
    ``karabo_bridge.Client(endpoint, sock="SUB")``:

    - ``trainId`` (int); ``pulseId`` ``(n,)`` uint64;
    - ``label`` list of ``n`` predicted labels;
    - ``score`` ``(n,)`` float64: the probability (``predict_proba``) of the predicted
      class, or the largest ``decision_function`` value; NaN for invalid frames;
    - ``valid`` ``(n,)`` bool: False for frames left out by ``nonfinite="skip"``;
    - ``classes`` list: the model's classes.

    Results file (group ``group``), one row per frame in order of arrival: ``train_id``,
    ``pulse_id``, ``predicted_label``, ``probabilities`` (or ``decision_function``),
    ``valid``, ``nonfinite_pixels``, and ``classes``; group attributes: the model's
    provenance (as ``predict_file``), ``endpoint``, ``source``, ``key``, ``n_trains``,
    ``seconds``.

    Parameters
    ----------
    model : fitted estimator
        A classifier or Pipeline ending in one, fitted on frames of the stream's shape
        (after :func:`frames_of_train`), e.g. from :func:`skspeckle.persistence.load_model`.
    endpoint : str
        The karabo bridge, e.g. ``"tcp://exflong123:45000"``.
    source : str or sequence of str
        Detector source(s) in the stream (see :func:`frames_of_train`).
    key : str, default="image.data"
        Key of the frames.
    pulse_axis : int, default=0
        Pulse axis of the frames (see :func:`frames_of_train`).
    sock : {"REQ", "SUB", "PULL"}, default="REQ"
        Socket type of the client, matching the bridge's (REP, PUB, PUSH).
    publish : str or None, default=None
        ZMQ endpoint the PUB socket binds, e.g. ``"tcp://127.0.0.1:5560"`` (``*`` as the
        port: a free one, see :attr:`publish_endpoint`). Bind another interface than the
        loopback only on a trusted network. None: no publishing.
    output_path : str, path-like or None, default=None
        New HDF5 results file, written when :meth:`run` returns. Until then each train is
        committed to a journal beside it (``.<name>.partial/``), so a crash keeps what was
        received. None: no file.
    group : str, default="skspeckle_results"
        Group of the results.
    nonfinite : {"mask", "skip", "error"}, default="mask"
        NaN / inf pixels, as in :func:`skspeckle.streaming.predict_file`.
    model_sha256 : str or None, default=None
        Identity of the model in the journal, checked by ``resume``.
    overwrite : bool, default=False
        Replace an existing output file; without ``resume``, discard an unfinished journal.
    resume : bool, default=False
        Continue the journal that a killed stream left beside ``output_path``: its frames
        come first in the results, then the new ones (same model, source, key and group).
    log : callable, default=print
        Receives the progress lines.

    Attributes
    ----------
    publish_endpoint : str or None
        The bound PUB endpoint (the port resolved), once entered.

    Raises
    ------
    ValueError
        If an endpoint is not a ``tcp://`` / ``ipc://`` address, ``nonfinite`` or ``sock``
        is unknown, neither ``publish`` nor ``output_path`` is given (nothing would be
        kept), or a resume does not match the journal.
    FileExistsError
        If ``output_path`` exists without ``overwrite``, or an unfinished journal is there
        and neither ``resume`` nor ``overwrite`` is set.
    ImportError
        If the ``euxfel`` extra (karabo_bridge, pyzmq) is not installed.
    TypeError, sklearn.exceptions.NotFittedError
        If the model cannot predict or is not fitted.
    """

    def __init__(
        self,
        model,
        endpoint,
        *,
        source,
        key="image.data",
        pulse_axis=0,
        sock="REQ",
        publish=None,
        output_path=None,
        group="skspeckle_results",
        nonfinite="mask",
        model_sha256=None,
        overwrite=False,
        resume=False,
        log=print,
    ):
        self.endpoint = _check_endpoint("endpoint", endpoint)
        if publish is not None:
            _check_endpoint("publish", publish)
        if publish is None and output_path is None:
            raise ValueError(
                "Nothing would be kept: pass publish (--publish) for a PUB socket of the "
                "vetoes, output_path (--out) for a results file, or both."
            )
        if nonfinite not in NONFINITE:
            raise ValueError(f"nonfinite must be one of {NONFINITE}, got {nonfinite!r}.")
        if sock not in ("REQ", "SUB", "PULL"):
            raise ValueError(
                f"sock must be 'REQ', 'SUB' or 'PULL' (for a bridge of type REP, PUB, PUSH), "
                f"got {sock!r}."
            )
        self.model, self.source, self.key, self.pulse_axis = model, source, key, pulse_axis
        self._sources = [source] if isinstance(source, str) else list(source)
        self.sock, self.publish, self.group, self.nonfinite = sock, publish, group, nonfinite
        self.output_path = (
            None if output_path is None else check_output_path(output_path, overwrite)
        )
        self.model_sha256, self.overwrite = model_sha256, overwrite
        self.resume, self.log = resume, log
        self.scorer = Scorer(model, embeddings=False)
        self.mask_value = _mask_value(model)
        self.publish_endpoint = None
        self._context = self._client = self._pub = self._journal = None

    # -- opening and closing -------------------------------------------------------------

    def __enter__(self):
        karabo_bridge = import_optional("karabo_bridge", "euxfel", purpose=_PURPOSE)
        zmq = import_optional("zmq", "euxfel", purpose=_PURPOSE)
        try:
            if self.output_path is not None:
                self._journal = self._open_journal()
            self._context = zmq.Context()
            self._client = karabo_bridge.Client(
                self.endpoint, sock=self.sock, timeout=_POLL_SECONDS, context=self._context
            )
            if self.publish is not None:
                self._pub = self._context.socket(zmq.PUB)
                self._pub.setsockopt(zmq.LINGER, 1000)  # the last trains still go out on close
                self._pub.bind(self.publish)
                self.publish_endpoint = self._pub.getsockopt_string(zmq.LAST_ENDPOINT)
                self.log(f"stream: publishing vetoes on {self.publish_endpoint}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self._pub is not None:
            self._pub.close()  # with its linger: the last vetoes still go out
        if self._context is not None:
            self._context.destroy(linger=0)
        if self._journal is not None:
            if self._journal.n_finished():
                self._journal.close()  # kept on disk for resume: run() did not publish it
            else:
                self._journal.remove()
        self._context = self._client = self._pub = self._journal = None

    def _open_journal(self):
        manifest = {
            "endpoint": self.endpoint,
            "source": self._sources,
            "key": self.key,
            "group": self.group,
            "model_sha256": self.model_sha256,
            "skspeckle_version": __version__,
            "started": datetime.now(timezone.utc).isoformat(),
        }
        journal = Journal(journal_path(self.output_path, self.group)).lock()
        try:
            keep = (journal.path / "manifest.json").exists() and not (
                self.overwrite and not self.resume
            )
            # A journal without a finished train (a stream stopped before its first) holds
            # nothing to keep.
            if keep and journal.read().n_finished():
                if not self.resume:
                    raise FileExistsError(
                        f"{str(journal.path)!r} holds the vetoes of {journal.n_finished()} "
                        "frames of an earlier stream that was killed; pass resume=True "
                        "(--resume) to keep them and append, or overwrite=True (--overwrite) "
                        "to discard them."
                    )
                changed = [k for k in _RESUME_KEYS if journal.manifest.get(k) != manifest[k]]
                if changed:
                    raise ValueError(
                        f"Cannot resume {str(journal.path)!r}: its {', '.join(changed)} "
                        "differ from this stream's. Pass overwrite=True (--overwrite) to "
                        "discard it, or another output path."
                    )
                self.log(f"stream: resuming {journal.n_finished()} frames of {str(journal.path)!r}")
            else:
                journal.create(manifest)
        except BaseException:
            journal.close()
            raise
        return journal

    # -- the loop ------------------------------------------------------------------------

    def _publish(self, data, metadata):
        from karabo_bridge.serializer import serialize

        self._pub.send_multipart(serialize(data, metadata))

    def _score(self, arrays):
        """Per-frame score of the predicted class (NaN for invalid frames)."""
        name = self.scorer.score_name
        if name is None:
            return np.full(len(arrays["valid"]), np.nan)
        values = np.asarray(arrays[name], dtype=np.float64)
        return values.max(axis=1) if values.ndim == 2 else values

    def _train(self, data, metadata):
        """Classify one train; returns (train_id, arrays)."""
        train_id, pulse_ids, frames = frames_of_train(
            data, metadata, self.source, self.key, self.pulse_axis
        )
        where = f"train {train_id} of {', '.join(self._sources)} from {self.endpoint}"
        try:
            arrays = classify_chunk(self.scorer, frames, 0, self.nonfinite, self.mask_value, where)
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(f"(while classifying {where}: frames of shape {frames.shape[1:]})")
            raise
        arrays = {
            "train_id": np.full(len(frames), train_id, dtype=np.uint64),
            "pulse_id": pulse_ids,
            **arrays,
        }
        return train_id, arrays

    def run(self, *, max_trains=None, timeout=None, report_seconds=10.0):
        """Classify trains until SIGINT / SIGTERM, ``max_trains`` or ``timeout``; write the
        results.

        The first SIGINT (Ctrl-C) or SIGTERM ends the loop after the current train, and the
        results received so far are written; a second one acts at once (the journal keeps
        the finished trains for ``resume``). A train without ``source`` (e.g. the detector
        missed it) is skipped and counted.

        Parameters
        ----------
        max_trains : int or None, default=None
            Stop after this many classified trains.
        timeout : float or None, default=None
            Stop after this many seconds (wall clock, from the call).
        report_seconds : float, default=10.0
            Seconds between progress lines: trains, frames/s, latency per train (median and
            maximum over the interval) and the running counts per class.

        Returns
        -------
        summary : dict
            ``n_trains``, ``n_frames``, ``seconds`` (from the first train received to the
            last published), ``frames_per_s`` (``n_frames / seconds``: the sustained rate,
            bounded by the source's), ``processing_frames_per_s`` (frames per second of
            classifying and publishing alone: the rate the classifier could keep up with),
            ``latency_s`` (``(n_trains,)`` seconds from receiving each train to its vetoes
            being published and committed), ``class_counts``, ``skipped_trains``,
            ``stopped_by`` (``"SIGINT"``, ``"SIGTERM"``, ``"max_trains"`` or ``"timeout"``),
            ``output_path`` (str or None), ``publish_endpoint``.

        Raises
        ------
        KeyError, ValueError
            If a train's frames cannot be found or the model rejects them (e.g. another
            frame shape); what was finished stays in the journal.
        """
        if self._client is None:
            raise RuntimeError("Enter the LiveClassifier first: with LiveClassifier(...) as live.")
        if self.output_path is not None and self._journal is None:
            raise RuntimeError(
                "run() has written its results file already; enter a new LiveClassifier."
            )
        try:
            return self._run(max_trains, timeout, report_seconds)
        except KeyboardInterrupt as exc:  # a second signal, at once
            self._note_journal(exc)
            raise

    def _note_journal(self, exc):
        """Tell where the finished trains are kept, for a run stopped by ``exc``."""
        # add_note is Python 3.11+; on 3.10 the journal stays where it is, unnamed.
        if self._journal is not None and self._journal.n_finished() and hasattr(exc, "add_note"):
            exc.add_note(
                f"(the vetoes of {self._journal.n_finished()} frames are kept in "
                f"{str(self._journal.path)!r}; resume=True / --resume appends to them)"
            )

    def _run(self, max_trains, timeout, report_seconds):
        start = 0 if self._journal is None else self._journal.n_finished()
        classes = None if self.scorer.classes is None else np.asarray(self.scorer.classes)
        counts = {} if classes is None else {c: 0 for c in classes.tolist()}
        latencies, n_frames, skipped, stopped_by = [], 0, 0, None
        t_call = time.perf_counter()
        t_first = t_last = t_report = None
        since_report = []
        with StopOnSignal() as stop:
            while True:
                now = time.perf_counter()
                if stop.signum is not None:
                    stopped_by = signal.Signals(stop.signum).name
                elif max_trains is not None and len(latencies) >= max_trains:
                    stopped_by = "max_trains"
                elif timeout is not None and now - t_call >= timeout:
                    stopped_by = "timeout"
                if stopped_by:
                    break
                try:
                    data, metadata = self._client.next()
                except TimeoutError:
                    continue
                t_recv = time.perf_counter()
                missing = [s for s in self._sources if s not in data]
                if missing:
                    skipped += 1
                    if skipped == 1:
                        self.log(
                            f"stream: a train without {missing} (it has {sorted(data)}); such "
                            "trains are skipped and counted"
                        )
                    continue
                try:
                    train_id, arrays = self._train(data, metadata)
                except Exception as exc:
                    self._note_journal(exc)
                    raise
                if self._journal is not None:
                    self._journal.commit(start + n_frames, arrays)
                if self._pub is not None:
                    self._publish(*self._message(train_id, arrays, classes))
                t_last = time.perf_counter()
                t_first = t_recv if t_first is None else t_first
                t_report = t_recv if t_report is None else t_report
                latencies.append(t_last - t_recv)
                since_report.append(t_last - t_recv)
                n_frames += len(arrays["valid"])
                labels, k = np.unique(
                    arrays["predicted_label"][arrays["valid"]], return_counts=True
                )
                for label, count in zip(labels.tolist(), k.tolist()):
                    counts[label] = counts.get(label, 0) + count
                if t_last - t_report >= report_seconds:
                    self._report(len(latencies), n_frames, t_first, t_last, since_report, counts)
                    since_report, t_report = [], t_last
        seconds = 0.0 if t_first is None else t_last - t_first
        if latencies:
            self._report(len(latencies), n_frames, t_first, t_last, latencies, counts)
        self.log(f"stream: stopped by {stopped_by} after {len(latencies)} trains")
        output = None
        if self._journal is not None:
            output = self._write(seconds)
        return {
            "n_trains": len(latencies),
            "n_frames": n_frames,
            "seconds": seconds,
            "frames_per_s": n_frames / seconds if seconds > 0 else float("nan"),
            "processing_frames_per_s": n_frames / sum(latencies) if latencies else float("nan"),
            "latency_s": np.asarray(latencies),
            "class_counts": counts,
            "skipped_trains": skipped,
            "stopped_by": stopped_by,
            "output_path": output,
            "publish_endpoint": self.publish_endpoint,
        }

    def _message(self, train_id, arrays, classes):
        """The karabo-bridge (data, metadata) of one train's vetoes."""
        labels = arrays["predicted_label"]
        payload = {
            "trainId": train_id,
            "pulseId": arrays["pulse_id"],
            "label": labels.tolist(),
            "score": self._score(arrays),
            "valid": arrays["valid"],
            "classes": [] if classes is None else classes.tolist(),
        }
        meta = {"source": VETO_SOURCE, "timestamp.tid": train_id, "timestamp": time.time()}
        return {VETO_SOURCE: payload}, {VETO_SOURCE: meta}

    def _report(self, n_trains, n_frames, t_first, t_last, latencies, counts):
        rate = n_frames / (t_last - t_first) if t_last > t_first else float("nan")
        ms = 1e3 * np.asarray(latencies)
        classes = ", ".join(f"{label}: {k}" for label, k in counts.items())
        self.log(
            f"stream: {n_trains} trains, {n_frames} frames, {rate:.1f} frames/s, latency per "
            f"train median {np.median(ms):.1f} ms, max {ms.max():.1f} ms; {classes}"
        )

    def _write(self, seconds):
        """Write the journal's trains to the results file (atomically) and remove it."""
        journal = self._journal
        n = journal.n_finished()
        if not n:
            self.log("stream: no frames received; no results file written")
            journal.remove()
            self._journal = None
            return None
        attrs = {
            **_model_attrs(self.model),
            "model_sha256": self.model_sha256 or "",
            "endpoint": self.endpoint,
            "source": ", ".join(self._sources),
            "key": self.key,
            "nonfinite": self.nonfinite,
            "seconds": seconds,
        }
        n_trains = 0
        with StopOnSignal():  # the final write: a first signal now waits for it
            with ResultsWriter(
                self.output_path, n, group=self.group, attrs=attrs, overwrite=self.overwrite
            ) as writer:
                if self.scorer.classes is not None:
                    writer.set("classes", self.scorer.classes)
                for start, arrays in journal.chunks():
                    writer.write_rows(start, **arrays)
                    n_trains += 1
                writer.set_attrs({"n_trains": n_trains})
            journal.remove()
        self._journal = None
        self.log(f"stream: {n} frames of {n_trains} trains -> {writer.path}:{self.group}")
        return str(writer.path)


def stream_vetoes(model, endpoint, *, max_trains=None, timeout=None, report_seconds=10.0, **kwargs):
    """Classify a karabo-bridge stream until stopped; see :class:`LiveClassifier`.

    Parameters
    ----------
    model, endpoint
        As :class:`LiveClassifier`.
    max_trains, timeout, report_seconds
        As :meth:`LiveClassifier.run`.
    **kwargs
        The other parameters of :class:`LiveClassifier` (``source`` is required).

    Returns
    -------
    summary : dict
        As :meth:`LiveClassifier.run`.

    Raises
    ------
    ValueError, KeyError, FileExistsError, ImportError
        As :class:`LiveClassifier` and :meth:`LiveClassifier.run`.
    """
    with LiveClassifier(model, endpoint, **kwargs) as live:
        return live.run(max_trains=max_trains, timeout=timeout, report_seconds=report_seconds)
