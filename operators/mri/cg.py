"""Batched conjugate gradient for ``(AᴴA + λI) x = b`` (or any Hermitian positive-definite operator).

Each system in the batch has its own step sizes ``α = ⟨r, r⟩ / ⟨p, Np⟩`` and ``β = ⟨r⁺, r⁺⟩ / ⟨r, r⟩``
(inner products over the trailing ``ndim`` dims), and stops updating once its relative residual
``‖r‖ / ‖b‖`` drops below ``tol`` — or below the dtype's rounding level ``eps`` even with ``tol = 0``: past it
the recursion only sees rounding noise, and its squared norms underflow (float32 CG then diverges); the loop
ends when every system has converged or after ``max_iter`` iterations. Pure torch: runs on the device of ``b``,
and is differentiable (autograd through the iterations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["CGResult", "conjugate_gradient"]


@dataclass
class CGResult:
    """Solution and convergence record of :func:`conjugate_gradient`.

    Attributes
    ----------
    x
        The solutions, shape of ``b``.
    iterations
        Iterations run (the most any system needed, at most ``max_iter``).
    residual
        Final relative residual ``‖b − (N + λI)x‖ / ‖b‖`` per system (the CG recursion's value), ``(*batch,)``.
    converged
        ``residual <= tol`` per system.
    """

    x: torch.Tensor
    iterations: int
    residual: torch.Tensor
    converged: torch.Tensor


def conjugate_gradient(
    normal: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    *,
    lam: float = 0.0,
    x0: torch.Tensor | None = None,
    max_iter: int = 50,
    tol: float = 1e-6,
    ndim: int = 2,
) -> CGResult:
    """Solve ``(N + λI) x = b`` for a batch of systems by conjugate gradients.

    Parameters
    ----------
    normal
        ``N``: a Hermitian positive semi-definite map, typically ``x ↦ Aᴴ A x``, applied to a whole batch.
    b
        Right-hand sides, typically ``Aᴴ y``.
    lam
        Tikhonov weight ``λ ≥ 0``.
    x0
        Initial guess (default zeros).
    max_iter, tol
        Iteration cap and relative residual target.
    ndim
        Number of trailing dims forming one unknown (2 for ``(H, W)`` images); leading dims are the batch.

    Shape
    -----
    ``b``, ``x0``, result ``x``: ``(*batch, *unknown)`` with ``len(unknown) = ndim``.

    Examples
    --------
    >>> M = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> b = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> res = conjugate_gradient(lambda x: x @ M.T, b, ndim=1, tol=1e-12)
    >>> torch.allclose(res.x @ M.T, b), res.iterations
    (True, 2)
    """
    if lam < 0:
        raise ValueError(f"conjugate_gradient: lam must be >= 0, got {lam}")
    if max_iter < 0:
        raise ValueError(f"conjugate_gradient: max_iter must be >= 0, got {max_iter}")
    if not 1 <= ndim <= b.dim():
        raise ValueError(f"conjugate_gradient: ndim must be in [1, {b.dim()}] for b of shape {tuple(b.shape)}")
    dims = tuple(range(-ndim, 0))

    def op(v: torch.Tensor) -> torch.Tensor:
        return normal(v) + lam * v if lam else normal(v)

    def dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u.conj() * v).sum(dim=dims).real if u.is_complex() else (u * v).sum(dim=dims)

    def expand(s: torch.Tensor) -> torch.Tensor:
        return s.reshape(*s.shape, *([1] * ndim))

    if x0 is None:
        x = torch.zeros_like(b)
        r = b.clone()
    else:
        if x0.shape != b.shape:
            raise ValueError(f"conjugate_gradient: x0 shape {tuple(x0.shape)} must equal b's {tuple(b.shape)}")
        x = x0.clone()
        r = b - op(x)
    bnorm = dot(b, b).sqrt()
    scale = torch.where(bnorm > 0, bnorm, torch.ones_like(bnorm))
    rr = dot(r, r)
    stop = max(float(tol), torch.finfo(rr.dtype).eps)  # see the module docstring
    active = rr.sqrt() > stop * scale
    p = r.clone()
    it = 0
    while it < max_iter and bool(active.any()):
        Np = op(p)
        pNp = dot(p, Np)
        ok = active & (pNp > 0)
        alpha = torch.where(ok, rr / torch.where(ok, pNp, torch.ones_like(pNp)), torch.zeros_like(rr))
        x = x + expand(alpha) * p
        r = r - expand(alpha) * Np
        rr_new = dot(r, r)
        beta = torch.where(ok, rr_new / torch.where(ok, rr, torch.ones_like(rr)), torch.zeros_like(rr))
        p = torch.where(expand(ok), r + expand(beta) * p, p)
        rr = torch.where(ok, rr_new, rr)
        active = ok & (rr.sqrt() > stop * scale)
        it += 1
    residual = rr.sqrt() / scale
    return CGResult(x, it, residual, residual <= tol)
