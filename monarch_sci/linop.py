"""Linear operators: forward, adjoint, ``.H`` and composition with ``@``.

A :class:`LinearOperator` is an ``nn.Module`` (so learnable operators such as a Monarch DFT carry their
parameters) acting on the trailing ``ishape`` dimensions of a tensor and producing ``oshape``; any leading
dimensions are batch. Subclasses implement :meth:`forward` and :meth:`adjoint`.

Every operator type is registered once with :func:`register_operator` together with a small example factory;
``tests/core/test_linop_properties.py`` runs one property suite over the whole registry (linearity, the
relative dot-product adjoint test, ``A.H.H == A``, ∇½‖Ax‖² = AᴴAx, complex128 gradcheck, state_dict
round trip). Parts of the toolkit that define operators (SENSE, spectral transforms) register there too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "OPERATOR_REGISTRY",
    "AdjointOperator",
    "ComposedOperator",
    "LinearOperator",
    "OperatorExample",
    "register_operator",
]


class LinearOperator(nn.Module):
    """Base class: ``y = A x`` on the trailing ``ishape`` dims, ``x = Aᴴ y`` on the trailing ``oshape`` dims.

    Parameters
    ----------
    ishape, oshape
        Trailing shapes of the input and output (batch dims in front are carried through).

    Examples
    --------
    >>> class Scale(LinearOperator):
    ...     def __init__(self, n, a):
    ...         super().__init__((n,), (n,)); self.a = a
    ...     def forward(self, x): return self.a * x
    ...     def adjoint(self, y): return self.a * y
    >>> A = Scale(3, 2.0)
    >>> (A.H @ A)(torch.ones(3))
    tensor([4., 4., 4.])
    """

    def __init__(self, ishape: tuple[int, ...], oshape: tuple[int, ...]) -> None:
        super().__init__()
        self.ishape = tuple(int(d) for d in ishape)
        self.oshape = tuple(int(d) for d in oshape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def H(self) -> LinearOperator:
        """The adjoint operator ``Aᴴ`` (a view: it shares this operator's parameters)."""
        return AdjointOperator(self)

    def __matmul__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return ComposedOperator(self, other)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``AᴴA x`` (override when a cheaper form exists)."""
        return self.adjoint(self.forward(x))

    def check_input(self, x: torch.Tensor, shape: tuple[int, ...], what: str = "input") -> None:
        """Raise a ``ValueError`` naming this operator if ``x``'s trailing dims are not ``shape``."""
        nd = len(shape)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__}: {what} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < nd or tuple(x.shape[x.dim() - nd :]) != shape:
            raise ValueError(
                f"{type(self).__name__}: expected {what} of shape (*batch, {', '.join(map(str, shape))}), "
                f"got {tuple(x.shape)}"
            )

    def extra_repr(self) -> str:
        return f"ishape={self.ishape}, oshape={self.oshape}"


class AdjointOperator(LinearOperator):
    """``Aᴴ`` of an operator ``A``; ``.H`` of it returns ``A`` itself."""

    def __init__(self, op: LinearOperator) -> None:
        super().__init__(op.oshape, op.ishape)
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op.adjoint(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.op.forward(y)

    @property
    def H(self) -> LinearOperator:
        return self.op


class ComposedOperator(LinearOperator):
    """``A @ B``: apply ``B`` then ``A``; the adjoint is ``Bᴴ Aᴴ``."""

    def __init__(self, a: LinearOperator, b: LinearOperator) -> None:
        if a.ishape != b.oshape:
            raise ValueError(
                f"cannot compose {type(a).__name__} (ishape {a.ishape}) with {type(b).__name__} "
                f"(oshape {b.oshape}): the shapes must match"
            )
        super().__init__(b.ishape, a.oshape)
        self.a = a
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(self.b(x))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.b.adjoint(self.a.adjoint(y))


@dataclass(frozen=True)
class OperatorExample:
    """What the property suite needs to exercise one registered operator type."""

    name: str
    #: ``factory(dtype, device, seed) -> LinearOperator`` builds a small randomly initialised instance.
    factory: Callable[..., LinearOperator]
    #: Input dtype for a given operator dtype (e.g. a real FNO transform takes real fields).
    complex_input: bool = True


#: name -> example; filled by :func:`register_operator` at import time of the defining modules.
OPERATOR_REGISTRY: dict[str, OperatorExample] = {}


def register_operator(name: str, *, complex_input: bool = True):
    """Decorator registering ``factory(dtype, device, seed) -> LinearOperator`` for the property suite."""

    def deco(factory: Callable[..., LinearOperator]) -> Callable[..., LinearOperator]:
        if name in OPERATOR_REGISTRY:
            raise ValueError(f"register_operator: an operator named {name!r} is already registered")
        OPERATOR_REGISTRY[name] = OperatorExample(name, factory, complex_input)
        return factory

    return deco
