"""``skspeckle demo``: train and score SpeckleNN on the bundled structures."""

__all__ = ["add_parser"]


def run(args):
    # Imported here so that ``skspeckle --help`` does not pay for importing torch.
    from skspeckle.demo import run_demo

    run_demo(quick=args.quick, device=args.device, random_state=args.seed, verbose=args.verbose)
    return 0


def add_parser(sub):
    """Register ``demo`` on the subparsers ``sub``; returns its parser."""
    demo = sub.add_parser(
        "demo",
        help="train and score SpeckleNN on patterns simulated from the bundled PDB structures",
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run with few patterns and epochs (numbers not meaningful)",
    )
    demo.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--verbose",
        type=int,
        default=1,
        help="0 silent, 1 progress and table (default), 2 per-epoch progress",
    )
    demo.set_defaults(func=run, user_errors=())
    return demo
