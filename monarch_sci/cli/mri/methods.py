"""What the ``mri`` commands share: the method and mask names ``--help`` shows, the coil-map settings of the flags,
and the job record.

The reconstruction methods themselves (the registry, :func:`~monarch_sci.operators.mri.methods.resolve_method`,
reading a file into a problem) live in :mod:`monarch_sci.operators.mri.methods`; the old names here forward to it
for one release, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

__all__ = ["CLASSICAL_METHOD_NAMES", "MASK_TYPES", "cli_arguments", "coil_map_spec", "job_record"]

#: The classical methods (kept here so that ``--help`` needs no heavy import; a test checks it matches).
CLASSICAL_METHOD_NAMES = ("zero_filled_rss", "zero_filled_sense", "cg_sense", "l1_wavelet")

#: Mask families of the ``mri`` commands (:data:`monarch_sci.datasets.mri.masks.MASK_TYPES`, kept here for the same
#: reason; a test checks it matches): fastMRI's line masks, then 2-D Poisson-disc.
MASK_TYPES = ("random", "equispaced", "equispaced_fraction", "poisson")


def cli_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed flags as a job's record lists them (the parser's bookkeeping left out)."""
    return {k: v for k, v in vars(args).items() if k not in ("func", "group_parser")}


def coil_map_spec(args: argparse.Namespace, *, calib: bool = True):
    """The :class:`~monarch_sci.operators.mri.coil_maps.CoilMapSpec` of the ``coil_maps`` flags (``--calib`` too
    unless ``calib=False``); a flag left out keeps the spec's default."""
    from monarch_sci.operators.mri.coil_maps import CoilMapSpec

    given = {"kernel_width": args.maps_kernel, "crop": args.maps_crop, "thresh": args.maps_thresh,
             "min_coverage": args.maps_min_coverage, "calib": args.calib if calib else None}  # fmt: skip
    return CoilMapSpec(**{k: v for k, v in given.items() if v is not None})


def job_record(args: argparse.Namespace, **extra: Any) -> dict:
    """The JSON record of an ``mri`` job: the command, its arguments, package versions, and ``extra``."""
    from monarch_sci.training.records import job_record as record

    return record(f"mri {args.command}", cli_arguments(args), "h5py", **extra)


def forward(module: str, name: str) -> Any:
    """The moved ``name`` from :mod:`monarch_sci.operators.mri.methods`, with a ``DeprecationWarning``."""
    from monarch_sci.operators.mri import methods

    warnings.warn(
        f"{module}.{name} is deprecated; use monarch_sci.operators.mri.methods.{name} "
        f"(also monarch_sci.operators.{name})",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(methods, name)


def moved(name: str) -> bool:
    """Whether ``name`` is one of the names that moved to :mod:`monarch_sci.operators.mri.methods`."""
    if name.startswith("__"):  # the import machinery's probes (``__path__``, ...) never import the operators
        return False
    from monarch_sci.operators.mri import methods

    return name in methods.__all__


def __getattr__(name: str) -> Any:
    if moved(name):
        return forward(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
