"""The image-domain CNNs of the learned MRI models, on (real, imaginary) channels.

:class:`ConvRegulariser` is the plain residual CNN regulariser of the unrolled network (MoDL style); :class:`UNet`
is the usual encoder–decoder (Ronneberger et al.): at each of ``depth`` levels two 3×3 convolutions with
instance norm and leaky ReLU, 2×2 average pooling down, transposed convolution up, skip connections by
concatenation; the channel count doubles per level. Both see a complex image as two real channels
(:func:`complex_to_channels` / :func:`channels_to_complex`).
"""

from __future__ import annotations

import itertools

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F

__all__ = ["ConvRegulariser", "UNet", "channels_to_complex", "complex_to_channels", "zero_last"]


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """Complex image ``(B, H, W)`` → real ``(B, 2, H, W)`` (real, imaginary)."""
    return rearrange(torch.view_as_real(x), "b h w c -> b c h w")


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Real ``(B, 2, H, W)`` → complex image ``(B, H, W)``.

    A half-precision input (a CNN's output under bf16 autocast) comes back as complex64: the data-consistency
    algebra (SENSE, FFT or Monarch) always runs in single precision or more.
    """
    if x.dtype in (torch.bfloat16, torch.float16):
        x = x.float()
    return torch.view_as_complex(rearrange(x, "b c h w -> b h w c").contiguous())


class ConvRegulariser(nn.Module):
    """``R(x)``: a plain CNN ``2 → channels → … → 2`` with ReLUs; the last layer starts at zero.

    Parameters
    ----------
    channels
        Hidden channels.
    layers
        Number of 3×3 convolutions (>= 2).
    dtype, device
        Real dtype and device of the weights.

    Shape
    -----
    ``(B, 2, H, W) → (B, 2, H, W)``.

    Examples
    --------
    >>> R = ConvRegulariser(channels=8, layers=3)
    >>> R(torch.randn(1, 2, 16, 16)).abs().max().item()
    0.0
    """

    def __init__(
        self,
        *,
        channels: int = 32,
        layers: int = 4,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if layers < 2 or channels < 1:
            raise ValueError(
                f"ConvRegulariser: need layers >= 2 and channels >= 1, got layers={layers}, channels={channels}"
            )
        widths = [2] + [channels] * (layers - 1) + [2]
        mods: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            mods.append(nn.Conv2d(a, b, 3, padding=1, dtype=dtype, device=device))
            if i < layers - 1:
                mods.append(nn.ReLU())
        self.net = nn.Sequential(*mods)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fresh convolutions, the last one zero (the regulariser starts as ``R = 0``)."""
        for m in self.net:
            if isinstance(m, nn.Conv2d):
                m.reset_parameters()
        zero_last(self.net[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def zero_last(conv: nn.Conv2d) -> None:
    """Zero a residual branch's last convolution, so that the branch starts as the identity's complement (0)."""
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()


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

    With ``zero_head=True`` the output layer starts (and restarts, in :meth:`reset_parameters`) at zero: the
    network is then a residual branch that starts as 0, the way the learned MRI models use it.

    Shape
    -----
    ``(B, in_channels, H, W) → (B, out_channels, H, W)``, ``H`` and ``W`` multiples of ``2**depth``.

    Examples
    --------
    >>> UNet(2, 2, channels=8, depth=2)(torch.randn(1, 2, 16, 16)).shape
    torch.Size([1, 2, 16, 16])
    >>> UNet(2, 2, channels=8, depth=2, zero_head=True)(torch.randn(1, 2, 16, 16)).abs().max().item()
    0.0
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        channels: int = 16,
        depth: int = 3,
        zero_head: bool = False,
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
        self.zero_head = zero_head
        if zero_head:
            zero_last(self.head)

    def reset_parameters(self) -> None:
        """Fresh weights in every layer (the output layer zero again with ``zero_head=True``)."""
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        if self.zero_head:
            zero_last(self.head)

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
