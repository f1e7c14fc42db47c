"""A Monarch matrix as a :class:`~monarch_sci.linop.LinearOperator` with learnable factors.

``MonarchMatrix(r_blocks, l_blocks)`` applies ``M = Pᵀ L P R`` with :func:`~monarch_sci.multiply.monarch_multiply`
and ``Mᴴ`` with :func:`~monarch_sci.multiply.monarch_adjoint` (same cost). It is registered with the operator
property suite (square, rectangular rank-2 and real examples).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from monarch_sci.dtypes import REAL_OF
from monarch_sci.linop import LinearOperator, register_operator
from monarch_sci.multiply import check_factors, check_operand, monarch_adjoint, monarch_multiply, monarch_to_dense
from monarch_sci.plan import MonarchPlan
from monarch_sci.projection import project, sub_block_ranks

# check_operand lives in monarch_sci.multiply (the one input check of every Monarch product); re-exported here.
__all__ = ["MonarchMatrix", "check_operand", "monarch_uniform_"]


def monarch_uniform_(r_blocks: torch.Tensor, l_blocks: torch.Tensor, fan_in: int, plan: MonarchPlan) -> None:
    """Fill the factors in place so that ``M``'s entries have ``nn.Linear``'s weight variance ``1/(3·fan_in)``.

    ``R ~ U(−√(3/p), √(3/p))`` has variance ``1/p`` (it keeps the scale of a unit-variance input) and
    ``L ~ U(−b, b)`` with ``b² = p / (fan_in · ρ̄)``, where ``ρ̄ = q/l`` is the mean number of intermediate
    features per ``(s×p)`` sub-block (1 for fully mixing plans). An entry of ``M`` is a sum of ``ρ`` products
    of independent zero-mean factors, so ``Var M_{oi} = ρ̄ · Var L · Var R = 1/(3·fan_in)``, as for
    ``nn.Linear`` (``kaiming_uniform_(a=√5)``: ``U(−1/√fan_in, 1/√fan_in)``). Complex factors get independent
    real and imaginary parts with half the variance each.
    """
    rho = sub_block_ranks(plan).double().mean().item()
    var_r = 1.0 / plan.p
    var_l = 1.0 / (3.0 * fan_in * rho * var_r)
    with torch.no_grad():
        for t, var in ((r_blocks, var_r), (l_blocks, var_l)):
            if t.is_complex():
                bound = math.sqrt(3.0 * var / 2.0)
                re = torch.empty(t.shape, dtype=t.real.dtype, device=t.device).uniform_(-bound, bound)
                im = torch.empty(t.shape, dtype=t.real.dtype, device=t.device).uniform_(-bound, bound)
                t.copy_(torch.complex(re, im))
            else:
                bound = math.sqrt(3.0 * var)
                t.uniform_(-bound, bound)


class MonarchMatrix(LinearOperator):
    """The operator ``x ↦ M x`` of a Monarch matrix ``M = Pᵀ L P R`` with learnable factors.

    Parameters
    ----------
    r_blocks
        ``R`` as a ``(k, q, p)`` tensor (copied into a ``Parameter``).
    l_blocks
        ``L`` as a ``(l, s, r)`` tensor with ``l·r = k·q`` (copied into a ``Parameter``).

    Shape
    -----
    forward ``(*batch, k·p) → (*batch, l·s)``; adjoint ``(*batch, l·s) → (*batch, k·p)``.

    Examples
    --------
    >>> A = MonarchMatrix(torch.randn(4, 4, 4, dtype=torch.float64), torch.randn(4, 4, 4, dtype=torch.float64))
    >>> x = torch.randn(2, 16, dtype=torch.float64)
    >>> torch.allclose(A(x), x @ A.to_dense().T)
    True
    >>> torch.allclose(A.H(A(x)), (A.H @ A)(x))
    True
    """

    def __init__(self, r_blocks: torch.Tensor, l_blocks: torch.Tensor) -> None:
        k, q, p, l, s, r = check_factors(r_blocks, l_blocks, where="MonarchMatrix")
        super().__init__((k * p,), (l * s,))
        self.plan = MonarchPlan.from_shapes((k, q, p), (l, s, r))
        self.r_blocks = nn.Parameter(r_blocks.detach().clone())
        self.l_blocks = nn.Parameter(l_blocks.detach().clone())

    @classmethod
    def from_dense(
        cls, dense: torch.Tensor, plan: MonarchPlan | None = None, *, nblocks: int | None = None
    ) -> MonarchMatrix:
        """The operator of the best Monarch approximation of a ``(n_out, n_in)`` matrix (:func:`project`)."""
        if isinstance(dense, torch.Tensor) and dense.dim() != 2:
            raise ValueError(f"MonarchMatrix.from_dense: expected a (n_out, n_in) matrix, got {tuple(dense.shape)}")
        return cls(*project(dense, plan, nblocks=nblocks))

    @classmethod
    def random(
        cls,
        plan: MonarchPlan,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> MonarchMatrix:
        """A randomly initialised operator with ``nn.Linear``'s entry variance (:func:`monarch_uniform_`)."""
        if not (dtype.is_floating_point or dtype.is_complex):
            raise TypeError(f"MonarchMatrix.random: dtype must be floating or complex, got {dtype}")
        op = cls(
            torch.empty(plan.r_shape, dtype=dtype, device=device), torch.empty(plan.l_shape, dtype=dtype, device=device)
        )
        op.reset_parameters()
        return op

    def reset_parameters(self) -> None:
        """Redraw the factors at random (:func:`monarch_uniform_` with ``fan_in = k·p``)."""
        monarch_uniform_(self.r_blocks, self.l_blocks, self.plan.n_in, self.plan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_operand("MonarchMatrix", x, self.ishape[0], self.r_blocks)
        return monarch_multiply(x, self.r_blocks, self.l_blocks)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        check_operand("MonarchMatrix", y, self.oshape[0], self.r_blocks, "adjoint input")
        return monarch_adjoint(y, self.r_blocks, self.l_blocks)

    def to_dense(self) -> torch.Tensor:
        """``M`` as a dense ``(l·s, k·p)`` matrix."""
        return monarch_to_dense(self.r_blocks, self.l_blocks)

    def extra_repr(self) -> str:
        return (
            f"r_blocks={tuple(self.r_blocks.shape)}, l_blocks={tuple(self.l_blocks.shape)}, dtype={self.r_blocks.dtype}"
        )


def _example(plan: MonarchPlan, dtype: torch.dtype, device, seed: int) -> MonarchMatrix:
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(plan.r_shape, generator=g, dtype=dtype)
    l = torch.randn(plan.l_shape, generator=g, dtype=dtype)
    return MonarchMatrix(r.to(device), l.to(device))


@register_operator("MonarchMatrix")
def _example_square(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> MonarchMatrix:
    return _example(MonarchPlan.from_shapes((4, 4, 4), (4, 4, 4)), dtype, device, seed)


@register_operator("MonarchMatrix-rect-rank2")
def _example_rect(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> MonarchMatrix:
    # Rectangular 16 -> 15 with (5×4) sub-blocks of rank 2 (q != l).
    return _example(MonarchPlan.from_shapes((4, 6, 4), (3, 5, 8)), dtype, device, seed)


@register_operator("MonarchMatrix-real", complex_input=False)
def _example_real(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> MonarchMatrix:
    # Real factors of the requested precision (the suite asks for a complex dtype; a real operator of
    # the same precision acts on real inputs).
    return _example(MonarchPlan.from_shapes((3, 4, 5), (4, 3, 3)), REAL_OF.get(dtype, dtype), device, seed)
