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

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from monarch_sci.dft import MonarchDFT
from monarch_sci.dtypes import COMPLEX_OF

__all__ = ["FourierModes", "MonarchModes", "half_axis_weights", "kept_modes"]

Learn = Literal["both", "forward", "inverse", "none"]
_LEARN = ("both", "forward", "inverse", "none")
Path = Literal["auto", "dense", "factored"]
_PATHS = ("auto", "dense", "factored")
#: ``path="auto"`` multiplies by the materialised matrices while every axis is at most this long.
DENSE_MAX_N = 256


def kept_modes(n: int, m: int, *, half: bool) -> tuple[int, ...]:
    """Indices of the kept frequencies along one axis of size ``n``.

    Full axis: ``0…m−1`` then ``n−m…n−1`` (the order in which the FNO stores its weights); half axis
    (``rfft`` output): ``0…m−1``.

    Examples
    --------
    >>> kept_modes(8, 2, half=False), kept_modes(8, 3, half=True)
    ((0, 1, 6, 7), (0, 1, 2))
    """
    if half:
        if not 1 <= m <= n // 2 + 1:
            raise ValueError(f"kept_modes: the half-spectrum axis of size n={n} has {n // 2 + 1} modes, asked m={m}")
        return tuple(range(m))
    if not 1 <= m or 2 * m > n:
        raise ValueError(
            f"kept_modes: a full axis of size n={n} can keep at most n//2={n // 2} modes per sign, asked m={m}"
        )
    return tuple(range(m)) + tuple(range(n - m, n))


def half_axis_weights(n: int, m: int) -> tuple[float, ...]:
    """Weights ``1, 2, 2, …`` (``1`` again at the Nyquist index ``n/2``) so that ``Re`` of the weighted
    inverse DFT over modes ``0…m−1`` equals ``irfft`` of those modes."""
    return tuple(1.0 if (k == 0 or 2 * k == n) else 2.0 for k in range(m))


def _check_size_modes(size: Sequence[int], modes: Sequence[int], where: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    size_t, modes_t = tuple(int(s) for s in size), tuple(int(m) for m in modes)
    if len(size_t) != len(modes_t) or not size_t:
        raise ValueError(f"{where}: size and modes need one entry per axis, got size={size_t} modes={modes_t}")
    for j, (n, m) in enumerate(zip(size_t, modes_t)):
        kept_modes(n, m, half=j == len(size_t) - 1)  # raises with the offending axis' numbers
    return size_t, modes_t


def _mode_shape(modes: tuple[int, ...]) -> tuple[int, ...]:
    return (*(2 * m for m in modes[:-1]), modes[-1])


class FourierModes(nn.Module):
    """``rfftn``/``irfftn`` (``norm="ortho"``) restricted to the FNO's kept modes, with ``torch.fft``.

    Parameters
    ----------
    size
        Grid ``(n_1, …, n_d)`` over the last ``d`` axes; the last axis is the half-spectrum axis.
    modes
        ``(m_1, …, m_d)``: modes kept per sign on each full axis, and on the half axis.

    Shape
    -----
    forward: ``(..., n_1, …, n_d)`` real → ``(..., 2m_1, …, 2m_{d-1}, m_d)`` complex; inverse: the reverse.

    Examples
    --------
    >>> T = FourierModes((16, 16), (4, 4))
    >>> c = T(torch.randn(2, 3, 16, 16)); c.shape
    torch.Size([2, 3, 8, 4])
    >>> T.inverse(c).shape
    torch.Size([2, 3, 16, 16])
    """

    def __init__(self, size: Sequence[int], modes: Sequence[int]) -> None:
        super().__init__()
        self.size, self.modes = _check_size_modes(size, modes, "FourierModes")
        self.mode_shape = _mode_shape(self.modes)
        self.dims = tuple(range(-len(self.size), 0))
        d = len(self.size)
        for j, (n, m) in enumerate(zip(self.size, self.modes)):
            idx = torch.tensor(kept_modes(n, m, half=j == d - 1), dtype=torch.long)
            self.register_buffer(f"index{j}", idx, persistent=False)

    def _index(self, j: int) -> torch.Tensor:
        return getattr(self, f"index{j}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_field(self, x)
        c = torch.fft.rfftn(x, dim=self.dims, norm="ortho")
        for j, dim in enumerate(self.dims):
            c = c.index_select(dim, self._index(j))
        return c

    def inverse(self, c: torch.Tensor) -> torch.Tensor:
        _check_modes(self, c)
        full = (*self.size[:-1], self.size[-1] // 2 + 1)
        for j, dim in enumerate(self.dims):
            # Scatter the kept modes of axis j into a zero spectrum of that axis' full length.
            shape = list(c.shape)
            shape[c.dim() + dim] = full[j]
            c = c.new_zeros(shape).index_copy(c.dim() + dim, self._index(j), c)
        return torch.fft.irfftn(c, s=self.size, dim=self.dims, norm="ortho")

    def extra_repr(self) -> str:
        return f"size={self.size}, modes={self.modes}"


class MonarchModes(nn.Module):
    """The :class:`FourierModes` pair computed by learnable Monarch DFTs, one per axis and direction.

    ``forward = F_1 ∘ … ∘ F_d`` (the half axis ``d`` first, on the real field) and
    ``inverse = Re ∘ G_d ∘ … ∘ G_1``, where ``F_j = MonarchDFT(n_j, modes=kept_j, norm="ortho")`` and
    ``G_j = MonarchDFT(n_j, inverse=True, modes=kept_j, norm="ortho")``, with the weights ``1, 2, 2, …`` folded
    into ``G_d`` (see the module docstring). At initialisation it equals :class:`FourierModes`.

    Parameters
    ----------
    size, modes
        As for :class:`FourierModes`.
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
    >>> ref = FourierModes((16, 16), (4, 4))
    >>> torch.allclose(M.inverse(M(x)), ref.inverse(ref(x)))
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
        self.size, self.modes = _check_size_modes(size, modes, "MonarchModes")
        self.mode_shape = _mode_shape(self.modes)
        self.learn = learn
        d = len(self.size)
        fwd, inv = [], []
        for j, (n, m) in enumerate(zip(self.size, self.modes)):
            half = j == d - 1
            kept = kept_modes(n, m, half=half)
            common = {"norm": "ortho", "modes": kept, "dtype": dtype, "device": device, "dim": j - d}
            fwd.append(MonarchDFT(n, learnable=learn in ("both", "forward"), **common))
            weights = half_axis_weights(n, m) if half else None
            inv.append(MonarchDFT(n, inverse=True, weights=weights, learnable=learn in ("both", "inverse"), **common))
        self.fwd = nn.ModuleList(fwd)
        self.inv = nn.ModuleList(inv)
        if path == "auto":
            path = "dense" if max(self.size) <= DENSE_MAX_N else "factored"
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_field(self, x)
        if x.is_complex():
            raise TypeError(f"MonarchModes: expected a real field, got dtype {x.dtype}")
        if self.path == "factored":
            for f in reversed(self.fwd):  # half axis first: it takes the real field
                x = f(x)
            return x
        d = len(self.size)
        half_t = _dense_t(self.fwd[-1])  # (n_d, m_d)
        re, im = half_t.real.contiguous(), half_t.imag.contiguous()  # strided views make matmul copy per batch
        x = x.contiguous()
        c = torch.complex(x @ re, x @ im)  # real field: two real products, no promotion
        for j in range(d - 2, -1, -1):
            c = _apply_along(_dense_t(self.fwd[j]), c, j - d)
        return c

    def inverse(self, c: torch.Tensor) -> torch.Tensor:
        _check_modes(self, c)
        if self.path == "factored":
            for g in self.inv:  # full axes first, the half axis last, then the real part
                c = g(c)
            return c.real
        d = len(self.size)
        for j in range(d - 1):
            c = _apply_along(_dense_t(self.inv[j]), c, j - d)
        half_t = _dense_t(self.inv[-1])  # (m_d, n_d)
        re, im = half_t.real.contiguous(), half_t.imag.contiguous()
        # Contiguous left operands let matmul fold the batch into one GEMM (it does not for strided inputs that need
        # a gradient, and falls back to per-sample copies).
        return c.real.contiguous() @ re - c.imag.contiguous() @ im  # Re(c @ half_t), no imaginary part computed

    def reset_parameters(self) -> None:
        """Set every factor back to the exact truncated DFT."""
        for t in (*self.fwd, *self.inv):
            t.reset_parameters()

    def extra_repr(self) -> str:
        return f"size={self.size}, modes={self.modes}, learn={self.learn!r}, path={self.path!r}"


def _dense_t(op: MonarchDFT) -> torch.Tensor:
    """``Mᵀ`` ``(n_in, n_out)`` of a one-axis Monarch transform, as the transform of the identity.

    One factored product of ``n_in`` unit vectors: the same function as ``op.to_dense().T`` (differentiable in
    the factors) with a handful of kernels instead of a block-diagonal assembly. When no gradient can flow to
    the factors (fixed factors, or ``torch.no_grad``) the matrix is a constant and is cached on the operator,
    keyed by the factors' storage and version counters (an optimiser step or ``load_state_dict`` bumps them).
    """
    constant = not torch.is_grad_enabled() or not (op.r_blocks.requires_grad or op.l_blocks.requires_grad)
    constant = constant and not torch.is_inference_mode_enabled()
    key = (op.r_blocks.data_ptr(), op.l_blocks.data_ptr(), op.r_blocks._version, op.l_blocks._version)
    if constant:
        cached = op.__dict__.get("_dense_t_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
    n_in = op.ishape[0]
    e = torch.eye(n_in, dtype=op.r_blocks.dtype, device=op.r_blocks.device)  # row i: unit vector e_i
    e = e.reshape(n_in, n_in, *([1] * (-op.dim - 1)))  # the transform axis at op.dim, singleton dims after it
    with torch.set_grad_enabled(torch.is_grad_enabled() and not constant):
        m = op(e).reshape(n_in, -1)  # row i: M e_i
    if constant:
        op.__dict__["_dense_t_cache"] = (key, m)
    return m


def _apply_along(matrix_t: torch.Tensor, c: torch.Tensor, dim: int) -> torch.Tensor:
    """``Mᵀ`` ``(n, m)`` applied along axis ``dim`` of ``c`` (that axis has length ``n`` → ``m``)."""
    return (c.movedim(dim, -1).contiguous() @ matrix_t).movedim(-1, dim)


def complex_dtype_for(dtype: torch.dtype) -> torch.dtype:
    """``complex64`` for ``float32``, ``complex128`` for ``float64`` (no silent precision change)."""
    if dtype not in COMPLEX_OF:
        raise TypeError(f"expected a float32 or float64 dtype for the field, got {dtype}")
    return COMPLEX_OF[dtype]


def _check_trailing(t: nn.Module, x: torch.Tensor, shape: tuple[int, ...], what: str) -> None:
    """Raise unless ``x`` is a tensor whose trailing dimensions are ``shape`` (``what`` names it)."""
    d = len(shape)
    if not isinstance(x, torch.Tensor) or x.dim() < d or tuple(x.shape[-d:]) != shape:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{type(t).__name__}: expected {what} of shape (..., {', '.join(map(str, shape))}), got {got}")


def _check_field(t: nn.Module, x: torch.Tensor) -> None:
    _check_trailing(t, x, t.size, "a field")


def _check_modes(t: nn.Module, c: torch.Tensor) -> None:
    _check_trailing(t, c, t.mode_shape, "kept modes")
