"""Progress display that suits where it goes: a bar on a terminal, one line per stage in a log, or nothing.

Every long loop of the toolkit (training epochs, data generation, reconstructions) shows its progress through
:func:`progress_bar`. How it is shown is the process's *progress style*, chosen once by the command line
(``--progress {auto,bar,line,none}``, ``--quiet``) through :func:`progress_style`:

``bar``
    a tqdm bar (redrawn in place with carriage returns: for a terminal);
``line``
    one plain line per finished stage (``epoch 3/12: 9/9 it in 2.1 s (loss=0.0123)``), plus one line a minute
    while a long stage runs; never a carriage return, so a log file or a CI page stays readable;
``none``
    nothing;
``auto`` (the default)
    ``bar`` when standard error is a terminal, else ``line``.

A loop whose caller turned its progress off (``enabled=False``, e.g. ``--no-progress``) shows nothing in any
style. A bar created with ``leave=False`` vanishes when done on a terminal, so in the line style it prints
nothing either (the trainer uses that when it prints its own line per epoch).

Examples
--------
>>> import io, contextlib
>>> err = io.StringIO()
>>> with contextlib.redirect_stderr(err), progress_style("line"):
...     total = sum(progress_bar(range(3), desc="sum", unit="item"))
>>> err.getvalue().startswith("sum: 3/3 item in ")
True
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, Literal

__all__ = ["PROGRESS_STYLES", "LineProgress", "progress_bar", "progress_style", "resolved_style"]

ProgressStyle = Literal["auto", "bar", "line", "none"]
#: The styles ``--progress`` accepts.
PROGRESS_STYLES: tuple[str, ...] = ("auto", "bar", "line", "none")

_style: str = "auto"


@contextlib.contextmanager
def progress_style(style: ProgressStyle | None) -> Iterator[None]:
    """Show progress in ``style`` inside the block (``None``: keep the current style); restored afterwards."""
    global _style
    if style is not None and style not in PROGRESS_STYLES:
        raise ValueError(f"progress_style: expected one of {', '.join(PROGRESS_STYLES)}, got {style!r}")
    before = _style
    _style = before if style is None else style
    try:
        yield
    finally:
        _style = before


def resolved_style() -> str:
    """The style in force, ``auto`` resolved: ``"bar"``, ``"line"`` or ``"none"``."""
    if _style != "auto":
        return _style
    isatty = getattr(sys.stderr, "isatty", None)
    return "bar" if isatty is not None and isatty() else "line"


class LineProgress:
    """The part of tqdm's interface the toolkit uses, written as whole lines (the ``line`` style).

    One line when the stage ends (``close``, or the end of iteration) unless ``leave=False``, and one line
    every ``interval`` seconds while it runs; each line is ``DESC: N/TOTAL UNIT in T s (POSTFIX)``.
    """

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        initial: float = 0,
        leave: bool = True,
        interval: float = 60.0,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit, self.leave = iterable, total, desc, unit, leave
        self.n, self.interval, self.postfix, self.closed = initial, interval, "", False
        self._start = self._last = time.perf_counter()

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("LineProgress: no iterable was given")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if self.leave and now - self._last >= self.interval:
            self._last = now
            self._line()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def refresh(self) -> None:
        """Nothing to redraw: lines are written when a stage ends (tqdm's interface)."""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.leave:
                self._line()

    def _line(self) -> None:
        count = f"{self.n:.0f}" if float(self.n).is_integer() else f"{self.n:.1f}"
        done = f"{count}/{self.total:.0f}" if self.total is not None else count
        tail = f" ({self.postfix})" if self.postfix else ""
        head = f"{self.desc}: " if self.desc else ""
        print(f"{head}{done} {self.unit} in {time.perf_counter() - self._start:.1f} s{tail}", file=sys.stderr)
        sys.stderr.flush()


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    initial: float = 0,
    leave: bool = True,
    enabled: bool = True,
) -> Any:
    """A progress display over ``iterable`` (or updated by hand up to ``total``) in the current style.

    Parameters
    ----------
    iterable, total, desc, unit, initial, leave
        As tqdm's (``leave=False``: the display vanishes when done; in the line style it prints nothing).
    enabled
        ``False`` (the caller's ``--no-progress``): show nothing, in any style.

    Returns
    -------
    A ``tqdm`` bar (style ``bar``, or disabled), or a :class:`LineProgress` (style ``line``); both iterate,
    ``update``, ``set_postfix``, ``refresh`` and ``close``, and work as context managers.
    """
    style = resolved_style() if enabled else "none"
    if style == "line":
        return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave)
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        initial=initial,
        leave=leave,
        disable=style == "none",
        dynamic_ncols=True,
        file=sys.stderr,
    )
