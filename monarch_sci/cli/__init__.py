"""The ``monarch-sci`` console command.

The top layer of the toolkit: nothing imports it. Each job group (``ns``, ``pde``, ``mri``, ``demo``, ``study``) is one
module of this package (``mri``, the largest, a sub-package with one module per concern) and exposes
``register(subparsers)``, which adds the group's sub-commands and sets ``func`` on each; :mod:`.common` holds
the shared flags and the one user-error path. Job modules import their heavy dependencies inside the command
functions, so that ``monarch-sci --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from monarch_sci import __version__
from monarch_sci.cli.common import Parser, report_error
from monarch_sci.training.progress import progress_style

#: The command groups, one module each under :mod:`monarch_sci.cli`.
GROUPS = ("demo", "mri", "ns", "pde", "study")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="monarch-sci",
        description="Monarch matrices in place of Fourier transforms: PDE surrogates and MRI reconstruction.",
    )
    parser.add_argument("--version", action="version", version=f"monarch-sci {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    groups = parser.add_subparsers(dest="group", metavar="GROUP")
    for name in GROUPS:
        importlib.import_module(f"monarch_sci.cli.{name}").register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        # A group without a sub-command: show that group's help (or the top-level one).
        sub = getattr(args, "group_parser", parser)
        sub.print_help()
        return 2
    prog = getattr(args, "command_prog", None)  # "monarch-sci pde darcy generate" (set by add_command)
    prog = prog or " ".join(["monarch-sci", *(getattr(args, k, None) or "" for k in ("group", "command"))]).strip()
    try:
        with progress_style(getattr(args, "progress_style", None)):  # --progress: this command's style
            return int(func(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; rerun the same command to continue", file=sys.stderr)
        return 130
    except Exception as err:
        status = None if args.debug else report_error(err, prog)
        if status is None:
            raise
        return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
