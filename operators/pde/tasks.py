"""Navier–Stokes forecasting as a training task: input/target windows, the rollout model, loss and metrics.

A sample is a window of vorticity frames as :class:`~monarch_sci.datasets.pde.ns_dataset.NavierStokesDataset`
cuts it (FNO convention: frames after the initial field): ``t_in`` input frames and the ``t_out`` frames after
them, ``channels_last``.

:class:`ForecastModel` turns an FNO into the map input → ``(batch, s, s, t_out)``: FNO-2D by autoregressive
rollout (each prediction enters the input window), FNO-3D in one space–time pass. Wrapping the rollout in
one ``forward`` keeps DistributedDataParallel to one forward per backward.

Loss and metrics follow the FNO benchmark (``relative_l2`` from :mod:`monarch_sci.metrics`):

* FNO-2D trains on ``Σ_t relL2(pred_t, true_t)`` (the per-step sum of ``fourier_2d_time.py``), FNO-3D on the
  relative L2 of the whole trajectory (``fourier_3d.py``);
* the reported error is ``relL2`` over the whole rolled-out trajectory per sample, averaged over the samples,
  plus the per-time-step curve ``relL2(pred_t, true_t)`` averaged over the samples.
"""

from __future__ import annotations

from typing import Literal

import torch
from einops import repeat
from torch import nn
from torch.utils.data import DataLoader, Dataset

from monarch_sci.metrics import relative_l2, relative_l2_per_sample
from monarch_sci.operators.pde.fno import FNO2d, FNO3d

__all__ = ["ForecastModel", "ForecastTask", "ForecastWindows", "check_windows", "predict_all"]

ModelKind = Literal["fno2d", "fno3d"]


def check_windows(x: torch.Tensor, y: torch.Tensor, *, t_in: int, t_out: int, size: int | None = None) -> None:
    """Raise a ``ValueError`` restating the shapes if ``(x, y)`` cannot feed a ``t_in → t_out`` model on ``size``.

    ``x`` ``(N, s, s, t_in)`` and ``y`` ``(N, s, s, t_out)`` (the ``channels_last`` layout of
    :class:`~monarch_sci.datasets.pde.ns_dataset.NavierStokesDataset`).
    """
    for name, t, want in (("input", x, t_in), ("target", y, t_out)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[1] != t.shape[2]:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"expected {name} windows of shape (N, s, s, t), got {got}")
        if t.shape[-1] != want:
            raise ValueError(
                f"the model needs {want} {name} snapshots, the {name} windows {tuple(t.shape)} hold {t.shape[-1]}"
            )
        if size is not None and t.shape[1] != size:
            raise ValueError(f"the model expects a {size}×{size} grid, the {name} windows are {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} windows of shape {tuple(t.shape)} contain NaN or Inf")
    if x.shape[:3] != y.shape[:3]:
        raise ValueError(f"input windows {tuple(x.shape)} and target windows {tuple(y.shape)} do not pair up")


class ForecastWindows(Dataset):
    """``(input, target)`` pairs held in memory.

    Parameters
    ----------
    x, y
        ``(N, s, s, t_in)`` and ``(N, s, s, t_out)``.
    kind
        ``"fno2d"`` returns ``x[i]`` as is; ``"fno3d"`` repeats it along a time axis of length ``t_out`` (the
        input of ``fourier_3d.py``).

    Shape
    -----
    item: fno2d ``((s, s, t_in), (s, s, t_out))``; fno3d ``((s, s, t_out, t_in), (s, s, t_out))``.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, kind: ModelKind) -> None:
        check_windows(x, y, t_in=x.shape[-1], t_out=y.shape[-1])
        if kind not in ("fno2d", "fno3d"):
            raise ValueError(f"ForecastWindows: kind must be 'fno2d' or 'fno3d', got {kind!r}")
        self.kind, self.x, self.y = kind, x.contiguous(), y.contiguous()

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.x[i]
        if self.kind == "fno3d":
            x = repeat(x, "x y c -> x y t c", t=self.y.shape[-1])
        return x, self.y[i]


class ForecastModel(nn.Module):
    """An FNO as a map from the input window to ``t_out`` predicted snapshots.

    Shape
    -----
    ``(batch, s, s, t_in)`` (FNO-2D) or ``(batch, s, s, t_out, t_in)`` (FNO-3D) → ``(batch, s, s, t_out)``.
    """

    def __init__(self, fno: FNO2d | FNO3d, t_out: int) -> None:
        super().__init__()
        if not isinstance(fno, (FNO2d, FNO3d)):
            raise TypeError(f"ForecastModel: expected an FNO2d or FNO3d, got {type(fno).__name__}")
        self.fno, self.t_out = fno, int(t_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.fno, FNO2d):
            return self.fno.rollout(x, self.t_out)
        return self.fno(x)[..., 0]


def predict_all(model: nn.Module, dataset: Dataset, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions of ``model`` for every ``(x, y)`` of ``dataset`` (on the model's device), and the targets."""
    device = next(model.parameters()).device
    preds, trues = [], []
    for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        preds.append(model(x.to(device)).cpu())
        trues.append(y)
    return torch.cat(preds), torch.cat(trues)


class ForecastTask:
    """Loss and evaluation of a :class:`ForecastModel` (see the module docstring)."""

    def __init__(self, kind: ModelKind, *, eval_batch: int = 50) -> None:
        self.kind, self.eval_batch = kind, int(eval_batch)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        pred = model(x)
        if self.kind == "fno2d":
            return sum(relative_l2(pred[..., t], y[..., t]) for t in range(y.shape[-1]))
        return relative_l2(pred, y)

    def predict(self, model: nn.Module, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        """All predictions and targets of ``dataset``, ``(N, s, s, t_out)`` each."""
        return predict_all(model, dataset, self.eval_batch)

    def evaluate(self, model: nn.Module, dataset: Dataset, prefix: str = "val") -> dict[str, float]:
        pred, true = self.predict(model, dataset)
        full = relative_l2_per_sample(pred, true)  # (N,)
        steps = relative_l2_per_sample(pred, true, dims=(1, 2)).mean(0)  # (t_out,)
        if self.kind == "fno2d":
            loss = float(steps.sum())
        else:
            loss = float(full.mean())
        return {
            f"{prefix}_loss": loss,
            f"{prefix}_rel_l2": float(full.mean()),
            f"{prefix}_rel_l2_per_step": [float(v) for v in steps],
        }
