"""The learned half of ``monarch-sci mri``: ``mri train``, and learned runs in ``mri recon`` / ``mri compare``.

Kept apart from :mod:`monarch_sci.cli.mri` (the classical jobs), which imports this module (never the
reverse): it calls :func:`add_train_parser` from its ``register`` and lists :func:`run_loader` among its run
loaders, so that ``--model RUN_FOLDER`` reaches :func:`reconstruct_with_run`.

``monarch-sci mri train --data data/sim_knee/train --val data/sim_knee/val --model unrolled --fourier monarch
--accel 4 --epochs 20 --out runs/unrolled_monarch_4x`` trains with the shared loop
(:class:`~monarch_sci.training.trainer.Trainer`): progress bar, atomic ``last.pt``/``best.pt``, ``--resume``,
NaN guard, ``record.json`` (arguments, model spec, versions, per-epoch metrics) and PNG plots; under
``torchrun --nproc_per_node=K`` it trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

#: The models ``mri train`` offers (kept here so that ``--help`` imports no torch; a test checks it matches
#: :data:`monarch_sci.operators.mri.models.MODEL_NAMES`).
MODEL_NAMES = ("msense", "diag", "unrolled", "unet")

__all__ = [
    "MODEL_NAMES",
    "add_train_parser",
    "evaluate_run",
    "reconstruct_with_run",
    "run_loader",
    "run_training",
    "train",
]


def run_loader(path: Path):
    """``(name, method)`` for an ``mri train`` run folder, else ``None`` (a loader for ``mri recon``/``compare``).

    ``method(problem)`` reconstructs a :class:`~monarch_sci.operators.mri.classical.ReconProblem` with the trained
    model, using the problem's ESPIRiT maps (estimated from the acquisition's own ACS, as for CG-SENSE).
    """
    rec = Path(path) / "record.json"
    if not rec.is_file():
        return None
    record = json.loads(rec.read_text())
    if record.get("command") != "mri train":
        return None

    def method(problem):
        return reconstruct_with_run(path, problem.kspace, problem.mask, problem.coil_maps())

    label = record["model"]["label"]
    # Runs that differ only in their seed share this key; `mri compare` pools them (mean ± std over seeds).
    method.seed_group = (label, json.dumps(_config_without_seed(record), sort_keys=True, default=str))
    return f"{label}[{Path(path).name}]", method


#: ``mri train`` arguments that do not change what is trained (or that name the run rather than define it).
_NOT_CONFIG = ("seed", "out", "resume", "threads", "no_progress", "stop_after", "group", "command", "func")


def _config_without_seed(record: dict[str, Any]) -> dict[str, Any]:
    """What a run trained — model, data, task, optimiser settings — with its seed and bookkeeping left out."""
    args = {k: v for k, v in record.get("args", {}).items() if k not in _NOT_CONFIG}
    return {"model": record.get("model"), "data": record.get("data"), "task": record.get("task"), "args": args}


def add_train_parser(sub) -> argparse.ArgumentParser:
    """Add ``train`` to the ``mri`` group's sub-parsers."""
    p = sub.add_parser(
        "train",
        help="train a learned reconstruction (mSENSE, its diagonal ablation, unrolled, U-Net)",
        description=(
            "Train a learned multi-coil reconstruction on fully sampled fastMRI-layout files, undersampled on the "
            "fly with fastMRI random line masks; targets are the fully sampled SENSE images. Resumable "
            "(--resume), DDP under torchrun."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", required=True, help="folder of fully sampled training files (*.h5)")
    p.add_argument("--val", default=None, help="folder of validation files (default: hold out the last 20%% of --data)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--model", choices=MODEL_NAMES, required=True, help="which model")
    p.add_argument("--fourier", choices=["fft", "monarch"], default="fft", help="unrolled: Fourier transform")
    p.add_argument("--accel", type=int, default=4, choices=[2, 4, 8], help="acceleration (random line masks)")
    p.add_argument("--mask-policy", choices=["fixed", "slice"], default="slice", help="one mask, or per slice")
    p.add_argument("--train-volumes", type=int, default=None, help="use only the first N training volumes")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--factor-lr", type=float, default=None, help="learning rate of Monarch factors (default --lr)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--step-size", type=int, default=100, help="StepLR: halve the rate every this many epochs")
    p.add_argument("--loss", choices=["mse", "l1"], default="mse", help="per-slice relative L2² or L1")
    p.add_argument("--learn-axes", choices=["both", "phase", "readout"], default="both", help="msense only")
    p.add_argument("--cascades", type=int, default=5, help="unrolled: cascades")
    p.add_argument("--channels", type=int, default=None, help="unrolled/unet width (default 32 / 16)")
    p.add_argument("--layers", type=int, default=4, help="unrolled: conv layers per regulariser")
    p.add_argument("--unshared", action="store_true", help="unrolled: one regulariser per cascade")
    p.add_argument("--init", choices=["cg", "adjoint"], default="cg", help="unrolled: CG-SENSE or Aᴴy start")
    p.add_argument("--regulariser", choices=["cnn", "unet"], default="cnn", help="unrolled: regulariser network")
    p.add_argument("--depth", type=int, default=3, help="unet: poolings")
    p.add_argument("--calib", type=int, default=None, help="ESPIRiT calibration block (default 0.16·W, >= 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=train)
    return p


def _hparams(args: argparse.Namespace) -> dict[str, Any]:
    if args.model == "msense":
        return {"learn": args.learn_axes}
    if args.model == "unrolled":
        hp = {
            "fourier": args.fourier,
            "cascades": args.cascades,
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
    return {}


def _cache(folder: str | os.PathLike) -> Path:
    return Path(folder) / ".monarch_cache" / "slices.pt"


def _banks(args: argparse.Namespace):
    from monarch_sci.operators.mri.slice_bank import load_slice_bank

    progress = not args.no_progress and int(os.environ.get("RANK", "0")) == 0
    bank = load_slice_bank(args.data, calib=args.calib, cache=_cache(args.data), progress=progress)
    n = len(bank.names)
    if args.val is None:
        if n < 2:
            raise ValueError(f"mri train: --data {args.data} holds {n} volume; pass --val or add volumes")
        n_val = max(1, round(0.2 * n))
        val = bank.subset(range(n - n_val, n))
        bank = bank.subset(range(n - n_val))
    else:
        val = load_slice_bank(args.val, calib=args.calib, cache=_cache(args.val), progress=progress)
    if args.train_volumes is not None:
        if not 1 <= args.train_volumes <= len(bank.names):
            raise ValueError(
                f"mri train: --train-volumes must be in [1, {len(bank.names)}] (training volumes), "
                f"got {args.train_volumes}"
            )
        bank = bank.subset(range(args.train_volumes))
    if val.shape != bank.shape:
        raise ValueError(f"mri train: validation k-space {val.shape} differs from training k-space {bank.shape}")
    return bank, val


def run_training(args: argparse.Namespace) -> dict[str, Any]:
    """Train as ``mri train`` does; returns the trainer's summary (history, best, status)."""
    import torch

    from monarch_sci.operators.mri.models import build_model, model_label
    from monarch_sci.operators.mri.recon_task import ReconTask
    from monarch_sci.operators.mri.slice_bank import ReconSlices
    from monarch_sci.training.trainer import TrainConfig, Trainer, seed_everything

    if args.threads:
        torch.set_num_threads(args.threads)
    bank, val = _banks(args)
    hparams = _hparams(args)
    seed_everything(args.seed)  # the model's initial weights depend on the seed only
    model = build_model(args.model, bank.shape, **hparams)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        step_size=args.step_size,
        factor_lr=args.factor_lr,
        seed=args.seed,
        monitor="val_loss",
        stop_after=args.stop_after,
        progress=not args.no_progress,
    )
    record = {
        "command": "mri train",
        "args": {k: v for k, v in vars(args).items() if k not in ("func", "group_parser")},
        "model": {
            "name": args.model,
            "shape": list(bank.shape),
            "hparams": hparams,
            "label": model_label(args.model, hparams),
        },
        "data": {
            "train_volumes": bank.names,
            "val_volumes": val.names,
            "train_slices": len(bank.volume),
            "recon_size": list(bank.recon_size),
            "coils": int(bank.kspace.shape[1]),
            "coil_maps": bank.maps_settings,
        },
        "task": {"accel": args.accel, "mask_policy": args.mask_policy, "loss": args.loss},
    }
    train_set = ReconSlices(bank, accel=args.accel, mask_policy=args.mask_policy, train=True)
    val_set = ReconSlices(val, accel=args.accel, mask_policy=args.mask_policy, train=False)
    trainer = Trainer(model, ReconTask(loss=args.loss), train_set, val_set, config, out=args.out, record=record)
    summary = trainer.fit(resume=args.resume)
    if trainer.is_main:
        _plots(Path(args.out), summary["history"], model, val_set)
    return summary


def _plots(out: Path, history: list[dict], model, val_set) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    if not history:
        return
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = [h["epoch"] for h in history]
    ax[0].semilogy(ep, [h["train_loss"] for h in history], label="train")
    ax[0].semilogy(ep, [h["val_loss"] for h in history], label="val")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("loss")
    ax[0].legend()
    ax[1].plot(ep, [h["val_psnr"] for h in history])
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("val PSNR (dB)")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)
    sample = val_set[0]
    model.eval()
    with torch.no_grad():
        pred = model(sample["kspace"][None], sample["mask"][None], sample["maps"][None])[0]
    imgs = [sample["target"].abs(), pred.abs(), (pred - sample["target"]).abs()]
    fig, ax = plt.subplots(1, 3, figsize=(9, 3.2))
    vmax = float(imgs[0].max())
    for a, im, title in zip(ax, imgs, ["target", "reconstruction", "|error|"]):
        a.imshow(im.numpy(), cmap="gray", vmin=0, vmax=vmax if title != "|error|" else vmax / 5)
        a.set_title(title)
        a.axis("off")
    fig.tight_layout()
    fig.savefig(out / "example.png", dpi=100)
    plt.close(fig)


def train(args: argparse.Namespace) -> int:
    summary = run_training(args)
    if int(os.environ.get("RANK", "0")) == 0:
        best = summary["best"]
        print(
            f"mri train: {summary['status']} after {len(summary['history'])} epochs; best val_loss {best:.4g}; "
            f"run folder {args.out}"
        )
    return 0


# -- learned runs in recon / compare ------------------------------------------------------------------------
def evaluate_run(folder: str | os.PathLike, test, *, accel: int, mask_policy: str = "slice") -> dict[str, Any]:
    """Metrics of a trained run on a :class:`~monarch_sci.operators.mri.slice_bank.SliceBank` of test volumes.

    Returns per-volume ``nmse``/``psnr``/``ssim`` lists, ``seconds_per_slice``, the label and the seed.
    """
    import torch

    from monarch_sci.operators.mri.models import load_run
    from monarch_sci.operators.mri.recon_task import ReconTask, volume_metrics
    from monarch_sci.operators.mri.slice_bank import ReconSlices

    model, record = load_run(folder)
    if tuple(record["model"]["shape"]) != test.shape:
        raise ValueError(
            f"evaluate_run: run {folder} was trained on {tuple(record['model']['shape'])} k-space, the test data "
            f"is {test.shape}"
        )
    ds = ReconSlices(test, accel=accel, mask_policy=mask_policy)
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
    """Reconstruct one volume with a trained run: ``kspace`` ``(S, C, H, W)`` (masked), ``mask`` ``(S, W)``,
    ``maps`` ``(S, C, H, W)`` (NumPy) → complex images ``(S, H, W)`` (NumPy).

    The matrix size must be the one the run was trained on (a learned Monarch is size-specific).
    """
    import numpy as np
    import torch

    from monarch_sci.operators.mri.models import load_run

    model, record = load_run(folder)
    shape = tuple(record["model"]["shape"])
    if tuple(kspace.shape[-2:]) != shape:
        raise ValueError(
            f"mri recon: run {folder} was trained on {shape[0]}×{shape[1]} k-space; this file's k-space is "
            f"{kspace.shape[-2]}×{kspace.shape[-1]} (shape {tuple(kspace.shape)})"
        )
    k = torch.from_numpy(np.ascontiguousarray(kspace)).to(torch.complex64)
    s = torch.from_numpy(np.ascontiguousarray(maps)).to(torch.complex64)
    m = torch.from_numpy(np.asarray(mask, dtype=np.float32)).reshape(k.shape[0], 1, 1, -1)
    with torch.no_grad():
        return model(k, m, s).numpy()


def load_record(folder: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(folder) / "record.json").read_text())
