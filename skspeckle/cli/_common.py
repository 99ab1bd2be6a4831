"""Arguments and model loading shared by the subcommands of the ``skspeckle`` command."""

import argparse

__all__ = ["add_model_arguments", "load_cli_model", "positive_int"]


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_model_arguments(parser, required=True):
    """Add ``--model``, ``--trust`` and ``--allow-pickle`` (a saved model and its trust rules)."""
    parser.add_argument(
        "--model",
        required=required,
        metavar="MODEL.skops",
        help="fitted model saved with skspeckle.save_model",
    )
    parser.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="trust this type (fully qualified name, repeatable) when loading the model: only "
        "for a model file whose source you trust",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="UNSAFE: load an old-format (joblib pickle) model file, which runs any code it "
        "contains; only for files you made yourself",
    )


def load_cli_model(args):
    """The model of ``args.model`` loaded with ``load_model``'s trust rules, and the payload
    SHA-256 of its header (None for old-format files), which identifies it in a journal.

    Raises UntrustedTypesError naming the ``--trust`` flags that would load it.
    """
    from skspeckle.persistence import UntrustedTypesError, load_model, read_model_header

    try:
        model = load_model(args.model, trusted=args.trust or None, allow_pickle=args.allow_pickle)
    except UntrustedTypesError as exc:
        flags = " ".join(f"--trust {name}" for name in exc.types)
        raise UntrustedTypesError(f"{exc} On the command line: {flags}", exc.types) from None
    return model, read_model_header(args.model).get("payload_sha256")
