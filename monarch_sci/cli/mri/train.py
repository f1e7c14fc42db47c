"""``monarch-sci mri train``: flags → :class:`~monarch_sci.operators.mri.training.ReconTrainSpec` →
:func:`~monarch_sci.operators.mri.training.train_recon_model` (the Python API does the work).

The group's package :mod:`monarch_sci.cli.mri` imports this module (never the reverse) and calls
:func:`add_train_parser` from its ``register``. Trained run folders reach ``mri recon`` / ``mri compare``
through :func:`monarch_sci.operators.mri.runs.run_method`.

``monarch-sci mri train --data data/sim_knee/train --val data/sim_knee/val --model unrolled --fourier monarch
--acceleration 4 --epochs 20 --out runs/unrolled_monarch_4x`` trains with the shared loop: progress bar, atomic
``last.pt``/``best.pt``, ``--resume`` (refused when a result-defining flag differs from the record), NaN guard,
``record.json`` and PNG plots; under ``torchrun --nproc_per_node=K`` it trains with DistributedDataParallel.
The slice cache lives in ``$MONARCH_SCI_CACHE`` or ``<out>/cache`` (``--cache-dir``), keyed by file content.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from monarch_sci.cli.common import Flag, add_command, add_flags, from_flags, resolve_device, set_threads
from monarch_sci.cli.mri.methods import MASK_TYPES, coil_map_spec

#: The models ``mri train`` offers (kept here so that ``--help`` imports no torch; a test checks it matches
#: :data:`monarch_sci.operators.mri.models.MODEL_NAMES`).
MODEL_NAMES = ("msense", "diag", "unrolled", "unet", "varnet")

__all__ = ["MODEL_NAMES", "add_train_parser", "spec_from_args", "train"]


def add_train_parser(sub) -> argparse.ArgumentParser:
    """Add ``train`` to the ``mri`` group's sub-parsers."""
    p = add_command(
        sub,
        "train",
        train,
        help="train a learned reconstruction (mSENSE, its diagonal ablation, unrolled, U-Net, fastMRI's VarNet)",
        description=(
            "Train a learned multi-coil reconstruction on fully sampled fastMRI-layout files, undersampled on the "
            "fly with masks of one family (--mask-type: fastMRI line masks or 2-D Poisson-disc); coil maps from the "
            "acquisition's own calibration region, targets fastMRI's RSS images (--maps/--target for ablations). "
            "Resumable "
            "(--resume; refused if a result-defining flag differs from the run's record, --epochs may grow), "
            "DDP under torchrun. The slice/coil-map cache is keyed by file content and lives in "
            "$MONARCH_SCI_CACHE or <out>/cache (never in the data folder)."
        ),
    )
    p.add_argument("--data", required=True, help="folder of fully sampled training files (*.h5), or one file")
    p.add_argument("--val", default=None, help="validation files (default: hold out the last 20%% of --data)")
    add_flags(p, "out", out_help="run folder")
    p.add_argument("--model", choices=MODEL_NAMES, required=True, help="which model")
    add_flags(p, "fourier", "acceleration", "mask_policy", "mask_type", mask_policy="slice", mask_types=MASK_TYPES,
              mask_type="random", mask_type_help="mask family for training and validation: fastMRI line masks or "
              "2-D Poisson-disc")  # fmt: skip
    p.add_argument(
        "--maps",
        choices=("acs", "oracle"),
        default="acs",
        help="coil maps from the acquisition's own calibration region (acs, default) or, as an ablation, from "
        "the fully sampled data (oracle)",
    )
    p.add_argument(
        "--target",
        choices=("rss", "sense"),
        default="rss",
        help="training/validation target: fastMRI's RSS (default) or the fully sampled SENSE image (ablation)",
    )
    p.add_argument("--train-volumes", type=int, default=None, help="use only the first N training volumes")
    p.add_argument("--epochs", type=int, default=20, help="epochs (may grow on --resume)")
    add_flags(p, "batch_size", batch_size=4)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--factor-lr", type=float, default=None, help="learning rate of Monarch factors (default --lr)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay")
    p.add_argument("--step-size", type=int, default=100, help="StepLR: halve the rate every this many epochs")
    p.add_argument("--loss", choices=["mse", "l1"], default="mse", help="per-slice relative L2² or L1")
    add_flags(p, "precision", "compile")
    p.add_argument(
        "--learn",
        "--learn-axes",
        dest="learn",
        action=Flag,
        deprecated=("--learn-axes",),
        choices=["both", "phase", "readout"],
        default="both",
        help="msense: which Fourier axes learn",
    )
    p.add_argument("--cascades", type=int, default=None, help="unrolled / varnet: cascades (default 5 / 4)")
    p.add_argument("--channels", type=int, default=None, help="unrolled/unet/varnet width (default 32 / 16 / 8)")
    p.add_argument("--layers", type=int, default=4, help="unrolled: conv layers per regulariser")
    p.add_argument("--unshared", action="store_true", help="unrolled: one regulariser per cascade")
    p.add_argument("--init", choices=["cg", "adjoint"], default="cg", help="unrolled: CG-SENSE or Aᴴy start")
    p.add_argument("--regulariser", choices=["cnn", "unet"], default="cnn", help="unrolled: regulariser network")
    p.add_argument("--depth", type=int, default=3, help="unet: poolings")
    add_flags(p, "coil_maps", calib_help="calibration block of the maps (and of Poisson masks); default the "
              "acquisition's own (>= 5)")  # fmt: skip
    p.add_argument("--cache-dir", default=None, help="slice cache folder (default $MONARCH_SCI_CACHE or <out>/cache)")
    add_flags(p, "seed", "threads", "device", "no_progress", "resume", "overwrite")
    p.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    return p


def _hparams(args: argparse.Namespace) -> dict[str, Any]:
    if args.model == "msense":
        return {"learn": args.learn}
    if args.model == "unrolled":
        hp = {
            "fourier": args.fourier,
            "cascades": 5 if args.cascades is None else args.cascades,
            "layers": args.layers,
            "shared": not args.unshared,
            "init": args.init,
            "regulariser": args.regulariser,
        }
        if args.channels is not None:
            hp["channels"] = args.channels
        return hp
    if args.model == "unet":
        hp = {"depth": args.depth}
        if args.channels is not None:
            hp["channels"] = args.channels
        return hp
    if args.model == "varnet":
        hp = {}
        if args.cascades is not None:
            hp["cascades"] = args.cascades
        if args.channels is not None:
            hp["channels"] = args.channels
        return hp
    return {}


def spec_from_args(args: argparse.Namespace):
    """The :class:`~monarch_sci.operators.mri.training.ReconTrainSpec` that ``mri train``'s flags describe."""
    from monarch_sci.operators.mri.training import ReconTrainSpec

    return from_flags(
        ReconTrainSpec,
        args,
        hparams=_hparams(args),
        coil_maps=coil_map_spec(args, calib=False),  # the block is the spec's own calib (maps and Poisson masks)
        device=str(resolve_device(args.device)),
        progress=not args.no_progress,
    )


def train(args: argparse.Namespace) -> int:
    from monarch_sci.operators.mri.training import train_recon_model

    set_threads(args.threads)
    # the API's messages name each field with its flag (training.records.field_and_flag)
    summary = train_recon_model(spec_from_args(args), args.out, resume=args.resume, overwrite=args.overwrite)
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"mri train: {summary['status']} after {len(summary['history'])} epochs; best val_loss "
            f"{summary['best']:.4g}; run folder {args.out}"
        )
    return 0
