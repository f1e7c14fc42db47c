"""Truncated real Fourier transforms for spectral convolutions: the FFT baseline and a learnable Monarch twin.

A spectral convolution (FNO layer) needs a *pair* of maps between a real field on a grid ``(n_1, …, n_d)``
and the few Fourier modes it keeps:

.. math::

    \\text{forward:}\\quad c = S\\,\\mathcal F_{\\mathrm{ortho}}\\, x, \\qquad
    \\text{inverse:}\\quad x = \\mathcal F^{-1}_{\\mathrm{ortho}}\\, S^{\\mathsf T} c ,

where ``𝓕`` is ``rfftn`` (the last axis is the half spectrum) and ``S`` selects the kept modes: on every full
axis ``j < d`` the ``m_j`` lowest frequencies of both signs (indices ``0…m_j−1`` and ``n_j−m_j…n_j−1``), on the
half axis the indices ``0…m_d−1``. The inverse is ``irfftn`` of the spectrum that is zero elsewhere.

:class:`FourierModes` computes this with ``torch.fft`` (the FNO convention, ``norm="ortho"``).
:class:`MonarchModes` computes the same pair with one :class:`~monarch_sci.dft.MonarchDFT` per axis and
direction, each restricted to the kept modes (a rectangular Monarch); at initialisation the two classes agree
to round-off. The half axis is where the real-signal symmetry lives:

* forward: rows ``0…m_d−1`` of the DFT applied to the real input (the real input is promoted exactly);
* inverse: ``x = Re(Σ_k w_k c_k ω^{-k t}/√n)`` with ``w = 1, 2, 2, …`` (and ``w = 1`` at the Nyquist index
  ``n/2``). Taking the real part drops the imaginary part of the DC (and Nyquist) coefficient exactly as
  ``irfft`` ignores it, and counts every other coefficient twice for its conjugate partner. The weights are
  folded into the Monarch factors at initialisation, so a learned inverse always yields a real field.

Both classes share one interface, which is also the contract for an injected transform module:
``forward(x) -> c`` with ``c.shape[-d:] == mode_shape``, ``inverse(c) -> x`` with ``x.shape[-d:] == size``,
and the attributes ``size`` and ``mode_shape``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Literal

import torch
from torch import nn

from monarch_sci.dft import MonarchDFT
from monarch_sci.dtypes import COMPLEX_OF
from monarch_sci.fourier import half_axis_weights, kept_modes
from monarch_sci.operators.pde.mode_matrices import (
    constant,
    dense_forward,
    dense_inverse,
    dense_t,
    dft_operands,
    factor_key,
    needs_grad,
    operands,
)
from monarch_sci.operators.pde.mode_resampling import carry_dense_t
from monarch_sci.plan import MonarchPlan
from monarch_sci.projection import project

__all__ = ["FourierModes", "MonarchModes", "half_axis_weights", "kept_modes"]

Learn = Literal["both", "forward", "inverse", "none"]
_LEARN = ("both", "forward", "inverse", "none")
Path = Literal["auto", "dense", "factored"]
_PATHS = ("auto", "dense", "factored")
FFTPath = Literal["fft", "matmul"]
_FFT_PATHS = ("fft", "matmul")
#: ``path="auto"`` multiplies by the materialised matrices while every axis is at most this long.
DENSE_MAX_N = 256


def _check_size_modes(size: Sequence[int], modes: Sequence[int], where: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    size_t, modes_t = tuple(int(s) for s in size), tuple(int(m) for m in modes)
    if len(size_t) != len(modes_t) or not size_t:
        raise ValueError(f"{where}: size and modes need one entry per axis, got size={size_t} modes={modes_t}")
    check_grid(size_t, modes_t, where, what="size")
    return size_t, modes_t


def check_grid(grid: Sequence[int], modes: Sequence[int], where: str, *, what: str = "grid") -> None:
    """Raise a ``ValueError`` naming ``where`` unless ``grid`` holds ``modes`` on every axis (:func:`min_grid`)."""
    grid, modes = tuple(int(n) for n in grid), tuple(int(m) for m in modes)
    for j, (n, m) in enumerate(zip(grid, modes)):
        try:
            kept_modes(n, m, half=j == len(grid) - 1)
        except ValueError as err:
            raise ValueError(
                f"{where}: modes {modes} (per sign on full axes, kept on the last, half-spectrum axis) need a grid "
                f"of at least {min_grid(modes)}, got {what}={grid} ({err})"
            ) from None


def min_grid(modes: Sequence[int]) -> tuple[int, ...]:
    """Smallest grid that holds ``modes``: ``2m`` on every full axis, ``max(2, 2m − 2)`` on the half axis.

    Examples
    --------
    >>> min_grid((8, 9))
    (16, 16)
    """
    modes = tuple(int(m) for m in modes)
    return (*(2 * m for m in modes[:-1]), max(2, 2 * modes[-1] - 2))


def fits(grid: Sequence[int], modes: Sequence[int]) -> bool:
    """Whether a grid holds the kept modes on every axis (see :func:`min_grid`)."""
    return len(grid) == len(modes) and all(m >= 1 and n >= g for n, m, g in zip(grid, modes, min_grid(modes)))


def _mode_shape(modes: tuple[int, ...]) -> tuple[int, ...]:
    return (*(2 * m for m in modes[:-1]), modes[-1])


class FourierModes(nn.Module):
    """``rfftn``/``irfftn`` (``norm="ortho"``) restricted to the FNO's kept modes, with ``torch.fft``.

    Works on any grid that holds the kept modes (:func:`min_grid`): the FFT needs no fixed size.

    Parameters
    ----------
    size
        Default grid ``(n_1, …, n_d)`` over the last ``d`` axes (the output grid of :meth:`inverse` when none
        is passed), or ``None``; the last axis is the half-spectrum axis.
    modes
        ``(m_1, …, m_d)``: modes kept per sign on each full axis, and on the half axis.
    path
        ``"fft"`` (default): ``torch.fft`` (``rfft`` on the last axis, keeping ``m_d`` columns, then ``fft`` on
        those columns only). ``"matmul"``: the same exact truncated DFT as small constant matrices applied by
        matrix products (:mod:`~monarch_sci.operators.pde.mode_matrices`), the layout of the Monarch dense
        path; faster on a CPU for FNO grids (a few kept modes, ``n`` up to a few hundred), same values to
        round-off.

    Shape
    -----
    forward: ``(..., n_1, …, n_d)`` real → ``(..., 2m_1, …, 2m_{d-1}, m_d)`` complex; inverse: the reverse.

    Examples
    --------
    >>> T = FourierModes((16, 16), (4, 4))
    >>> c = T(torch.randn(2, 3, 16, 16)); c.shape
    torch.Size([2, 3, 8, 4])
    >>> T.inverse(c).shape, T.inverse(c, size=(32, 24)).shape
    (torch.Size([2, 3, 16, 16]), torch.Size([2, 3, 32, 24]))
    """

    def __init__(self, size: Sequence[int] | None, modes: Sequence[int], *, path: FFTPath = "fft") -> None:
        super().__init__()
        if path not in _FFT_PATHS:
            raise ValueError(f"FourierModes: path must be one of {_FFT_PATHS}, got {path!r}")
        self.modes = tuple(int(m) for m in modes)
        self.size = None if size is None else _check_size_modes(size, self.modes, "FourierModes")[0]
        self.mode_shape = _mode_shape(self.modes)
        self.dims = tuple(range(-len(self.modes), 0))
        self.path = path

    def _dft_operands(self, grid: tuple[int, ...], dtype: torch.dtype, device: torch.device, inverse: bool):
        d = len(grid)
        freqs = tuple(kept_modes(n, m, half=j == d - 1) for j, (n, m) in enumerate(zip(grid, self.modes)))
        weights = (*([None] * (d - 1)), half_axis_weights(grid[-1], self.modes[-1]) if inverse else None)
        return dft_operands(grid, freqs, weights, dtype, device, inverse=inverse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = _check_field(self, x)
        if self.path == "matmul":
            return dense_forward(x, *self._dft_operands(grid, x.dtype, x.device, inverse=False))
        d = len(self.modes)
        # The half axis first, keeping only its m_d lowest modes, so the full axes transform only those columns.
        c = torch.fft.rfft(x, dim=-1, norm="ortho").narrow(-1, 0, self.modes[-1])
        for j in range(d - 2, -1, -1):
            c = _keep_both_signs(torch.fft.fft(c, dim=j - d, norm="ortho"), self.modes[j], j - d)
        return c

    def inverse(self, c: torch.Tensor, size: Sequence[int] | None = None) -> torch.Tensor:
        """Field on ``size`` (default: the constructor's ``size``) from its kept modes ``c``."""
        grid = _output_grid(self, c, size)
        if self.path == "matmul":
            return dense_inverse(c, *self._dft_operands(grid, c.real.dtype, c.device, inverse=True))
        d = len(self.modes)
        for j in range(d - 1):  # full axes on the kept half-axis columns only: zero-fill the dropped frequencies
            c = torch.fft.ifft(_zero_fill(c, self.modes[j], grid[j], j - d), dim=j - d, norm="ortho")
        return torch.fft.irfft(c, n=grid[-1], dim=-1, norm="ortho")  # irfft zero-pads the half spectrum itself

    def extra_repr(self) -> str:
        return f"size={self.size}, modes={self.modes}, path={self.path!r}"


@functools.lru_cache(maxsize=64)
def _both_signs_index(n: int, m: int, device: torch.device) -> torch.Tensor:
    """Indices ``0…m−1, n−m…n−1`` of a full spectrum axis (:func:`kept_modes`), a constant per device."""
    return torch.tensor(kept_modes(n, m, half=False), dtype=torch.long, device=device)


def _keep_both_signs(c: torch.Tensor, m: int, dim: int) -> torch.Tensor:
    """Frequencies ``0…m−1`` then ``n−m…n−1`` of a full spectrum axis (one gather: one operator each way)."""
    n = c.shape[dim]
    return c if 2 * m == n else c.index_select(dim, _both_signs_index(n, m, c.device))


def _zero_fill(c: torch.Tensor, m: int, n: int, dim: int) -> torch.Tensor:
    """The full spectrum axis of length ``n`` holding the kept ``2m`` frequencies of ``c`` (zero elsewhere)."""
    if 2 * m == n:
        return c
    shape = list(c.shape)
    shape[dim] = n
    return c.new_zeros(shape).index_copy(dim, _both_signs_index(n, m, c.device), c)


class MonarchModes(nn.Module):
    """The :class:`FourierModes` pair computed by learnable Monarch DFTs, one per axis and direction.

    ``forward = F_1 ∘ … ∘ F_d`` (the half axis ``d`` first, on the real field) and
    ``inverse = Re ∘ G_d ∘ … ∘ G_1``, where ``F_j = MonarchDFT(n_j, modes=kept_j, norm="ortho")`` and
    ``G_j = MonarchDFT(n_j, inverse=True, modes=kept_j, norm="ortho")``, with the weights ``1, 2, 2, …`` folded
    into ``G_d`` (see the module docstring). At initialisation it equals :class:`FourierModes`.

    Resolution transfer: the factors live on the training grid ``size``. A field on another grid is transformed
    by the learned maps carried to that grid (:mod:`~monarch_sci.operators.pde.mode_resampling`: the learned
    deviation from the DFT is interpolated band-limitedly, the exact DFT part is rebuilt at the new size), so at
    initialisation it equals :class:`FourierModes` on every grid. The ``"dense"`` path multiplies by the carried
    matrices (differentiable: a model can also train on other grids); the ``"factored"`` path projects them
    onto the new size's Monarch factors with :func:`~monarch_sci.projection.project` (no gradient; training on
    another grid needs ``path="dense"``). Carried maps are cached per grid while the factors are constant (no
    gradient needed), keyed by the factors' version counters, never saved.

    Parameters
    ----------
    size, modes
        As for :class:`FourierModes` (``size`` is required: the factors depend on it).
    learn
        Which factors are ``nn.Parameter``: ``"both"`` (forward and inverse, 2·d complex Monarch matrices),
        ``"forward"``, ``"inverse"`` or ``"none"`` (fixed buffers: an exact, slower FFT).
    dtype
        Complex dtype of the factors: ``torch.complex64`` for float32 fields, ``torch.complex128`` for float64.
    path
        How the transforms are applied. ``"factored"``: the Monarch products (``O(n^1.5)`` per vector).
        ``"dense"``: each axis' Monarch matrix is materialised from its factors (``MonarchDFT.to_dense``, which
        is differentiable, so the factors still learn) and applied as one small matrix product; a real field
        is multiplied by the real and imaginary parts separately instead of being promoted to complex, and the
        final real part is taken inside the product. For FNO grids (``n`` ≤ a few hundred, a handful of kept
        modes) this is several times faster on a CPU than the factored path, and it is the same function.
        ``"auto"`` (default): dense while every axis is at most ``DENSE_MAX_N`` long.

    Shape
    -----
    As :class:`FourierModes`.

    Examples
    --------
    >>> M = MonarchModes((16, 16), (4, 4), dtype=torch.complex128)
    >>> x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    >>> ref = FourierModes(None, (4, 4))
    >>> torch.allclose(M.inverse(M(x)), ref.inverse(ref(x), size=(16, 16)))
    True
    >>> x2 = torch.randn(2, 3, 24, 20, dtype=torch.float64)  # another grid
    >>> torch.allclose(M.inverse(M(x2), size=(24, 20)), ref.inverse(ref(x2), size=(24, 20)))
    True
    """

    def __init__(
        self,
        size: Sequence[int],
        modes: Sequence[int],
        *,
        learn: Learn = "both",
        dtype: torch.dtype = torch.complex64,
        device: torch.device | str | None = None,
        path: Path = "auto",
    ) -> None:
        super().__init__()
        if learn not in _LEARN:
            raise ValueError(f"MonarchModes: learn must be one of {_LEARN}, got {learn!r}")
        if path not in _PATHS:
            raise ValueError(f"MonarchModes: path must be one of {_PATHS}, got {path!r}")
        if dtype not in (torch.complex64, torch.complex128):
            raise TypeError(f"MonarchModes: dtype must be torch.complex64 or torch.complex128, got {dtype}")
        if size is None:
            raise ValueError("MonarchModes: size (the training grid) is required: the Monarch factors depend on it")
        self.size, self.modes = _check_size_modes(size, modes, "MonarchModes")
        self.mode_shape = _mode_shape(self.modes)
        self.learn = learn
        fwd, inv = zip(*(_axis_pair(self.size, self.modes, j, learn, dtype, device) for j in range(len(self.size))))
        self.fwd = nn.ModuleList(fwd)
        self.inv = nn.ModuleList(inv)
        if path == "auto":
            path = "dense" if max(self.size) <= DENSE_MAX_N else "factored"
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = _check_field(self, x)
        if x.is_complex():
            raise TypeError(f"MonarchModes: expected a real field, got dtype {x.dtype}")
        if self.path == "factored":
            for f in reversed(self._factored(grid)[0]):  # half axis first: it takes the real field
                x = f(x)
            return x
        return dense_forward(x, *self._dense_operands(grid, inverse=False))

    def inverse(self, c: torch.Tensor, size: Sequence[int] | None = None) -> torch.Tensor:
        """Field on ``size`` (default: the training grid) from its kept modes ``c``."""
        grid = _output_grid(self, c, size)
        if self.path == "factored":
            for g in self._factored(grid)[1]:  # full axes first, the half axis last, then the real part
                c = g(c)
            return c.real
        return dense_inverse(c, *self._dense_operands(grid, inverse=True))

    @contextlib.contextmanager
    def reuse_matrices(self) -> Iterator[None]:
        """Inside this block the dense path builds its matrices once per grid and reuses them (for example over
        the steps of a rollout, in one autograd graph); the factors must not change inside the block.

        Examples
        --------
        >>> M = MonarchModes((16, 16), (4, 4))
        >>> x = torch.randn(2, 16, 16)
        >>> with M.reuse_matrices():
        ...     y = M.inverse(M(M.inverse(M(x))))
        >>> torch.allclose(y, M.inverse(M(M.inverse(M(x)))))
        True
        """
        outer = "_scope_cache" in self.__dict__
        if not outer:
            self.__dict__["_scope_cache"] = {}
        try:
            yield
        finally:
            if not outer:
                del self.__dict__["_scope_cache"]

    def _dense_operands(self, grid: tuple[int, ...], *, inverse: bool) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The learned maps on ``grid`` as :func:`~monarch_sci.operators.pde.mode_matrices.operands`."""
        scope = self.__dict__.get("_scope_cache")
        if scope is not None and (grid, inverse) in scope:
            return scope[(grid, inverse)]
        out = operands(self._dense_ts(grid, inverse=inverse), inverse=inverse)
        if scope is not None:
            scope[(grid, inverse)] = out
        return out

    def _carry_kw(self, j: int, n_new: int, inverse: bool) -> dict:
        d, n, m = len(self.size), self.size[j], self.modes[j]
        half = j == d - 1
        kw = {"inverse": inverse, "freqs": kept_modes(n, m, half=half), "freqs_new": kept_modes(n_new, m, half=half)}
        if half and inverse:  # the weights 1, 2, …, 1 are folded into the half axis' inverse only
            kw.update(weights=half_axis_weights(n, m), weights_new=half_axis_weights(n_new, m))
        return kw

    def _dense_ts(self, grid: tuple[int, ...], *, inverse: bool) -> list[torch.Tensor]:
        """Per axis, ``Mᵀ`` of the forward (``(n_j, 2m_j)``) or inverse (``(2m_j, n_j)``) map on ``grid``."""
        out = []
        for j, op in enumerate(self.inv if inverse else self.fwd):
            base = dense_t(op)
            n, n_new = self.size[j], grid[j]
            if n_new != n:
                cache = op.__dict__.setdefault("_carried_cache", {})  # grid size -> (factor key, matrix)
                const, key = constant(op), factor_key(op)
                if const and cache.get(n_new, (None,))[0] == key:
                    base = cache[n_new][1]
                else:
                    base = carry_dense_t(base, n, n_new, **self._carry_kw(j, n_new, inverse))
                    if const:
                        cache[n_new] = (key, base)
            out.append(base)
        return out

    def _factored(self, grid: tuple[int, ...]) -> tuple[nn.ModuleList | list, nn.ModuleList | list]:
        """Forward and inverse Monarch transforms on ``grid``: the learned ones, or projections of them carried."""
        if grid == self.size:
            return self.fwd, self.inv
        if any(needs_grad(op) for op in (*self.fwd, *self.inv)):
            raise RuntimeError(
                f"MonarchModes: the factored path carries the learned maps to grid {grid} by a projection without "
                f"gradient, but the factors need one (training on a grid other than size={self.size}); "
                "use path='dense' to train on other grids, or evaluate under torch.no_grad()"
            )
        cache = self.__dict__.setdefault("_factored_cache", {})  # grid -> (factor keys, (fwd, inv))
        key = tuple(factor_key(op) for op in (*self.fwd, *self.inv))
        if cache.get(grid, (None,))[0] != key:
            pairs = [
                _axis_pair(grid, self.modes, j, "none", self.fwd[j].r_blocks.dtype, self.fwd[j].r_blocks.device)
                for j in range(len(grid))
            ]
            fwd, inv = [list(p) for p in zip(*pairs)]
            for j in range(len(grid)):
                for new, learned, inverse in ((fwd[j], self.fwd[j], False), (inv[j], self.inv[j], True)):
                    if grid[j] != self.size[j]:
                        carried_t = carry_dense_t(
                            dense_t(learned), self.size[j], grid[j], **self._carry_kw(j, grid[j], inverse)
                        )
                        _project_into(new, carried_t.T)
                    else:
                        new.r_blocks.copy_(learned.r_blocks.detach())
                        new.l_blocks.copy_(learned.l_blocks.detach())
            cache[grid] = (key, (fwd, inv))
        return cache[grid][1]

    def reset_parameters(self) -> None:
        """Set every factor back to the exact truncated DFT."""
        for t in (*self.fwd, *self.inv):
            t.reset_parameters()

    def extra_repr(self) -> str:
        return f"size={self.size}, modes={self.modes}, learn={self.learn!r}, path={self.path!r}"


def _axis_pair(
    size: tuple[int, ...], modes: tuple[int, ...], j: int, learn: str, dtype: torch.dtype, device
) -> tuple[MonarchDFT, MonarchDFT]:
    """Forward and inverse kept-modes Monarch DFTs of axis ``j`` (exact at construction)."""
    d, n, m = len(size), size[j], modes[j]
    half = j == d - 1
    kept = kept_modes(n, m, half=half)
    common = {"norm": "ortho", "modes": kept, "dtype": dtype, "device": device, "dim": j - d}
    fwd = MonarchDFT(n, learnable=learn in ("both", "forward"), **common)
    weights = half_axis_weights(n, m) if half else None
    inv = MonarchDFT(n, inverse=True, weights=weights, learnable=learn in ("both", "inverse"), **common)
    return fwd, inv


def _project_into(op: MonarchDFT, dense: torch.Tensor) -> None:
    """Set ``op``'s factors to the closest Monarch matrix (in ``op``'s gathers and plan) to ``dense`` ``(out, in)``.

    ``op.to_dense() = M[out_index][:, in-gather]``: every input sample and kept mode has one Monarch position,
    so ``M`` is ``dense`` scattered to those positions (zero elsewhere), then projected blockwise.
    """
    plan = MonarchPlan.from_shapes(tuple(op.r_blocks.shape), tuple(op.l_blocks.shape))
    n_in = op.ishape[0]
    valid = op.in_index < n_in  # Monarch input positions fed by a sample (the rest read the zero slot)
    cols = dense[:, op.in_index.clamp(max=n_in - 1)] * valid.to(dense.dtype)  # (n_out, plan.n_in)
    m = cols.new_zeros(plan.n_out, plan.n_in)
    rows = torch.arange(dense.shape[0], device=dense.device) if op.out_index is None else op.out_index
    m[rows] = cols
    r, l = project(m, plan)
    with torch.no_grad():
        op.r_blocks.copy_(r)
        op.l_blocks.copy_(l)


def complex_dtype_for(dtype: torch.dtype) -> torch.dtype:
    """``complex64`` for ``float32``, ``complex128`` for ``float64`` (no silent precision change)."""
    if dtype not in COMPLEX_OF:
        raise TypeError(f"expected a float32 or float64 dtype for the field, got {dtype}")
    return COMPLEX_OF[dtype]


def _check_field(t: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    """The grid of field ``x`` (its last ``d`` axes), after checking that it holds the kept modes."""
    d = len(t.modes)
    if not isinstance(x, torch.Tensor) or x.dim() < d:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{type(t).__name__}: expected a field of shape (..., {d} grid axes), got {got}")
    grid = tuple(x.shape[-d:])
    if not fits(grid, t.modes):
        raise ValueError(
            f"{type(t).__name__}: modes {t.modes} need a grid of at least {min_grid(t.modes)}, got a field of shape "
            f"{tuple(x.shape)}"
        )
    return grid


def _output_grid(t: nn.Module, c: torch.Tensor, size: Sequence[int] | None) -> tuple[int, ...]:
    """The output grid of ``t.inverse(c, size)`` after checking ``c``'s mode shape and the grid."""
    d = len(t.mode_shape)
    if not isinstance(c, torch.Tensor) or c.dim() < d or tuple(c.shape[-d:]) != t.mode_shape:
        got = tuple(c.shape) if isinstance(c, torch.Tensor) else type(c).__name__
        raise ValueError(
            f"{type(t).__name__}: expected kept modes of shape (..., {', '.join(map(str, t.mode_shape))}), got {got}"
        )
    if size is None:
        if t.size is None:
            raise ValueError(f"{type(t).__name__}.inverse: pass size= (the output grid): this transform has no default")
        return t.size
    grid = tuple(int(n) for n in size)
    check_grid(grid, t.modes, f"{type(t).__name__}.inverse", what="size")
    return grid
