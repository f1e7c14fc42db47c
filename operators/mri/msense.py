"""mSENSE: SENSE whose inverse Fourier transform is a learnable Monarch matrix, and its diagonal ablation.

Zero-filled SENSE reconstructs ``x̂ = Aᴴ y = Σ_c conj(S_c) · F⁻¹(M y_c)`` with the centred orthonormal inverse
FFT ``F⁻¹``. mSENSE replaces ``F⁻¹`` by a learnable Monarch matrix ``G`` (a centred orthonormal inverse
:class:`~monarch_sci.dft.MonarchDFT2d`, one Monarch per image axis) initialised to ``F⁻¹``:

.. math::

    \\hat x = \\sum_c \\overline{S_c} \\; G(M y_c), \\qquad G = G_0 \\otimes G_1 \\; (G_0 = G_1 = F^{-1}_{1d}
    \\text{ at initialisation}),

trained end to end against fully sampled SENSE images, so it is exactly zero-filled SENSE before training.

The ablation :class:`DiagonalSENSE` keeps the FFT fixed and learns only diagonal reweightings, separable per
axis, in k-space and in image space:

.. math::

    \\hat x = (c \\otimes e) \\odot \\sum_c \\overline{S_c} \\; F^{-1}\\big((a \\otimes b) \\odot M y_c\\big),

with complex ``a, c`` of length ``H`` and ``b, e`` of length ``W``, all ones at initialisation (``2(H + W)``
complex numbers). If it matches mSENSE, the Monarch structure itself is not what helps.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from monarch_sci.fourier import make_fourier
from monarch_sci.operators.mri.sense import check_batch

__all__ = ["MSENSE", "DiagonalSENSE"]

LearnAxes = Literal["both", "phase", "readout"]
_LEARN_AXES = ("both", "phase", "readout")


def _check_shape(shape: tuple[int, int], where: str) -> tuple[int, int]:
    if len(shape) != 2 or any(int(n) < 2 for n in shape):
        raise ValueError(f"{where}: shape must be the image size (H, W) with H, W >= 2, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _check_size(kspace: torch.Tensor, shape: tuple[int, int], where: str) -> None:
    if tuple(kspace.shape[-2:]) != shape:
        raise ValueError(
            f"{where}: this model was built for {shape[0]}×{shape[1]} k-space, got (B, C, H, W) = "
            f"{tuple(kspace.shape)}; train a model for this matrix size"
        )


class MSENSE(nn.Module):
    """SENSE with a learnable Monarch inverse Fourier transform (mSENSE), exact zero-filled SENSE at init.

    Parameters
    ----------
    shape
        Image / k-space matrix ``(H, W)``; both must be composite (a Monarch needs factors).
    learn_axes
        Which Monarch factors learn: ``"both"`` axes, only the ``"phase"``-encode axis (the last axis, along
        which fastMRI masks lines) or only the ``"readout"`` axis (the other stays the exact inverse FFT).
    dtype, device
        Complex dtype and device of the Monarch factors.

    Shape
    -----
    ``kspace`` ``(B, C, H, W)`` complex, ``mask`` broadcastable to ``(B, 1, H, W)``, ``maps`` ``(B, C, H, W)``
    complex → image ``(B, H, W)`` complex.

    Examples
    --------
    >>> model = MSENSE((16, 12), dtype=torch.complex128)
    >>> y = torch.randn(2, 3, 16, 12, dtype=torch.complex128)
    >>> S = torch.randn(2, 3, 16, 12, dtype=torch.complex128)
    >>> model(y, torch.ones(1, 1, 1, 12), S).shape
    torch.Size([2, 16, 12])
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        learn_axes: LearnAxes = "both",
        dtype: torch.dtype = torch.complex64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.shape = _check_shape(shape, "MSENSE")
        if learn_axes not in _LEARN_AXES:
            raise ValueError(f"MSENSE: learn_axes must be one of {_LEARN_AXES}, got {learn_axes!r}")
        self.learn_axes = learn_axes
        self.inverse_fourier = make_fourier("monarch", self.shape, inverse=True, dtype=dtype, device=device)
        frozen = {"both": (), "phase": (self.inverse_fourier.f0,), "readout": (self.inverse_fourier.f1,)}[learn_axes]
        for axis in frozen:
            for p in axis.parameters():
                p.requires_grad_(False)

    def reset_parameters(self) -> None:
        """Back to the exact centred inverse FFT (zero-filled SENSE)."""
        self.inverse_fourier.reset_parameters()

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        check_batch(kspace, mask, maps, "MSENSE")
        _check_size(kspace, self.shape, "MSENSE")
        masked = mask.to(dtype=kspace.real.dtype) * kspace
        return (maps.conj() * self.inverse_fourier(masked)).sum(dim=-3)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, learn_axes={self.learn_axes!r}"


class DiagonalSENSE(nn.Module):
    """Ablation of :class:`MSENSE`: FFT fixed, learnable separable diagonals in k-space and image space.

    Parameters
    ----------
    shape
        Image / k-space matrix ``(H, W)``.
    dtype, device
        Complex dtype and device of the four weight vectors ``a`` (k-space rows), ``b`` (k-space columns),
        ``c`` (image rows), ``e`` (image columns).

    Shape
    -----
    As :class:`MSENSE`.

    Examples
    --------
    >>> model = DiagonalSENSE((16, 12))
    >>> sum(p.numel() for p in model.parameters())  # 2·(16 + 12) complex weights
    56
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        dtype: torch.dtype = torch.complex64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.shape = _check_shape(shape, "DiagonalSENSE")
        if dtype not in (torch.complex64, torch.complex128):
            raise TypeError(f"DiagonalSENSE: dtype must be torch.complex64 or torch.complex128, got {dtype}")
        h, w = self.shape
        factory = {"dtype": dtype, "device": device}
        self.k_rows = nn.Parameter(torch.empty(h, **factory))
        self.k_cols = nn.Parameter(torch.empty(w, **factory))
        self.x_rows = nn.Parameter(torch.empty(h, **factory))
        self.x_cols = nn.Parameter(torch.empty(w, **factory))
        self.inverse_fourier = make_fourier("fft", self.shape, inverse=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """All weights to one: zero-filled SENSE."""
        with torch.no_grad():
            for p in (self.k_rows, self.k_cols, self.x_rows, self.x_cols):
                p.fill_(1.0)

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        check_batch(kspace, mask, maps, "DiagonalSENSE")
        _check_size(kspace, self.shape, "DiagonalSENSE")
        k_weight = self.k_rows[:, None] * self.k_cols[None, :]  # (H, W)
        x_weight = self.x_rows[:, None] * self.x_cols[None, :]  # (H, W)
        masked = mask.to(dtype=kspace.real.dtype) * kspace * k_weight
        return x_weight * (maps.conj() * self.inverse_fourier(masked)).sum(dim=-3)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
