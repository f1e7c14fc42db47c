"""Shape plans: how a Monarch matrix of a given size is split into blocks.

A Monarch matrix ``M`` of shape ``(n_out, n_in)`` is stored as two block-diagonal factors

* ``r_blocks`` of shape ``(k, q, p)`` with ``k·p = n_in`` (``k`` blocks of ``q×p``), and
* ``l_blocks`` of shape ``(l, s, r)`` with ``l·r = k·q`` and ``l·s = n_out``.

The default plan is *fully mixing*: ``q = l`` and ``r = k``, so every block of ``L`` reads exactly one entry
from every block of ``R`` and every ``(s×p)`` sub-block of ``M`` (in permuted coordinates) is rank one. For a
square ``n = m²`` this is the classic ``m`` blocks of ``m×m`` in both factors, ``2·n^1.5`` parameters.

Sizes with no useful factorisation (primes, or ``2·prime``) are refused with a clear error unless
``pad=True``, which pads the size up to the next multiple of ``nblocks`` (the caller zero-pads the input and
truncates the output; :class:`~monarch_sci.monarch_linear.MonarchLinear` does this for you).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["MonarchPlan", "closest_factor", "plan_equal_blocks", "plan_monarch"]


def closest_factor(n: int) -> int:
    """Largest divisor of ``n`` that is ``≤ √n`` (1 for primes)."""
    if n < 1:
        raise ValueError(f"closest_factor: expected a positive size, got n={n}")
    for d in range(math.isqrt(n), 0, -1):
        if n % d == 0:
            return d
    return 1  # pragma: no cover - d = 1 always divides


@dataclass(frozen=True)
class MonarchPlan:
    """Block shapes of one Monarch matrix (see the module docstring for the symbols).

    ``in_features``/``out_features`` are the user's sizes; ``n_in``/``n_out`` the (possibly padded) sizes the
    factors act on.
    """

    in_features: int
    out_features: int
    k: int
    q: int
    p: int
    l: int
    s: int
    r: int

    def __post_init__(self) -> None:
        sizes = {f: getattr(self, f) for f in ("in_features", "out_features", "k", "q", "p", "l", "s", "r")}
        bad = {f: v for f, v in sizes.items() if not isinstance(v, int) or v < 1}
        if bad:
            raise ValueError(f"MonarchPlan: every size must be a positive integer, got {bad}")
        if self.l * self.r != self.k * self.q:
            raise ValueError(
                f"MonarchPlan: factor shapes do not chain: R (k, q, p)={self.r_shape} gives k·q={self.k * self.q} "
                f"intermediate features but L (l, s, r)={self.l_shape} expects l·r={self.l * self.r}"
            )
        if self.n_in < self.in_features or self.n_out < self.out_features:
            raise ValueError(
                f"MonarchPlan: the factors act on ({self.n_out}, {self.n_in}) which is smaller than the matrix "
                f"({self.out_features}, {self.in_features})"
            )

    @classmethod
    def from_shapes(
        cls,
        r_shape: tuple[int, int, int],
        l_shape: tuple[int, int, int],
        in_features: int | None = None,
        out_features: int | None = None,
    ) -> MonarchPlan:
        """The plan of a factor pair ``r_blocks`` ``(k, q, p)``, ``l_blocks`` ``(l, s, r)`` (validated).

        ``in_features``/``out_features`` default to the unpadded sizes ``k·p`` and ``l·s``.

        Examples
        --------
        >>> MonarchPlan.from_shapes((2, 8, 8), (2, 8, 8)).num_params
        256
        """
        if len(r_shape) != 3 or len(l_shape) != 3:
            raise ValueError(f"MonarchPlan.from_shapes: expected two 3-tuples, got {r_shape!r} and {l_shape!r}")
        k, q, p = (int(v) for v in r_shape)
        l, s, r = (int(v) for v in l_shape)
        in_f = k * p if in_features is None else in_features
        out_f = l * s if out_features is None else out_features
        return cls(in_f, out_f, k=k, q=q, p=p, l=l, s=s, r=r)

    @property
    def n_in(self) -> int:
        return self.k * self.p

    @property
    def n_out(self) -> int:
        return self.l * self.s

    @property
    def padded(self) -> bool:
        return self.n_in != self.in_features or self.n_out != self.out_features

    @property
    def r_shape(self) -> tuple[int, int, int]:
        return (self.k, self.q, self.p)

    @property
    def l_shape(self) -> tuple[int, int, int]:
        return (self.l, self.s, self.r)

    @property
    def num_params(self) -> int:
        return self.k * self.q * self.p + self.l * self.s * self.r

    def flops(self, batch: int = 1, complex_: bool = False) -> int:
        """Real floating-point operations of one multiply (``2·mul-add``; complex counts 4 real mul-adds)."""
        f = 2 * batch * self.num_params
        return 4 * f if complex_ else f


def _useful(n: int, k: int) -> bool:
    return 1 < k < n and n % k == 0


def _default_blocks(name: str, n: int, pad: bool) -> int:
    """Blocks for a side of ``n`` features: :func:`closest_factor`, or ``⌈√n⌉`` for a prime with ``pad=True``."""
    blocks = closest_factor(n)
    if blocks > 1:
        return blocks
    if not pad:
        raise ValueError(
            f"plan_monarch: {name}={n} has no useful factorisation (it is prime); "
            "pass pad=True to pad it to the next composite size, or choose another size"
        )
    return math.isqrt(n - 1) + 1


def _padded_size(name: str, n: int, blocks_name: str, blocks: int, pad: bool) -> int:
    """``n`` (the ``name`` features) if ``blocks`` divides it, else rounded up to a multiple of it (``pad=True``)."""
    if n % blocks == 0:
        return n
    if not pad:
        raise ValueError(
            f"plan_monarch: {blocks_name}={blocks} does not divide {name}={n}; "
            f"pass pad=True to pad it to a multiple of {blocks_name}"
        )
    return -(-n // blocks) * blocks


@lru_cache(maxsize=512)
def plan_monarch(
    in_features: int,
    out_features: int | None = None,
    *,
    nblocks: int | None = None,
    out_blocks: int | None = None,
    pad: bool = False,
) -> MonarchPlan:
    """Choose block shapes for a Monarch matrix of shape ``(out_features, in_features)``.

    Parameters
    ----------
    in_features, out_features
        Matrix sizes; ``out_features`` defaults to ``in_features``.
    nblocks
        Number of blocks ``k`` of the right factor ``R``. Default: the divisor of ``in_features`` closest to
        (and not above) ``√in_features``.
    out_blocks
        Number of blocks ``l`` of the left factor ``L``. Default: ``in_features // nblocks`` for square
        matrices (the classic plan) and the divisor of ``out_features`` closest to ``√out_features`` otherwise.
    pad
        Pad sizes that have no useful factorisation (primes) up to the next multiple of the block count
        instead of raising.

    Returns
    -------
    MonarchPlan
        ``R`` of shape ``(k, l, n_in/k)`` and ``L`` of shape ``(l, n_out/l, k)`` (fully mixing). Cached.

    Examples
    --------
    >>> plan_monarch(64)
    MonarchPlan(in_features=64, out_features=64, k=8, q=8, p=8, l=8, s=8, r=8)
    >>> plan_monarch(48, 100).r_shape
    (6, 10, 8)
    """
    out_features = in_features if out_features is None else out_features
    for name, v in (("in_features", in_features), ("out_features", out_features)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"plan_monarch: expected a positive integer {name}, got {v!r}")
    square = in_features == out_features
    if nblocks is None:
        nblocks = _default_blocks("in_features", in_features, pad)
    if not 1 <= nblocks <= in_features:
        raise ValueError(
            f"plan_monarch: nblocks must be in [1, {in_features}] for in_features={in_features}, got {nblocks}"
        )
    n_in = _padded_size("in_features", in_features, "nblocks", nblocks, pad)
    k = nblocks
    p = n_in // k
    if out_blocks is None:
        out_blocks = p if square else _default_blocks("out_features", out_features, pad)
    if square and out_blocks == p and n_in != in_features:
        n_out = n_in  # a padded square plan stays square (n_in = k·p is a multiple of out_blocks = p)
    else:
        n_out = _padded_size("out_features", out_features, "out_blocks", out_blocks, pad)
    l = out_blocks
    s = n_out // l
    return MonarchPlan(in_features, out_features, k=k, q=l, p=p, l=l, s=s, r=k)


@lru_cache(maxsize=512)
def plan_equal_blocks(
    in_features: int,
    out_features: int | None = None,
    *,
    nblocks: int,
    pad: bool = False,
) -> MonarchPlan:
    """The layout of the original Monarch code: ``nblocks`` blocks in *both* factors.

    With ``b_in = n_in/nblocks``, ``b_out = n_out/nblocks`` and ``h = min(b_in, b_out)``: ``R`` is
    ``(nblocks, h, b_in)`` and ``L`` is ``(nblocks, b_out, h)``. For ``nblocks ≠ √n`` the ``(s×p)`` sub-blocks
    of ``M`` then have rank ``> 1`` (rank ``h/nblocks`` when ``nblocks`` divides ``h``), which
    :func:`~monarch_sci.projection.project` handles. ``pad=True`` rounds each size up to a multiple of
    ``nblocks``; otherwise a size that ``nblocks`` does not divide is an error.

    Examples
    --------
    >>> plan_equal_blocks(64, nblocks=4)
    MonarchPlan(in_features=64, out_features=64, k=4, q=16, p=16, l=4, s=16, r=16)
    """
    out_features = in_features if out_features is None else out_features
    for name, v in (("in_features", in_features), ("out_features", out_features), ("nblocks", nblocks)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"plan_equal_blocks: expected a positive integer {name}, got {v!r}")
    for name, v in (("in_features", in_features), ("out_features", out_features)):
        if nblocks > v:
            raise ValueError(f"plan_equal_blocks: nblocks={nblocks} exceeds {name}={v}")
        if v % nblocks and not pad:
            raise ValueError(
                f"plan_equal_blocks: nblocks={nblocks} does not divide {name}={v}; pass pad=True to pad it "
                "to a multiple of nblocks"
            )
    b_in = -(-in_features // nblocks)
    b_out = -(-out_features // nblocks)
    h = min(b_in, b_out)
    return MonarchPlan(in_features, out_features, k=nblocks, q=h, p=b_in, l=nblocks, s=b_out, r=h)
