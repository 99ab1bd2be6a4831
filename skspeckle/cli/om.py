"""``skspeckle om``: run OM (OnDA Monitor) with skspeckle's SPI classification layer."""

from skspeckle.cli._common import positive_int

__all__ = ["add_parser"]


def run(args):
    from skspeckle.om_processing import run_monitor

    return run_monitor(
        [args.source, "--config", args.config, "--node-pool-size", str(args.node_pool_size)]
    )


def add_parser(sub):
    """Register ``om`` on the subparsers ``sub``; returns its parser."""
    om = sub.add_parser(
        "om",
        help="run an OM (OnDA Monitor) real-time monitor whose processing layer classifies "
        "every frame with a saved model and broadcasts the hit rates per class",
        description="Start OM's om_monitor.py with the processing layer "
        "SpiClassificationProcessing available (processing_layer: "
        "SpiClassificationProcessing in the 'om' group of the configuration; its "
        "parameters in the 'spi_classification' group). SOURCE, the data-retrieval and the "
        "parallelization layers are OM's. Needs the om extra (ondamonitor).",
    )
    om.add_argument("source", help="OM's data source (e.g. a file listing HDF5 files)")
    om.add_argument(
        "-c", "--config", default="monitor.yaml", help="OM configuration (default monitor.yaml)"
    )
    om.add_argument(
        "-n",
        "--node-pool-size",
        type=positive_int,
        required=True,
        metavar="N",
        help="OM nodes: one collecting node plus N - 1 processing nodes (N >= 2)",
    )
    om.set_defaults(func=run, user_errors=(OSError, ValueError, ImportError))
    return om
