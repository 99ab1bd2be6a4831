"""The ``skspeckle`` command: one module per subcommand (``demo``, ``classify``, ...).

Only the standard library is imported at module level; each command imports what it needs
(torch, numpy, scikit-learn, h5py) when it runs, so that ``skspeckle --help`` starts fast.
A new subcommand is a module here with ``add_parser(sub)``, named in ``_COMMANDS``.
"""

import argparse
import importlib
import sys

__all__ = ["build_parser", "main"]

# In the order ``skspeckle --help`` lists them.
_COMMANDS = ("demo", "classify", "label", "report", "stream", "om")


def build_parser():
    """The argument parser of the ``skspeckle`` command.

    Returns
    -------
    argparse.ArgumentParser
        With one subcommand per module of ``skspeckle.cli`` named in ``_COMMANDS``; each
        parsed namespace carries the command function (``func``) and the exceptions reported
        as user errors (``user_errors``).
    """
    parser = argparse.ArgumentParser(
        prog="skspeckle",
        description="SpeckleNN few-shot classification of X-ray SPI diffraction patterns.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        importlib.import_module(f"skspeckle.cli.{name}").add_parser(sub)
    return parser


def _resume_hint(argv):
    import shlex

    argv = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["skspeckle", *argv, *([] if "--resume" in argv else ["--resume"])])


def main(argv=None):
    """Entry point of the ``skspeckle`` command; returns the exit status.

    For ``classify``, errors in the user's input (missing or unreadable files, an existing
    output, a wrong dataset path, frames the model rejects, a resume that does not match)
    print one message on stderr and return 1. SIGTERM and SIGINT (Ctrl-C) let the current
    chunk finish, print how to resume, and return 143 and 130 (128 + the signal number);
    a second Ctrl-C stops at once (130). Command-line syntax errors exit with status 2
    (argparse).
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", 2)  # a RunInterrupted knows its signal; Ctrl-C is 2
        journal = getattr(exc, "journal", None)
        notes = "".join(f" {note}" for note in getattr(exc, "__notes__", ()))
        if journal is None and not notes:
            print(f"skspeckle {args.command}: interrupted; no output written.", file=sys.stderr)
        else:
            print(
                f"skspeckle {args.command}: interrupted; {exc or 'no output written.'}{notes}\n"
                f"To continue: {_resume_hint(argv)}",
                file=sys.stderr,
            )
        return 128 + signum
    except args.user_errors as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        notes = "".join(f" {note}" for note in getattr(exc, "__notes__", ()))
        print(f"skspeckle {args.command}: error: {message}{notes}", file=sys.stderr)
        return 1
