"""Argument types shared by the subcommands of the ``skspeckle`` command."""

import argparse

__all__ = ["positive_int"]


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value
