"""PNG figures of PDE runs: loss curves, error against time step, and truth / prediction / error fields.

matplotlib is imported inside each function (with the non-interactive Agg backend), so importing this module
costs nothing. Every figure is written atomically (temporary file, then rename), like every other output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from monarch_sci.training.checkpoint import save_figure

__all__ = ["plot_error_per_step", "plot_fields", "plot_loss_curves"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_loss_curves(history: Sequence[Mapping], path: str | os.PathLike, *, title: str = "") -> Path:
    """Training loss and validation relative L2 against epoch (log scale)."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].semilogy(epochs, [h["train_loss"] for h in history], label="train loss")
    if history and "val_loss" in history[0]:
        ax[0].semilogy(epochs, [h["val_loss"] for h in history], label="validation loss")
    ax[0].set_xlabel("epoch")
    ax[0].legend()
    if history and "val_rel_l2" in history[0]:
        ax[1].semilogy(epochs, [h["val_rel_l2"] for h in history])
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("validation relative L2")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def plot_error_per_step(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float] | None]], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """Relative L2 error against rollout step; ``curves`` maps a label to ``(mean, std or None)``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, (mean, std) in curves.items():
        mean = np.asarray(mean, dtype=float)
        steps = np.arange(1, mean.size + 1)
        ax.plot(steps, mean, marker="o", ms=3, label=label)
        if std is not None:
            std = np.asarray(std, dtype=float)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("time step of the rollout")
    ax.set_ylabel("relative L2 error")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def plot_fields(
    true: torch.Tensor, pred: torch.Tensor, path: str | os.PathLike, *, steps: Sequence[int] | None = None
) -> Path:
    """Truth, prediction and error of one sample at a few time steps; ``true``/``pred`` are ``(s, s, T)``.

    Rows: truth, prediction (one colour scale, the truth's range) and error (its own symmetric scale).
    """
    plt = _pyplot()
    true, pred = true.detach().cpu().numpy(), pred.detach().cpu().numpy()
    T = true.shape[-1]
    steps = list(steps) if steps is not None else sorted({0, T // 2, T - 1})
    fig, axes = plt.subplots(3, len(steps), figsize=(2.6 * len(steps) + 0.8, 7.5), squeeze=False)
    lim = float(np.abs(true).max())
    err = pred - true
    elim = float(np.abs(err[..., steps]).max())
    for j, t in enumerate(steps):
        rows = ((true[..., t], "truth", lim), (pred[..., t], "prediction", lim), (err[..., t], "error", elim))
        for i, (field, name, vmax) in enumerate(rows):
            im = axes[i, j].imshow(field, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            axes[i, j].set_title(f"{name}, step {t + 1}", fontsize=9)
            axes[i, j].set_axis_off()
            if j == len(steps) - 1:
                fig.colorbar(im, ax=axes[i, :].tolist(), fraction=0.05)
    # Fixed margins instead of tight_layout: the layout search dominated the cost of this figure.
    fig.subplots_adjust(left=0.02, right=0.85, top=0.95, bottom=0.02, wspace=0.1, hspace=0.25)
    return save_figure(fig, path, dpi=80)
