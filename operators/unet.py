"""A small U-Net, and the image-domain baseline that refines zero-filled SENSE with it.

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

from monarch_sci.operators.mri_batch import check_batch, make_fourier, sense_adjoint
from monarch_sci.operators.unrolled import _REAL_OF, channels_to_complex, complex_to_channels

__all__ = ["UNet", "UNetRecon"]


def _block(a: int, b: int, dtype: torch.dtype, device) -> nn.Sequential:
    kw = {"dtype": dtype, "device": device}
    return nn.Sequential(
        nn.Conv2d(a, b, 3, padding=1, bias=False, **kw),
        nn.InstanceNorm2d(b, **kw),
        nn.LeakyReLU(0.2),
        nn.Conv2d(b, b, 3, padding=1, bias=False, **kw),
        nn.InstanceNorm2d(b, **kw),
        nn.LeakyReLU(0.2),
    )


class UNet(nn.Module):
    """U-Net ``in_channels → out_channels`` with ``depth`` poolings and ``channels`` at the top level.

    Shape
    -----
    ``(B, in_channels, H, W) → (B, out_channels, H, W)``, ``H`` and ``W`` multiples of ``2**depth``.

    Examples
    --------
    >>> UNet(2, 2, channels=8, depth=2)(torch.randn(1, 2, 16, 16)).shape
    torch.Size([1, 2, 16, 16])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        channels: int = 16,
        depth: int = 3,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if depth < 1 or channels < 1:
            raise ValueError(f"UNet: need depth >= 1 and channels >= 1, got depth={depth}, channels={channels}")
        self.depth = depth
        widths = [channels * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(in_channels, widths[0], dtype, device)])
        self.down.extend(_block(widths[i], widths[i + 1], dtype, device) for i in range(depth))
        kw = {"dtype": dtype, "device": device}
        self.up_conv = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2, **kw) for i in reversed(range(depth))
        )
        self.up = nn.ModuleList(_block(2 * widths[i], widths[i], dtype, device) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], out_channels, 1, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2**self.depth
        if x.dim() != 4 or x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"UNet: expected (B, C, H, W) with H, W multiples of {m}, got {tuple(x.shape)}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up_conv, block in zip(self.up_conv, self.up):
            x = block(torch.cat([skips.pop(), up_conv(x)], dim=1))
        return self.head(x)


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
        if dtype not in _REAL_OF:
            raise TypeError(f"UNetRecon: dtype must be torch.complex64 or torch.complex128, got {dtype}")
        if len(shape) != 2:
            raise ValueError(f"UNetRecon: shape must be (H, W), got {shape!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.fourier = make_fourier("fft", self.shape)
        self.unet = UNet(2, 2, channels=channels, depth=depth, dtype=_REAL_OF[dtype], device=device)
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
        check_batch(kspace, mask, maps, "UNetRecon")
        if tuple(kspace.shape[-2:]) != self.shape:
            raise ValueError(
                f"UNetRecon: built for {self.shape[0]}×{self.shape[1]} k-space, got (B, C, H, W) = "
                f"{tuple(kspace.shape)}"
            )
        x0 = sense_adjoint(kspace, maps, mask, self.fourier)
        scale = x0.abs().flatten(1).amax(dim=1).clamp_min(torch.finfo(x0.real.dtype).tiny)[:, None, None]
        m = 2**self.unet.depth
        h, w = self.shape
        ph, pw = (-h) % m, (-w) % m
        z = F.pad(complex_to_channels(x0 / scale), (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        z = self.unet(z)[..., ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]
        return x0 + scale * channels_to_complex(z)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
