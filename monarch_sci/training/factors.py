"""The Monarch factors as the trainer sees them: which parameters they are, their learning-rate ramp, and the
penalty that anchors them to where they started.

A model's Monarch factors are its trainable parameters named ``r_blocks`` or ``l_blocks`` (every
:class:`~monarch_sci.dft.MonarchDFT`, hence every Monarch Fourier transform). The trainer gives them their own
parameter group and, on request,

* a late start and a warm-up: the multiplier :func:`factor_lr_scale` on top of the main schedule,
  ``s(e) = 0`` for the first ``start`` epochs, then ``(e − start + 1)/(warmup + 1)`` for ``warmup`` epochs,
  then 1;
* an anchor: ``λ · Σ_f ‖θ_f − θ_f⁰‖² / ‖θ_f⁰‖²`` (:func:`anchor_penalty`) added to the loss, ``θ⁰`` the factors
  when training started (for a Monarch FNO built with the default initialisation: the exact DFT).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "anchor_from_checkpoint",
    "anchor_penalty",
    "anchor_start",
    "factor_lr_scale",
    "factor_parameters",
    "is_factor",
]


def is_factor(name: str) -> bool:
    """Whether the parameter called ``name`` (as in ``named_parameters``) is a Monarch factor.

    Examples
    --------
    >>> is_factor("fno.convs.0.fourier.fwd.1.r_blocks"), is_factor("fno.convs.0.weight")
    (True, False)
    """
    return name.endswith("r_blocks") or name.endswith("l_blocks")


def factor_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable Monarch factors of ``model``, in ``named_parameters`` order (shared ones once).

    Examples
    --------
    >>> from monarch_sci.dft import MonarchDFT
    >>> [tuple(p.shape) for p in factor_parameters(MonarchDFT(16, modes=range(4)))]
    [(4, 4, 4), (4, 1, 4)]
    """
    return [p for name, p in model.named_parameters() if p.requires_grad and is_factor(name)]


def factor_lr_scale(epoch: int, *, start: int, warmup: int) -> float:
    """The factors' learning-rate multiplier in ``epoch`` (0-based), on top of the main schedule.

    ``0`` while ``epoch < start`` (frozen), ``(epoch − start + 1)/(warmup + 1)`` for the ``warmup`` epochs after
    that (every warm-up epoch strictly between 0 and the full rate), ``1`` from then on.

    Examples
    --------
    >>> [factor_lr_scale(e, start=2, warmup=3) for e in range(7)]
    [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    >>> factor_lr_scale(0, start=0, warmup=0)
    1.0
    """
    if epoch < start:
        return 0.0
    ramp = epoch - start + 1
    return 1.0 if ramp > warmup else ramp / (warmup + 1)


def anchor_penalty(factors: list[torch.Tensor], start: list[torch.Tensor]) -> torch.Tensor:
    """``Σ_f ‖θ_f − θ_f⁰‖² / ‖θ_f⁰‖²`` (Frobenius norms; complex entries count ``|z|²``) over the factor tensors
    ``factors`` and their starting values ``start``.

    Examples
    --------
    >>> theta0 = [torch.ones(2, 2, dtype=torch.complex64)]
    >>> float(anchor_penalty([2 * theta0[0]], theta0)), float(anchor_penalty(theta0, theta0))
    (1.0, 0.0)
    """
    if len(factors) != len(start):
        raise ValueError(f"anchor_penalty: expected one start per factor tensor ({len(factors)}), got {len(start)}")
    total = torch.zeros((), device=factors[0].device) if factors else torch.zeros(())
    for p, p0 in zip(factors, start):
        d = p - p0
        d = torch.view_as_real(d) if d.is_complex() else d  # |z|² without abs(): no NaN gradient at θ = θ⁰
        ref = torch.view_as_real(p0) if p0.is_complex() else p0
        total = total + d.square().sum() / ref.square().sum()
    return total


def anchor_start(factors: list[torch.Tensor], weight: float) -> list[torch.Tensor] | None:
    """``θ⁰`` for an anchor of weight ``weight``: copies of ``factors`` (``None`` when ``weight`` is 0 or there are
    no factors). A factor tensor that is zero has no relative distance: refused.

    Examples
    --------
    >>> start = anchor_start([torch.ones(2, 3)], 0.1)
    >>> len(start), anchor_start([torch.ones(2, 3)], 0.0)
    (1, None)
    """
    if weight == 0 or not factors:
        return None
    start = [p.detach().clone() for p in factors]
    zero = [i for i, p in enumerate(start) if not bool(p.abs().sum() > 0)]
    if zero:
        raise ValueError(
            f"factor_anchor={weight}: the anchor measures the factors relative to their start, but factor tensor(s) "
            f"{zero} start at zero; use factor_anchor=0 for this model"
        )
    return start


def anchor_from_checkpoint(
    ckpt: dict[str, Any], like: list[torch.Tensor], path: Path, weight: float
) -> list[torch.Tensor]:
    """The anchor's ``θ⁰`` saved in the checkpoint ``ckpt`` (read from ``path``), checked against the model's
    factors ``like`` and moved to their device and dtype.

    Examples
    --------
    >>> like = [torch.zeros(2, 3)]
    >>> [t.shape for t in anchor_from_checkpoint({"factor_anchor_start": [torch.ones(2, 3)]}, like, Path("x"), 1.0)]
    [torch.Size([2, 3])]
    """
    saved = ckpt.get("factor_anchor_start")
    if saved is None:
        raise ValueError(
            f"Trainer: the checkpoint {path} holds no starting factors for factor_anchor={weight} (it was trained "
            "without the anchor); resume with factor_anchor=0, or start a new run"
        )
    shapes = [tuple(t.shape) for t in like]
    if [tuple(t.shape) for t in saved] != shapes:
        got = [tuple(t.shape) for t in saved]
        raise ValueError(f"Trainer: the starting factors in {path} have shapes {got}, the model's factors {shapes}")
    return [t.to(device=p.device, dtype=p.dtype) for t, p in zip(saved, like)]
