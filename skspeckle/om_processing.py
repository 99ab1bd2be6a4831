"""An OM (OnDA Monitor) processing layer for SPI: classify every frame, broadcast hit rates.

OM (``ondamonitor``, Mariani et al. 2016, J. Appl. Cryst. 49, 1073) is the real-time monitor
run at LCLS and European XFEL; it ships monitors for crystallography and XES, none for SPI.
:class:`SpiClassificationProcessing` follows OM's processing-layer interface
(``om.protocols.processing_layer.OmProcessingProtocol``): on each processing node every
data event's ``detector_data`` frame goes through a fitted skspeckle pipeline; the collecting
node counts the events per predicted class and broadcasts the hit rates per class, over the
whole run and over the last events, on OM's data-broadcasting socket (tag ``"omdata"``), as
OM's crystallography monitor does for its peak-based hit rate.

OM 23.8 finds processing layers only in its own ``om.processing_layer`` package (its search
for a ``processing_layer.py`` in the working directory returns no class), so the monitor is
started with ``skspeckle om SOURCE --config monitor.yaml --node-pool-size N``
(:func:`run_monitor`), which adds this class to that package and then runs OM's own
``om_monitor.py`` entry point with the given arguments, with any of OM's data-retrieval and
parallelization layers. An example configuration is ``docs/examples/om_monitor.yaml``.
"""

import collections
import sys
import time

import numpy as np

from skspeckle.utils._optional import import_optional

__all__ = ["PARAMETER_GROUP", "SpiClassificationProcessing", "run_monitor"]

#: The group of OM's configuration file (monitor.yaml) that configures this monitor.
PARAMETER_GROUP = "spi_classification"
_PURPOSE = "the skspeckle OM monitor"


class SpiClassificationProcessing:
    """OM processing layer: per-event SpeckleNN classification and hit rates per class.

    Implements ``om.protocols.processing_layer.OmProcessingProtocol``; OM calls the methods.
    Parameters come from the ``spi_classification`` group of OM's monitor.yaml:

    - ``model_file`` (str, required): a model saved by :func:`skspeckle.save_model`, fitted
      on frames of the data-retrieval layer's ``detector_data`` shape; loaded on each
      processing node by :func:`skspeckle.persistence.load_model`, with its trust rules;
    - ``trusted_types`` (list of str, default none): extra types to trust when loading it;
    - ``data_broadcast_url`` (str, default ``"tcp://127.0.0.1:12321"``): where the
      collecting node's PUB socket binds (loopback unless configured otherwise);
    - ``data_broadcast_interval`` (int, default 10): events between broadcasts;
    - ``speed_report_interval`` (int, default 100): events between console speed lines;
    - ``hit_rate_window`` (int, default 100): events of the recent hit rates;
    - ``nonfinite`` (str, default ``"mask"``): NaN / inf pixels, as in
      :func:`skspeckle.streaming.predict_file`;
    - ``torch_threads`` (int, default 1): torch threads per processing node (OM runs one
      process per node);
    - ``results_file`` (str, default none): a new HDF5 file, written atomically by the
      collecting node when the data run out, with one row per event (``event_id``,
      ``timestamp``, ``predicted_label``, ``score``, ``valid``, ``node_rank``) and the
      model's ``classes``. OM's Ctrl-C shutdown calls no processing-layer method, so a
      monitor stopped that way writes none.

    Each broadcast message (tag ``"omdata"``, a Python dict as OM's ``ZmqDataBroadcaster``
    sends it) holds ``timestamp`` (of the last event), ``num_events``, ``classes``,
    ``class_counts``, ``hit_rate`` (fraction of the events per class, whole run),
    ``recent_hit_rate`` (over the last ``hit_rate_window`` events) and ``events_per_second``.

    Parameters
    ----------
    monitor_parameters : om.lib.parameters.MonitorParameters
        OM's configuration.

    Raises
    ------
    om.lib.exceptions.OmMissingParameterError
        If ``model_file`` is missing (from OM, naming the parameter).
    ValueError
        If ``nonfinite`` is unknown or an interval is below 1.
    """

    def __init__(self, *, monitor_parameters):
        from skspeckle._run_control import NONFINITE

        self._monitor_params = monitor_parameters
        self._group = monitor_parameters.get_parameter_group(group=PARAMETER_GROUP)
        self._model_file = self._parameter("model_file", str, required=True)
        self._nonfinite = self._parameter("nonfinite", str, default="mask")
        if self._nonfinite not in NONFINITE:
            raise ValueError(
                f"{PARAMETER_GROUP}.nonfinite must be one of {NONFINITE} in the monitor "
                f"configuration, got {self._nonfinite!r}."
            )
        self._results_file = self._parameter("results_file", str)
        self._intervals = {
            name: self._parameter(name, int, default=default)
            for name, default in (
                ("data_broadcast_interval", 10),
                ("speed_report_interval", 100),
                ("hit_rate_window", 100),
                ("torch_threads", 1),
            )
        }
        for name, value in self._intervals.items():
            if value < 1:
                raise ValueError(
                    f"{PARAMETER_GROUP}.{name} must be 1 or more in the monitor configuration, "
                    f"got {value}."
                )

    def _parameter(self, name, kind, *, default=None, required=False):
        from om.lib.parameters import get_parameter_from_parameter_group

        value = get_parameter_from_parameter_group(
            group=self._group, parameter=name, parameter_type=kind, required=required
        )
        return default if value is None else value

    def _load_model(self):
        from skspeckle.persistence import load_model

        trusted = self._parameter("trusted_types", list, default=[])
        return load_model(self._model_file, trusted=trusted or None)

    # -- processing nodes ----------------------------------------------------------------

    def initialize_processing_node(self, *, node_rank, node_pool_size):
        """Load the model on this processing node (OM: once per node, at start)."""
        import torch

        from skspeckle._run_control import Scorer
        from skspeckle.streaming import _mask_value

        torch.set_num_threads(self._intervals["torch_threads"])
        model = self._load_model()
        self._scorer = Scorer(model, embeddings=False)
        self._mask_value = _mask_value(model)
        self._classes = [str(c) for c in getattr(model, "classes_", [])]

    def process_data(self, *, node_rank, node_pool_size, data):
        """Classify one event's ``detector_data`` frame; returns ``(result, node_rank)``.

        The result holds ``label``, ``score`` (probability of the predicted class, or the
        largest decision value; NaN for an invalid frame), ``valid``, ``nonfinite_pixels``,
        ``timestamp`` and ``event_id`` (when the data-retrieval layer provides them) and the
        model's ``classes``.

        Raises
        ------
        ValueError
            If the frame is not 2-D or the model rejects it (another shape), or it has
            non-finite pixels with ``nonfinite: error``.
        """
        from skspeckle._run_control import classify_chunk

        frame = np.array(data["detector_data"], dtype=np.float32)
        if frame.ndim != 2:
            raise ValueError(
                f"detector_data of shape {frame.shape} is not one 2-D frame; the model "
                "classifies (H, W) frames of the shape it was fitted on."
            )
        event_id = data.get("event_id")
        out = classify_chunk(
            self._scorer,
            frame[None],
            0,
            self._nonfinite,
            self._mask_value,
            f"OM event {event_id}",
        )
        score = np.nan
        if self._scorer.score_name is not None:
            score = float(np.max(out[self._scorer.score_name][0]))
        result = {
            "label": out["predicted_label"][0].item(),
            "score": score,
            "valid": bool(out["valid"][0]),
            "nonfinite_pixels": int(out["nonfinite_pixels"][0]),
            "timestamp": data.get("timestamp"),
            "event_id": event_id,
            "classes": self._classes,
        }
        return result, node_rank

    def end_processing_on_processing_node(self, *, node_rank, node_pool_size):
        """Nothing is left to send from a processing node."""
        return None

    # -- the collecting node -------------------------------------------------------------

    def initialize_collecting_node(self, *, node_rank, node_pool_size):
        """Open the broadcasting socket and reset the counts (OM: once, at start)."""
        from om.lib.zmq import ZmqDataBroadcaster

        url = self._parameter("data_broadcast_url", str, default="tcp://127.0.0.1:12321")
        self._broadcaster = ZmqDataBroadcaster(parameters={"data_broadcast_url": url})
        # The model's classes arrive with the events (so that this node needs no torch);
        # classes never predicted still show a zero rate.
        self._classes = []
        self._counts = collections.Counter()
        self._recent = collections.deque(maxlen=self._intervals["hit_rate_window"])
        self._rows = []
        self._num_events = 0
        self._t0 = self._t_report = time.perf_counter()

    def collect_data(self, *, node_rank, node_pool_size, processed_data):
        """Count one classified event; broadcast the hit rates every
        ``data_broadcast_interval`` events and print the speed every
        ``speed_report_interval``. Sends no feedback to the processing nodes."""
        result, rank = processed_data
        for name in result["classes"]:
            if name not in self._counts:
                self._classes.append(name)
                self._counts[name] = 0
        self._num_events += 1
        label = str(result["label"]) if result["valid"] else None
        if label is not None:
            self._counts[label] += 1
        self._recent.append(label)
        if self._results_file is not None:
            self._rows.append({**result, "node_rank": rank})
        if self._num_events % self._intervals["data_broadcast_interval"] == 0:
            self._broadcast(result.get("timestamp"))
        if self._num_events % self._intervals["speed_report_interval"] == 0:
            now = time.perf_counter()
            rate = self._intervals["speed_report_interval"] / max(now - self._t_report, 1e-9)
            self._t_report = now
            print(f"skspeckle OM: {self._num_events} events, {rate:.1f} events/s; {self._rates()}")
            sys.stdout.flush()
        return None

    def _message(self, timestamp):
        n, recent = max(self._num_events, 1), list(self._recent)
        classes = self._classes + [c for c in self._counts if c not in self._classes]
        return {
            "timestamp": timestamp,
            "num_events": self._num_events,
            "classes": classes,
            "class_counts": {c: self._counts[c] for c in classes},
            "hit_rate": {c: self._counts[c] / n for c in classes},
            "recent_hit_rate": {c: recent.count(c) / max(len(recent), 1) for c in classes},
            "events_per_second": self._num_events / max(time.perf_counter() - self._t0, 1e-9),
        }

    def _broadcast(self, timestamp):
        self._broadcaster.send_data(tag="omdata", message=self._message(timestamp))

    def _rates(self):
        rates = self._message(None)["hit_rate"]
        return ", ".join(f"{c} {100 * r:.1f} %" for c, r in rates.items())

    def wait_for_data(self, *, node_rank, node_pool_size):
        """Wait 1 ms: OM calls this in a loop while no event arrives, and without a pause
        the collecting node would keep a core busy that the processing nodes need."""
        time.sleep(0.001)

    def end_processing_on_collecting_node(self, *, node_rank, node_pool_size):
        """Broadcast and print the final hit rates; write ``results_file`` if configured."""
        self._broadcast(self._rows[-1]["timestamp"] if self._rows else None)
        print(f"skspeckle OM: {self._num_events} events in total; {self._rates()}")
        path = self._results_file
        if path is not None and self._rows:
            from skspeckle.io.results import write_results

            rows = self._rows
            write_results(
                path,
                {
                    "event_id": np.array([str(r["event_id"]) for r in rows]),
                    "timestamp": np.array(
                        [np.nan if r["timestamp"] is None else r["timestamp"] for r in rows],
                        dtype=np.float64,
                    ),
                    "predicted_label": np.array([str(r["label"]) for r in rows]),
                    "score": np.array([r["score"] for r in rows], dtype=np.float64),
                    "valid": np.array([r["valid"] for r in rows]),
                    "nonfinite_pixels": np.array([r["nonfinite_pixels"] for r in rows]),
                    "node_rank": np.array([r["node_rank"] for r in rows]),
                },
                attrs={"model_file": self._model_file, "classes": self._classes},
            )
            print(f"skspeckle OM: {len(rows)} events -> {path}")
        sys.stdout.flush()


def run_monitor(argv=None):
    """Run OM's ``om_monitor.py`` with :class:`SpiClassificationProcessing` available.

    Parameters
    ----------
    argv : list of str or None, default=None
        OM's arguments: ``SOURCE [--config monitor.yaml] [--node-pool-size N]``; None: the
        command line's.

    Returns
    -------
    int
        OM's exit status (OM ends the process with ``sys.exit``; it is caught here).

    Raises
    ------
    ImportError
        If the ``om`` extra (ondamonitor) is not installed.

    Notes
    -----
    OM 23.8.3 uses ``numpy.float_``, which NumPy 2 removed; under NumPy 2 this function sets
    ``numpy.float_ = numpy.float64`` (its NumPy 1 meaning) in the calling process before it
    imports OM.
    """
    import_optional("om", "om", purpose=_PURPOSE)
    if not hasattr(np, "float_"):
        # OM 23.8.3, its latest release, names numpy.float_ (in type annotations evaluated at
        # import), which NumPy 2.0 removed; restore that alias, with its NumPy 1 meaning, in
        # this monitor's process only, so that OM imports.
        np.float_ = np.float64
    layers = import_optional("om.processing_layer", "om", purpose=_PURPOSE)
    layers.SpiClassificationProcessing = SpiClassificationProcessing
    from om.monitor import main

    try:
        main.main(args=argv, prog_name="skspeckle om", standalone_mode=True)
    except SystemExit as exc:
        return exc.code or 0
    return 0
