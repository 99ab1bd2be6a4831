"""``skspeckle label``: the labelling and review page of a run, on a local web server."""

from skspeckle.cli._common import add_model_arguments, load_cli_model

__all__ = ["add_parser"]


def run(args):
    # Imported here so that ``skspeckle --help`` does not pay for importing torch.
    from pathlib import Path

    from skspeckle.labelling.app import serve
    from skspeckle.labelling.session import BUNDLED_PR772, LabelSession

    model = load_cli_model(args)[0] if args.model is not None else None
    labels = args.labels
    if labels is None:  # in the working directory: raw-data folders are often read-only
        labels = Path(f"{Path(args.run).stem or BUNDLED_PR772}.labels.csv")
    session = LabelSession(args.run, labels, model=model, data_path=args.data_path)
    try:
        serve(session, args.port)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
    print(f"labels saved in {session.store.path}")
    return 0


def add_parser(sub):
    """Register ``label`` on the subparsers ``sub``; returns its parser."""
    from skspeckle.labelling.labels import LabelFileLocked

    label = sub.add_parser(
        "label",
        help="label and review the frames of a run in the browser (a local web server)",
        description="Serve a page on 127.0.0.1 to label the frames of a run with the keyboard "
        "(in active-learning or run order), retrain the few-shot supports, review the "
        "predictions, and export labels (CSV / JSON) and the model. Labels are saved after "
        "every change. RUN is an HDF5/CXI file, or 'pr772' for the bundled real frames.",
    )
    label.add_argument("run", metavar="RUN", help="HDF5/CXI file of frames, or 'pr772'")
    add_model_arguments(label, required=False)
    label.add_argument(
        "--labels",
        metavar="LABELS.csv",
        help="label file, .csv or .json (default: RUN's name with .labels.csv, in the "
        "working directory)",
    )
    label.add_argument(
        "--data-path", metavar="P", help="frame dataset (default entry_1/data_1/data)"
    )
    label.add_argument(
        "--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0: a free one)"
    )
    label.set_defaults(
        func=run, user_errors=(OSError, ValueError, KeyError, TypeError, LabelFileLocked)
    )
    return label
