"""The ``monarch-sci`` console command.

Each job group (``ns``, ``pde``, ``mri``, ``bench``, ...) lives in its own module under
:mod:`monarch_sci.jobs` and exposes ``register(subparsers)``, which adds the group's sub-commands and sets
``func`` on each. Job modules import their heavy dependencies inside the command functions, so that
``monarch-sci --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from monarch_sci import __version__, jobs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monarch-sci",
        description="Monarch matrices in place of Fourier transforms: PDE surrogates and MRI reconstruction.",
    )
    parser.add_argument("--version", action="version", version=f"monarch-sci {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="GROUP")
    for info in sorted(pkgutil.iter_modules(jobs.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"monarch_sci.jobs.{info.name}").register(groups)
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
    result = func(args)
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
