"""fastMRI's End-to-End VarNet (Sriram et al. 2020) as a peer model, behind our model interface.

The optional extra ``[varnet]``: ``fastmri`` 0.3.0 pins dependencies that would replace our torch, so it is
installed without them, plus the few its model code imports (``pip install --no-deps fastmri==0.3.0 && pip
install pandas``; ``make varnet`` does this). :class:`VarNetRecon` wraps ``fastmri.models.VarNet`` so that it is
called like every model of :mod:`~monarch_sci.operators.mri.models`: ``model(kspace, mask, maps) -> image``.

* VarNet estimates its own coil maps (a U-Net on the auto-calibration lines it finds in the mask): ``maps`` is
  ignored, so VarNet sees exactly the acquired data and nothing else;
* it returns the root-sum-of-squares magnitude image, which is what the RSS target and the metrics compare;
* it is built for fastMRI's line masks (its map estimate reads the centre columns of one mask row): 2-D masks are
  refused.

Examples
--------
>>> import torch
>>> model = VarNetRecon((32, 24), cascades=2, channels=4, pools=2, sens_channels=4, sens_pools=2)  # doctest: +SKIP
>>> k = torch.randn(1, 4, 32, 24, dtype=torch.complex64)  # doctest: +SKIP
>>> model(k, torch.ones(1, 1, 1, 24), None).shape  # doctest: +SKIP
torch.Size([1, 32, 24])
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VARNET_INSTALL", "VarNetRecon", "varnet_available"]

#: How to install the optional extra without changing torch.
VARNET_INSTALL = "pip install --no-deps fastmri==0.3.0 && pip install pandas  (or: make varnet)"


def varnet_available() -> bool:
    """Whether ``fastmri.models.VarNet`` imports (the ``[varnet]`` extra is installed)."""
    try:
        from fastmri.models import VarNet  # noqa: F401
    except ImportError:
        return False
    return True


class VarNetRecon(nn.Module):
    """fastMRI's End-to-End VarNet with our call signature ``(kspace, mask, maps) -> |image|``.

    Parameters
    ----------
    shape
        Matrix ``(H, W)`` (checked at every call; VarNet itself accepts any size its U-Nets can pool).
    cascades, channels, pools
        VarNet's ``num_cascades``, ``chans`` and ``pools`` (its regularising U-Nets).
    sens_channels, sens_pools
        Its coil-map U-Net's ``sens_chans`` and ``sens_pools``.

    Shape
    -----
    ``kspace`` ``(B, C, H, W)`` complex (undersampled), ``mask`` ``(B, 1, 1, W)`` (line masks) → ``(B, H, W)``
    real.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        cascades: int = 4,
        channels: int = 8,
        pools: int = 3,
        sens_channels: int = 4,
        sens_pools: int = 3,
    ) -> None:
        super().__init__()
        try:
            from fastmri.models import VarNet
        except ImportError as err:
            raise ImportError(f"VarNetRecon: fastMRI's VarNet is not installed ({err}); {VARNET_INSTALL}") from None
        self.shape = (int(shape[0]), int(shape[1]))
        for name, v in (("cascades", cascades), ("channels", channels), ("pools", pools),
                        ("sens_channels", sens_channels), ("sens_pools", sens_pools)):  # fmt: skip
            if int(v) < 1:
                raise ValueError(f"VarNetRecon: {name} must be a positive integer, got {v}")
        self.net = VarNet(
            num_cascades=int(cascades),
            chans=int(channels),
            pools=int(pools),
            sens_chans=int(sens_channels),
            sens_pools=int(sens_pools),
        )

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None = None) -> torch.Tensor:
        if kspace.dim() != 4 or not kspace.is_complex() or tuple(kspace.shape[-2:]) != self.shape:
            raise ValueError(
                f"VarNetRecon: expected complex k-space (B, C, {self.shape[0]}, {self.shape[1]}), got "
                f"{tuple(kspace.shape)} {kspace.dtype}"
            )
        m = mask.to(torch.float32)
        if m.dim() != 4 or m.shape[-2] != 1:
            raise ValueError(
                f"VarNetRecon: expected a line mask (B, 1, 1, W) (VarNet finds its calibration lines in it), got "
                f"{tuple(mask.shape)}"
            )
        m = m.expand(kspace.shape[0], 1, 1, kspace.shape[-1])[..., None] > 0  # (B, 1, 1, W, 1) bool
        return self.net(torch.view_as_real(kspace.to(torch.complex64)), m)
