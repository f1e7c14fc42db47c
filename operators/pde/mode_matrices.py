"""Kept-modes transforms as materialised matrices: the dense path of the spectral convolutions.

For FNO grids (``n`` up to a few hundred, a handful of kept modes) a truncated transform along one axis is a
small matrix, and applying it as a matrix product is faster on a CPU than the factored Monarch product or
``torch.fft`` with its gathers. The layouts avoid copies of the fields:

* the half (last) axis is one *real* GEMM on interleaved ``(re, im)`` pairs: a real field times
  ``[Re F_k, Im F_k]`` columns gives the complex coefficients directly (``view_as_complex``), and
  ``Re(c Gᵀ)`` is the interleaved ``c`` times rows ``[Re G_k; −Im G_k]``, with no imaginary part computed;
* every full axis is a *left* factor on the field viewed ``(..., n_j, rest)``: no transposition.

The matrices come either from a learned :class:`~monarch_sci.dft.MonarchDFT` (:func:`dense_t`, assembled
from the factors, differentiable; cached while the factors are constant) or from the exact truncated DFT
(:func:`dft_operands`, constants).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from monarch_sci.dft import MonarchDFT
from monarch_sci.operators.pde.mode_resampling import truncated_dft

__all__ = ["dense_forward", "dense_inverse", "dense_t", "dft_operands", "left_multiply", "operands"]

Operands = tuple[list[torch.Tensor], torch.Tensor]


def operands(mats_t: Sequence[torch.Tensor], *, inverse: bool) -> Operands:
    """Per-axis ``Mᵀ`` (forward ``(n_j, k_j)``, inverse ``(k_j, n_j)``, complex) → the operands of
    :func:`dense_forward`/:func:`dense_inverse`: the full axes' matrices as left factors (forward ``(k_j, n_j)``,
    inverse ``(n_j, k_j)``) and the half axis as one real matrix on interleaved ``(re, im)`` pairs (forward
    ``(n_d, 2k_d)``: columns ``Re, Im`` of each mode; inverse ``(2k_d, n_d)``: rows ``Re, −Im``)."""
    full = [m.T.contiguous() for m in mats_t[:-1]]
    last = mats_t[-1]
    if inverse:
        half = torch.stack((last.real, -last.imag), dim=1).reshape(-1, last.shape[-1])
    else:
        half = torch.view_as_real(last.contiguous()).reshape(last.shape[0], -1)
    return full, half


def dense_forward(x: torch.Tensor, full: Sequence[torch.Tensor], half: torch.Tensor) -> torch.Tensor:
    """Kept modes ``(..., k_1, …, k_d)`` complex of the real field ``x`` ``(..., n_1, …, n_d)`` (:func:`operands`).

    Examples
    --------
    >>> from monarch_sci.operators.pde.fourier_modes import FourierModes
    >>> x = torch.randn(2, 3, 16, 12, dtype=torch.float64)
    >>> ops = dft_operands((16, 12), ((0, 1, 14, 15), (0, 1, 2)), (None, None), torch.float64, inverse=False)
    >>> torch.allclose(dense_forward(x, *ops), FourierModes(None, (2, 3))(x))
    True
    """
    b = x.shape[:-1]
    c = torch.view_as_complex((x.reshape(-1, x.shape[-1]) @ half).reshape(*b, -1, 2))  # one real GEMM
    d = len(full) + 1
    for j in range(len(full) - 1, -1, -1):
        c = left_multiply(full[j], c, j - d)
    return c


def dense_inverse(c: torch.Tensor, full: Sequence[torch.Tensor], half: torch.Tensor) -> torch.Tensor:
    """Real field ``(..., n_1, …, n_d)`` from kept modes ``c`` (:func:`operands` with ``inverse=True``)."""
    d = len(full) + 1
    for j, m in enumerate(full):
        c = left_multiply(m, c, j - d)
    b = c.shape[:-1]  # Re(c Gᵀ): one real GEMM on the interleaved (re, im) pairs of c
    return (torch.view_as_real(c.contiguous()).reshape(-1, 2 * c.shape[-1]) @ half).reshape(*b, -1)


@functools.lru_cache(maxsize=64)
def dft_operands(
    grid: tuple[int, ...],
    freqs: tuple[tuple[int, ...], ...],
    weights: tuple[tuple[float, ...] | None, ...],
    dtype: torch.dtype,
    device: torch.device | None = None,
    *,
    inverse: bool,
) -> Operands:
    """:func:`operands` of the exact ``norm="ortho"`` truncated DFT on ``grid`` keeping ``freqs`` per axis
    (``weights`` per axis for the inverse, see :func:`~monarch_sci.operators.pde.mode_resampling.truncated_dft`),
    for fields of real ``dtype``. Constants, cached."""
    cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    mats = []
    for n, f, w in zip(grid, freqs, weights):
        m = truncated_dft(n, tuple(f), inverse=inverse, weights=w)  # forward (k, n), inverse (n, k)
        mats.append(m.T.to(dtype=cdtype, device=device))
    return operands(mats, inverse=inverse)


def factor_key(op: MonarchDFT) -> tuple[int, int, int, int]:
    return (op.r_blocks.data_ptr(), op.l_blocks.data_ptr(), op.r_blocks._version, op.l_blocks._version)


def needs_grad(op: MonarchDFT) -> bool:
    return torch.is_grad_enabled() and (op.r_blocks.requires_grad or op.l_blocks.requires_grad)


def constant(op: MonarchDFT) -> bool:
    """No gradient can flow to the factors, so matrices built from them are constants that may be cached."""
    return not needs_grad(op) and not torch.is_inference_mode_enabled()


def dense_t(op: MonarchDFT) -> torch.Tensor:
    """``Mᵀ`` ``(n_in, n_out)`` of a one-axis Monarch transform (:func:`_assemble_t`).

    The same function as ``op.to_dense().T`` (differentiable in the factors). When no gradient can flow to
    the factors (fixed factors, or ``torch.no_grad``) the matrix is a constant and is cached on the operator,
    keyed by the factors' storage and version counters (an optimiser step or ``load_state_dict`` bumps them).
    """
    const, key = constant(op), factor_key(op)
    if const:
        cached = op.__dict__.get("_dense_t_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
    with torch.set_grad_enabled(torch.is_grad_enabled() and not const):
        m = _assemble_t(op)
    if const:
        op.__dict__["_dense_t_cache"] = (key, m)
    return m


def _assemble_t(op: MonarchDFT) -> torch.Tensor:
    """``Mᵀ`` of ``op`` from its factors in one broadcast product, then two gathers.

    With ``y = Pᵀ L P R x`` and square block counts (``R``: ``k`` blocks ``q × p``, ``L``: ``l = q`` blocks
    ``s × k``, as every :class:`~monarch_sci.dft.MonarchDFT` has), output ``c·l + j`` reads input ``a·p + t``
    through exactly one path: ``M[c·l + j, a·p + t] = L[j, c, a] · R[a, j, t]`` (no sum). The input gather
    keeps the Monarch input position of every sample, the output gather the kept modes. Other shapes, or an
    input gather that feeds one sample to several positions, fall back to the transform of the identity.
    """
    k, q, p = op.r_blocks.shape
    l, s, r = op.l_blocks.shape
    pos = _sample_positions(op)
    if q != l or k != r or pos is None:
        n_in = op.ishape[0]
        e = torch.eye(n_in, dtype=op.r_blocks.dtype, device=op.r_blocks.device)  # row i: unit vector e_i
        e = e.reshape(n_in, n_in, *([1] * (-op.dim - 1)))  # the transform axis at op.dim, singleton dims after it
        return op(e).reshape(n_in, -1)  # row i: M e_i
    # (a, t, c, j) = L[j, c, a] R[a, j, t]: rows are Monarch inputs a·p + t, columns outputs c·l + j.
    mt = (op.l_blocks.permute(2, 1, 0).unsqueeze(1) * op.r_blocks.permute(0, 2, 1).unsqueeze(2)).reshape(k * p, s * l)
    mt = mt.index_select(0, pos)  # (n_in, s·l): the sample order
    return mt if op.out_index is None else mt.index_select(1, op.out_index)


def _sample_positions(op: MonarchDFT) -> torch.Tensor | None:
    """For every input sample its one Monarch input position (``None`` if a sample has none or several)."""
    cached = op.__dict__.get("_sample_positions")
    if cached is not None and cached[0] is op.in_index:
        return cached[1]
    n_in = op.ishape[0]
    idx = op.in_index
    feeds = idx < n_in  # positions fed by a sample (the rest read the zero slot)
    counts = torch.bincount(idx[feeds], minlength=n_in)
    pos = None
    if bool((counts == 1).all()):
        pos = torch.empty(n_in, dtype=torch.long, device=idx.device)
        pos[idx[feeds]] = torch.arange(idx.numel(), device=idx.device)[feeds]
    op.__dict__["_sample_positions"] = (idx, pos)
    return pos


def left_multiply(matrix: torch.Tensor, c: torch.Tensor, dim: int) -> torch.Tensor:
    """``matrix`` ``(p, n)`` applied along axis ``dim`` of ``c`` (length ``n`` → ``p``), as a left factor on
    ``c`` viewed ``(..., n, rest)``: no transposition of ``c``."""
    lead, rest = c.shape[:dim], c.shape[dim:][1:]
    out = matrix @ c.reshape(*lead, c.shape[dim], -1)
    return out.reshape(*lead, matrix.shape[0], *rest)
