"""Projection onto Monarch matrices: the closed-form best Monarch approximation of a dense matrix.

In the multiply convention (:mod:`monarch_sci.multiply`) the input index is ``i = a·p + b`` (block ``a`` of
``R``), the intermediate index is ``t = a·q + c = u·l + j`` (row ``c`` of ``R``'s block ``a``; column ``u`` of
``L``'s block ``j``) and the output index is ``o = e·l + j`` (row ``e`` of ``L``'s block ``j``). Hence

.. math::

    M_{e l + j,\\; a p + b} = \\sum_{t \\in T(a, j)} L_j[e, u_t] \\, R_a[c_t, b],
    \\qquad T(a, j) = \\{t : \\lfloor t/q \\rfloor = a,\\ t \\bmod l = j\\}.

Each intermediate feature ``t`` belongs to exactly one pair ``(a, j)``, and it owns one column of ``L`` and one
row of ``R`` that nothing else uses. So the ``(s×p)`` sub-block ``M_{ja}`` (rows ``e``, columns ``b``) is an
arbitrary matrix of rank ``≤ ρ_{ja} = |T(a, j)|``, independently of the other sub-blocks, and the Frobenius
problem ``min ‖A − M‖_F`` over Monarch ``M`` splits into one Eckart–Young problem per sub-block: the best
approximation keeps the ``ρ_{ja}`` leading singular triplets of ``A_{ja}``. For the default fully mixing plan
(``q = l``, ``r = k``) every ``ρ_{ja} = 1`` (blockwise best rank one, as in the Monarch paper); with the same
block count in both factors (:func:`~monarch_sci.plan.plan_equal_blocks`) the ranks are ``> 1``; any plan the
multiply accepts is handled, including ones whose sub-block ranks differ (or are zero: that sub-block of ``M``
is zero).

The singular values are split evenly, ``L`` column ``= U_i √σ_i`` and ``R`` row ``= √σ_i V_iᴴ``, so both
factors have the same scale.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from einops import rearrange

from monarch_sci.plan import MonarchPlan, plan_monarch

__all__ = ["monarch_sub_blocks", "project", "sub_block_ranks"]


@lru_cache(maxsize=256)
def _intermediate_tables(k: int, q: int, l: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each intermediate ``t``: its R block ``a``, its L block ``j`` and its slot among ``T(a, j)``."""
    t = torch.arange(k * q)
    a, j = t // q, t % l
    key = (a * l + j).tolist()
    seen: dict[int, int] = {}
    slot = []
    for kk in key:
        slot.append(seen.get(kk, 0))
        seen[kk] = slot[-1] + 1
    return a, j, torch.tensor(slot, dtype=torch.long)


def sub_block_ranks(plan: MonarchPlan) -> torch.Tensor:
    """Rank bound ``ρ_{ja} = |T(a, j)|`` of every ``(s×p)`` sub-block of a Monarch matrix with this plan.

    Returns
    -------
    torch.Tensor
        Integer tensor of shape ``(l, k)``: entry ``[j, a]`` couples ``L`` block ``j`` with ``R`` block ``a``.

    Examples
    --------
    >>> from monarch_sci.plan import plan_equal_blocks
    >>> sub_block_ranks(plan_monarch(16)).unique().tolist()
    [1]
    >>> sub_block_ranks(plan_equal_blocks(64, nblocks=2)).unique().tolist()
    [16]
    """
    a, j, _ = _intermediate_tables(plan.k, plan.q, plan.l)
    counts = torch.zeros(plan.l, plan.k, dtype=torch.long)
    counts.index_put_((j, a), torch.ones_like(a), accumulate=True)
    return counts


def monarch_sub_blocks(dense: torch.Tensor, plan: MonarchPlan) -> torch.Tensor:
    """The ``(s×p)`` sub-blocks ``M_{ja}`` of a ``(..., l·s, k·p)`` matrix in permuted coordinates.

    Shape
    -----
    ``(..., l·s, k·p) → (..., l, k, s, p)``
    """
    return rearrange(dense, "... (e j) (a b) -> ... j a e b", j=plan.l, a=plan.k)


def _check_dense(dense: torch.Tensor) -> None:
    if not isinstance(dense, torch.Tensor):
        raise TypeError(f"project: dense must be a torch.Tensor, got {type(dense).__name__}")
    if not (dense.is_floating_point() or dense.is_complex()):
        raise TypeError(f"project: dense must have a floating or complex dtype, got {dense.dtype}")
    if dense.dim() < 2:
        raise ValueError(f"project: dense must have shape (*batch, n_out, n_in), got {tuple(dense.shape)}")


def project(
    dense: torch.Tensor,
    plan: MonarchPlan | None = None,
    *,
    nblocks: int | None = None,
    pad: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Closest Monarch matrix to ``dense`` in Frobenius norm, as a factor pair ``(r_blocks, l_blocks)``.

    Solves :math:`\\min_{R, L} \\|A - P^\\top L P R\\|_F` exactly by a truncated SVD of every ``(s×p)``
    sub-block of ``A`` (rank ``ρ_{ja}``, see the module docstring); batched over leading dims.

    Parameters
    ----------
    dense
        ``A``, real or complex, of shape ``(*batch, out_features, in_features)``.
    plan
        Block shapes (any consistent :class:`~monarch_sci.plan.MonarchPlan`). Default:
        ``plan_monarch(in_features, out_features, nblocks=nblocks, pad=pad)``.
    nblocks, pad
        Passed to :func:`~monarch_sci.plan.plan_monarch` when ``plan`` is not given.

    Returns
    -------
    r_blocks, l_blocks
        Tensors ``(*batch, k, q, p)`` and ``(*batch, l, s, r)`` with ``dense``'s dtype and device, not
        tracking gradients. ``monarch_to_dense(r, l)`` is the projection.

    Notes
    -----
    For a padded plan (``n_in > in_features`` or ``n_out > out_features``) ``A`` is zero-padded to
    ``(n_out, n_in)`` first. The result is then the best approximation of the zero-padded matrix; its
    top-left ``(out_features, in_features)`` corner is exact whenever ``A`` is one, but it is not in general
    the best possible corner (the padded entries could be used freely, which has no closed form).

    Shape
    -----
    ``(*batch, n_out, n_in) → ((*batch, k, q, p), (*batch, l, s, r))``

    Examples
    --------
    >>> from monarch_sci.multiply import monarch_to_dense
    >>> r, l = torch.randn(4, 4, 4, dtype=torch.float64), torch.randn(4, 4, 4, dtype=torch.float64)
    >>> M = monarch_to_dense(r, l)
    >>> r2, l2 = project(M)
    >>> torch.allclose(monarch_to_dense(r2, l2), M)
    True
    """
    _check_dense(dense)
    n_out, n_in = dense.shape[-2:]
    if plan is None:
        plan = plan_monarch(n_in, n_out, nblocks=nblocks, pad=pad)
    elif not isinstance(plan, MonarchPlan):
        raise TypeError(f"project: plan must be a MonarchPlan or None, got {type(plan).__name__}")
    elif nblocks is not None:
        raise ValueError(f"project: pass either plan or nblocks, got plan={plan} and nblocks={nblocks}")
    if (n_out, n_in) not in ((plan.out_features, plan.in_features), (plan.n_out, plan.n_in)):
        raise ValueError(
            f"project: dense has matrix shape ({n_out}, {n_in}) but the plan expects "
            f"({plan.out_features}, {plan.in_features}) (or the padded ({plan.n_out}, {plan.n_in}))"
        )
    k, q, l = plan.k, plan.q, plan.l
    batch = dense.shape[:-2]
    with torch.no_grad():
        A = dense.detach()
        if (n_out, n_in) != (plan.n_out, plan.n_in):
            A = torch.nn.functional.pad(A, (0, plan.n_in - n_in, 0, plan.n_out - n_out))
        blocks = monarch_sub_blocks(A, plan)  # (..., l, k, s, p)
        U, S, Vh = torch.linalg.svd(blocks, full_matrices=False)  # (..., l, k, s, m), (..., l, k, m), (..., m, p)
        m = S.shape[-1]
        a_t, j_t, slot = (v.to(dense.device) for v in _intermediate_tables(k, q, l))
        # Intermediate t takes singular triplet number slot(t) of sub-block (j_t, a_t); slots past
        # min(s, p) have nothing left to represent and get zero vectors.
        keep = slot < m
        flat = (j_t * k + a_t) * m + slot.clamp(max=m - 1)  # (K,) index into (l, k, m)
        root = S.reshape(*batch, l * k * m).index_select(-1, flat).sqrt() * keep  # (..., K)
        u_cols = rearrange(U, "... j a e i -> ... (j a i) e").index_select(-2, flat)  # (..., K, s)
        v_rows = rearrange(Vh, "... j a i b -> ... (j a i) b").index_select(-2, flat)  # (..., K, p)
        u_cols = u_cols * root[..., None].to(u_cols.dtype)
        v_rows = v_rows * root[..., None].to(v_rows.dtype)
        # t = u·l + j orders L's columns; t = a·q + c orders R's rows.
        l_blocks = rearrange(u_cols, "... (u j) e -> ... j e u", j=l).contiguous()
        r_blocks = rearrange(v_rows, "... (a c) b -> ... a c b", a=k).contiguous()
    return r_blocks, l_blocks
