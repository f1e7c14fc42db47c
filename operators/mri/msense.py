"""mSENSE: SENSE whose inverse Fourier transform is a learnable Monarch matrix, and its diagonal ablation.

Zero-filled SENSE reconstructs ``x̂ = Aᴴ y = Σ_c conj(S_c) · F⁻¹(M y_c)`` with the centred orthonormal inverse
FFT ``F⁻¹``. mSENSE replaces ``F⁻¹`` by a learnable Monarch matrix ``G`` (a centred orthonormal inverse
:class:`~monarch_sci.dft.MonarchDFT2d`, one Monarch per image axis) initialised to ``F⁻¹``:

.. math::

    \\hat x = \\sum_c \\overline{S_c} \\; G(M y_c), \\qquad G = G_0 \\otimes G_1 \\; (G_0 = G_1 = F^{-1}_{1d}
    \\text{ at initialisation}),

trained end to end against fully sampled SENSE images, so it is exactly zero-filled SENSE before training. It is
written as what it is: the adjoint of the one SENSE physics,
``x̂ = Aᴴ y`` with :class:`~monarch_sci.operators.mri.sense.SenseOperator` built on ``F = Gᴴ`` (so that
``Fᴴ = G``, the learned inverse transform).

The ablation :class:`DiagonalSENSE` keeps the FFT fixed and learns only diagonal reweightings, separable per
axis, in k-space and in image space:

.. math::

    \\hat x = (c \\otimes e) \\odot \\sum_c \\overline{S_c} \\; F^{-1}\\big((a \\otimes b) \\odot M y_c\\big),

with complex ``a, c`` of length ``H`` and ``b, e`` of length ``W``, all ones at initialisation (``2(H + W)``
complex numbers), around the same SENSE adjoint with the FFT. If it matches mSENSE, the Monarch structure
itself is not what helps.
"""

from __future__ import annotations

import torch
from torch import nn

from monarch_sci.fourier import make_fourier
from monarch_sci.operators.mri.reconstructor import SenseReconstructor
from monarch_sci.operators.mri.sense import Learn, SenseOperator, renamed_state_keys, resolve_learn

__all__ = ["MSENSE", "DiagonalSENSE"]

_LEARN_AXES = {"both": "both", "phase": "phase", "readout": "readout"}


class MSENSE(SenseReconstructor):
    """SENSE with a learnable Monarch inverse Fourier transform (mSENSE), exact zero-filled SENSE at init.

    Parameters
    ----------
    shape
        Image / k-space matrix ``(H, W)``; both must be composite (a Monarch needs factors).
    learn
        Which Monarch factors learn: ``"both"`` axes, only the ``"phase"``-encode axis (the last axis, along
        which fastMRI masks lines), only the ``"readout"`` axis (the other stays the exact inverse FFT), or
        ``"none"`` (zero-filled SENSE, frozen).
    learn_axes
        Deprecated spelling of ``learn`` (``"both"``, ``"phase"`` or ``"readout"``).
    dtype, device
        Complex dtype and device of the Monarch factors.

    Shape
    -----
    As :class:`~monarch_sci.operators.mri.reconstructor.SenseReconstructor`: ``(kspace, mask, maps) → image``.

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
        learn: Learn | None = None,
        learn_axes: str | None = None,
        dtype: torch.dtype = torch.complex64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(shape, dtype=None, min_side=2)  # the Monarch transform checks dtype
        self.learn = resolve_learn("MSENSE", learn, "learn_axes", learn_axes, _LEARN_AXES)
        inverse = make_fourier("monarch", self.shape, inverse=True, dtype=dtype, device=device)
        self.physics = SenseOperator(shape=self.shape, fourier=inverse.H, learn=self.learn)
        self._register_load_state_dict_pre_hook(renamed_state_keys("inverse_fourier.", "physics.fourier.op."))

    @property
    def inverse_fourier(self) -> nn.Module:
        """The learned inverse transform ``G`` (``Fᴴ`` of the physics)."""
        return self.physics.fourier.op

    def reset_parameters(self) -> None:
        """Back to the exact centred inverse FFT (zero-filled SENSE)."""
        self.inverse_fourier.reset_parameters()

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        self.physics.check_acquisition(kspace, mask, maps, "MSENSE")
        return self.physics.H(kspace, maps=maps, mask=mask)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, learn={self.learn!r}"


class DiagonalSENSE(SenseReconstructor):
    """Ablation of :class:`MSENSE`: FFT fixed, learnable separable diagonals in k-space and image space.

    ``x̂ = (c ⊗ e) ⊙ Aᴴ((a ⊗ b) ⊙ y)`` with the FFT SENSE physics ``A``.

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
        super().__init__(shape, dtype=dtype, min_side=2)
        h, w = self.shape
        factory = {"dtype": dtype, "device": device}
        self.k_rows = nn.Parameter(torch.empty(h, **factory))
        self.k_cols = nn.Parameter(torch.empty(w, **factory))
        self.x_rows = nn.Parameter(torch.empty(h, **factory))
        self.x_cols = nn.Parameter(torch.empty(w, **factory))
        self.physics = SenseOperator(shape=self.shape, fourier="fft")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """All weights to one: zero-filled SENSE."""
        with torch.no_grad():
            for p in (self.k_rows, self.k_cols, self.x_rows, self.x_cols):
                p.fill_(1.0)

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        self.physics.check_acquisition(kspace, mask, maps, "DiagonalSENSE")
        k_weight = self.k_rows[:, None] * self.k_cols[None, :]  # (H, W)
        x_weight = self.x_rows[:, None] * self.x_cols[None, :]  # (H, W)
        return x_weight * self.physics.H(kspace * k_weight, maps=maps, mask=mask)
