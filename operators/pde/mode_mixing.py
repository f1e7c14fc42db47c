"""Per-mode channel mixing of a spectral convolution, as one batched matrix product over the kept modes.

.. math::

    y_{b,o,k} = \\sum_i c_{b,i,k}\\, W_{i,o,k}

is ``torch.einsum("bik,iok->bok", c, W)``; for every mode ``k`` it is the product of a ``(batch × in)`` and an
``(in × out)`` complex matrix. :func:`mix_modes` computes it as one ``bmm`` over modes with both operands laid
out mode-major and contiguous, in the forward *and* the backward pass (``∂c = ∂y Wᴴ``, ``∂W = cᴴ ∂y`` per
mode). ``einsum``'s own backward meets the incoming gradient in whatever strides the inverse transform left
it, and for complex strided operands the CPU ``bmm`` then copies every mode's matrix separately (thousands of
small copies per training step of an FNO); here the gradient is made contiguous once.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

__all__ = ["mix_modes"]


def _mode_major(t: torch.Tensor) -> torch.Tensor:
    """``(p, q, *modes)`` → ``(K, p, q)`` contiguous, ``K = prod(modes)``."""
    p, q = t.shape[:2]
    return t.reshape(p, q, -1).permute(2, 0, 1).contiguous()


class _MixModes(torch.autograd.Function):
    @staticmethod
    def forward(ctx, c: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        b, modes, o = c.shape[0], c.shape[2:], weight.shape[1]
        ck, wk = _mode_major(c), _mode_major(weight)  # (K, b, i), (K, i, o)
        ctx.save_for_backward(ck, wk)
        ctx.shapes = (tuple(c.shape), tuple(weight.shape))
        return torch.bmm(ck, wk).permute(1, 2, 0).reshape(b, o, *modes)  # (K, b, o) -> (b, o, *modes)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        ck, wk = ctx.saved_tensors
        c_shape, w_shape = ctx.shapes
        gk = _mode_major(grad)  # (K, b, o)
        grad_c = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_c = torch.bmm(gk, wk.transpose(1, 2).conj()).permute(1, 2, 0).reshape(c_shape)
        if ctx.needs_input_grad[1]:
            grad_w = torch.bmm(ck.transpose(1, 2).conj(), gk).permute(1, 2, 0).reshape(w_shape)
        return grad_c, grad_w


def mix_modes(c: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``y[b, o, k] = Σ_i c[b, i, k] · W[i, o, k]`` over any number of mode axes ``k`` (see the module docstring).

    Shape
    -----
    ``c`` ``(batch, in, *modes)``, ``weight`` ``(in, out, *modes)`` → ``(batch, out, *modes)``; one dtype.

    Examples
    --------
    >>> c = torch.randn(2, 3, 4, 5, dtype=torch.complex128)
    >>> w = torch.randn(3, 6, 4, 5, dtype=torch.complex128)
    >>> torch.allclose(mix_modes(c, w), torch.einsum("bixy,ioxy->boxy", c, w))
    True
    """
    if c.dim() < 3 or weight.dim() != c.dim() or c.shape[1] != weight.shape[0] or c.shape[2:] != weight.shape[2:]:
        raise ValueError(
            f"mix_modes: expected c (batch, in, *modes) and weight (in, out, *modes) with one in and one modes, got "
            f"c {tuple(c.shape)} and weight {tuple(weight.shape)}"
        )
    if c.dtype != weight.dtype:
        raise TypeError(f"mix_modes: c and weight need one dtype, got {c.dtype} and {weight.dtype}")
    if math.prod(c.shape[2:]) == 0:
        return c.new_zeros(c.shape[0], weight.shape[1], *c.shape[2:])
    return _MixModes.apply(c, weight)
