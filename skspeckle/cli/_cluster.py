"""The dask options of ``skspeckle classify``: ``--scheduler`` and ``--workers`` send the run
to :func:`skspeckle.cluster.predict_dask` instead of :func:`skspeckle.streaming.predict_file`
(same results file, same journal)."""

from skspeckle.cli._common import positive_int

__all__ = ["add_arguments", "predictor"]


def add_arguments(parser):
    """Add ``--scheduler`` and ``--workers`` to the ``classify`` parser."""
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="classify on a dask cluster (needs skspeckle[dask]): 'local' starts worker "
        "processes on this machine (127.0.0.1), tcp://HOST:PORT connects to a running "
        "scheduler (e.g. of a dask-jobqueue SLURMCluster), a .json path is a scheduler file",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="worker processes of the local dask cluster (default: one per core); implies "
        "--scheduler local",
    )


def predictor(args):
    """The function that classifies the run: ``predict_file``, or ``predict_dask`` bound to
    the cluster the options name."""
    if args.scheduler is None and args.workers is None:
        from skspeckle.streaming import predict_file

        return predict_file
    if args.workers is not None and args.scheduler not in (None, "local"):
        raise ValueError(
            f"--workers only sizes a local cluster (--scheduler local); the workers of "
            f"{args.scheduler!r} are started by its own cluster manager."
        )
    from functools import partial

    from skspeckle.cluster import predict_dask

    return partial(predict_dask, client=args.scheduler or "local", n_workers=args.workers)
