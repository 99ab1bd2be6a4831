"""The dask options of ``skspeckle classify``: ``--scheduler`` and ``--workers`` send the run
to :func:`skspeckle.cluster.predict_dask` instead of :func:`skspeckle.streaming.predict_file`
(same results file, same journal)."""

from pathlib import Path

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
    the cluster the options name, taking the same opened frame source.

    Raises
    ------
    ValueError
        For ``--workers`` with a remote scheduler, or a cluster asked for a European XFEL run
        (its trains are read and assembled in this process).
    """
    if args.scheduler is None and args.workers is None:
        from skspeckle.streaming import predict_file

        return predict_file
    if args.workers is not None and args.scheduler not in (None, "local"):
        raise ValueError(
            f"--workers only sizes a local cluster (--scheduler local); the workers of "
            f"{args.scheduler!r} are started by its own cluster manager."
        )
    if args.source == "euxfel" or (args.source == "auto" and Path(args.input).is_dir()):
        raise ValueError(
            "--scheduler / --workers classify HDF5/CXI files; a European XFEL run is read and "
            "assembled in this process: leave them out, or pass the run's frames as a dask "
            "array (EXtra-data's get_dask_array) to skspeckle.cluster.predict_dask."
        )
    from skspeckle.cluster import predict_dask

    def predict_on_cluster(model, source, output_path, **kwargs):
        # The workers open the file themselves: send them its path and datasets, not the
        # reader this process opened (an h5py file does not pickle).
        return predict_dask(
            model,
            source.path,
            output_path,
            data_path=list(source.data_paths),
            chunk_frames=source.chunk_frames,
            client=args.scheduler or "local",
            n_workers=args.workers,
            **kwargs,
        )

    return predict_on_cluster
