"""Fused Triton kernels of the Monarch multiply ``y = Pᵀ L P R x``: both block products and ``P`` in one pass.

One program takes a tile of ``BB`` batch rows and keeps everything between reading ``x`` and writing ``y`` in
registers, so the activations cross memory once each way (the two-``bmm`` path writes and reads the intermediate
and copies it once for ``P``):

* forward: ``X[i, b, e] = x[b, i·p + e]`` → ``T = X Rᵢᵀ`` (a 3-D ``tl.dot``, ``(k, BB, q)``) → ``P`` is the
  register permute ``[i, b, c] → [c, b, i]`` → ``Z = T L_jᵀ`` ``(l, BB, s)`` → stored at ``y[b, c·l + j]``;
* backward (one kernel): ``G[j, b, c] = g[b, c·l + j]``, ``H = G conj(L_j)`` permuted back to blocks of ``R``,
  ``grad x = H conj(Rᵢ)``, and the factor gradients ``grad Rᵢ = Hᵢᵀ conj(Xᵢ)``, ``grad L_j = G_jᵀ conj(T_j)``
  (``T`` recomputed from ``x``, nothing saved but ``x``), accumulated over the tiles a program visits and
  written as one partial per program (summed by ``torch``: deterministic, no atomics).

Plans: the permutation is a register permute when the plan is fully mixing (``q = l`` and ``r = k``, the default
plan of :func:`~monarch_sci.plan.plan_monarch`; blocks may be rectangular, ``q ≠ p``, ``s ≠ r``). Every block
dimension is padded to a power of two ≥ 16 (``tl.dot``'s minimum) with masked loads, so any sizes work.
Complex factors run as real and imaginary parts (four real products per complex one); float32 products use
``input_precision="ieee"`` (no TF32), bf16/fp16 accumulate in float32.

Importing this module imports Triton (optional: ``pip install 'monarch-sci[triton]'``). On a CPU, Triton's
interpreter (``TRITON_INTERPRET=1`` set before this module is imported) runs the same kernels on CPU tensors;
the tests check values and gradients against the dense twin that way (``tests/core/test_multiply_paths.py``).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["fused_supported", "triton_backward", "triton_forward"]

_MIN_DOT = 16  # tl.dot needs every dimension >= 16
_TILE = 16  # batch rows per tile
_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.complex64, torch.complex128)


def fused_supported(r_blocks: torch.Tensor, l_blocks: torch.Tensor) -> bool:
    """Whether the fused kernels take this factor pair: a fully mixing plan (``q = l``, ``r = k``) and a dtype
    in float32/float64/bf16/fp16/complex64/complex128."""
    k, q, _ = r_blocks.shape
    l, _, r = l_blocks.shape
    return q == l and r == k and r_blocks.dtype in _DTYPES


def _pad(n: int) -> int:
    return max(_MIN_DOT, triton.next_power_of_2(n))


@triton.jit
def _dot(a, b, PREC: tl.constexpr):
    if PREC == 1:
        return tl.dot(a, b, input_precision="ieee")
    return tl.dot(a, b, out_dtype=tl.float32)


@triton.jit
def _cdot(ar, ai, br, bi, CPLX: tl.constexpr, PREC: tl.constexpr):
    """``(ar + i·ai)(br + i·bi)`` by real products; for real operands ``ar·br`` twice."""
    if CPLX:
        return _dot(ar, br, PREC) - _dot(ai, bi, PREC), _dot(ar, bi, PREC) + _dot(ai, br, PREC)
    p = _dot(ar, br, PREC)
    return p, p  # the imaginary part of a real product is never stored (compiled away)


@triton.jit
def _load(ptr, offs, mask, CPLX: tl.constexpr):
    """Real and imaginary parts at complex offsets ``offs`` (interleaved storage); the real part alone if real."""
    if CPLX:
        return tl.load(ptr + 2 * offs, mask=mask, other=0.0), tl.load(ptr + 2 * offs + 1, mask=mask, other=0.0)
    v = tl.load(ptr + offs, mask=mask, other=0.0)
    return v, v


@triton.jit
def _store(ptr, offs, mask, vr, vi, CPLX: tl.constexpr):
    if CPLX:
        tl.store(ptr + 2 * offs, vr.to(ptr.dtype.element_ty), mask=mask)
        tl.store(ptr + 2 * offs + 1, vi.to(ptr.dtype.element_ty), mask=mask)
    else:
        tl.store(ptr + offs, vr.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def _r_stage(
    x_ptr, r_ptr, b, B, K, Q, P,
    KB: tl.constexpr, QB: tl.constexpr, PB: tl.constexpr, CPLX: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """``X`` ``(KB, BB, PB)`` of batch rows ``b`` and ``T = X Rᵢᵀ`` ``(KB, BB, QB)``, ``[i, b, c]``."""
    i = tl.arange(0, KB)[:, None, None]
    e = tl.arange(0, PB)
    xm = (i < K) & (b[None, :, None] < B) & (e[None, None, :] < P)
    xr, xi = _load(x_ptr, b[None, :, None] * (K * P) + i * P + e[None, None, :], xm, CPLX)
    c = tl.arange(0, QB)[None, None, :]
    rm = (i < K) & (e[None, :, None] < P) & (c < Q)
    rr, ri = _load(r_ptr, i * (Q * P) + c * P + e[None, :, None], rm, CPLX)  # [i, e, c] = R[i, c, e]
    tr, ti = _cdot(xr, xi, rr, ri, CPLX, PREC)
    return xr, xi, tr, ti


@triton.jit
def _forward_kernel(
    x_ptr, r_ptr, l_ptr, y_ptr, B, K, Q, P, S,
    KB: tl.constexpr, QB: tl.constexpr, PB: tl.constexpr, SB: tl.constexpr, BB: tl.constexpr,
    CPLX: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    b = tl.program_id(0) * BB + tl.arange(0, BB)
    _, _, tr, ti = _r_stage(x_ptr, r_ptr, b, B, K, Q, P, KB, QB, PB, CPLX, PREC)
    tr = tl.permute(tr, (2, 1, 0)).to(x_ptr.dtype.element_ty)  # P: [i, b, c] -> [j = c, b, a = i]
    ti = tl.permute(ti, (2, 1, 0)).to(x_ptr.dtype.element_ty)
    j = tl.arange(0, QB)[:, None, None]
    a = tl.arange(0, KB)[None, :, None]
    d = tl.arange(0, SB)[None, None, :]
    lr, li = _load(l_ptr, j * (S * K) + d * K + a, (j < Q) & (a < K) & (d < S), CPLX)  # [j, a, d] = L[j, d, a]
    zr, zi = _cdot(tr, ti, lr, li, CPLX, PREC)  # (QB, BB, SB): [j, b, d]
    bb = b[None, :, None]
    _store(y_ptr, bb * (S * Q) + d * Q + j, (j < Q) & (bb < B) & (d < S), zr, zi, CPLX)


@triton.jit
def _backward_kernel(
    x_ptr, r_ptr, l_ptr, g_ptr, gx_ptr, gr_ptr, gl_ptr, B, K, Q, P, S, TILES,
    KB: tl.constexpr, QB: tl.constexpr, PB: tl.constexpr, SB: tl.constexpr, BB: tl.constexpr,
    CPLX: tl.constexpr, PREC: tl.constexpr, NEED_X: tl.constexpr, NEED_R: tl.constexpr, NEED_L: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    j = tl.arange(0, QB)[:, None, None]
    a = tl.arange(0, KB)[None, :, None]
    d = tl.arange(0, SB)[None, None, :]
    lm = (j < Q) & (a < K) & (d < S)
    lr, li = _load(l_ptr, j * (S * K) + d * K + a, lm, CPLX)  # [j, a, d] = L[j, d, a]
    lr, li = tl.permute(lr, (0, 2, 1)), -tl.permute(li, (0, 2, 1))  # conj(L) as [j, d, a]
    i = tl.arange(0, KB)[:, None, None]
    c = tl.arange(0, QB)[None, :, None]
    e = tl.arange(0, PB)[None, None, :]
    rm = (i < K) & (c < Q) & (e < P)
    rcr, rci = _load(r_ptr, i * (Q * P) + c * P + e, rm, CPLX)  # [i, c, e]
    rci = -rci
    acc_rr = tl.zeros((KB, QB, PB), dtype=gr_ptr.dtype.element_ty)  # float32 for bf16/fp16
    acc_ri = tl.zeros_like(acc_rr)
    acc_lr = tl.zeros((QB, SB, KB), dtype=gl_ptr.dtype.element_ty)
    acc_li = tl.zeros_like(acc_lr)
    for tile in range(pid, TILES, nprog):
        b = tile * BB + tl.arange(0, BB)
        bb = b[None, :, None]
        gr, gi = _load(g_ptr, bb * (S * Q) + d * Q + j, (j < Q) & (bb < B) & (d < S), CPLX)  # [j, b, d]
        hr, hi = _cdot(gr, gi, lr, li, CPLX, PREC)  # (QB, BB, KB): [j, b, a] = (Lᴴ g) by blocks of L
        hr = tl.permute(hr, (2, 1, 0)).to(x_ptr.dtype.element_ty)  # [i = a, b, c = j]: by blocks of R
        hi = tl.permute(hi, (2, 1, 0)).to(x_ptr.dtype.element_ty)
        if NEED_X:
            dxr, dxi = _cdot(hr, hi, rcr, rci, CPLX, PREC)  # (KB, BB, PB)
            _store(gx_ptr, bb * (K * P) + i * P + e, (i < K) & (bb < B) & (e < P), dxr, dxi, CPLX)
        if NEED_R or NEED_L:
            xr, xi, tr, ti = _r_stage(x_ptr, r_ptr, b, B, K, Q, P, KB, QB, PB, CPLX, PREC)
            if NEED_R:  # grad R_i = H_iᵀ conj(X_i)
                ur, ui = _cdot(tl.permute(hr, (0, 2, 1)), tl.permute(hi, (0, 2, 1)), xr, -xi, CPLX, PREC)
                acc_rr += ur
                acc_ri += ui
            if NEED_L:  # grad L_j = G_jᵀ conj(T_j), T_j as [j, b, a]
                tjr = tl.permute(tr, (2, 1, 0)).to(x_ptr.dtype.element_ty)
                tji = tl.permute(ti, (2, 1, 0)).to(x_ptr.dtype.element_ty)
                gtr, gti = tl.permute(gr, (0, 2, 1)), tl.permute(gi, (0, 2, 1))
                vr, vi = _cdot(gtr, gti, tjr, -tji, CPLX, PREC)
                acc_lr += vr
                acc_li += vi
    if NEED_R:
        _store(gr_ptr, pid * (K * Q * P) + i * (Q * P) + c * P + e, rm, acc_rr, acc_ri, CPLX)
    if NEED_L:
        jj = tl.arange(0, QB)[:, None, None]
        dd = tl.arange(0, SB)[None, :, None]
        aa = tl.arange(0, KB)[None, None, :]
        mm = (jj < Q) & (dd < S) & (aa < K)
        _store(gl_ptr, pid * (Q * S * K) + jj * (S * K) + dd * K + aa, mm, acc_lr, acc_li, CPLX)


def _meta(x2: torch.Tensor, r_blocks: torch.Tensor, l_blocks: torch.Tensor) -> dict:
    k, q, p = r_blocks.shape
    s = l_blocks.shape[1]
    prec = 0 if r_blocks.dtype in (torch.bfloat16, torch.float16) else 1
    return {"KB": _pad(k), "QB": _pad(q), "PB": _pad(p), "SB": _pad(s), "BB": _TILE, "CPLX": x2.is_complex(),
            "PREC": prec}  # fmt: skip


def _warps(meta: dict) -> int:
    """Warps per program: the tile keeps ``KB·BB·max(QB, PB, SB)`` values per operand in registers, so larger
    blocks get more threads (4 at n = 1024, 16 at n = 4096; untuned: no GPU measured these kernels yet)."""
    values = meta["KB"] * meta["BB"] * max(meta["QB"], meta["PB"], meta["SB"])
    return int(min(16, max(4, values // 4096)))


def _raw(t: torch.Tensor) -> torch.Tensor:
    """A contiguous tensor as the kernels address it: complex as interleaved real storage."""
    t = t.contiguous()
    return torch.view_as_real(t) if t.is_complex() else t


def triton_forward(x2: torch.Tensor, r_blocks: torch.Tensor, l_blocks: torch.Tensor) -> torch.Tensor:
    """``y2 = M x2`` for a ``(B, k·p)`` matrix ``x2`` (fully mixing plan, see :func:`fused_supported`)."""
    k, q, p = r_blocks.shape
    s = l_blocks.shape[1]
    batch = x2.shape[0]
    y2 = x2.new_empty(batch, q * s)
    grid = (triton.cdiv(batch, _TILE),)
    meta = _meta(x2, r_blocks, l_blocks)
    _forward_kernel[grid](_raw(x2), _raw(r_blocks), _raw(l_blocks), _raw(y2), batch, k, q, p, s, **meta,
                          num_warps=_warps(meta))  # fmt: skip
    return y2


def triton_backward(
    x2: torch.Tensor,
    g: torch.Tensor,
    r_blocks: torch.Tensor,
    l_blocks: torch.Tensor,
    needs: tuple[bool, bool, bool],
    *,
    programs: int | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """``(grad x2, grad r_blocks, grad l_blocks)`` of ``y2 = M x2`` at the output gradient ``g``, one kernel.

    ``needs`` says which of the three are wanted (autograd's ``needs_input_grad``); the others are ``None``.
    ``programs`` (default: one per tile, at most 4 per streaming multiprocessor on CUDA, 4 in the interpreter)
    sets how many partial factor gradients are written and summed.
    """
    need_x, need_r, need_l = needs
    k, q, p = r_blocks.shape
    s = l_blocks.shape[1]
    batch = x2.shape[0]
    tiles = triton.cdiv(batch, _TILE)
    if programs is None:
        cap = 4 * torch.cuda.get_device_properties(x2.device).multi_processor_count if x2.is_cuda else 4
        programs = min(tiles, cap)
    programs = max(1, min(int(programs), tiles))
    grad_x = x2.new_empty(batch, k * p) if need_x else x2.new_empty(1)
    acc = r_blocks.dtype if r_blocks.dtype not in (torch.bfloat16, torch.float16) else torch.float32
    part_r = r_blocks.new_empty((programs, k, q, p) if need_r else (1,), dtype=acc)
    part_l = l_blocks.new_empty((programs, q, s, k) if need_l else (1,), dtype=acc)
    meta = _meta(x2, r_blocks, l_blocks)
    _backward_kernel[(programs,)](
        _raw(x2), _raw(r_blocks), _raw(l_blocks), _raw(g), _raw(grad_x), _raw(part_r), _raw(part_l),
        batch, k, q, p, s, tiles, NEED_X=need_x, NEED_R=need_r, NEED_L=need_l, **meta, num_warps=_warps(meta),
    )  # fmt: skip
    grad_r = part_r.sum(0).to(r_blocks.dtype) if need_r else None
    grad_l = part_l.sum(0).to(l_blocks.dtype) if need_l else None
    return (grad_x if need_x else None), grad_r, grad_l
