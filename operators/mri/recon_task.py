"""MRI reconstruction as a training task: the loss and fastMRI's evaluation of a model on :class:`ReconSlices`.

Loss (per slice, averaged over the batch): ``"mse"`` ``‖x̂ − x‖² / ‖x‖²`` or ``"l1"`` ``‖x̂ − x‖₁ / ‖x‖₁``; with
a magnitude target (fastMRI's RSS, the default) ``x̂`` is the magnitude of the model's (complex) image.
Evaluation follows fastMRI: per volume, on magnitudes centre-cropped to the header's recon size, NMSE, PSNR
and SSIM with the data range the volume's target maximum (:mod:`monarch_sci.metrics`), then the mean over
volumes. The samples (slices, coil maps, targets, masks) are :mod:`monarch_sci.operators.mri.slice_bank`.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from monarch_sci.operators.mri.slice_bank import ReconSlices

__all__ = ["ReconTask", "volume_metrics"]

Loss = Literal["mse", "l1"]

#: Names that moved to :mod:`~monarch_sci.operators.mri.slice_bank` (or, for ``espirit_maps``, to
#: :mod:`~monarch_sci.operators.mri.coil_maps`); importing them from here still works, with a DeprecationWarning.
_MOVED = {
    "SliceBank": "monarch_sci.operators.mri.slice_bank",
    "ReconSlices": "monarch_sci.operators.mri.slice_bank",
    "load_slice_bank": "monarch_sci.operators.mri.slice_bank",
    "espirit_maps": "monarch_sci.operators.mri.coil_maps",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        warnings.warn(
            f"monarch_sci.operators.mri.recon_task.{name} moved to {_MOVED[name]}.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = size
    H, W = x.shape[-2:]
    top, left = (H - h) // 2, (W - w) // 2
    return x[..., top : top + h, left : left + w]


def volume_metrics(
    pred: torch.Tensor, target: torch.Tensor, volume: torch.Tensor, recon_size: tuple[int, int]
) -> dict[str, list[float]]:
    """fastMRI NMSE / PSNR / SSIM per volume of magnitude images cropped to ``recon_size``.

    Shape
    -----
    ``pred``, ``target`` ``(N, H, W)`` complex (or magnitudes); ``volume`` ``(N,)`` → lists of one value per
    volume, in order of first appearance.
    """
    from monarch_sci.metrics import nmse, psnr, ssim

    out: dict[str, list[float]] = {"nmse": [], "psnr": [], "ssim": []}
    order = list(dict.fromkeys(int(v) for v in volume))
    for v in order:
        rows = volume == v
        gt = _crop(target[rows].abs(), recon_size).double().numpy()
        pr = _crop(pred[rows].abs(), recon_size).double().numpy()
        out["nmse"].append(nmse(gt, pr))
        out["psnr"].append(psnr(gt, pr))
        out["ssim"].append(ssim(gt, pr))
    return out


class ReconTask:
    """Loss and evaluation of a reconstruction model ``model(kspace, mask, maps) -> image``."""

    def __init__(self, *, loss: Loss = "mse", eval_batch: int = 8) -> None:
        if loss not in ("mse", "l1"):
            raise ValueError(f"ReconTask: loss must be 'mse' or 'l1', got {loss!r}")
        self.loss_kind, self.eval_batch = loss, int(eval_batch)

    def per_slice_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Relative loss per slice; against a real (magnitude, e.g. RSS) target the prediction's magnitude."""
        if not target.is_complex() and pred.is_complex():
            pred = pred.abs()
        d = (pred - target).abs().flatten(1)
        t = target.abs().flatten(1)
        if self.loss_kind == "mse":
            return d.square().sum(1) / t.square().sum(1).clamp_min(torch.finfo(t.dtype).tiny)
        return d.sum(1) / t.sum(1).clamp_min(torch.finfo(t.dtype).tiny)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pred = model(batch["kspace"], batch["mask"], batch["maps"])
        return self.per_slice_loss(pred, batch["target"]).mean()

    def predict(self, model: nn.Module, dataset: ReconSlices) -> tuple[torch.Tensor, float]:
        """All reconstructions ``(N, H, W)`` and the seconds per slice."""
        device = next(iter(model.parameters()), torch.empty(0)).device
        preds = []
        t0 = time.perf_counter()
        for batch in DataLoader(dataset, batch_size=self.eval_batch, shuffle=False):
            preds.append(model(batch["kspace"].to(device), batch["mask"].to(device), batch["maps"].to(device)).cpu())
        seconds = (time.perf_counter() - t0) / max(len(dataset), 1)
        return torch.cat(preds), seconds

    def evaluate(self, model: nn.Module, dataset: ReconSlices, prefix: str = "val") -> dict[str, float]:
        pred, seconds = self.predict(model, dataset)
        loss = float(self.per_slice_loss(pred, dataset.bank.target).mean())
        m = volume_metrics(pred, dataset.bank.target, dataset.bank.volume, dataset.bank.recon_size)
        return {
            f"{prefix}_loss": loss,
            f"{prefix}_psnr": float(np.mean(m["psnr"])),
            f"{prefix}_ssim": float(np.mean(m["ssim"])),
            f"{prefix}_nmse": float(np.mean(m["nmse"])),
            f"{prefix}_seconds_per_slice": seconds,
        }
