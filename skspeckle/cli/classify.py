"""``skspeckle classify``: classify every frame of an HDF5/CXI run with a saved model."""

import argparse
from pathlib import Path

from skspeckle.cli._common import positive_int

__all__ = ["add_parser"]


def run(args):
    # Imported here so that ``skspeckle --help`` does not pay for importing torch.
    from skspeckle.persistence import UntrustedTypesError, load_model, read_model_header
    from skspeckle.streaming import predict_file

    try:
        model = load_model(args.model, trusted=args.trust or None, allow_pickle=args.allow_pickle)
    except UntrustedTypesError as exc:
        # Name the command-line flag, not only the Python argument.
        flags = " ".join(f"--trust {name}" for name in exc.types)
        raise UntrustedTypesError(f"{exc} On the command line: {flags}", exc.types) from None
    # The header's payload SHA-256, which load_model has just checked, identifies the model for
    # --resume without reading the file a second time (old-format files have none: predict_file
    # then hashes the loaded model).
    model_sha256 = read_model_header(args.model).get("payload_sha256")
    operating_point = _operating_point(args, model)
    data_path = args.data_path[0] if args.data_path and len(args.data_path) == 1 else args.data_path
    try:
        summary = predict_file(
            model,
            args.input,
            args.out,
            data_path=data_path,
            chunk_frames=args.chunk_frames,
            embeddings=args.embeddings,
            nonfinite=args.nonfinite,
            resume=args.resume,
            overwrite=args.overwrite,
            model_sha256=model_sha256,
            operating_point=operating_point,
            progress=None if args.progress else False,
            verbose=args.verbose,
        )
    except FileExistsError as exc:
        if not Path(args.out).exists():  # an unfinished run's journal: its message says it all
            raise
        # Name the command-line flag, not the Python argument.
        raise FileExistsError(
            f"{args.out!r} already exists; pass --overwrite to replace it, or choose another --out."
        ) from exc
    counts = ", ".join(f"{label}: {k}" for label, k in summary["class_counts"].items())
    print(
        f"classified {summary['n_frames']} frames in {summary['seconds']:.1f} s "
        f"({summary['frames_per_s']:.1f} frames/s"
        + (
            f"; {summary['resumed_frames']} taken from the interrupted run"
            if summary["resumed_frames"]
            else ""
        )
        + f") -> {summary['output_path']}:{summary['group']}"
    )
    print(f"predicted classes: {counts or 'none'}")
    print(
        f"non-finite pixels ({summary['nonfinite']}): {summary['nonfinite_pixels']} in "
        f"{summary['nonfinite_frames']} frame(s); {summary['skipped_frames']} frame(s) skipped "
        "(valid = False)"
    )
    if operating_point is not None:
        op = operating_point
        measured = (
            f" (precision {op.precision:.3f}, recall {op.recall:.3f} on {op.n_validation} "
            f"validation frames)"
            if op.precision is not None
            else ""
        )
        print(
            f"accepted as {op.positive_class}: {summary['accepted_frames']} frame(s) with "
            f"probability >= {op.threshold:.4g}{measured}"
        )
    return 0


def _operating_point(args, model):
    """The veto of --threshold, or of --min-precision on the labelled --validation frames."""
    from skspeckle.calibration import OperatingPoint

    if args.threshold is not None:
        return OperatingPoint(args.positive_class, args.threshold, source="--threshold")
    if args.min_precision is None:
        if args.validation is not None or args.confidence is not None:
            raise ValueError("--validation and --confidence go with --min-precision P.")
        return None
    if args.validation is None:
        raise ValueError(
            "--min-precision needs labelled validation frames (not used in training) to "
            "choose the threshold on: pass --validation VAL.cxi (labels in entry_1/labels/y)."
        )
    from skspeckle.io.cxi import read_frames

    X, y, _ = read_frames(args.validation, return_labels=True)
    if y is None or not hasattr(model, "predict_proba"):
        raise ValueError(
            f"--validation {args.validation!r} has no labels (entry_1/labels/y)"
            if y is None
            else "--min-precision needs a model with predict_proba"
        )
    return OperatingPoint.from_estimator(
        model,
        X,
        y,
        positive_class=args.positive_class,
        min_precision=args.min_precision,
        confidence=args.confidence,
        source=f"--min-precision on {Path(args.validation).resolve()}",
    )


def _probability(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return value


def add_parser(sub):
    """Register ``classify`` on the subparsers ``sub``; returns its parser."""
    classify = sub.add_parser(
        "classify",
        help="classify every frame of an HDF5/CXI run with a saved model; write the results "
        "to a new HDF5 file",
        description="Classify every frame of an HDF5/CXI file, chunk by chunk, with a model "
        "saved by skspeckle.save_model. The results (predicted_label, "
        "probabilities, classes, valid, nonfinite_pixels, optionally embeddings) go to the "
        "group 'skspeckle_results' of a new file, written only when every frame is done. "
        "Finished chunks are kept in a journal beside it (.RESULTS.h5.partial): SIGTERM or "
        "Ctrl-C finishes the current chunk and exits 143 / 130, and --resume continues. "
        "The input file is only read.",
    )
    classify.add_argument("input", metavar="RUN.cxi", help="HDF5/CXI file of frames")
    classify.add_argument(
        "--model",
        required=True,
        metavar="MODEL.skops",
        help="fitted model saved with skspeckle.save_model",
    )
    classify.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="trust this type (fully qualified name, repeatable) when loading the model: only "
        "for a model file whose source you trust",
    )
    classify.add_argument(
        "--allow-pickle",
        action="store_true",
        help="UNSAFE: load an old-format (joblib pickle) model file, which runs any code it "
        "contains; only for files you made yourself",
    )
    classify.add_argument(
        "--out", required=True, metavar="RESULTS.h5", help="new HDF5 file for the results"
    )
    classify.add_argument(
        "--data-path",
        action="append",
        metavar="P",
        help="frame dataset (default entry_1/data_1/data); repeat for "
        "detector panels concatenated along the rows",
    )
    classify.add_argument(
        "--chunk-frames",
        type=positive_int,
        metavar="N",
        help="frames per chunk (default: as many as fit in 64 MiB)",
    )
    classify.add_argument(
        "--embeddings",
        action="store_true",
        help="also write the embeddings (output of all steps but the last)",
    )
    classify.add_argument(
        "--nonfinite",
        choices=("mask", "skip", "error"),
        default="mask",
        help="NaN / inf pixels: mask (default) treats them as masked pixels of that frame; "
        "skip leaves such frames out (valid = False in the results); error stops at the "
        "first, naming the frame",
    )
    classify.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (stopped by SIGTERM, Ctrl-C, a crash or kill -9) "
        "from its last finished chunk, kept in .RESULTS.h5.partial beside --out",
    )
    classify.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output file; without --resume, also discard the finished "
        "chunks of an interrupted run",
    )
    veto = classify.add_mutually_exclusive_group()
    veto.add_argument(
        "--threshold",
        type=_probability,
        metavar="T",
        help="veto: 'accepted' is True for frames whose probability of --positive-class is "
        ">= T (recorded in the results' attributes)",
    )
    veto.add_argument(
        "--min-precision",
        type=_probability,
        metavar="P",
        help="veto: choose the lowest threshold reaching precision P for --positive-class on "
        "the labelled --validation frames (highest recall at that purity)",
    )
    classify.add_argument(
        "--confidence",
        type=_probability,
        metavar="C",
        help="with --min-precision: require the one-sided Clopper-Pearson lower bound of the "
        "precision, at confidence C (e.g. 0.95), to reach P (a more conservative threshold; "
        "measured on the results page)",
    )
    classify.add_argument(
        "--positive-class",
        default="single-hit",
        metavar="C",
        help="class kept by the veto (default single-hit)",
    )
    classify.add_argument(
        "--validation",
        metavar="VAL.cxi",
        help="labelled frames (entry_1/labels/y) the model was not trained on, for --min-precision",
    )
    classify.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (shown by default on a terminal, on stderr)",
    )
    classify.add_argument(
        "-v", "--verbose", action="count", default=0, help="progress every 10 s (-vv: every chunk)"
    )
    # Only classify's errors are the user's (files, paths, data); elsewhere a traceback helps.
    classify.set_defaults(func=run, user_errors=(OSError, ValueError, KeyError, TypeError))
    return classify
