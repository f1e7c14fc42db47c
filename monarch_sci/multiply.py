"""The Monarch multiply: ``y = Pᵀ L P R x`` as two batched block products.

Convention (used by every part of the toolkit). With ``r_blocks`` of shape ``(k, q, p)`` and ``l_blocks`` of
shape ``(l, s, r)``:

1. view ``x`` (last dim ``n_in = k·p``) as ``(k, p)`` and apply block ``i`` of ``R`` to row ``i`` → ``(k, q)``;
2. flatten to ``k·q``, view as ``(r, l)`` and transpose to ``(l, r)`` (the permutation ``P``);
3. apply block ``j`` of ``L`` to row ``j`` → ``(l, s)``;
4. transpose to ``(s, l)`` and flatten (``Pᵀ`` for square blocks) → last dim ``n_out = l·s``.

The adjoint ``Mᴴ`` is the same kind of product with the factors swapped and conjugate-transposed, between
fixed input and output permutations, so it costs the same (:func:`monarch_adjoint`).

:func:`monarch_to_dense` builds the matrix independently of the fast path (block-diagonal matrices and
explicit permutation indices); it is the oracle the tests compare against.

How it is fast (CPU, measured by ``benchmarks/monarch_multiply.py``). The straightforward implementation
spends most of its time copying: it makes contiguous copies of the whole batch around each ``bmm`` (for the
permutations), and every fresh full-batch buffer also costs page faults. Here

* the batch is processed in chunks (``_CHUNK_BYTES`` per intermediate buffer) whose buffers stay in cache and
  are reused from chunk to chunk, so the only full-size allocation is the output;
* every ``bmm`` writes a contiguous result (PyTorch's CPU ``bmm`` uses MKL's batched GEMM only then) and reads
  its operands through strides instead of copies: ``x`` is read in place, block by block; the intermediate
  ``T = R x`` is kept batch-innermost, rows ``i·q + c``, so block ``j`` of ``L`` reads rows ``a·l + j`` as a
  strided matrix (the permutation ``P`` costs nothing);
* the last permutation (``L``'s output comes out block-major, the result wants ``j`` innermost) is one
  cache-resident permuting copy per chunk (a 3-D ``permute`` copy: measured 10–40% faster than the same copy as
  a 2-D transpose); the adjoint does the mirror image (one 2-D transpose of the input chunk, then strided reads
  when ``q = l``, the default plan, or one small copy otherwise) and its last ``bmm`` writes straight into the
  output rows (unit stride within a block), with no copy;
* autograd goes through one custom :class:`torch.autograd.Function` (for both products) whose backward reuses
  the same chunked kernels: the gradient with respect to ``x`` is the adjoint multiply (for :func:`monarch_adjoint`, the
  forward multiply), and the gradients with respect to the blocks are batched outer products accumulated
  chunk by chunk with ``baddbmm_`` (the intermediate is recomputed per chunk rather than stored).

On other devices and for bf16/fp16 the batch is one chunk. On CUDA :func:`monarch_multiply` runs other kernels
behind the same function and the same autograd (:func:`multiply_path`): fused Triton kernels
(:mod:`monarch_sci.multiply_triton`) or fly's two-``bmm`` structure (:mod:`monarch_sci.multiply_bmm`), which the
one GPU run measured faster there than these CPU-tuned passes; :func:`monarch_adjoint` keeps the chunked passes.

Higher derivatives: under ``create_graph=True`` (double backward, ``gradgradcheck``) the backward builds its
gradient from differentiable pieces instead (the gradient for ``x`` is still the fast adjoint multiply; the
factor gradients are ``einsum`` outer products over the whole batch), so every order is exact; only the
first-order backward is tuned for speed.
"""

from __future__ import annotations

import torch
from einops import rearrange

from monarch_sci.dtypes import REAL_OF
from monarch_sci.multiply_bmm import bmm_backward, bmm_forward
from monarch_sci.multiply_dispatch import MULTIPLY_PATHS, multiply_path

__all__ = [
    "MULTIPLY_PATHS",
    "check_factors",
    "check_operand",
    "monarch_adjoint",
    "monarch_multiply",
    "monarch_to_dense",
    "multiply_path",
]


def check_factors(r_blocks: torch.Tensor, l_blocks: torch.Tensor, *, where: str = "monarch") -> tuple:
    """Validate a factor pair and return ``(k, q, p, l, s, r)``.

    Raises ``TypeError`` for non-tensors, non-floating dtypes or mismatched dtypes, and ``ValueError`` for
    wrong ranks, shapes that do not chain (``l·r ≠ k·q``) or factors on different devices.
    """
    for name, t in (("r_blocks", r_blocks), ("l_blocks", l_blocks)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{where}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if not (t.is_floating_point() or t.is_complex()):
            raise TypeError(f"{where}: {name} must have a floating or complex dtype, got {t.dtype}")
        if t.dim() != 3 or 0 in t.shape:
            raise ValueError(
                f"{where}: {name} must have 3 nonzero dims (nblocks, out_block, in_block), got shape {tuple(t.shape)}"
            )
    if r_blocks.dtype != l_blocks.dtype:
        raise TypeError(f"{where}: r_blocks and l_blocks must share a dtype, got {r_blocks.dtype} and {l_blocks.dtype}")
    if r_blocks.device != l_blocks.device:
        raise ValueError(
            f"{where}: r_blocks and l_blocks must be on one device, got {r_blocks.device} and {l_blocks.device}"
        )
    k, q, p = r_blocks.shape
    l, s, r = l_blocks.shape
    if l * r != k * q:
        raise ValueError(
            f"{where}: factor shapes do not chain: r_blocks {tuple(r_blocks.shape)} gives k·q={k * q} "
            f"intermediate features but l_blocks {tuple(l_blocks.shape)} expects l·r={l * r}"
        )
    return k, q, p, l, s, r


def check_operand(where: str, x: torch.Tensor, n: int, like: torch.Tensor, what: str = "input") -> torch.Tensor:
    """Check that ``x`` is ``(*batch, n)`` on ``like``'s device with a dtype it accepts; return it, promoted.

    The one input check of every Monarch product (:func:`monarch_multiply`, :func:`monarch_adjoint`, and the
    modules built on them). Accepted dtypes: ``like.dtype``, or the real dtype of the same precision when
    ``like`` is complex: that one promotion (e.g. the DFT of a real field) is exact, and the returned tensor
    then has ``like.dtype``. Anything else is an error, never a silent cast: ``TypeError`` for a non-tensor or
    another dtype, ``ValueError`` for a wrong last dimension or another device. ``where`` and ``what`` name the
    caller and the argument in the message.

    Examples
    --------
    >>> r = torch.randn(2, 2, 2, dtype=torch.complex64)
    >>> check_operand("f", torch.randn(3, 4), 4, r).dtype
    torch.complex64
    >>> check_operand("f", torch.randn(3, 5), 4, r, "x")
    Traceback (most recent call last):
    ...
    ValueError: f: expected x of shape (*batch, 4), got (3, 5)
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: {what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0 or x.shape[-1] != n:
        raise ValueError(f"{where}: expected {what} of shape (*batch, {n}), got {tuple(x.shape)}")
    if x.device != like.device:
        raise ValueError(f"{where}: {what} is on {x.device} but the factors are on {like.device}")
    if x.dtype == like.dtype:
        return x
    if REAL_OF.get(like.dtype) == x.dtype:
        return x.to(like.dtype)
    raise TypeError(
        f"{where}: expected {what} of dtype {like.dtype}"
        + (f" (or {REAL_OF[like.dtype]})" if like.dtype in REAL_OF else "")
        + f", got {x.dtype}; cast it explicitly"
    )


# Chunking is a CPU cache optimisation for the BLAS dtypes; elsewhere (GPU, bf16/fp16) one chunk is the
# whole batch. Only the chunk size depends on the device; the kernels are the same everywhere.
_CHUNK_BYTES = 1 << 21  # per intermediate buffer: measured best between 1 and 4 MiB (L2 0.5 MiB, L3 32 MiB)
_MIN_CHUNK = 8  # rows; fewer makes the per-call overhead dominate
_CHUNKED_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def _chunk_size(batch: int, width: int, t: torch.Tensor) -> int:
    if t.device.type != "cpu" or t.dtype not in _CHUNKED_DTYPES:
        return max(batch, 1)
    return max(_MIN_CHUNK, min(batch, _CHUNK_BYTES // (max(width, 1) * t.element_size())))


def _as_matrix(x: torch.Tensor, n: int) -> torch.Tensor:
    """``(*batch, n)`` → ``(B, n)`` in a layout BLAS can read (row- or column-major; a view when possible)."""
    x2 = x.reshape(-1, n)
    row_major = x2.stride(-1) == 1 and x2.stride(0) >= n
    col_major = x2.stride(0) == 1 and x2.stride(-1) >= x2.shape[0]
    # BLAS reads either layout through strides; anything else (e.g. an expanded gradient) is copied once.
    return x2 if row_major or col_major else x2.contiguous()


def _to_jbc(y: torch.Tensor, buf: torch.Tensor, l: int) -> torch.Tensor:
    """Rows ``y[b, c·l + j]`` of a chunk → buffer ``[j, b, c]`` (``(l, w, s)``): block ``j`` becomes contiguous."""
    w, n = y.shape
    jbc = buf[: w * n].view(l, w, n // l)
    if y.is_contiguous():
        jbc.view(l, w * (n // l)).copy_(y.view(w * (n // l), l).t())  # plain 2-D transpose (fast path)
    else:
        jbc.copy_(rearrange(y, "b (s l) -> l b s", l=l))
    return jbc


def _r_stage(r_blocks: torch.Tensor, xt: torch.Tensor, buf: torch.Tensor) -> torch.Tensor:
    """``T = R x`` for a chunk: ``xt`` is ``(k, p, w)`` (any BLAS strides) → ``T`` ``(k·q, w)``, rows ``i·q + c``."""
    k, q, _ = r_blocks.shape
    w = xt.shape[-1]
    t = buf[: k * q * w].view(k, q, w)
    torch.bmm(r_blocks, xt, out=t)
    return t.view(k * q, w)


def _lh_stage(l_h: torch.Tensor, y_jbc: torch.Tensor, buf: torch.Tensor, k: int, q: int) -> torch.Tensor:
    """``W = Lᴴ y`` for a chunk given as ``[j, b, c]``; returns ``W`` by blocks of ``R``: ``(k, q, w)``."""
    l, r, _ = l_h.shape
    w = y_jbc.shape[1]
    wj = buf[: l * r * w].view(l, r, w)  # [j, a, b]: row a·l + j of W
    torch.bmm(l_h, y_jbc.transpose(1, 2), out=wj)
    w_ajb = wj.permute(1, 0, 2)  # [a, j, b]
    if q == l:  # fully mixing (the default plan): block i of R is a = i, read in place with strides
        return w_ajb
    # Otherwise rows i·q … i·q+q-1 straddle several a: one cache-resident copy to row order a·l + j.
    return w_ajb.contiguous().view(k, q, w)


def _forward_pass(
    x2: torch.Tensor,
    r_blocks: torch.Tensor,
    l_blocks: torch.Tensor,
    *,
    want_out: bool = True,
    y2: torch.Tensor | None = None,
    grad_r: torch.Tensor | None = None,
    grad_lt: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """``M x2`` in batch chunks; optionally also the block gradients of an adjoint multiply.

    With ``y2`` given (the input of ``v = Mᴴ y2`` whose output gradient is ``x2``), accumulates
    ``grad_lt[j] += (Y_j T_jᴴ)ᵀ`` with ``T = R x2`` (the ``L`` gradient, transposed: ``(l, r, s)``) and
    ``grad_r[i] += W_i x2_iᴴ`` with ``W = Lᴴ y2``; the returned ``M x2`` is then the gradient with respect to ``y2``.
    """
    k, q, p = r_blocks.shape
    l, s, r = l_blocks.shape
    batch = x2.shape[0]
    out = x2.new_empty((batch, l * s)) if want_out else None
    bc = _chunk_size(batch, max(k * p, k * q, l * s), x2)
    xt = rearrange(x2, "b (k p) -> k p b", k=k)  # blocks of x as columns: strided, no copy
    t_buf = x2.new_empty(k * q * bc)
    z_buf = x2.new_empty(l * s * bc) if want_out else None
    l_t = l_blocks.transpose(1, 2)  # (l, r, s)
    if y2 is not None:
        y_buf = x2.new_empty(l * s * bc)
        w_buf = x2.new_empty(k * q * bc)
        l_h = l_blocks.conj().transpose(1, 2).resolve_conj()  # (l, r, s)
    for b0 in range(0, batch, bc):
        b1 = min(b0 + bc, batch)
        w = b1 - b0
        t = _r_stage(r_blocks, xt[..., b0:b1], t_buf)  # (k·q, w): rows i·q + c
        t_jb = rearrange(t, "(r l) b -> l b r", l=l)  # rows a·l + j as block j's input: strided view
        if want_out:
            z = z_buf[: l * s * w].view(l, w, s)
            torch.bmm(t_jb, l_t, out=z)  # [j, b, c]
            out[b0:b1].view(w, s, l).copy_(z.permute(1, 2, 0))  # to [b, c·l + j] (faster than a 2-D transpose)
        if y2 is not None:
            y_jbc = _to_jbc(y2[b0:b1], y_buf, l)
            if grad_lt is not None:  # accumulated transposed: measured 1.5x faster than (s, w) @ (w, r)
                grad_lt.baddbmm_(t_jb.conj().transpose(1, 2), y_jbc)
            if grad_r is not None:
                w_i = _lh_stage(l_h, y_jbc, w_buf, k, q)
                grad_r.baddbmm_(w_i, rearrange(x2[b0:b1], "b (k p) -> k b p", k=k).conj())
    return out


def _adjoint_pass(
    y2: torch.Tensor,
    r_blocks: torch.Tensor,
    l_blocks: torch.Tensor,
    *,
    want_out: bool = True,
    x2: torch.Tensor | None = None,
    grad_r: torch.Tensor | None = None,
    grad_lt: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """``Mᴴ y2`` in batch chunks; optionally also the block gradients of a forward multiply.

    With ``x2`` given (the input of ``y = M x2`` whose output gradient is ``y2``), accumulates
    ``grad_lt[j] += (G_j T_jᴴ)ᵀ`` with ``T = R x2`` (the ``L`` gradient, transposed: ``(l, r, s)``) and
    ``grad_r[i] += H_i x2_iᴴ`` with ``H = Lᴴ y2``; the returned ``Mᴴ y2`` is then the gradient with respect to ``x2``.
    """
    k, q, p = r_blocks.shape
    l, s, r = l_blocks.shape
    batch = y2.shape[0]
    out = y2.new_empty((batch, k * p)) if want_out else None
    bc = _chunk_size(batch, max(k * p, k * q, l * s), y2)
    l_h = l_blocks.conj().transpose(1, 2).resolve_conj()  # (l, r, s)
    r_c = r_blocks.conj().resolve_conj()  # (k, q, p): v_iᵀ = W_iᵀ conj(R_i)
    y_buf = y2.new_empty(l * s * bc)
    w_buf = y2.new_empty(k * q * bc)
    if grad_lt is not None:
        xt = rearrange(x2, "b (k p) -> k p b", k=k)
        t_buf = y2.new_empty(k * q * bc)
    for b0 in range(0, batch, bc):
        b1 = min(b0 + bc, batch)
        w = b1 - b0
        y_jbc = _to_jbc(y2[b0:b1], y_buf, l)  # [j, b, c]
        if want_out or grad_r is not None:
            w_i = _lh_stage(l_h, y_jbc, w_buf, k, q)  # (k, q, w)
            if want_out:
                # [i, b, e] written straight into the output rows (unit stride in e): no copy
                torch.bmm(w_i.transpose(1, 2), r_c, out=out[b0:b1].view(w, k, p).transpose(0, 1))
            if grad_r is not None:
                grad_r.baddbmm_(w_i, rearrange(x2[b0:b1], "b (k p) -> k b p", k=k).conj())
        if grad_lt is not None:
            t = _r_stage(r_blocks, xt[..., b0:b1], t_buf)
            grad_lt.baddbmm_(rearrange(t, "(r l) b -> l r b", l=l).conj(), y_jbc)
    return out


def _block_grads_graph(
    x2: torch.Tensor, g: torch.Tensor, r_blocks: torch.Tensor, l_blocks: torch.Tensor, need_r: bool, need_l: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Factor gradients of ``x ↦ M x`` at output gradient ``g``, built from differentiable ops.

    ``grad_r[i] = Σ_b (Lᴴ g)_i x_iᴴ`` and ``grad_l[j] = Σ_b g_j (R x)_jᴴ``. Used only under ``create_graph=True``
    (double backward), where a graph of the gradient is needed; first-order backward uses the chunked kernels.
    For the adjoint ``v = Mᴴ y`` with output gradient ``g_v`` the factor gradients are the same expression with
    ``(x2, g) = (g_v, y)``.
    """
    k, q, p = r_blocks.shape
    l, s, r = l_blocks.shape
    xs = rearrange(x2, "b (k p) -> b k p", k=k)
    gs = rearrange(g, "b (s l) -> b s l", l=l)
    grad_r = grad_l = None
    if need_r:
        h = torch.einsum("lsr,bsl->brl", l_blocks.conj(), gs).reshape(-1, k, q)  # Lᴴ g, rows a·l + j = i·q + c
        grad_r = torch.einsum("bkq,bkp->kqp", h, xs.conj())
    if need_l:
        t = torch.einsum("kqp,bkp->bkq", r_blocks, xs).reshape(-1, r, l)  # R x, rows i·q + c = a·l + j
        grad_l = torch.einsum("bsl,brl->lsr", gs, t.conj())
    return grad_r, grad_l


class _MonarchProduct(torch.autograd.Function):
    """``M x2``, or ``Mᴴ x2`` with ``adjoint=True``, by the chunked passes, with a backward of the same cost.

    The two products are mirror images. The input gradient of ``x ↦ M x`` is ``Mᴴ g`` and that of ``y ↦ Mᴴ y`` is
    ``M g``; the factor gradients are the same outer products (:func:`_block_grads_graph`) with the saved input and
    ``g`` swapped, and the chunked pass that computes the input gradient accumulates them on the way.
    """

    @staticmethod
    def forward(ctx, x2, r_blocks, l_blocks, adjoint: bool, path: str = "chunked"):
        ctx.adjoint, ctx.path = adjoint, path
        if path == "bmm":  # fly's structure: the permuted intermediate is saved, the backward is three bmm
            y2, t = bmm_forward(x2, r_blocks, l_blocks)
            ctx.save_for_backward(x2, r_blocks, l_blocks, t)
            return y2
        ctx.save_for_backward(x2, r_blocks, l_blocks)
        if path == "triton":
            from monarch_sci.multiply_triton import triton_forward

            return triton_forward(x2, r_blocks, l_blocks)
        return _adjoint_pass(x2, r_blocks, l_blocks) if adjoint else _forward_pass(x2, r_blocks, l_blocks)

    @staticmethod
    def backward(ctx, g):
        saved, r_blocks, l_blocks = ctx.saved_tensors[:3]
        needs = ctx.needs_input_grad[:3]
        need_in, need_r, need_l = needs
        if torch.is_grad_enabled():  # create_graph=True: the gradient itself must be differentiable
            grad_in = (monarch_multiply if ctx.adjoint else monarch_adjoint)(g, r_blocks, l_blocks) if need_in else None
            x2, g_x = (g, saved) if ctx.adjoint else (saved, g)  # (input, output gradient) of x ↦ M x
            return (grad_in, *_block_grads_graph(x2, g_x, r_blocks, l_blocks, need_r, need_l), None, None)
        if ctx.path == "bmm":
            return (*bmm_backward(saved, ctx.saved_tensors[3], g, r_blocks, l_blocks, needs), None, None)
        if ctx.path == "triton":
            from monarch_sci.multiply_triton import triton_backward

            return (*triton_backward(saved, g.contiguous(), r_blocks, l_blocks, needs), None, None)
        g = _as_matrix(g, g.shape[-1])
        grad_r = torch.zeros_like(r_blocks) if need_r else None
        grad_lt = l_blocks.new_zeros(l_blocks.shape[0], l_blocks.shape[2], l_blocks.shape[1]) if need_l else None
        saved = saved if (need_r or need_l) else None  # only the factor gradients read it
        if ctx.adjoint:
            grad_in = _forward_pass(g, r_blocks, l_blocks, want_out=need_in, y2=saved, grad_r=grad_r, grad_lt=grad_lt)
        else:
            grad_in = _adjoint_pass(g, r_blocks, l_blocks, want_out=need_in, x2=saved, grad_r=grad_r, grad_lt=grad_lt)
        return grad_in, grad_r, None if grad_lt is None else grad_lt.transpose(1, 2).contiguous(), None, None


def monarch_multiply(
    x: torch.Tensor, r_blocks: torch.Tensor, l_blocks: torch.Tensor, *, path: str = "auto"
) -> torch.Tensor:
    """Multiply ``x`` by the Monarch matrix ``M = Pᵀ L P R`` given by its factors.

    ``y[..., c·l + j] = Σ_a L[j, c, a] · (R x)[..., a·l + j]`` with ``(R x)[..., i·q + d] = Σ_e R[i, d, e] ·
    x[..., i·p + e]`` (the convention of the module docstring).

    Parameters
    ----------
    x
        Input of shape ``(*batch, k·p)``; real or complex, any strides. A real ``x`` with complex factors of
        the same precision is promoted to complex (exact); any other dtype mismatch is an error.
    r_blocks
        ``R`` as ``k`` blocks of shape ``(q, p)``: tensor ``(k, q, p)``.
    l_blocks
        ``L`` as ``l`` blocks of shape ``(s, r)``: tensor ``(l, s, r)`` with ``l·r = k·q``.
    path
        The kernel: ``"auto"`` (by device, :func:`multiply_path`), ``"chunked"``, ``"bmm"`` or ``"triton"``.
        Every path computes the same values and gradients (tests compare each with the dense twin).

    Returns
    -------
    torch.Tensor
        ``y = M x`` of shape ``(*batch, l·s)``, contiguous, same dtype and device as the factors.
        Differentiable (to any order) with respect to ``x`` and both factors.

    Shape
    -----
    ``(*batch, k·p) → (*batch, l·s)``

    Examples
    --------
    >>> r, l = torch.randn(4, 4, 4), torch.randn(4, 4, 4)
    >>> x = torch.randn(3, 16)
    >>> torch.allclose(monarch_multiply(x, r, l), x @ monarch_to_dense(r, l).T, atol=1e-4)
    True
    """
    k, q, p, l, s, r = check_factors(r_blocks, l_blocks, where="monarch_multiply")
    x = check_operand("monarch_multiply", x, k * p, r_blocks, "x")
    kernel = multiply_path(x, r_blocks, l_blocks, path)
    y2 = _MonarchProduct.apply(_as_matrix(x, k * p), r_blocks, l_blocks, False, kernel)
    return y2.reshape(*x.shape[:-1], l * s)


def monarch_adjoint(y: torch.Tensor, r_blocks: torch.Tensor, l_blocks: torch.Tensor) -> torch.Tensor:
    """Multiply ``y`` by ``Mᴴ = Rᴴ Pᵀ Lᴴ Q`` for the Monarch matrix ``M = Qᵀ L P R`` given by its factors.

    The same chunked kernels as :func:`monarch_multiply`, run in reverse with the blocks conjugate-transposed:
    ``W[..., a·l + j] = Σ_c conj(L[j, c, a]) · y[..., c·l + j]``, then
    ``x[..., i·p + e] = Σ_d conj(R[i, d, e]) · W[..., i·q + d]``. Exactly ``Mᴴ`` (same cost as ``M``).

    Parameters
    ----------
    y
        Input of shape ``(*batch, l·s)``; dtype rules as in :func:`monarch_multiply`.
    r_blocks, l_blocks
        The factors of ``M`` (not of ``Mᴴ``), shapes ``(k, q, p)`` and ``(l, s, r)``.

    Returns
    -------
    torch.Tensor
        ``Mᴴ y`` of shape ``(*batch, k·p)``; differentiable (to any order) with respect to ``y`` and both factors.

    Shape
    -----
    ``(*batch, l·s) → (*batch, k·p)``

    Examples
    --------
    >>> r, l = torch.randn(3, 5, 4, dtype=torch.complex128), torch.randn(5, 7, 3, dtype=torch.complex128)
    >>> y = torch.randn(2, 35, dtype=torch.complex128)
    >>> torch.allclose(monarch_adjoint(y, r, l), y @ monarch_to_dense(r, l).conj())
    True
    """
    k, q, p, l, s, r = check_factors(r_blocks, l_blocks, where="monarch_adjoint")
    y = check_operand("monarch_adjoint", y, l * s, l_blocks, "y")
    x2 = _MonarchProduct.apply(_as_matrix(y, l * s), r_blocks, l_blocks, True)
    return x2.reshape(*y.shape[:-1], k * p)


def monarch_to_dense(r_blocks: torch.Tensor, l_blocks: torch.Tensor) -> torch.Tensor:
    """The dense matrix ``M`` (shape ``(l·s, k·p)``) of a factor pair, built without the fast path.

    ``M = Q · blockdiag(L) · P · blockdiag(R)`` with ``P`` and ``Q`` explicit permutation matrices; this is
    the reference twin that tests compare :func:`monarch_multiply` and :func:`monarch_adjoint` against.
    """
    k, q, p, l, s, r = check_factors(r_blocks, l_blocks, where="monarch_to_dense")
    dev = r_blocks.device
    R = torch.block_diag(*r_blocks.unbind(0))  # (k·q, k·p)
    L = torch.block_diag(*l_blocks.unbind(0))  # (l·s, l·r)
    # P: intermediate index t = a·l + j (a < r, j < l) moves to position j·r + a.
    a = torch.arange(r, device=dev).repeat_interleave(l)
    j = torch.arange(l, device=dev).repeat(r)
    perm_p = torch.empty(k * q, dtype=torch.long, device=dev)
    perm_p[j * r + a] = a * l + j  # row (j·r + a) of P·v takes v[a·l + j]
    # Q: L's output position j·s + c moves to c·l + j.
    c = torch.arange(s, device=dev).repeat_interleave(l)
    jj = torch.arange(l, device=dev).repeat(s)
    perm_q = jj * s + c  # row (c·l + j) of Q·v takes v[j·s + c]
    return L[perm_q] @ R[perm_p]
