"""Trained run folders (written by :func:`~monarch_sci.operators.mri.training.train_recon_model`) at work:
reconstruct a volume, score a test set, and offer the run as a method of ``mri recon`` / ``mri compare``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monarch_sci.operators.mri.models import load_run

__all__ = ["evaluate_run", "reconstruct_with_run", "run_method", "seed_group_key"]

#: Record entries that do not change what a run trained (or that name the run rather than define it).
_NOT_CONFIG = ("seed", "out", "resume", "overwrite", "threads", "no_progress", "stop_after", "group", "command", "func")


def seed_group_key(record: dict[str, Any]) -> str:
    """What a run trained — model, data, task, optimiser settings — without its seed: runs with equal keys
    differ only in their seed (``mri compare`` pools them, mean ± std over seeds)."""
    args = record.get("spec", record.get("args", {}))
    args = {k: v for k, v in args.items() if k not in _NOT_CONFIG}
    config = {"model": record.get("model"), "data": record.get("data"), "task": record.get("task"), "args": args}
    return json.dumps(config, sort_keys=True, default=str)


def run_method(path: str | os.PathLike) -> tuple[str, Callable[..., Any]] | None:
    """``(name, method)`` for a run folder of ``mri train``, else ``None`` (a run loader for ``mri recon``).

    ``method(problem)`` reconstructs a :class:`~monarch_sci.operators.mri.classical.ReconProblem` with the
    trained model and the problem's coil maps (estimated from the acquisition's own calibration region). Maps
    made with other ESPIRiT settings (crop, threshold, iterations, coverage fallback) than the run trained with
    (its record's ``coil_maps``) are refused, naming the flags that reproduce the run's: the model learned on
    maps of that kind, and the problem's maps are shared by every method.
    """
    rec = Path(path) / "record.json"
    if not rec.is_file():
        return None
    record = json.loads(rec.read_text())
    if record.get("command") != "mri train":
        return None

    trained = record.get("coil_maps") or {}

    def method(problem):
        maps = problem.coil_maps()
        _check_maps(path, trained, problem.maps_settings())
        return reconstruct_with_run(path, problem.kspace, problem.mask, maps)

    label = record["model"]["label"]
    method.seed_group = (label, seed_group_key(record))
    return f"{label}[{Path(path).name}]", method


#: The ESPIRiT settings a run's maps must share with the maps it reconstructs with, and their flags.
_MAPS_FLAGS = {
    "crop": "--maps-crop",
    "thresh": "--maps-thresh",
    "max_iter": None,
    "min_coverage": "--maps-min-coverage",
}


def _check_maps(path, trained: dict[str, Any], used: dict[str, Any] | None) -> None:
    if not trained or not used:  # maps given to the problem, or a run recorded before its maps settings
        return
    differ = {k: (trained[k], used[k]) for k in _MAPS_FLAGS if k in trained and k in used and trained[k] != used[k]}
    if differ:
        flags = " ".join(f"{_MAPS_FLAGS[k]} {a}" for k, (a, _) in differ.items() if _MAPS_FLAGS[k])
        what = ", ".join(f"{k} {b} (trained with {a})" for k, (a, b) in differ.items())
        raise ValueError(f"run {path}: coil maps made with {what}; pass {flags} to use the maps it trained on")


def evaluate_run(
    folder: str | os.PathLike,
    test,
    *,
    accel: int,
    mask_policy: str = "slice",
    mask_type: str | None = None,
    calib: int | None = None,
) -> dict[str, Any]:
    """Metrics of a trained run on a :class:`~monarch_sci.operators.mri.slice_bank.SliceBank` of test volumes.

    The masks are of the run's own family (``mask_type`` and, for Poisson masks, the calibration square
    ``calib`` default to the run's record), so training and evaluation use the same family.

    Returns per-volume ``nmse``/``psnr``/``ssim`` lists, ``seconds_per_slice``, the label, the seed and the
    predictions ``pred``.
    """
    import torch

    from monarch_sci.operators.mri.recon_task import ReconTask, volume_metrics
    from monarch_sci.operators.mri.slice_bank import ReconSlices

    model, record = load_run(folder)
    if tuple(record["model"]["shape"]) != test.shape:
        raise ValueError(
            f"evaluate_run: run {folder} was trained on {tuple(record['model']['shape'])} k-space, the test data "
            f"is {test.shape}"
        )
    task = record.get("task", {})
    mask_type = mask_type or task.get("mask_type", "random")
    calib = calib if calib is not None else task.get("mask_calib")
    if task.get("target", "sense") != test.target_kind:
        raise ValueError(
            f"evaluate_run: run {folder} trained against {task.get('target', 'sense')!r} targets, the test bank "
            f"holds {test.target_kind!r} targets"
        )
    ds = ReconSlices(test, accel=accel, mask_policy=mask_policy, mask_type=mask_type, calib=calib)
    with torch.no_grad():
        pred, seconds = ReconTask().predict(model, ds)
    m = volume_metrics(pred, test.target, test.volume, test.recon_size)
    return {
        **m,
        "seconds_per_slice": seconds,
        "label": record["model"]["label"],
        "seed": record["config"]["seed"],
        "pred": pred,
    }


def reconstruct_with_run(folder: str | os.PathLike, kspace, mask, maps):
    """Reconstruct one volume with a trained run: ``kspace`` ``(S, C, H, W)`` (masked), ``mask`` line masks
    ``(S, W)`` or 2-D patterns ``(S, H, W)`` (any layout of :func:`~monarch_sci.datasets.mri.fastmri.volume_mask`),
    ``maps`` ``(S, C, H, W)`` (NumPy) → complex images ``(S, H, W)`` (NumPy).

    The matrix size must be the one the run was trained on (a learned Monarch is size-specific).
    """
    import numpy as np
    import torch

    from monarch_sci.datasets.mri.fastmri import volume_mask

    model, record = load_run(folder)
    shape = tuple(record["model"]["shape"])
    if tuple(kspace.shape[-2:]) != shape:
        raise ValueError(
            f"reconstruct_with_run: run {folder} was trained on {shape[0]}×{shape[1]} k-space; this file's k-space "
            f"is {kspace.shape[-2]}×{kspace.shape[-1]} (shape {tuple(kspace.shape)})"
        )
    try:
        mask = volume_mask(np.asarray(mask), kspace.shape)
    except ValueError as err:
        raise ValueError(f"reconstruct_with_run: {err}") from None
    k = torch.from_numpy(np.ascontiguousarray(kspace)).to(torch.complex64)
    s = torch.from_numpy(np.ascontiguousarray(maps)).to(torch.complex64)
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
    m = m[:, None, None, :] if m.dim() == 2 else m[:, None]  # lines (S, 1, 1, W) or 2-D (S, 1, H, W)
    with torch.no_grad():
        return model(k, m, s).numpy()
