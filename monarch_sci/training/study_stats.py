"""A study's numbers over seeds: the pooled mean and spread, as the report prints them, and the change of one
mean against another. Pooling is :func:`~monarch_sci.training.records.pool_seeds` (a seed × one-value table);
the spread reported is the sample standard deviation over seeds (Bessel-corrected: ``std · √(n / (n − 1))``).
"""

from __future__ import annotations

import math

from monarch_sci.training.records import pool_seeds

__all__ = ["change", "fmt_pooled", "pooled"]


def pooled(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (0 for one seed).

    Examples
    --------
    >>> m, s = pooled([0.08, 0.09])
    >>> round(m, 4), round(s, 4)
    (0.085, 0.0071)
    """
    p = pool_seeds([[v] for v in values])
    n = len(values)
    return p["mean"], p["std_seeds"] * math.sqrt(n / (n - 1)) if n > 1 else 0.0


def fmt_pooled(values: list[float | None]) -> str:
    """``mean ± std`` over seeds (``(1 seed)`` for one; ``—`` for none)."""
    got = [v for v in values if v is not None]
    if not got:
        return "—"
    m, s = pooled(got)
    return f"{m:.4f} ± {s:.4f}" if len(got) > 1 else f"{m:.4f} (1 seed)"


def change(a: list[float], b: list[float]) -> str:
    """The change of the mean of ``a`` against the mean of ``b``, in percent (``—`` when either is empty)."""
    if not a or not b:
        return "—"
    return f"{100 * (pooled(a)[0] / pooled(b)[0] - 1):+.1f}%"
