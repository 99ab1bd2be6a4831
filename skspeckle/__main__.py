"""``python -m skspeckle`` runs the command-line interface."""

from skspeckle.cli import main

raise SystemExit(main())
