"""``skspeckle report``: one self-contained HTML page for a classified run."""

from skspeckle.cli._common import positive_int

__all__ = ["add_parser"]


def run(args):
    from skspeckle.report import write_report

    path = write_report(
        args.results,
        args.output,
        group=args.group,
        n_examples=args.examples,
        overwrite=args.overwrite,
    )
    print(f"wrote {path}")
    return 0


def add_parser(sub):
    """Register ``report`` on the subparsers ``sub``; returns its parser."""
    report = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a results file",
        description="One HTML page (figures embedded, no external files) for a run classified "
        "by 'skspeckle classify': counts per class, the veto, class probabilities, class "
        "fractions along the run, example frames (read from the input file the results "
        "name, when it is there) and the model's provenance.",
    )
    report.add_argument("results", metavar="RESULTS.h5", help="results of skspeckle classify")
    report.add_argument("-o", "--output", required=True, metavar="REPORT.html")
    report.add_argument("--group", default="skspeckle_results", help="results group")
    report.add_argument(
        "--examples", type=positive_int, default=6, metavar="N", help="example frames per class"
    )
    report.add_argument("--overwrite", action="store_true", help="replace an existing report")
    report.set_defaults(func=run, user_errors=(OSError, ValueError, KeyError, ImportError))
    return report
