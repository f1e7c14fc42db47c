"""Per-batch multi-coil SENSE algebra for the learned MRI models, with an injected Fourier transform.

The learned models see a different coil-map set and mask in every batch, so they apply

.. math::

    A x = M \\, F (S x), \\qquad A^{\\mathsf H} y = \\sum_c \\overline{S_c} \\, F^{\\mathsf H}(M y_c),

with the maps ``S`` and the mask ``M`` passed per call and the 2-D centred orthonormal Fourier transform ``F``
given as a module with ``forward`` (image → k-space) and ``adjoint`` (k-space → image): the swappable Fourier
of the architecture, ``fourier="fft"`` (:class:`CenteredFFT2`) or ``fourier="monarch"`` (a learnable
:class:`~monarch_sci.dft.MonarchDFT2d` initialised to it), built by :func:`make_fourier`.

Shape
-----
image ``(B, H, W)`` complex; k-space and maps ``(B, C, H, W)`` complex; mask broadcastable to ``(B, 1, H, W)``
(a fastMRI line mask ``(B, 1, 1, W)`` or ``(1, 1, 1, W)`` is fine), real or bool.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from monarch_sci.dft import MonarchDFT2d

__all__ = ["CenteredFFT2", "check_batch", "make_fourier", "sense_adjoint", "sense_forward"]

Fourier = Literal["fft", "monarch"]
FOURIERS = ("fft", "monarch")


class CenteredFFT2(nn.Module):
    """The MRI Fourier convention: ``F x = fftshift(fft2(ifftshift(x), norm="ortho"))`` over the last two axes.

    ``adjoint`` is the centred orthonormal inverse (``Fᴴ = F⁻¹``). It has the same interface as a centred
    orthonormal :class:`~monarch_sci.dft.MonarchDFT2d`, which equals it at initialisation.

    Shape
    -----
    ``(..., H, W) → (..., H, W)``.

    Examples
    --------
    >>> F = CenteredFFT2((8, 6))
    >>> x = torch.randn(2, 8, 6, dtype=torch.complex128)
    >>> torch.allclose(F.adjoint(F(x)), x)
    True
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        super().__init__()
        self.shape = (int(shape[0]), int(shape[1]))

    def _check(self, x: torch.Tensor, what: str) -> None:
        if x.dim() < 2 or tuple(x.shape[-2:]) != self.shape:
            raise ValueError(
                f"CenteredFFT2: expected {what} of shape (..., {self.shape[0]}, {self.shape[1]}), got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x, "image")
        dims = (-2, -1)
        return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=dims), norm="ortho"), dim=dims)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y, "k-space")
        dims = (-2, -1)
        return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(y, dim=dims), norm="ortho"), dim=dims)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def make_fourier(
    fourier: Fourier,
    shape: tuple[int, int],
    *,
    inverse: bool = False,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> nn.Module:
    """The swappable 2-D centred orthonormal Fourier transform of an ``(H, W)`` image.

    ``"fft"``: :class:`CenteredFFT2` (for ``inverse=True`` its forward is the inverse transform);
    ``"monarch"``: a learnable ``MonarchDFT2d(shape, inverse=inverse, norm="ortho", centered=True)``, equal to the
    FFT version at initialisation.
    """
    if fourier not in FOURIERS:
        raise ValueError(f"make_fourier: fourier must be one of {FOURIERS}, got {fourier!r}")
    if fourier == "monarch":
        return MonarchDFT2d(shape, inverse=inverse, norm="ortho", centered=True, dtype=dtype, device=device)
    if inverse:
        return _InverseOf(CenteredFFT2(shape))
    return CenteredFFT2(shape)


class _InverseOf(nn.Module):
    def __init__(self, op: nn.Module) -> None:
        super().__init__()
        self.op = op

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.op.adjoint(y)

    def adjoint(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


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
