"""The image-domain baseline that refines zero-filled SENSE with a small U-Net.

:class:`UNet` is the usual encoder–decoder (Ronneberger et al.): at each of ``depth`` levels two 3×3
convolutions with instance norm and leaky ReLU, 2×2 average pooling down, transposed convolution up, skip
connections by concatenation; the channel count doubles per level.

:class:`UNetRecon` is the baseline every learned model is compared with: no physics after the first step,

.. math::

    \\hat x = x_0 + s \\cdot \\mathrm{UNet}(x_0 / s), \\qquad x_0 = A^{\\mathsf H} y, \\quad s = \\max |x_0|,

with ``x_0`` zero-filled SENSE (FFT), on the (real, imaginary) channels; the U-Net's output layer starts at
zero, so the model starts as zero-filled SENSE. Images whose sides are not multiples of ``2^depth`` are
zero-padded and cropped back.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from monarch_sci.dtypes import REAL_OF
from monarch_sci.operators.mri.networks import UNet, channels_to_complex, complex_to_channels
from monarch_sci.operators.mri.sense import SenseOperator

__all__ = ["UNetRecon"]


class UNetRecon(nn.Module):
    """Image-domain baseline: zero-filled SENSE refined by a residual :class:`UNet`.

    Parameters
    ----------
    shape
        Matrix ``(H, W)`` the model expects.
    channels, depth
        U-Net width and number of poolings.
    dtype, device
        Complex dtype of the data (the U-Net uses the matching real dtype).

    Shape
    -----
    ``kspace`` ``(B, C, H, W)``, ``mask`` broadcastable to ``(B, 1, H, W)``, ``maps`` ``(B, C, H, W)`` →
    image ``(B, H, W)`` complex.

    Examples
    --------
    >>> net = UNetRecon((20, 20), channels=4, depth=2)
    >>> y = torch.randn(1, 2, 20, 20, dtype=torch.complex64)
    >>> net(y, torch.ones(1, 1, 1, 20), torch.randn(1, 2, 20, 20, dtype=torch.complex64)).shape
    torch.Size([1, 20, 20])
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        channels: int = 16,
        depth: int = 3,
        dtype: torch.dtype = torch.complex64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if dtype not in REAL_OF:
            raise TypeError(f"UNetRecon: dtype must be torch.complex64 or torch.complex128, got {dtype}")
        if len(shape) != 2:
            raise ValueError(f"UNetRecon: shape must be (H, W), got {shape!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.physics = SenseOperator(shape=self.shape, fourier="fft")
        self.unet = UNet(2, 2, channels=channels, depth=depth, dtype=REAL_OF[dtype], device=device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fresh U-Net weights with a zero output layer: the model starts as zero-filled SENSE."""
        for m in self.unet.modules():
            if m is not self.unet and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        with torch.no_grad():
            self.unet.head.weight.zero_()
            self.unet.head.bias.zero_()

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        self.physics.check_acquisition(kspace, mask, maps, "UNetRecon")
        x0 = self.physics.H(kspace, maps=maps, mask=mask)
        scale = x0.abs().flatten(1).amax(dim=1).clamp_min(torch.finfo(x0.real.dtype).tiny)[:, None, None]
        m = 2**self.unet.depth
        h, w = self.shape
        ph, pw = (-h) % m, (-w) % m
        z = F.pad(complex_to_channels(x0 / scale), (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        z = self.unet(z)[..., ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]
        return x0 + scale * channels_to_complex(z)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
