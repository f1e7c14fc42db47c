"""The SENSE forward model ``A = M F S`` as a registered :class:`~monarch_sci.linop.LinearOperator`.

.. math::

    (A x)_c = M \\, F (S_c x), \\qquad A^{\\mathsf H} y = \\sum_c \\overline{S_c}\\, F^{\\mathsf H} (M y_c),

with ``S`` the coil sensitivities, ``F`` the centred orthonormal 2-D Fourier transform
``fftshift(fft2(ifftshift(x), norm="ortho"))`` (the one MRI convention of the toolkit) and ``M`` the sampling
mask. ``F`` is the swappable Fourier component of :mod:`monarch_sci.fourier`: ``fourier="fft"``
(``torch.fft``) or ``fourier="monarch"`` (a learnable centred orthonormal
:class:`~monarch_sci.dft.MonarchDFT2d`, equal to the FFT at initialisation), or an injected module with
``forward``/``adjoint``. The algebra itself is :func:`sense_forward` /
:func:`sense_adjoint`, shared with the learned models.

The maps and the mask are stored as buffers: an operator built for a stack of slices (maps
``(S, C, H, W)``) is batched over those slices, and one built from a single map set ``(C, H, W)`` applies to
any batch of images.
"""

from __future__ import annotations

import torch
from torch import nn

from monarch_sci.fourier import FOURIERS, make_fourier
from monarch_sci.linop import LinearOperator, register_operator

__all__ = ["SenseOperator", "check_batch", "sense_adjoint", "sense_forward"]


def check_batch(kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor, where: str) -> None:
    """Raise a clear error unless ``kspace``/``maps`` are complex ``(B, C, H, W)`` and ``mask`` broadcasts."""
    for name, t in (("kspace", kspace), ("maps", maps)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4 or not t.is_complex():
            got = f"{tuple(t.shape)} {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{where}: expected {name} as a complex tensor (B, coils, H, W), got {got}")
    if kspace.shape != maps.shape:
        raise ValueError(
            f"{where}: kspace {tuple(kspace.shape)} and maps {tuple(maps.shape)} must have the same shape "
            "(B, coils, H, W)"
        )
    if not isinstance(mask, torch.Tensor) or mask.is_complex():
        raise ValueError(f"{where}: expected a real or bool mask tensor, got {getattr(mask, 'dtype', type(mask))}")
    b, _, h, w = kspace.shape
    try:
        torch.broadcast_shapes(mask.shape, (b, 1, h, w))
    except RuntimeError:
        raise ValueError(
            f"{where}: mask of shape {tuple(mask.shape)} does not broadcast to (B, 1, H, W) = {(b, 1, h, w)}"
        ) from None


def _as_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.to(dtype=like.real.dtype, device=like.device)


def sense_forward(x: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor, fourier: nn.Module) -> torch.Tensor:
    """``A x = M F (S x)``: image ``(B, H, W)`` → masked multi-coil k-space ``(B, C, H, W)``."""
    return _as_mask(mask, maps) * fourier(maps * x.unsqueeze(-3))


def sense_adjoint(y: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor, fourier: nn.Module) -> torch.Tensor:
    """``Aᴴ y = Σ_c conj(S_c) Fᴴ(M y_c)``: multi-coil k-space ``(B, C, H, W)`` → image ``(B, H, W)``."""
    return (maps.conj() * fourier.adjoint(_as_mask(mask, maps) * y)).sum(dim=-3)


class SenseOperator(LinearOperator):
    """Multi-coil Cartesian SENSE operator ``A = M F S``.

    Parameters
    ----------
    maps
        Coil sensitivities ``S``, complex ``(*batch, C, H, W)``.
    mask
        Sampling mask ``M`` (real or bool), broadcastable to ``(*batch, 1, H, W)``: a line mask ``(W,)`` or
        ``(S, 1, 1, W)``, a 2-D mask ``(H, W)``; ``None`` means fully sampled.
    fourier
        ``"fft"``, ``"monarch"`` or a module with ``forward`` (image → k-space) and ``adjoint``.
    learnable
        With ``fourier="monarch"``: the Monarch factors are parameters (``True``) or fixed.

    Shape
    -----
    forward ``(*batch, H, W) → (*batch, C, H, W)``; adjoint the reverse. ``batch`` must broadcast with the
    maps' leading dims.

    Examples
    --------
    >>> maps = torch.randn(2, 4, 16, 12, dtype=torch.complex128)
    >>> mask = (torch.rand(12) < 0.5).double()
    >>> A = SenseOperator(maps, mask)
    >>> x = torch.randn(2, 16, 12, dtype=torch.complex128)
    >>> A(x).shape, A.H(A(x)).shape
    (torch.Size([2, 4, 16, 12]), torch.Size([2, 16, 12]))
    """

    def __init__(
        self,
        maps: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        fourier: str | nn.Module = "fft",
        learnable: bool = True,
    ) -> None:
        if not isinstance(maps, torch.Tensor) or maps.dim() < 3 or not maps.is_complex():
            got = f"{tuple(maps.shape)} {maps.dtype}" if isinstance(maps, torch.Tensor) else type(maps).__name__
            raise ValueError(f"SenseOperator: maps must be a complex tensor (*batch, coils, H, W), got {got}")
        C, H, W = (int(d) for d in maps.shape[-3:])
        super().__init__((H, W), (C, H, W))
        if mask is None:
            mask = torch.ones(W, dtype=maps.real.dtype, device=maps.device)
        if not isinstance(mask, torch.Tensor) or mask.is_complex():
            raise ValueError(f"SenseOperator: mask must be a real or bool tensor, got {getattr(mask, 'dtype', mask)}")
        try:
            torch.broadcast_shapes(mask.shape, (*maps.shape[:-3], 1, H, W))
        except RuntimeError:
            raise ValueError(
                f"SenseOperator: mask of shape {tuple(mask.shape)} does not broadcast to (*batch, 1, H, W) = "
                f"{(*maps.shape[:-3], 1, H, W)} of maps {tuple(maps.shape)}"
            ) from None
        self.register_buffer("maps", maps)
        self.register_buffer("mask", mask.to(dtype=maps.real.dtype, device=maps.device))
        if isinstance(fourier, str):
            if fourier not in FOURIERS:
                raise ValueError(f"SenseOperator: fourier must be one of {FOURIERS} or a module, got {fourier!r}")
            self.fourier_kind = fourier
            fourier = make_fourier(fourier, (H, W), dtype=maps.dtype, device=maps.device)
            if not learnable:
                fourier.requires_grad_(False)
        else:
            self.fourier_kind = type(fourier).__name__
        self.fourier = fourier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, self.ishape, "image")
        return sense_forward(x, self.maps, self.mask, self.fourier)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self.check_input(y, self.oshape, "k-space")
        return sense_adjoint(y, self.maps, self.mask, self.fourier)

    def extra_repr(self) -> str:
        return (
            f"maps={tuple(self.maps.shape)}, mask={tuple(self.mask.shape)}, fourier={self.fourier_kind!r}, "
            f"sampled={self.mask.mean().item():.3f}"
        )


def _example(dtype: torch.dtype, device, seed: int, fourier: str) -> SenseOperator:
    g = torch.Generator().manual_seed(seed)
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    maps = torch.randn(2, 3, 8, 6, generator=g, dtype=real) + 1j * torch.randn(2, 3, 8, 6, generator=g, dtype=real)
    mask = (torch.rand(2, 1, 1, 6, generator=g) < 0.6).to(real)
    mask[..., 3] = 1
    op = SenseOperator(maps.to(dtype=dtype, device=device), mask.to(device), fourier=fourier)
    if fourier == "monarch":  # move away from the exact DFT so the suite checks a general learned state
        with torch.no_grad():
            for p in op.fourier.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return op


@register_operator("SenseOperator")
def _example_sense(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> SenseOperator:
    return _example(dtype, device, seed, "fft")


@register_operator("SenseOperator-monarch")
def _example_sense_monarch(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> SenseOperator:
    return _example(dtype, device, seed, "monarch")
