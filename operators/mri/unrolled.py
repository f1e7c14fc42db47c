"""An unrolled SENSE reconstruction network (VarNet-style gradient steps, MoDL-style shared regulariser).

Starting from ``x_0`` — CG-SENSE (``init="cg"``: ``init_iters`` conjugate-gradient iterations on
``(AᴴA + λ₀I) x = Aᴴ y``, computed without gradient) or zero-filled SENSE (``init="adjoint"``: ``x_0 = Aᴴ y``)
— each of ``K`` cascades takes a data-consistency gradient step through the SENSE operator and adds a learned
correction:

.. math::

    x_{k+1} = x_k - \\eta_k \\, A^{\\mathsf H}(A x_k - y) + R_{\\theta_k}(x_k), \\qquad A = M F S,

where ``F`` is the swappable centred orthonormal Fourier transform (``fourier="fft"``: ``torch.fft``;
``"monarch"``: one learnable :class:`~monarch_sci.dft.MonarchDFT2d`, used with its exact adjoint so ``Aᴴ`` is
always the adjoint of ``A``), ``η_k`` a learnable step size (initialised to 1, which is safe since
``‖AᴴA‖ ≤ 1`` for orthonormal ``F`` and maps with ``Σ|S_c|² ≤ 1``) and ``R`` a small residual CNN on the
(real, imaginary) channels.

Design choices (documented, since the issue leaves them open):

* **Gradient-step data consistency** (VarNet) rather than MoDL's inner conjugate gradient: one ``A`` and one
  ``Aᴴ`` per cascade, so a Monarch ``F`` costs a few transforms per slice, not a few hundred.
* **Shared regulariser weights** by default (``shared=True``, MoDL): the parameter count does not grow with
  ``K``, which matters in the low-data setting (one or five training volumes). ``shared=False`` gives one CNN
  per cascade (VarNet). Step sizes are per cascade either way.
* **CG-SENSE warm start** by default: with few training steps (our CPU budget) a network started from
  ``Aᴴ y`` spends them relearning what CG already does; started from CG-SENSE it only has to improve on it.
  The warm start uses the model's own ``F`` (so the Monarch version's start moves with its factors) under
  ``torch.no_grad`` — a stop-gradient that keeps the backward pass to the ``K`` cascades.
* The last convolution of ``R`` starts at zero, so at initialisation the network is exactly ``K`` Landweber
  steps on the SENSE least-squares problem from ``x_0``, and the Monarch version equals the FFT version.
* Inputs are scaled by ``s = max |x_0|`` per slice before the CNN and the output is scaled back, so the model
  is equivariant to the k-space scale (the CNN sees images of unit peak).
"""

from __future__ import annotations

import functools
from typing import Literal

import torch
from torch import nn

from monarch_sci.dtypes import REAL_OF
from monarch_sci.fourier import FOURIERS, Fourier
from monarch_sci.operators.mri.cg import conjugate_gradient
from monarch_sci.operators.mri.networks import (
    ConvRegulariser,
    UNet,
    channels_to_complex,
    complex_to_channels,
)
from monarch_sci.operators.mri.reconstructor import SenseReconstructor, peak_scale
from monarch_sci.operators.mri.sense import SenseOperator, renamed_state_keys

__all__ = ["UnrolledSENSE"]


class UnrolledSENSE(SenseReconstructor):
    """Unrolled gradient-step SENSE reconstruction with a CNN regulariser and a swappable Fourier transform.

    Parameters
    ----------
    shape
        Matrix ``(H, W)`` (needed for the Monarch transform; checked for both).
    fourier
        ``"fft"`` or ``"monarch"`` (learnable, exact FFT at initialisation).
    cascades
        Number of unrolled steps ``K``.
    channels, layers
        Width and depth of the CNN regulariser.
    shared
        One regulariser for all cascades (default) or one per cascade.
    regulariser
        ``"cnn"`` (plain :class:`ConvRegulariser`, ``layers`` deep) or ``"unet"`` (a small
        :class:`~monarch_sci.operators.mri.networks.UNet` of depth 2, as VarNet uses: its receptive field spans the
        line-aliasing distance ``W/R``); the last layer starts at zero either way.
    init, init_iters, init_lam
        Starting image: ``"cg"`` (CG-SENSE, ``init_iters`` iterations, Tikhonov ``init_lam``) or ``"adjoint"``.
    dtype, device
        Complex dtype of the data and of the Monarch factors (the CNN uses the matching real dtype).

    Shape
    -----
    As :class:`~monarch_sci.operators.mri.reconstructor.SenseReconstructor`: ``(kspace, mask, maps) → image``.

    Examples
    --------
    >>> net = UnrolledSENSE((16, 16), fourier="monarch", cascades=2, channels=4, layers=2)
    >>> y = torch.randn(1, 2, 16, 16, dtype=torch.complex64)
    >>> net(y, torch.ones(1, 1, 1, 16), torch.randn(1, 2, 16, 16, dtype=torch.complex64)).shape
    torch.Size([1, 16, 16])
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        fourier: Fourier = "fft",
        cascades: int = 5,
        channels: int = 32,
        layers: int = 4,
        shared: bool = True,
        regulariser: Literal["cnn", "unet"] = "cnn",
        init: Literal["cg", "adjoint"] = "cg",
        init_iters: int = 10,
        init_lam: float = 1e-3,
        dtype: torch.dtype = torch.complex64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(shape, dtype=dtype)
        if fourier not in FOURIERS:
            raise ValueError(f"UnrolledSENSE: fourier must be one of {FOURIERS}, got {fourier!r}")
        if cascades < 1:
            raise ValueError(f"UnrolledSENSE: cascades must be >= 1, got {cascades}")
        if init not in ("cg", "adjoint"):
            raise ValueError(f"UnrolledSENSE: init must be 'cg' or 'adjoint', got {init!r}")
        if init_iters < 1 or init_lam < 0:
            raise ValueError(f"UnrolledSENSE: need init_iters >= 1 and init_lam >= 0, got {init_iters}, {init_lam}")
        self.init, self.init_iters, self.init_lam = init, int(init_iters), float(init_lam)
        self.fourier_kind, self.cascades, self.shared = fourier, cascades, shared
        self.physics = SenseOperator(shape=self.shape, fourier=fourier, dtype=dtype, device=device)
        self._register_load_state_dict_pre_hook(renamed_state_keys("fourier.", "physics.fourier."))
        real = REAL_OF[dtype]
        n_reg = 1 if shared else cascades
        if regulariser not in ("cnn", "unet"):
            raise ValueError(f"UnrolledSENSE: regulariser must be 'cnn' or 'unet', got {regulariser!r}")
        self.regulariser = regulariser
        if regulariser == "cnn":
            regs = [ConvRegulariser(channels=channels, layers=layers, dtype=real, device=device) for _ in range(n_reg)]
        else:
            regs = [
                UNet(2, 2, channels=channels, depth=2, zero_head=True, dtype=real, device=device) for _ in range(n_reg)
            ]
        self.regularisers = nn.ModuleList(regs)
        self.step = nn.Parameter(torch.ones(cascades, dtype=real, device=device))

    @property
    def fourier(self) -> nn.Module:
        """The physics' Fourier transform ``F`` (learnable with ``fourier="monarch"``)."""
        return self.physics.fourier

    def reset_parameters(self) -> None:
        for r in self.regularisers:
            r.reset_parameters()  # last layer zero again, either kind
        if hasattr(self.fourier, "reset_parameters"):
            self.fourier.reset_parameters()
        with torch.no_grad():
            self.step.fill_(1.0)

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        A = self.physics
        A.check_acquisition(kspace, mask, maps, "UnrolledSENSE")
        x = A.H(kspace, maps=maps, mask=mask)  # (B, H, W)
        scale = peak_scale(x)
        y = kspace / scale[..., None]
        x = x / scale
        if self.init == "cg":
            with torch.no_grad():  # the stop-gradient warm start (see the module docstring)
                normal = functools.partial(A.normal, maps=maps, mask=mask)
                x = conjugate_gradient(normal, x.detach(), lam=self.init_lam, max_iter=self.init_iters, tol=0.0).x
        for k in range(self.cascades):
            reg = self.regularisers[0 if self.shared else k]
            correction = channels_to_complex(reg(complex_to_channels(x)))
            x = x - self.step[k] * A.H(A(x, maps=maps, mask=mask) - y, maps=maps, mask=mask) + correction
        return x * scale

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, fourier={self.fourier_kind!r}, cascades={self.cascades}, shared={self.shared}, "
            f"regulariser={self.regulariser!r}, init={self.init!r}"
        )
