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
"""

from __future__ import annotations

import torch
from einops import rearrange

__all__ = [
    "check_factors",
    "monarch_adjoint",
    "monarch_multiply",
    "monarch_to_dense",
]

_REAL_OF = {torch.complex64: torch.float32, torch.complex128: torch.float64}


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
        if t.dim() != 3:
            raise ValueError(
                f"{where}: {name} must have 3 dims (nblocks, out_block, in_block), got shape {tuple(t.shape)}"
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


def _check_input(x: torch.Tensor, blocks: torch.Tensor, n: int, where: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0 or x.shape[-1] != n:
        raise ValueError(f"{where}: expected x of shape (*batch, {n}), got {tuple(x.shape)}")
    if x.device != blocks.device:
        raise ValueError(f"{where}: x is on {x.device} but the factors are on {blocks.device}")
    if x.dtype == blocks.dtype:
        return x
    # The one promotion we allow: a real signal through complex factors of the same precision
    # (e.g. the DFT of a real field). It is exact, not a precision change.
    if blocks.is_complex() and _REAL_OF.get(blocks.dtype) == x.dtype:
        return x.to(blocks.dtype)
    raise TypeError(
        f"{where}: x has dtype {x.dtype} but the factors are {blocks.dtype}; cast one of them explicitly "
        "(a real x is accepted with complex factors of the same precision)"
    )


def monarch_multiply(x: torch.Tensor, r_blocks: torch.Tensor, l_blocks: torch.Tensor) -> torch.Tensor:
    """Multiply ``x`` by the Monarch matrix ``M = Pᵀ L P R`` given by its factors.

    Parameters
    ----------
    x
        Input of shape ``(*batch, k·p)``; real or complex. A real ``x`` with complex factors of the same
        precision is promoted to complex (exact).
    r_blocks
        ``R`` as ``k`` blocks of shape ``(q, p)``: tensor ``(k, q, p)``.
    l_blocks
        ``L`` as ``l`` blocks of shape ``(s, r)``: tensor ``(l, s, r)`` with ``l·r = k·q``.

    Returns
    -------
    torch.Tensor
        ``y = M x`` of shape ``(*batch, l·s)``.

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
    x = _check_input(x, r_blocks, k * p, "monarch_multiply")
    batch = x.shape[:-1]
    xb = rearrange(x.reshape(-1, k * p), "b (k p) -> k b p", k=k)
    y = torch.bmm(xb, r_blocks.transpose(-1, -2))  # (k, B, q)
    y = rearrange(y, "k b q -> b (k q)")
    y = rearrange(y, "b (r l) -> l b r", l=l)
    z = torch.bmm(y, l_blocks.transpose(-1, -2))  # (l, B, s)
    out = rearrange(z, "l b s -> b (s l)")
    return out.reshape(*batch, l * s)


def monarch_adjoint(y: torch.Tensor, r_blocks: torch.Tensor, l_blocks: torch.Tensor) -> torch.Tensor:
    """Multiply ``y`` by ``Mᴴ = Rᴴ Pᵀ Lᴴ P`` for the Monarch matrix ``M`` given by its factors.

    Shape
    -----
    ``(*batch, l·s) → (*batch, k·p)``
    """
    k, q, p, l, s, r = check_factors(r_blocks, l_blocks, where="monarch_adjoint")
    y = _check_input(y, l_blocks, l * s, "monarch_adjoint")
    batch = y.shape[:-1]
    z = rearrange(y.reshape(-1, l * s), "b (s l) -> l b s", l=l)
    w = torch.bmm(z, l_blocks.conj())  # (l, B, r)
    w = rearrange(w, "l b r -> b (r l)")
    w = rearrange(w, "b (k q) -> k b q", k=k)
    v = torch.bmm(w, r_blocks.conj())  # (k, B, p)
    out = rearrange(v, "k b p -> b (k p)")
    return out.reshape(*batch, k * p)


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
