"""The two-``bmm`` kernels of the Monarch multiply ``y = Pᵀ L P R x`` (the CUDA path of :func:`monarch_multiply`).

The structure of fly's ``BlockdiagButterflyMultiply`` (HazyResearch/fly, Apache-2.0), which the one GPU run
(``benchmarks/results/gpu_check.md``) measured faster on CUDA than the CPU-tuned chunked backward of
:mod:`monarch_sci.multiply`: the whole batch in one ``bmm`` per factor, one contiguous copy for the middle
permutation ``P``, and the intermediate ``T = R x`` (permuted, ``(l, B, r)``) saved by the forward so that the
backward is three ``bmm`` calls and no recomputation:

* forward:  ``T_j = (R x)_j`` as ``(l, B, r)``, ``Z_j = T_j L_jᵀ`` written into ``y`` through a transposed view;
* backward: ``grad L_j = G_jᵀ conj(T_j)``, ``H_j = G_j conj(L_j)`` (``Lᴴ g`` by blocks of ``L``), then
  ``grad x_i = H_i conj(R_i)`` and ``grad R_i = H_iᵀ conj(x_i)`` (``G_j`` the output gradient by blocks of ``L``).

Any plan (square, rectangular, ``q ≠ l``), real or complex; the functions take validated ``(B, n)`` matrices
(:func:`monarch_sci.multiply.monarch_multiply` checks and dispatches). Values and gradients are tested against
the dense twin on the CPU (``tests/core/test_multiply_paths.py``).
"""

from __future__ import annotations

import torch

__all__ = ["bmm_backward", "bmm_forward"]


def bmm_forward(x2: torch.Tensor, r_blocks: torch.Tensor, l_blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y2, T)``: ``y2 = M x2`` ``(B, l·s)`` and the permuted intermediate ``T`` ``(l, B, r)`` for the backward."""
    k, q, p = r_blocks.shape
    l, s, r = l_blocks.shape
    batch = x2.shape[0]
    xb = x2.reshape(batch, k, p).transpose(0, 1)  # (k, B, p): strided view
    t = torch.empty(batch, k, q, device=x2.device, dtype=x2.dtype).transpose(0, 1)
    torch.bmm(xb, r_blocks.transpose(1, 2), out=t)  # (k, B, q), batch-major in memory
    # P: rows i·q + c = a·l + j of the intermediate, block j of L reads a = 0…r−1 (one contiguous copy).
    t = t.transpose(0, 1).reshape(batch, r, l).permute(2, 0, 1).contiguous()  # (l, B, r)
    z = torch.empty(batch, s, l, device=x2.device, dtype=x2.dtype).permute(2, 0, 1)  # (l, B, s) view of y
    torch.bmm(t, l_blocks.transpose(1, 2), out=z)
    return z.permute(1, 2, 0).reshape(batch, s * l), t


def bmm_backward(
    x2: torch.Tensor,
    t: torch.Tensor,
    g: torch.Tensor,
    r_blocks: torch.Tensor,
    l_blocks: torch.Tensor,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Gradients ``(grad x2, grad r_blocks, grad l_blocks)`` of ``y2 = M x2`` at the output gradient ``g``.

    ``needs`` says which of the three are wanted (autograd's ``needs_input_grad``); the others are ``None``.
    """
    need_x, need_r, need_l = needs
    k, q, p = r_blocks.shape
    l, s, r = l_blocks.shape
    batch = x2.shape[0]
    gj = g.reshape(batch, s, l).permute(2, 0, 1)  # (l, B, s): block j of the output gradient (strided)
    grad_x = grad_r = grad_l = None
    if need_l:
        grad_l = torch.bmm(gj.transpose(1, 2), t.conj())  # (l, s, r)
    if need_x or need_r:
        h = torch.empty(batch, r, l, device=g.device, dtype=g.dtype).permute(2, 0, 1)  # (l, B, r) view, [b, a, j]
        torch.bmm(gj, l_blocks.conj(), out=h)
        hi = h.permute(1, 2, 0).reshape(batch, k, q).transpose(0, 1)  # (k, B, q): Lᴴ g by blocks of R
        if need_x:
            grad_x = torch.empty(batch, k, p, device=g.device, dtype=g.dtype)
            torch.bmm(hi, r_blocks.conj(), out=grad_x.transpose(0, 1))
            grad_x = grad_x.reshape(batch, k * p)
        if need_r:
            grad_r = torch.bmm(hi.transpose(1, 2), x2.reshape(batch, k, p).transpose(0, 1).conj())  # (k, q, p)
    return grad_x, grad_r, grad_l
