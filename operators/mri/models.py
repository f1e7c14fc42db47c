"""The learned MRI models by name: build one from its hyperparameters, and load a trained run folder.

Names (``monarch-sci mri train --model NAME``):

* ``msense`` — :class:`~monarch_sci.operators.mri.msense.MSENSE` (learnable Monarch inverse Fourier);
* ``diag`` — :class:`~monarch_sci.operators.mri.msense.DiagonalSENSE` (its ablation: FFT fixed, diagonals learn);
* ``unrolled`` — :class:`~monarch_sci.operators.mri.unrolled.UnrolledSENSE` with ``fourier="fft" | "monarch"``;
* ``unet`` — :class:`~monarch_sci.operators.mri.unet.UNetRecon` (image-domain baseline);
* ``varnet`` — fastMRI's End-to-End VarNet (:class:`~monarch_sci.operators.mri.varnet.VarNetRecon`; the optional
  ``[varnet]`` extra, line masks only; it estimates its own coil maps).

A run folder written by ``mri train`` holds ``record.json`` with ``{"model": {"name": ..., "shape": ...,
"hparams": {...}}}`` and ``best.pt``/``last.pt``; :func:`load_run` rebuilds the model from the record and
loads the weights (``weights_only``).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["MODEL_NAMES", "build_model", "load_run", "model_label"]

MODEL_NAMES = ("msense", "diag", "unrolled", "unet", "varnet")

#: Hyperparameters renamed since runs were first recorded: model -> {old name: new name}.
RENAMED_HPARAMS: dict[str, dict[str, str]] = {"msense": {"learn_axes": "learn"}}

#: Allowed hyperparameters per model, with defaults (the CLI exposes them as options).
HPARAMS: dict[str, dict[str, Any]] = {
    "msense": {"learn": "both"},
    "diag": {},
    "unrolled": {
        "fourier": "fft",
        "cascades": 5,
        "channels": 32,
        "layers": 4,
        "shared": True,
        "init": "cg",
        "init_iters": 10,
        "init_lam": 1e-3,
        "regulariser": "cnn",
    },
    "unet": {"channels": 16, "depth": 3},
    "varnet": {"cascades": 4, "channels": 8, "pools": 3, "sens_channels": 4, "sens_pools": 3},
}


def build_model(name: str, shape: tuple[int, int], **hparams: Any) -> nn.Module:
    """Build model ``name`` for an ``(H, W)`` k-space matrix; unknown hyperparameters are an error.

    Examples
    --------
    >>> build_model("unrolled", (32, 32), fourier="monarch", cascades=2).fourier_kind
    'monarch'
    """
    from monarch_sci.operators.mri.msense import MSENSE, DiagonalSENSE
    from monarch_sci.operators.mri.unet import UNetRecon
    from monarch_sci.operators.mri.unrolled import UnrolledSENSE

    if name not in MODEL_NAMES:
        raise ValueError(f"build_model: model must be one of {MODEL_NAMES}, got {name!r}")
    if set(hparams) & set(RENAMED_HPARAMS.get(name, {})):
        warnings.warn(
            f"build_model: {name!r} hyperparameters {sorted(set(hparams) & set(RENAMED_HPARAMS[name]))} are "
            f"deprecated spellings; use {RENAMED_HPARAMS[name]}",
            DeprecationWarning,
            stacklevel=2,
        )
        hparams = current_hparams(name, hparams)
    unknown = sorted(set(hparams) - set(HPARAMS[name]))
    if unknown:
        raise ValueError(f"build_model: {name!r} takes hyperparameters {sorted(HPARAMS[name])}, got unknown {unknown}")
    hp = {**HPARAMS[name], **hparams}
    shape = (int(shape[0]), int(shape[1]))
    if name == "msense":
        return MSENSE(shape, **hp)
    if name == "diag":
        return DiagonalSENSE(shape, **hp)
    if name == "unrolled":
        return UnrolledSENSE(shape, **hp)
    if name == "varnet":
        from monarch_sci.operators.mri.varnet import VarNetRecon

        return VarNetRecon(shape, **hp)
    return UNetRecon(shape, **hp)


def current_hparams(name: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """``hparams`` with renamed keys under their current names (for records written by older versions).

    Examples
    --------
    >>> current_hparams("msense", {"learn_axes": "phase"})
    {'learn': 'phase'}
    """
    renamed = RENAMED_HPARAMS.get(name, {})
    return {renamed.get(k, k): v for k, v in hparams.items()}


def model_label(name: str, hparams: dict[str, Any]) -> str:
    """Row label for tables: ``mSENSE``, ``diag-SENSE``, ``unrolled-FFT``, ``unrolled-Monarch``, ``U-Net``."""
    if name == "msense":
        learn = current_hparams(name, hparams).get("learn", "both")
        return "mSENSE" if learn == "both" else f"mSENSE ({learn} axis)" if learn != "none" else "mSENSE (frozen)"
    if name == "diag":
        return "diag-SENSE"
    if name == "unrolled":
        return "unrolled-" + ("Monarch" if hparams.get("fourier", "fft") == "monarch" else "FFT")
    if name == "varnet":
        return "VarNet (fastMRI)"
    return "U-Net"


def load_run(folder: str | os.PathLike, *, which: str = "best") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a ``mri train`` run folder and load ``best.pt`` (or ``last.pt``).

    Returns ``(model in eval mode, record)``.
    """
    from monarch_sci.training.checkpoint import load_model_state

    folder = Path(folder)
    rec_path = folder / "record.json"
    if not rec_path.is_file():
        raise FileNotFoundError(f"load_run: {folder} is not a run folder of `mri train` (no record.json)")
    record = json.loads(rec_path.read_text())
    spec = record.get("model")
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"load_run: {rec_path} has no 'model' entry; was it written by `monarch-sci mri train`?")
    if which not in ("best", "last"):
        raise ValueError(f"load_run: which must be 'best' or 'last', got {which!r}")
    model = build_model(spec["name"], tuple(spec["shape"]), **current_hparams(spec["name"], spec.get("hparams", {})))
    load_model_state(model, folder / f"{which}.pt")
    model.eval()
    return model, record
