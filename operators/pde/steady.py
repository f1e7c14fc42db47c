"""Steady operator learning as a training task: a field map ``a ↦ u`` (Darcy flow, any input/output pairs).

A sample is a pair of fields ``(x, y)`` on one grid, ``x`` with ``c_in`` channels and ``y`` with ``c_out``
(:class:`~monarch_sci.datasets.pde.pairs.FieldPairs`), in the layout the model was built with
(``"channels_last"`` ``(s1, s2, c)`` or ``"channels_first"`` ``(c, s1, s2)``); the task checks that the
prediction and the target have the same shape, so a layout mix-up is an error, not a silent broadcast.

:class:`SteadyModel` wraps an FNO and, optionally, the output :class:`~monarch_sci.datasets.pde.pairs.FieldNormalizer`
fitted on the training split: the network predicts normalised outputs, ``decode`` maps them back, and the loss
and metrics compare physical fields (as the FNO's Darcy script does).

:class:`SteadyTask` is the shared trainer's :class:`~monarch_sci.training.trainer.Task`: the training loss is
the batch mean of the per-sample relative error, ``"rel_l2"`` (``‖ŷ − y‖₂/‖y‖₂``) or ``"rel_h1"``
(:func:`relative_h1_per_sample`, which also weighs the gradients); ``evaluate`` reports both, the per-sample
relative L2 errors, and ``{prefix}_loss`` (the training loss on that set).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.utils.data import Dataset

from monarch_sci.datasets.pde.pairs import FieldNormalizer
from monarch_sci.metrics import relative_l2_per_sample
from monarch_sci.operators.pde.fno import FNO2d
from monarch_sci.operators.pde.tasks import predict_all

__all__ = ["SteadyModel", "SteadyTask", "relative_h1_per_sample"]

Loss = Literal["rel_l2", "rel_h1"]
_LOSSES = ("rel_l2", "rel_h1")


def relative_h1_per_sample(pred: torch.Tensor, true: torch.Tensor, *, grid_dims: tuple[int, int]) -> torch.Tensor:
    """Per-sample ``‖ŷ − y‖_{H¹} / ‖y‖_{H¹}`` with ``‖u‖²_{H¹} = Σ (u² + |∇u|²)`` over the grid and channels.

    Derivatives by second-order differences (one-sided at the edges) on the unit square with nodes
    ``linspace(0, 1, n)`` (the FNO's coordinates), so the gradient terms carry their physical weight.

    Shape
    -----
    ``(B, ...) → (B,)``.

    Examples
    --------
    >>> y = torch.randn(3, 16, 16, 1, dtype=torch.float64)
    >>> relative_h1_per_sample(y, y, grid_dims=(1, 2))
    tensor([0., 0., 0.], dtype=torch.float64)
    """
    if pred.shape != true.shape:
        raise ValueError(
            "relative_h1_per_sample: pred and true must have one shape, "
            f"got {tuple(pred.shape)} and {tuple(true.shape)}"
        )

    def sq_norm(u: torch.Tensor) -> torch.Tensor:
        spacing = [1.0 / (u.shape[d] - 1) for d in grid_dims]
        grads = torch.gradient(u, spacing=spacing, dim=list(grid_dims), edge_order=2)
        return sum((g.square() for g in grads), u.square()).flatten(1).sum(1)

    return (sq_norm(pred - true) / sq_norm(true)).sqrt()


class SteadyModel(nn.Module):
    """An FNO as a steady field map, with the training outputs' normaliser (optional) folded in.

    ``forward(x) = normalizer.decode(fno(x))`` (or ``fno(x)``).

    Examples
    --------
    >>> fno = FNO2d(4, 4, 8, in_channels=1, out_channels=1)
    >>> model = SteadyModel(fno, FieldNormalizer.fit(torch.randn(10, 16, 16, 1)))
    >>> model(torch.randn(2, 16, 16, 1)).shape
    torch.Size([2, 16, 16, 1])
    """

    def __init__(self, fno: FNO2d, normalizer: FieldNormalizer | None = None) -> None:
        super().__init__()
        if not isinstance(fno, FNO2d):
            raise TypeError(f"SteadyModel: expected an FNO2d, got {type(fno).__name__}")
        if normalizer is not None:
            want = -1 if fno.layout == "channels_last" else 1
            if normalizer.channel_dim != want or normalizer.mean.numel() != fno.out_channels:
                raise ValueError(
                    f"SteadyModel: the normalizer ({normalizer.mean.numel()} channels, channel_dim="
                    f"{normalizer.channel_dim}) does not fit the model ({fno.out_channels} output channels, "
                    f"{fno.layout}: channel_dim={want})"
                )
        self.fno, self.normalizer = fno, normalizer

    @property
    def layout(self) -> str:
        return self.fno.layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fno(x)
        return y if self.normalizer is None else self.normalizer.decode(y)


class SteadyTask:
    """Loss and evaluation of a :class:`SteadyModel` (see the module docstring).

    Parameters
    ----------
    loss
        ``"rel_l2"`` or ``"rel_h1"``.
    layout
        Layout of the samples (and of the model): ``"channels_last"`` or ``"channels_first"``.
    eval_batch
        Batch size of :meth:`predict`.
    """

    def __init__(self, *, loss: Loss = "rel_l2", layout: str = "channels_last", eval_batch: int = 50) -> None:
        if loss not in _LOSSES:
            raise ValueError(f"SteadyTask: loss must be one of {_LOSSES}, got {loss!r}")
        if layout not in ("channels_last", "channels_first"):
            raise ValueError(f"SteadyTask: layout must be 'channels_last' or 'channels_first', got {layout!r}")
        self.loss_name, self.layout, self.eval_batch = loss, layout, int(eval_batch)
        self.grid_dims = (1, 2) if layout == "channels_last" else (2, 3)

    def _per_sample(self, pred: torch.Tensor, true: torch.Tensor, name: str) -> torch.Tensor:
        if pred.shape != true.shape:
            raise ValueError(
                f"SteadyTask: prediction {tuple(pred.shape)} and target {tuple(true.shape)} differ in shape "
                f"(layout {self.layout!r}: is the model built with the same layout and output channels?)"
            )
        if name == "rel_h1":
            return relative_h1_per_sample(pred, true, grid_dims=self.grid_dims)
        return relative_l2_per_sample(pred, true)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return self._per_sample(model(x), y, self.loss_name).mean()

    @torch.no_grad()
    def predict(self, model: nn.Module, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        """All predictions and targets of ``dataset`` (no gradient)."""
        return predict_all(model, dataset, self.eval_batch)

    def evaluate(self, model: nn.Module, dataset: Dataset, prefix: str = "val") -> dict[str, float | list[float]]:
        pred, true = self.predict(model, dataset)
        l2 = self._per_sample(pred, true, "rel_l2")
        h1 = self._per_sample(pred, true, "rel_h1")
        loss = h1 if self.loss_name == "rel_h1" else l2
        return {
            f"{prefix}_loss": float(loss.mean()),
            f"{prefix}_rel_l2": float(l2.mean()),
            f"{prefix}_rel_h1": float(h1.mean()),
            f"{prefix}_rel_l2_per_sample": [float(v) for v in l2],
        }
