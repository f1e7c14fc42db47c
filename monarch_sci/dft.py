"""The discrete Fourier transform as one Monarch matrix, and a learnable transform initialised to it.

Cooley–Tukey for ``n = n1·n2``: with ``m = m1 + n1·m2`` and ``f = f2 + n2·f1``,

.. math::

    X[f] = \\sum_{m_1} \\omega_{n_1}^{f_1 m_1} \\; \\omega_n^{f_2 m_1}
           \\sum_{m_2} \\omega_{n_2}^{f_2 m_2} \\, x[m_1 + n_1 m_2],
    \\qquad \\omega_N = e^{-2\\pi i / N}.

So after the input permutation ``x ↦ x[m1 + n1·m2]`` (laid out as ``(m1, m2)``) the DFT is exactly the Monarch
product of the multiply convention: ``R`` has ``n1`` blocks ``R_{m1}[f2, m2] = ω_{n2}^{f2·m2} ω_n^{f2·m1}``
(the twiddles folded in), ``L`` has ``n2`` blocks ``L_{f2}[f1, m1] = ω_{n1}^{f1·m1}``, and the output comes
out in natural order ``f = f1·n2 + f2``. The inverse is the mirror image: ``R`` has ``n2`` blocks over
``f1 → m1`` and ``L`` has ``n1`` blocks over ``f2 → m2`` (twiddles folded into ``L``), output natural.

Keeping only a subset of frequencies (the low modes an FNO keeps) drops rows of ``L`` (forward) or columns of
``R`` (inverse): each block keeps only the frequencies it owns, padded to the largest count, which makes a
*rectangular* Monarch with fewer FLOPs. The centred transform used in MRI, ``fftshift ∘ fft ∘ ifftshift``, is
only index permutations around a DFT, folded into the input and output gathers, so it is exact too.

The gathers around the Monarch product are fixed index buffers; the two factors are the learnable part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import torch
from torch import nn

from monarch_sci.linop import LinearOperator, register_operator
from monarch_sci.multiply import monarch_adjoint, monarch_multiply, monarch_to_dense
from monarch_sci.plan import closest_factor

__all__ = ["MonarchDFT", "MonarchDFT2d", "dft_monarch_factors"]

Norm = Literal["backward", "ortho", "forward"]
_NORMS = ("backward", "ortho", "forward")


def _scale(n: int, norm: str, inverse: bool) -> float:
    if norm == "ortho":
        return 1.0 / math.sqrt(n)
    if (norm == "backward") == inverse:
        return 1.0 / n
    return 1.0


def _check_modes(n: int, modes: Sequence[int] | None, where: str) -> tuple[int, ...]:
    if modes is None:
        return tuple(range(n))
    out = tuple(int(f) for f in modes)
    if not out:
        raise ValueError(f"{where}: modes must not be empty")
    bad = [f for f in out if not 0 <= f < n]
    if bad:
        raise ValueError(f"{where}: modes must be indices in [0, {n}) for n={n}, got out-of-range {bad[:5]}")
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: modes must not repeat, got {list(out)[:10]}...")
    return out


@lru_cache(maxsize=256)
def dft_monarch_factors(
    n: int,
    *,
    inverse: bool = False,
    norm: str = "backward",
    centered: bool = False,
    modes: tuple[int, ...] | None = None,
    weights: tuple[float, ...] | None = None,
    nblocks: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Exact Monarch factors of a (sub-sampled, centred, weighted) DFT of size ``n``.

    Returns ``(r_blocks, l_blocks, in_index, out_index)`` in complex128 on the CPU such that
    ``y = monarch_multiply(pad0(x)[..., in_index], r, l)[..., out_index]`` is the transform, where ``pad0``
    appends one zero (``in_index == len(x)`` selects it) and ``out_index is None`` means no output gather.

    Forward: ``x`` has ``n`` samples, ``y[i] = w_i · scale · Σ_m x[m] ω_n^{f_i m}`` for ``f_i = modes[i]``.
    Inverse: ``x`` holds ``len(modes)`` coefficients, ``y[m] = scale · Σ_i w_i x[i] ω_n^{-f_i m}``.
    With ``centered``, modes index the ``fftshift``-ed spectrum and the signal is ``ifftshift``-ed on the
    way in and ``fftshift``-ed on the way out (forward and inverse alike). Cached per configuration.
    """
    where = "dft_monarch_factors"
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"{where}: expected a transform size n >= 2, got {n!r}")
    if norm not in _NORMS:
        raise ValueError(f"{where}: norm must be one of {_NORMS}, got {norm!r}")
    n1 = closest_factor(n) if nblocks is None else int(nblocks)
    if n1 == 1 and nblocks is None:
        raise ValueError(
            f"{where}: n={n} is prime, so its DFT is not a Monarch matrix with useful blocks; "
            "use a composite size (pad the signal) or torch.fft"
        )
    if not 1 <= n1 <= n or n % n1:
        raise ValueError(f"{where}: nblocks={nblocks} must divide n={n}")
    n2 = n // n1
    modes_t = _check_modes(n, modes, where)
    nm = len(modes_t)
    if weights is None:
        w = torch.ones(nm, dtype=torch.float64)
    else:
        if len(weights) != nm:
            raise ValueError(f"{where}: weights must have one entry per mode ({nm}), got {len(weights)}")
        w = torch.tensor(weights, dtype=torch.float64)
    half = n // 2
    # Frequencies in natural order; centred positions c map to f = (c - n//2) mod n.
    freqs = [(c - half) % n for c in modes_t] if centered else list(modes_t)
    scale = _scale(n, norm, inverse)
    sign = 1.0 if inverse else -1.0

    def omega(N: int, e: torch.Tensor) -> torch.Tensor:
        # exp(sign·2πi·e/N) with e reduced mod N first, for accuracy at large exponents.
        return torch.polar(torch.ones((), dtype=torch.float64), sign * 2 * math.pi * (e % N).double() / N)

    # Which frequencies each block owns: f = f1·n2 + f2 -> block f2 holds the list of (f1, mode slot i).
    owned: list[list[tuple[int, int]]] = [[] for _ in range(n2)]
    for i, f in enumerate(freqs):
        owned[f % n2].append((f // n2, i))
    width = max(len(o) for o in owned)
    f1_of = torch.zeros(n2, width, dtype=torch.long)
    valid = torch.zeros(n2, width, dtype=torch.bool)
    slot = torch.full((n2, width), -1, dtype=torch.long)
    for b, lst in enumerate(owned):
        for j, (f1, i) in enumerate(lst):
            f1_of[b, j], valid[b, j], slot[b, j] = f1, True, i
    wt = torch.where(valid, w[slot.clamp_min(0)], torch.zeros(()))  # (n2, width)

    m1 = torch.arange(n1)
    m2 = torch.arange(n2)
    f2 = torch.arange(n2)
    if not inverse:
        # R: n1 blocks (n2 × n2): R[m1, f2, m2] = ω_{n2}^{f2 m2} ω_n^{f2 m1}
        r = omega(n2, f2[None, :, None] * m2[None, None, :]) * omega(n, f2[None, :, None] * m1[:, None, None])
        # L: n2 blocks (width × n1): L[f2, j, m1] = w · scale · ω_{n1}^{f1(j) m1}, zero rows for padding.
        l = omega(n1, f1_of[:, :, None] * m1[None, None, :]) * (wt * scale)[:, :, None]
        # Input gather: position m1·n2 + m2 takes x[m1 + n1·m2] (after ifftshift when centred).
        src = (m1[:, None] + n1 * m2[None, :]).reshape(-1)
        in_index = (src + half) % n if centered else src
        # Output gather: mode slot i sits at position j·n2 + f2 of the Monarch output.
        pos = (torch.arange(width)[None, :] * n2 + f2[:, None])[valid]
        out_index = torch.empty(nm, dtype=torch.long)
        out_index[slot[valid]] = pos
        if out_index.numel() == n1 * n2 and torch.equal(out_index, torch.arange(n)):
            out_index = None
    else:
        # R: n2 blocks (n1 × width): R[f2, m1, j] = w · ω_{n1}^{-f1(j) m1}, zero columns for padding.
        r = omega(n1, f1_of[:, None, :] * m1[None, :, None]) * wt[:, None, :]
        # L: n1 blocks (n2 × n2): L[m1, m2, f2] = scale · ω_{n2}^{-f2 m2} ω_n^{-f2 m1}
        l = (omega(n2, m2[None, :, None] * f2[None, None, :]) * omega(n, m1[:, None, None] * f2[None, None, :])) * (
            scale
        )
        # Input gather: position f2·width + j takes coefficient slot(f2, j); padding takes the zero slot nm.
        in_index = torch.where(valid, slot, torch.full_like(slot, nm)).reshape(-1)
        # Output: natural order m = m2·n1 + m1; fftshift when centred: out[c] = y[(c - n//2) mod n].
        out_index = (torch.arange(n) - half) % n if centered else None
    return r.contiguous(), l.contiguous(), in_index, out_index


class MonarchDFT(LinearOperator):
    """Learnable Fourier transform along one axis: a Monarch matrix initialised to the exact DFT.

    ``y = G_out · Pᵀ L P R · G_in · x`` where ``G_in``/``G_out`` are fixed gathers (the Cooley–Tukey input
    permutation, centring shifts, kept modes) and ``R``, ``L`` are the learnable block-diagonal factors
    (``r_blocks``, ``l_blocks``) built by :func:`dft_monarch_factors`.

    Parameters
    ----------
    n
        Transform size along ``dim`` (any composite number).
    inverse
        Inverse DFT (input: the ``len(modes)`` kept coefficients; output: ``n`` samples).
    norm
        ``"backward"`` (``torch.fft`` default), ``"ortho"`` or ``"forward"``, as in ``torch.fft``.
    centered
        ``fftshift ∘ (i)fft ∘ ifftshift`` — the MRI convention; ``modes`` then index the centred spectrum.
    modes
        Frequency indices kept (forward: computed outputs; inverse: accepted inputs). ``None``: all ``n``.
    weights
        Optional real weight per mode folded into the factors at initialisation (e.g. ``1, 2, 2, …`` so that
        the real part of an inverse over the half spectrum reproduces ``irfft``).
    nblocks
        Number of ``R`` blocks ``n1`` of the factorisation ``n = n1·n2`` (default: divisor closest to ``√n``).
    learnable
        Factors as ``nn.Parameter`` (default) or fixed buffers.
    dtype
        Complex dtype of the factors (``torch.complex64`` or ``torch.complex128``).
    dim
        Axis the transform acts on.

    Shape
    -----
    forward: ``(..., n, ...) → (..., len(modes), ...)`` along ``dim``; inverse: ``len(modes) → n``.

    Examples
    --------
    >>> F = MonarchDFT(48, norm="ortho", dtype=torch.complex128)
    >>> x = torch.randn(3, 48, dtype=torch.complex128)
    >>> torch.allclose(F(x), torch.fft.fft(x, norm="ortho"))
    True
    >>> low = MonarchDFT(64, modes=range(8))  # only 8 lowest frequencies: a rectangular Monarch
    >>> low(torch.randn(2, 64)).shape
    torch.Size([2, 8])
    """

    def __init__(
        self,
        n: int,
        *,
        inverse: bool = False,
        norm: Norm = "backward",
        centered: bool = False,
        modes: Sequence[int] | None = None,
        weights: Sequence[float] | None = None,
        nblocks: int | None = None,
        learnable: bool = True,
        dtype: torch.dtype = torch.complex64,
        device: torch.device | str | None = None,
        dim: int = -1,
    ) -> None:
        if dtype not in (torch.complex64, torch.complex128):
            raise TypeError(f"MonarchDFT: dtype must be torch.complex64 or torch.complex128, got {dtype}")
        modes_t = None if modes is None else tuple(int(m) for m in modes)
        weights_t = None if weights is None else tuple(float(v) for v in weights)
        nm = n if modes_t is None else len(modes_t)
        super().__init__((nm,) if inverse else (n,), (n,) if inverse else (nm,))
        self.n, self.inverse, self.norm, self.centered = n, inverse, norm, centered
        self.modes, self.weights, self.nblocks_arg, self.dim = modes_t, weights_t, nblocks, dim
        self.learnable = learnable
        r, l, in_index, out_index = dft_monarch_factors(
            n, inverse=inverse, norm=norm, centered=centered, modes=modes_t, weights=weights_t, nblocks=nblocks
        )
        factory = {"dtype": dtype, "device": device}
        if learnable:
            self.r_blocks = nn.Parameter(torch.empty(r.shape, **factory))
            self.l_blocks = nn.Parameter(torch.empty(l.shape, **factory))
        else:
            self.register_buffer("r_blocks", torch.empty(r.shape, **factory))
            self.register_buffer("l_blocks", torch.empty(l.shape, **factory))
        # Derived index tables: rebuilt from the constructor arguments, never saved.
        self.register_buffer("in_index", in_index.to(device), persistent=False)
        self.register_buffer("out_index", None if out_index is None else out_index.to(device), persistent=False)
        self._pad_input = bool((in_index == self.ishape[0]).any())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set the factors back to the exact (sub-sampled, weighted) DFT."""
        r, l, _, _ = dft_monarch_factors(
            self.n,
            inverse=self.inverse,
            norm=self.norm,
            centered=self.centered,
            modes=self.modes,
            weights=self.weights,
            nblocks=self.nblocks_arg,
        )
        with torch.no_grad():
            self.r_blocks.copy_(r)
            self.l_blocks.copy_(l)

    # -- the operator -------------------------------------------------------------------------------------
    def _last(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.dim in (-1, x.dim() - 1) else x.movedim(self.dim, -1)

    def _back(self, y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return y if self.dim in (-1, like.dim() - 1) else y.movedim(-1, self.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xl = self._last(x)
        self.check_input(xl, self.ishape, f"input (transform axis dim={self.dim} last)")
        if self._pad_input:
            xl = torch.nn.functional.pad(xl, (0, 1))
        y = monarch_multiply(xl.index_select(-1, self.in_index), self.r_blocks, self.l_blocks)
        if self.out_index is not None:
            y = y.index_select(-1, self.out_index)
        return self._back(y, x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        yl = self._last(y)
        self.check_input(yl, self.oshape, f"adjoint input (transform axis dim={self.dim} last)")
        if not yl.is_complex():
            yl = yl.to(self.r_blocks.dtype)
        k, q, p = self.r_blocks.shape
        l, s, _ = self.l_blocks.shape
        if self.out_index is not None:
            # G_outᵀ: scatter the outputs back to their Monarch positions (the rest are zero).
            full = yl.new_zeros(*yl.shape[:-1], l * s)
            yl = full.index_copy(-1, self.out_index, yl)
        v = monarch_adjoint(yl, self.r_blocks, self.l_blocks)
        # G_inᵀ: add each Monarch input position back to the sample it was gathered from (drop the zero slot).
        x = v.new_zeros(*v.shape[:-1], self.ishape[0] + 1).index_add(-1, self.in_index, v)[..., :-1]
        return self._back(x, y)

    def to_dense(self) -> torch.Tensor:
        """The transform as a dense ``(n_out, n_in)`` matrix (gathers included)."""
        m = monarch_to_dense(self.r_blocks, self.l_blocks)
        eye = torch.eye(self.ishape[0] + 1, dtype=m.dtype, device=m.device)[:, :-1]  # zero slot -> zero row
        m = m @ eye[self.in_index]
        return m if self.out_index is None else m[self.out_index]

    def flops(self, batch: int = 1) -> int:
        """Real FLOPs of one transform of ``batch`` vectors (complex mul-add = 8 real FLOPs)."""
        return 8 * batch * (self.r_blocks[0].numel() * self.r_blocks.shape[0] + self.l_blocks.numel())

    def extra_repr(self) -> str:
        kind = "inverse" if self.inverse else "forward"
        return (
            f"n={self.n}, {kind}, norm={self.norm!r}, centered={self.centered}, "
            f"modes={self.ishape[0] if self.inverse else self.oshape[0]}, dim={self.dim}, "
            f"r_blocks={tuple(self.r_blocks.shape)}, l_blocks={tuple(self.l_blocks.shape)}, "
            f"learnable={self.learnable}"
        )


class MonarchDFT2d(LinearOperator):
    """Separable 2-D transform over the last two axes: a :class:`MonarchDFT` along each.

    ``Y = F_0 X F_1ᵀ`` with ``F_0`` acting on axis ``-2`` and ``F_1`` on axis ``-1``; every argument that is a
    pair applies per axis.

    Shape
    -----
    ``(..., n0, n1) → (..., m0, m1)`` (forward; the inverse maps the kept modes back to ``(n0, n1)``).

    Examples
    --------
    >>> F = MonarchDFT2d((16, 12), norm="ortho", centered=True, dtype=torch.complex128)
    >>> x = torch.randn(2, 16, 12, dtype=torch.complex128)
    >>> ref = torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))
    >>> torch.allclose(F(x), ref)
    True
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        inverse: bool = False,
        norm: Norm = "backward",
        centered: bool = False,
        modes: tuple[Sequence[int] | None, Sequence[int] | None] = (None, None),
        weights: tuple[Sequence[float] | None, Sequence[float] | None] = (None, None),
        learnable: bool = True,
        dtype: torch.dtype = torch.complex64,
        device: torch.device | str | None = None,
    ) -> None:
        if len(shape) != 2:
            raise ValueError(f"MonarchDFT2d: shape must be (n0, n1), got {shape!r}")
        axes = [
            MonarchDFT(
                int(shape[a]),
                inverse=inverse,
                norm=norm,
                centered=centered,
                modes=modes[a],
                weights=weights[a],
                learnable=learnable,
                dtype=dtype,
                device=device,
                dim=-2 + a,
            )
            for a in (0, 1)
        ]
        ishape = (axes[0].ishape[0], axes[1].ishape[0])
        oshape = (axes[0].oshape[0], axes[1].oshape[0])
        super().__init__(ishape, oshape)
        self.f0, self.f1 = axes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, self.ishape)
        return self.f0(self.f1(x))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self.check_input(y, self.oshape, "adjoint input")
        return self.f1.adjoint(self.f0.adjoint(y))

    def reset_parameters(self) -> None:
        self.f0.reset_parameters()
        self.f1.reset_parameters()


@register_operator("MonarchDFT")
def _example_dft(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> MonarchDFT:
    op = MonarchDFT(12, norm="ortho", centered=True, modes=[0, 3, 5, 11, 7], dtype=dtype, device=device)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # move away from the DFT so the suite checks a general learned state
        for p in (op.r_blocks, op.l_blocks):
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return op


@register_operator("MonarchDFT-inverse")
def _example_idft(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> MonarchDFT:
    op = MonarchDFT(15, inverse=True, modes=[0, 1, 2, 14, 13], weights=[1, 2, 2, 2, 2], dtype=dtype, device=device)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (op.r_blocks, op.l_blocks):
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return op


@register_operator("MonarchDFT2d")
def _example_dft2d(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> MonarchDFT2d:
    op = MonarchDFT2d((8, 6), inverse=True, norm="ortho", centered=True, dtype=dtype, device=device)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in op.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return op
