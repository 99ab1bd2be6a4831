"""``skspeckle stream``: live vetoes from a karabo-bridge stream with a saved model."""

from skspeckle.cli._common import add_model_arguments, positive_int

__all__ = ["add_parser"]


def _publish_endpoint(text):
    """A bare port means the loopback: tcp://127.0.0.1:PORT."""
    return f"tcp://127.0.0.1:{text}" if text.isdigit() else text


def _positive_float(text):
    import argparse

    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def run(args):
    # Imported here so that ``skspeckle --help`` does not pay for importing torch.
    import numpy as np

    from skspeckle.cli._common import load_cli_model
    from skspeckle.live import stream_vetoes

    model, model_sha256 = load_cli_model(args)
    summary = stream_vetoes(
        model,
        args.endpoint,
        source=args.source[0] if len(args.source) == 1 else args.source,
        key=args.key,
        pulse_axis=args.pulse_axis,
        sock=args.sock,
        publish=args.publish,
        output_path=args.out,
        nonfinite=args.nonfinite,
        model_sha256=model_sha256,
        overwrite=args.overwrite,
        resume=args.resume,
        max_trains=args.max_trains,
        timeout=args.timeout,
        report_seconds=args.report_seconds,
    )
    latency = 1e3 * summary["latency_s"]
    if len(latency):
        print(
            f"classified {summary['n_frames']} frames of {summary['n_trains']} trains in "
            f"{summary['seconds']:.1f} s ({summary['frames_per_s']:.1f} frames/s; classifier "
            f"alone {summary['processing_frames_per_s']:.1f} frames/s); latency per train "
            f"median {np.median(latency):.1f} ms, 99th percentile "
            f"{np.percentile(latency, 99):.1f} ms"
        )
    counts = ", ".join(f"{label}: {k}" for label, k in summary["class_counts"].items())
    print(f"predicted classes: {counts or 'none'}")
    if summary["skipped_trains"]:
        print(f"{summary['skipped_trains']} train(s) without {args.source} skipped")
    return 0


def add_parser(sub):
    """Register ``stream`` on the subparsers ``sub``; returns its parser."""

    stream = sub.add_parser(
        "stream",
        help="live vetoes: classify the frames of a karabo-bridge stream train by train",
        description="Connect to a karabo bridge (European XFEL's online data stream), "
        "classify each train's frames of one detector source as they arrive with a model "
        "saved by skspeckle.save_model, and publish the per-frame vetoes (train id, pulse id, "
        "label, score, valid) on a ZMQ PUB socket in the karabo-bridge protocol (source "
        "'skspeckle/VETO') and/or write them to a new HDF5 results file when the stream "
        "stops. Prints frames/s, latency per train and the counts per class. Ctrl-C or "
        "SIGTERM stops after the current train, writes everything received and exits 0; "
        "so do --max-trains and --timeout. Needs the euxfel extra.",
    )
    stream.add_argument("endpoint", metavar="tcp://HOST:PORT", help="the karabo bridge")
    add_model_arguments(stream)
    stream.add_argument(
        "--source",
        required=True,
        action="append",
        help="detector source, e.g. SPB_DET_AGIPD1M-1/DET/APPEND or "
        "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf; repeat for modules stacked along the rows",
    )
    stream.add_argument(
        "--key", default="image.data", help="key of the frames (default image.data)"
    )
    stream.add_argument(
        "--pulse-axis",
        type=int,
        default=0,
        metavar="AXIS",
        help="axis of the pulses in the frames (default 0; -1 for a pulse-last layout); "
        "modules are stacked along the rows",
    )
    stream.add_argument(
        "--sock",
        choices=("REQ", "SUB", "PULL"),
        default="REQ",
        help="client socket type, matching the bridge's REP (default), PUB or PUSH",
    )
    stream.add_argument(
        "--publish",
        type=_publish_endpoint,
        metavar="tcp://127.0.0.1:PORT",
        help="bind a ZMQ PUB socket here for the vetoes (a bare PORT binds the loopback "
        "127.0.0.1; bind another interface only on a trusted network)",
    )
    stream.add_argument(
        "--out", metavar="RESULTS.h5", help="new HDF5 file for the vetoes, written on stop"
    )
    stream.add_argument(
        "--max-trains", type=positive_int, metavar="N", help="stop after N classified trains"
    )
    stream.add_argument("--timeout", type=_positive_float, metavar="S", help="stop after S seconds")
    stream.add_argument(
        "--report-seconds",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="seconds between progress lines (default 10)",
    )
    stream.add_argument(
        "--nonfinite",
        choices=("mask", "skip", "error"),
        default="mask",
        help="NaN / inf pixels: mask (default), skip the frame (valid = False) or error",
    )
    stream.add_argument(
        "--resume",
        action="store_true",
        help="keep the vetoes a killed stream left in .RESULTS.h5.partial and append to them",
    )
    stream.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out; without --resume, discard a killed stream's journal",
    )
    stream.set_defaults(
        func=run, user_errors=(OSError, ValueError, KeyError, TypeError, ImportError)
    )
    return stream
