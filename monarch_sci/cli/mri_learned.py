"""Deprecated module path (one release): ``mri train`` lives in :mod:`monarch_sci.cli.mri.train`, inside the
``mri`` command group's package.

Every name of that module still resolves here, with a :class:`DeprecationWarning`. ``run_training`` and the
names that moved to :mod:`monarch_sci.operators.mri.runs` were already deprecated; they go with this module.
"""

from __future__ import annotations

import argparse
import importlib
import warnings
from typing import Any

#: Names that lived here before the typed API moved them to :mod:`monarch_sci.operators.mri` (one release).
_MOVED = {
    "evaluate_run": ("monarch_sci.operators.mri.runs", "evaluate_run"),
    "reconstruct_with_run": ("monarch_sci.operators.mri.runs", "reconstruct_with_run"),
    "run_loader": ("monarch_sci.operators.mri.runs", "run_method"),
}
_NEW_HOME = "monarch_sci.cli.mri.train"


def run_training(args: argparse.Namespace) -> dict[str, Any]:
    """Deprecated: build a :class:`~monarch_sci.operators.mri.training.ReconTrainSpec` and call
    :func:`~monarch_sci.operators.mri.training.train_recon_model`."""
    from monarch_sci.cli.mri.train import spec_from_args
    from monarch_sci.operators.mri.training import train_recon_model

    warnings.warn(
        "run_training(args) is deprecated; use train_recon_model(spec, out)", DeprecationWarning, stacklevel=2
    )
    return train_recon_model(spec_from_args(args), args.out, resume=args.resume, overwrite=args.overwrite)


def __getattr__(name: str):
    if name in _MOVED:
        module, new = _MOVED[name]
        warnings.warn(
            f"monarch_sci.cli.mri_learned.{name} is deprecated; use {module}.{new}", DeprecationWarning, stacklevel=2
        )
        return getattr(importlib.import_module(module), new)
    from monarch_sci.cli.mri import train

    if not name.startswith("__") and hasattr(train, name):
        warnings.warn(
            f"monarch_sci.cli.mri_learned is deprecated; use {_NEW_HOME}.{name}", DeprecationWarning, stacklevel=2
        )
        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
