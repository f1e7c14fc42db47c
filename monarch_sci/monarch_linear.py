"""``MonarchLinear``: a drop-in replacement for ``nn.Linear`` whose weight is a Monarch matrix.

``y = W x + b`` with ``W`` the top-left ``(out_features, in_features)`` corner of ``M = Pᵀ L P R`` (the corner
is all of ``M`` unless the plan pads an awkward size). ``O(n^1.5)`` parameters and work instead of ``O(n²)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from monarch_sci.monarch_matrix import monarch_uniform_
from monarch_sci.multiply import check_operand, monarch_multiply, monarch_to_dense
from monarch_sci.plan import MonarchPlan, plan_monarch
from monarch_sci.projection import project

__all__ = ["MonarchLinear"]


class MonarchLinear(nn.Module):
    """Linear layer ``y = W x + b`` with a Monarch weight ``W`` (``nn.Linear`` drop-in).

    .. math::

        y = \\big[P^\\top L P R\\big]_{:out,\\,:in} \\, x + b

    Parameters
    ----------
    in_features, out_features
        Sizes of ``x`` and ``y`` (any sizes; see ``pad``).
    bias
        Learn an additive bias ``b`` (as ``nn.Linear``).
    nblocks
        Number of blocks ``k`` of ``R`` (default: the divisor of ``in_features`` closest to ``√in_features``);
        see :func:`~monarch_sci.plan.plan_monarch`.
    pad
        Allow sizes with no useful factorisation (primes): the input is zero-padded to the plan's ``n_in`` and
        the output truncated to ``out_features``. Without it such sizes raise a ``ValueError``.
    plan
        An explicit :class:`~monarch_sci.plan.MonarchPlan` (e.g. :func:`~monarch_sci.plan.plan_equal_blocks`,
        the layout of the original Monarch code); replaces ``nblocks``/``pad``.
    device, dtype
        As for ``nn.Linear`` (floating or complex dtypes).

    Notes
    -----
    Initialisation (:meth:`reset_parameters`) matches ``nn.Linear``'s scale: every entry of ``W`` has
    variance ``1/(3·in_features)`` (the variance of ``U(−1/√in, 1/√in)``), with ``R`` of variance ``1/p`` and
    ``L`` carrying the rest (see :func:`~monarch_sci.monarch_matrix.monarch_uniform_`); the bias is
    ``U(−1/√in, 1/√in)`` as in ``nn.Linear``.

    Shape
    -----
    ``(*batch, in_features) → (*batch, out_features)``

    Examples
    --------
    >>> layer = MonarchLinear(64, 32)
    >>> layer(torch.randn(5, 3, 64)).shape
    torch.Size([5, 3, 32])
    >>> dense = torch.nn.Linear(64, 64)
    >>> approx = MonarchLinear.from_linear(dense)  # best Monarch approximation of dense.weight
    >>> approx.to_dense().shape
    torch.Size([64, 64])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        nblocks: int | None = None,
        pad: bool = False,
        plan: MonarchPlan | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if not isinstance(dtype, torch.dtype) or not (dtype.is_floating_point or dtype.is_complex):
            raise TypeError(f"MonarchLinear: dtype must be a floating or complex torch.dtype, got {dtype}")
        if plan is None:
            plan = plan_monarch(in_features, out_features, nblocks=nblocks, pad=pad)
        elif not isinstance(plan, MonarchPlan):
            raise TypeError(f"MonarchLinear: plan must be a MonarchPlan or None, got {type(plan).__name__}")
        elif nblocks is not None or pad:
            raise ValueError("MonarchLinear: pass either plan or nblocks/pad, not both")
        if (plan.in_features, plan.out_features) != (in_features, out_features):
            raise ValueError(
                f"MonarchLinear: plan is for in_features={plan.in_features}, out_features={plan.out_features} "
                f"but the layer was asked for in_features={in_features}, out_features={out_features}"
            )
        self.in_features, self.out_features, self.plan = in_features, out_features, plan
        factory = {"device": device, "dtype": dtype}
        self.r_blocks = nn.Parameter(torch.empty(plan.r_shape, **factory))
        self.l_blocks = nn.Parameter(torch.empty(plan.l_shape, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random factors with ``nn.Linear``'s weight variance; bias ``U(−1/√in, 1/√in)`` (see Notes)."""
        monarch_uniform_(self.r_blocks, self.l_blocks, self.in_features, self.plan)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            with torch.no_grad():
                if self.bias.is_complex():
                    self.bias.real.uniform_(-bound, bound)
                    self.bias.imag.uniform_(-bound, bound)
                else:
                    self.bias.uniform_(-bound, bound)

    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        nblocks: int | None = None,
        *,
        pad: bool = False,
        plan: MonarchPlan | None = None,
    ) -> MonarchLinear:
        """The Monarch layer closest to ``linear`` (Frobenius-optimal weight via :func:`project`, bias copied).

        The new layer has ``linear``'s dtype and device. For padded plans the weight is projected after
        zero-padding (see :func:`~monarch_sci.projection.project`).
        """
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"MonarchLinear.from_linear: expected an nn.Linear, got {type(linear).__name__}")
        w = linear.weight
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            nblocks=nblocks,
            pad=pad,
            plan=plan,
            device=w.device,
            dtype=w.dtype,
        )
        r, l = project(w.detach(), layer.plan)
        with torch.no_grad():
            layer.r_blocks.copy_(r)
            layer.l_blocks.copy_(l)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_operand("MonarchLinear", x, self.in_features, self.r_blocks)
        if self.plan.n_in != self.in_features:
            x = F.pad(x, (0, self.plan.n_in - self.in_features))
        y = monarch_multiply(x, self.r_blocks, self.l_blocks)
        if self.plan.n_out != self.out_features:
            y = y[..., : self.out_features]
        return y if self.bias is None else y + self.bias

    def to_dense(self) -> torch.Tensor:
        """The weight ``W`` as a dense ``(out_features, in_features)`` matrix (bias not included)."""
        return monarch_to_dense(self.r_blocks, self.l_blocks)[: self.out_features, : self.in_features]

    @property
    def num_weight_params(self) -> int:
        return self.r_blocks.numel() + self.l_blocks.numel()

    def extra_repr(self) -> str:
        dense = self.in_features * self.out_features
        pad = f", padded to ({self.plan.n_out}, {self.plan.n_in})" if self.plan.padded else ""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"r_blocks={tuple(self.r_blocks.shape)}, l_blocks={tuple(self.l_blocks.shape)}{pad}, "
            f"weight params={self.num_weight_params} ({100.0 * self.num_weight_params / dense:.1f}% of dense)"
        )
