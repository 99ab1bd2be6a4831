"""``skspeckle classify``: classify every frame of an HDF5/CXI file or a European XFEL run
with a saved model; optionally write the frames of some classes and a keep/drop list."""

import argparse
from pathlib import Path

from skspeckle.cli import _cluster
from skspeckle.cli._common import add_model_arguments, load_cli_model, positive_int

__all__ = ["add_parser"]


def _selection(text):
    """argparse type: ``A:B[:S]`` (a slice) or ``I,J,...`` (positions)."""
    try:
        if ":" in text:
            parts = [int(p) if p.strip() else None for p in text.split(":")]
            if len(parts) > 3:
                raise ValueError
            return slice(*parts)
        return [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected START:STOP[:STEP] or I,J,... (non-negative ints), got {text!r}"
        ) from None


def _euxfel_options(args):
    """The EuXFELRun options of the command line ({} for a file, where they are refused)."""
    euxfel = {
        "detector": args.detector,
        "geometry": args.geometry or _quads(args.quad_positions),
        "trains": args.trains,
        "pulses": args.pulses,
        "raw": True if args.raw else None,
        "facility_mask": not args.no_facility_mask,
    }
    if args.source == "cxi" or (args.source == "auto" and not Path(args.input).is_dir()):
        flags = ("detector", "geometry", "quad_positions", "trains", "pulses", "raw")
        given = [
            f"--{f.replace('_', '-')}" for f in (*flags, "no_facility_mask") if getattr(args, f)
        ]
        if given:
            raise ValueError(
                f"{', '.join(given)}: options of European XFEL runs (--source euxfel), not of "
                f"the file {args.input!r}."
            )
        euxfel = {}
    return euxfel


def _quads(values):
    return None if values is None else list(zip(values[::2], values[1::2]))


def _keep_outputs(args):
    """The kept-frames file and keep/drop lists of ``--keep`` (defaults beside --out)."""
    out = Path(args.out)
    frames = args.kept_frames or out.with_name(out.stem + ".kept.cxi")
    lists = args.keep_list or [out.with_name(out.stem + ".keep" + s) for s in (".csv", ".h5")]
    return Path(frames), [Path(p) for p in lists]


def run(args):
    # Imported here so that ``skspeckle --help`` does not pay for importing torch.
    from skspeckle.io._atomic import check_output_path
    from skspeckle.io.keep import keep_frames, parse_classes
    from skspeckle.io.sources import open_frames

    euxfel = _euxfel_options(args)  # argument mistakes first, before loading anything
    predict_file = _cluster.predictor(args)  # in this process, or on a dask cluster
    # The header's payload SHA-256, which load_model has just checked, identifies the model for
    # --resume without reading the file a second time (old-format files have none: predict_file
    # then hashes the loaded model).
    model, model_sha256 = load_cli_model(args)
    operating_point = _operating_point(args, model)
    keep = parse_classes(args.keep)
    if keep:  # refuse an existing output now, not after the whole run
        frames_path, list_paths = _keep_outputs(args)
        for path in [frames_path, *list_paths]:
            check_output_path(path, args.overwrite)
    data_path = args.data_path[0] if args.data_path and len(args.data_path) == 1 else args.data_path
    with open_frames(
        args.input, args.source, data_path=data_path, chunk_frames=args.chunk_frames, **euxfel
    ) as source:
        _classify(args, model, model_sha256, source, predict_file, operating_point)
        if keep:
            kept = keep_frames(
                source,
                args.out,
                keep,
                frames_path=frames_path,
                list_paths=list_paths,
                overwrite=args.overwrite,
            )
            print(
                f"kept {kept['n_kept']} of {kept['n_frames']} frames ({', '.join(keep)}) -> "
                f"{kept['frames_path']}; keep/drop list -> {', '.join(kept['list_paths'])}"
            )
    return 0


def _classify(args, model, model_sha256, source, predict_file, operating_point):
    """Run predict_file on ``source`` and print its summary."""
    try:
        summary = predict_file(
            model,
            source,
            args.out,
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
        help="classify every frame of an HDF5/CXI file or European XFEL run with a saved "
        "model; write the results to a new HDF5 file",
        description="Classify every frame of an HDF5/CXI file or a European XFEL run "
        "directory (AGIPD 1M, by train and pulse), chunk by chunk, with a model "
        "saved by skspeckle.save_model. The results (predicted_label, "
        "probabilities, classes, valid, nonfinite_pixels, optionally embeddings) go to the "
        "group 'skspeckle_results' of a new file, written only when every frame is done. "
        "Finished chunks are kept in a journal beside it (.RESULTS.h5.partial): SIGTERM or "
        "Ctrl-C finishes the current chunk and exits 143 / 130, and --resume continues. "
        "The input is only read. With --keep, the frames of the classes named also go to a "
        "new CXI file (for EMC / Dragonfly), with a keep/drop list in CSV and HDF5.",
    )
    classify.add_argument(
        "input", metavar="RUN.cxi|RUN_DIR", help="HDF5/CXI file of frames, or a run directory"
    )
    classify.add_argument(
        "--source",
        choices=("auto", "cxi", "euxfel"),
        default="auto",
        help="cxi: an HDF5/CXI file; euxfel: a European XFEL run directory (needs "
        "skspeckle[euxfel]); auto (default): euxfel for a directory",
    )
    add_model_arguments(classify)
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
    euxfel = classify.add_argument_group("European XFEL runs (--source euxfel)")
    euxfel.add_argument(
        "--detector",
        metavar="NAME",
        help="detector, e.g. SPB_DET_AGIPD1M-1 (default: the run's only AGIPD 1M)",
    )
    where = euxfel.add_mutually_exclusive_group()
    where.add_argument(
        "--geometry",
        metavar="F.geom",
        help="CrystFEL geometry file: classify assembled images (default: the 16 modules "
        "stacked, 8192 x 128 pixels)",
    )
    where.add_argument(
        "--quad-positions",
        type=float,
        nargs=8,
        metavar=("X1", "Y1", "X2", "Y2", "X3", "Y3", "X4", "Y4"),
        help="the AGIPD 1M quadrant positions in mm, Q1 to Q4, as a geometry",
    )
    euxfel.add_argument(
        "--trains", type=_selection, metavar="A:B", help="trains by position in the run"
    )
    euxfel.add_argument(
        "--pulses",
        type=_selection,
        metavar="A:B[:S]|I,J",
        help="frames by position within each train",
    )
    euxfel.add_argument("--raw", action="store_true", help="read raw data, not corrected data")
    euxfel.add_argument(
        "--no-facility-mask",
        action="store_true",
        help="do not mask the pixels flagged in the corrected data's image.mask",
    )
    out = classify.add_argument_group("What comes out")
    out.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="CLASS[,CLASS]",
        help="write the frames predicted as these classes (repeatable) to a new CXI file, "
        "with their indices, train / pulse ids, mask and provenance",
    )
    out.add_argument(
        "--kept-frames",
        metavar="KEPT.cxi",
        help="CXI file of the kept frames (default: RESULTS.kept.cxi beside --out)",
    )
    out.add_argument(
        "--keep-list",
        action="append",
        metavar="LIST.csv|LIST.h5",
        help="keep/drop list, one row per frame, CSV or HDF5 by suffix; repeatable (default: "
        "RESULTS.keep.csv and RESULTS.keep.h5)",
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
    _cluster.add_arguments(classify)
    # Only classify's errors are the user's (files, paths, data); elsewhere a traceback helps.
    classify.set_defaults(
        func=run, user_errors=(OSError, ValueError, KeyError, TypeError, ImportError)
    )
    return classify
