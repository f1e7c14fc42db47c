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
from torch.nn import functional as F

from monarch_sci.dtypes import REAL_OF
from monarch_sci.operators.mri.networks import UNet, channels_to_complex, complex_to_channels
from monarch_sci.operators.mri.reconstructor import SenseReconstructor, peak_scale
from monarch_sci.operators.mri.sense import SenseOperator

__all__ = ["UNetRecon"]


class UNetRecon(SenseReconstructor):
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
    As :class:`~monarch_sci.operators.mri.reconstructor.SenseReconstructor`: ``(kspace, mask, maps) → image``.

    Examples
    --------
    >>> net = UNetRecon((20, 20), channels=4, depth=2, dtype=torch.complex128)
    >>> y = torch.randn(1, 2, 20, 20, dtype=torch.complex128)
    >>> maps = torch.randn(1, 2, 20, 20, dtype=torch.complex128)
    >>> mask = torch.ones(1, 1, 1, 20)
    >>> x = net(y, mask, maps)  # (B, H, W): at initialisation, zero-filled SENSE
    >>> x.shape, torch.allclose(x, net.physics.H(y, maps=maps, mask=mask))
    (torch.Size([1, 20, 20]), True)
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
        super().__init__(shape, dtype=dtype)
        self.physics = SenseOperator(shape=self.shape, fourier="fft")
        self.unet = UNet(2, 2, channels=channels, depth=depth, zero_head=True, dtype=REAL_OF[dtype], device=device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fresh U-Net weights with a zero output layer: the model starts as zero-filled SENSE."""
        self.unet.reset_parameters()

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        self.physics.check_acquisition(kspace, mask, maps, "UNetRecon")
        x0 = self.physics.H(kspace, maps=maps, mask=mask)
        scale = peak_scale(x0)
        m = 2**self.unet.depth
        h, w = self.shape
        ph, pw = (-h) % m, (-w) % m
        z = F.pad(complex_to_channels(x0 / scale), (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        z = self.unet(z)[..., ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]
        return x0 + scale * channels_to_complex(z)
