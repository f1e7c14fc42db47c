"""The command line of the scripts beside the CLI (``benchmarks/*.py``): their parser and their error path.

The CLI is the only code that parses arguments (``ARCHITECTURE.md``). A script builds its parser here, from its
own docstring, with the shared flags of :func:`~monarch_sci.cli.common.add_flags` (``--threads``, ``--seed``,
``--out``, ``--device``, ``--no-progress``, ...), and runs its ``main`` through :func:`run_script`, so that a
user error ends it the way it ends a ``monarch-sci`` command: one line ``SCRIPT: error: ...``, exit status 2
(the traceback with ``MONARCH_SCI_DEBUG=1``)::

    from monarch_sci.cli.scripts import run_script, script_parser

    def main(argv=None):
        p = script_parser(__doc__, "threads", "out", threads=1, out="result.json")
        p.add_argument("--repeats", type=int, default=7)
        args = p.parse_args(argv)
        ...

    if __name__ == "__main__":
        sys.exit(run_script(main))
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from monarch_sci.cli.common import add_flags, report_error

__all__ = ["SUPPRESS", "ArgumentTypeError", "add_flags", "run_script", "script_parser"]

#: Raised by a flag's ``type=`` converter for a malformed value (argparse reports it as a usage error).
ArgumentTypeError = argparse.ArgumentTypeError
#: ``help=SUPPRESS`` hides an internal flag from ``--help``.
SUPPRESS = argparse.SUPPRESS


def script_parser(
    doc: str | None, *flags: str, summary: Literal["paragraph", "line"] = "paragraph", **defaults: Any
) -> argparse.ArgumentParser:
    """A script's argument parser: described by its docstring's summary, with the shared ``flags``.

    Parameters
    ----------
    doc
        The script's ``__doc__``; its first paragraph (``summary="paragraph"``) or first line (``"line"``)
        becomes the ``--help`` description.
    *flags
        Names of shared flags for :func:`~monarch_sci.cli.common.add_flags` (``"threads"``, ``"device"``,
        ``"out"``, ``"seed"``, ``"no_progress"``, ...).
    **defaults
        Their overrides, as ``add_flags`` takes them (``threads=1``, ``out=PATH``, ``out_type=Path``, ...).

    Examples
    --------
    >>> p = script_parser("Time things.\\n\\nMore text.", "threads", threads=1)
    >>> p.description, p.parse_args([]).threads, p.parse_args(["--threads", "2"]).threads
    ('Time things.', 1, 2)
    """
    if summary not in ("paragraph", "line"):
        raise ValueError(f"script_parser: summary must be 'paragraph' or 'line', got {summary!r}")
    text = doc or ""
    description = text.split("\n\n" if summary == "paragraph" else "\n")[0]
    parser = argparse.ArgumentParser(description=description)
    add_flags(parser, *flags, **defaults)
    return parser


def run_script(main: Callable[[], Any], *, prog: str | None = None) -> int:
    """Run a script's ``main()`` and return its exit status; a user error becomes one line on stderr.

    ``main`` returns an exit status (an ``int``) or anything else (a result: status 0). An error a user can
    fix (:func:`~monarch_sci.cli.common.report_error` decides, as for every ``monarch-sci`` command) prints
    ``PROG: error: MESSAGE`` and returns its status (2); any other error is a bug and keeps its traceback, as
    does every error when the environment variable ``MONARCH_SCI_DEBUG`` is set to ``1``.

    Examples
    --------
    >>> import contextlib, io
    >>> def main():
    ...     raise ValueError("--sizes: expected positive sizes, got [-1]")
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     status = run_script(main, prog="bench.py")
    >>> status, err.getvalue()
    (2, 'bench.py: error: --sizes: expected positive sizes, got [-1]\\n')
    """
    prog = prog or Path(sys.argv[0]).name
    try:
        result = main()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        status = None if os.environ.get("MONARCH_SCI_DEBUG") == "1" else report_error(err, prog)
        if status is None:
            raise
        return status
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
