"""The Fourier conventions of the toolkit, defined once: the centred orthonormal 2-D transform of MRI.

MRI images and k-space use the centred orthonormal 2-D DFT over the last two axes,

.. math::

    F x = \\mathrm{fftshift}\\big(\\mathrm{fft2}(\\mathrm{ifftshift}(x))\\big) \\text{ (orthonormal)},
    \\qquad F^{\\mathsf H} = F^{-1},

as fastMRI's ``fft2c``/``ifft2c``. :class:`CenteredFFT2` is that pair as a module (``forward`` and
``adjoint``); :func:`make_fourier` is the swappable Fourier of the architecture, ``fourier="fft"`` (this module)
or ``fourier="monarch"`` (a learnable :class:`~monarch_sci.dft.MonarchDFT2d` equal to it at initialisation).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from monarch_sci.dft import MonarchDFT2d

__all__ = ["FOURIERS", "CenteredFFT2", "Fourier", "make_fourier"]

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
