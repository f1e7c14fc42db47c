"""Train a learned MRI reconstruction from Python: a typed spec and one call (what ``mri train`` runs).

>>> spec = ReconTrainSpec(data="data/train", val="data/val", model="unrolled", hparams={"fourier": "monarch"})
>>> summary = train_recon_model(spec, "runs/unrolled_monarch")  # doctest: +SKIP

The run folder holds ``record.json`` (the spec, the model spec, data, versions, per-epoch metrics, status),
atomic ``last.pt``/``best.pt``, ``curves.png`` and ``example.png`` (:class:`~monarch_sci.training.trainer.Trainer`).

Reruns are checked against the record: ``resume=True`` continues only a run whose result-defining settings
(:func:`defining_settings`) equal the spec's — ``epochs`` may grow — and otherwise is refused with the list of
differences; without ``resume`` an existing run is never replaced unless ``overwrite=True``, and then only once
the new run is complete (:func:`~monarch_sci.training.checkpoint.replacing_run`: a kill keeps the old run whole).

The slices, coil maps and targets are cached under ``cache_dir`` (default: ``$MONARCH_SCI_CACHE``, else
``<out>/cache``), keyed by the files' content (:mod:`monarch_sci.datasets.mri.cache`; a run replacing another
starts from the old run's cache entries, reusing those whose key matches); every file is validated
(shapes, header, NaN/Inf) on every run, cached or not, and the data folder is only read.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from monarch_sci.datasets.mri.cache import default_cache_dir
from monarch_sci.operators.mri.coil_maps import CoilMapSpec
from monarch_sci.operators.mri.models import MODEL_NAMES, build_model, model_label
from monarch_sci.operators.mri.recon_task import ReconTask
from monarch_sci.operators.mri.slice_bank import (
    MAPS,
    MASK_POLICIES,
    TARGETS,
    ReconSlices,
    SliceBank,
    acquisition_calib,
    load_slice_bank,
)
from monarch_sci.training.checkpoint import replacing_run
from monarch_sci.training.fingerprint import data_fingerprints, fingerprint_differences
from monarch_sci.training.records import defining_differences, field_and_flag
from monarch_sci.training.step import COMPILE_MODES

__all__ = [
    "ReconTrainSpec",
    "RunConflictError",
    "defining_settings",
    "load_banks",
    "spec_calib",
    "spec_fingerprints",
    "train_recon_model",
]

#: Files of a run folder (a folder holding any of them holds a run; ``overwrite=True`` replaces it).
RUN_FILES = ("record.json", "last.pt", "best.pt", "curves.png", "example.png")
#: Spec fields that do not change what is trained (bookkeeping); ``epochs`` is checked separately.
BOOKKEEPING = ("threads", "progress", "device", "cache_dir", "stop_after", "epochs", "compile")


class RunConflictError(ValueError):
    """The run folder holds a run that this call must not continue or replace (the message says why)."""


@dataclass(frozen=True)
class ReconTrainSpec:
    """Everything that defines a training run of a learned reconstruction (``monarch-sci mri train``).

    Parameters
    ----------
    data
        A folder of fully sampled fastMRI-layout files (``*.h5``), one file, or a list of files.
    model
        ``"msense"``, ``"diag"``, ``"unrolled"``, ``"unet"`` or ``"varnet"`` (fastMRI's, optional extra);
        ``hparams`` its hyperparameters (checked by
        :func:`~monarch_sci.operators.mri.models.build_model`: unknown names are an error).
    val
        Validation files (default: the last 20 % of ``data``'s volumes).
    acceleration, mask_type, mask_policy
        Masks of family ``mask_type`` (fastMRI line masks ``"random"`` / ``"equispaced"`` /
        ``"equispaced_fraction"``, or 2-D ``"poisson"``-disc masks) at this acceleration, the same family in
        training and validation; ``"fixed"`` one mask, ``"volume"`` one per validation volume, ``"slice"`` one
        per validation slice (training draws a fresh mask per sample unless ``"fixed"``).
    maps, target
        The protocol (:mod:`~monarch_sci.operators.mri.slice_bank`): ``maps="acs"`` coil maps from the
        acquisition's own calibration region (``"oracle"``: from the fully sampled data, an ablation);
        ``target="rss"`` fastMRI's root-sum-of-squares image (``"sense"``: the fully sampled SENSE image).
    train_volumes
        Use only the first N training volumes.
    epochs, batch_size, lr, factor_lr, weight_decay, step_size, loss, seed
        Adam with StepLR (rate halved every ``step_size`` epochs); ``factor_lr`` for Monarch factors
        (default ``lr``); per-slice relative ``"mse"`` or ``"l1"`` loss.
    precision
        ``"fp32"``, or ``"bf16"``: bfloat16 autocast for the real CNN layers (regularisers, U-Net) during
        training; the SENSE physics, its FFTs and Monarch factors, and the loss stay in single precision
        (complex arithmetic is not autocast); validation is float32.
    calib
        Calibration block: of the ESPIRiT maps and, for ``"poisson"``, the masks' fully sampled square
        (default :func:`~monarch_sci.operators.mri.slice_bank.acquisition_calib`: the acquisition's own).
    coil_maps
        The other ESPIRiT settings of the maps (:class:`~monarch_sci.operators.mri.coil_maps.CoilMapSpec`:
        ``--maps-kernel``, ``--maps-crop``, ``--maps-thresh``, ``--maps-min-coverage``; its ``calib`` stays
        ``None``: the block is ``calib``). Part of the run's definition when not the defaults (runs recorded
        before these settings existed used the defaults); the settings used are in the record's ``coil_maps``.
    device, threads, progress, cache_dir, stop_after, compile
        Bookkeeping (not part of the result): where and how to run, where the slice cache lives (default
        ``$MONARCH_SCI_CACHE`` or ``<out>/cache``), stop this call after N epochs (a resumable run), the
        ``torch.compile`` mode of the training loss (``"none"``: eager; recorded in the record's ``config``).
    """

    data: str | os.PathLike | Sequence[str | os.PathLike]
    model: Literal["msense", "diag", "unrolled", "unet", "varnet"]
    val: str | os.PathLike | Sequence[str | os.PathLike] | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    acceleration: int = 4
    mask_policy: Literal["fixed", "volume", "slice"] = "slice"
    mask_type: Literal["random", "equispaced", "equispaced_fraction", "poisson"] = "random"
    maps: Literal["acs", "oracle"] = "acs"
    target: Literal["rss", "sense"] = "rss"
    train_volumes: int | None = None
    epochs: int = 20
    batch_size: int = 4
    lr: float = 1e-3
    factor_lr: float | None = None
    weight_decay: float = 0.0
    step_size: int = 100
    loss: Literal["mse", "l1"] = "mse"
    precision: Literal["fp32", "bf16"] = "fp32"
    calib: int | None = None
    coil_maps: CoilMapSpec = field(default_factory=CoilMapSpec)
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    progress: bool = True
    cache_dir: str | os.PathLike | None = None
    stop_after: int | None = None
    compile: Literal["none", "default", "reduce-overhead", "max-autotune"] = "none"

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ValueError:
            return ValueError(f"ReconTrainSpec: {field_and_flag(name)} must be {expected}, got {getattr(self, name)!r}")

        if self.model not in MODEL_NAMES:
            raise bad("model", f"one of {MODEL_NAMES}")
        if self.acceleration not in (2, 4, 8):
            raise bad("acceleration", "2, 4 or 8")
        from monarch_sci.datasets.mri.masks import MASK_TYPES

        if self.mask_policy not in MASK_POLICIES:
            raise bad("mask_policy", f"one of {MASK_POLICIES}")
        if self.mask_type not in MASK_TYPES:
            raise bad("mask_type", f"one of {MASK_TYPES}")
        if self.maps not in MAPS:
            raise bad("maps", f"one of {MAPS}")
        if self.target not in TARGETS:
            raise bad("target", f"one of {TARGETS}")
        if self.model == "varnet" and self.mask_type == "poisson":
            raise ValueError(
                "ReconTrainSpec: model 'varnet' (fastMRI's VarNet finds its calibration lines in a line mask) needs "
                f"a line mask_type, got {self.mask_type!r}"
            )
        if self.loss not in ("mse", "l1"):
            raise bad("loss", "'mse' or 'l1'")
        if self.precision not in ("fp32", "bf16"):
            raise bad("precision", "'fp32' or 'bf16'")
        if self.compile not in COMPILE_MODES:
            raise bad("compile", f"one of {COMPILE_MODES}")
        for name in ("epochs", "batch_size", "step_size"):
            if int(getattr(self, name)) < 1:
                raise bad(name, "a positive integer")
        for name in ("train_volumes", "threads", "stop_after"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise bad(name, "a positive integer or None")
        if not self.lr > 0 or (self.factor_lr is not None and not self.factor_lr > 0):
            raise bad("lr" if not self.lr > 0 else "factor_lr", "a positive number")
        if not self.weight_decay >= 0:
            raise bad("weight_decay", ">= 0")
        if self.calib is not None and int(self.calib) < 5:
            raise bad("calib", ">= 5 (ESPIRiT's kernels need it) or None")
        if not isinstance(self.coil_maps, CoilMapSpec) or self.coil_maps.calib is not None:
            raise ValueError(
                "ReconTrainSpec: coil_maps must be a CoilMapSpec without calib (the calibration block is "
                f"{field_and_flag('calib')}), got {self.coil_maps!r}"
            )


def _paths(value) -> Any:
    if value is None or isinstance(value, (str, os.PathLike)):
        return None if value is None else os.path.abspath(value)
    return [os.path.abspath(v) for v in value]


def defining_settings(spec: ReconTrainSpec) -> dict[str, Any]:
    """The spec's result-defining fields as JSON values (paths absolute); bookkeeping fields left out.

    Examples
    --------
    >>> sorted(defining_settings(ReconTrainSpec(data="d", model="diag")))[:4]
    ['acceleration', 'batch_size', 'calib', 'data']
    """
    out = {k: v for k, v in asdict(spec).items() if k not in BOOKKEEPING}
    out["data"], out["val"] = _paths(spec.data), _paths(spec.val)
    if spec.coil_maps == CoilMapSpec():  # the defaults: as runs recorded before the maps settings existed
        del out["coil_maps"]
    return json.loads(json.dumps(out, default=str))


def spec_fingerprints(spec: ReconTrainSpec) -> dict[str, Any]:
    """The content fingerprints of the spec's data (``data``, ``val``: a folder, a file or each file of a list)."""
    inputs: dict[str, Any] = {}
    for name in ("data", "val"):
        value = getattr(spec, name)
        if value is None or isinstance(value, (str, os.PathLike)):
            inputs[name] = value
        else:
            inputs |= {f"{name}[{i}]": v for i, v in enumerate(value)}
    return data_fingerprints(inputs)


def _check_run_folder(spec: ReconTrainSpec, out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to continue a different run, or to replace one without ``overwrite`` (before any work)."""
    if resume and overwrite:
        raise ValueError("train_recon_model: resume and overwrite exclude each other")
    rec_path = out / "record.json"
    if out.exists() and not out.is_dir():
        raise RunConflictError(f"train_recon_model: out {out} exists and is not a folder")
    if not rec_path.is_file():
        if resume:
            raise RunConflictError(f"train_recon_model: nothing to resume in {out} (no record.json); drop --resume")
        return
    record = json.loads(rec_path.read_text())
    status = record.get("status", "unknown")
    if overwrite:
        return
    if not resume:
        hint = "--resume to continue it, " if status != "finished" else "--resume with more --epochs to extend it, "
        raise RunConflictError(
            f"train_recon_model: {out} already holds a {status} run; {hint}--overwrite to replace it, or another --out"
        )
    if record.get("command") != "mri train" or "spec" not in record:
        raise RunConflictError(f"{rec_path}: not a run of this version of `mri train` (no 'spec'); cannot resume it")
    diffs = defining_differences(record["spec"], defining_settings(spec))
    diffs += fingerprint_differences(record.get("data_fingerprint"), spec_fingerprints(spec))
    if diffs:
        raise RunConflictError(
            f"train_recon_model: cannot resume {out}: these arguments differ from its record ({'; '.join(diffs)}); "
            "rerun with the recorded values, or start a new run (another --out, or --overwrite)"
        )
    done = len(record.get("epochs", []))
    if spec.epochs < done:
        raise RunConflictError(f"train_recon_model: {out} has trained {done} epochs; epochs={spec.epochs} is fewer")
    if not (out / "last.pt").is_file():
        raise RunConflictError(f"train_recon_model: {out} has no last.pt to resume from; use --overwrite")


def _validate_files(root) -> list[Path]:
    """Every file of ``root``, each checked (shapes, header, NaN/Inf) whether or not a cache exists."""
    from monarch_sci.datasets.mri.fastmri import inspect_volume, list_volume_files

    files = list_volume_files(root, "train_recon_model")
    for f in files:
        inspect_volume(f, check_data=True)  # also refuses an unusable header recon size
    return files


def spec_calib(spec: ReconTrainSpec, files: Sequence[str | os.PathLike]) -> int:
    """The ESPIRiT calibration block of ``spec`` for these files (the acquisition's own unless ``maps="oracle"``)."""
    from monarch_sci.datasets.mri.fastmri import inspect_volume

    info = inspect_volume(files[0])
    H, W = info.kspace_shape[-2:]
    shape = (min(info.geometry.recon_size[0], H), W)  # the readout-cropped grid the models see
    try:
        return acquisition_calib(shape, spec.acceleration, spec.mask_type, calib=spec.calib, maps=spec.maps)
    except ValueError as err:
        raise ValueError(f"train_recon_model: calib: {err}") from None


def _bank(files: list[Path], spec: ReconTrainSpec, cache_dir: Path) -> SliceBank:
    progress = spec.progress and int(os.environ.get("RANK", "0")) == 0
    calib = spec_calib(spec, files)
    return load_slice_bank(
        files, calib=calib, coil_maps=spec.coil_maps, target=spec.target, cache_dir=cache_dir, progress=progress
    )


def load_banks(spec: ReconTrainSpec, cache_dir: str | os.PathLike) -> tuple[SliceBank, SliceBank]:
    """The training and validation :class:`SliceBank` of ``spec`` (validated, cached under ``cache_dir``).

    Every file and the split sizes are checked before anything is computed or cached.
    """
    cache_dir = Path(cache_dir)
    files = _validate_files(spec.data)
    n = len(files)
    if spec.val is None and n < 2:
        raise ValueError(
            f"train_recon_model: {field_and_flag('val')} must be given when data holds fewer than 2 volumes ({n})"
        )
    n_val = max(1, round(0.2 * n)) if spec.val is None else 0
    val_files = _validate_files(spec.val) if spec.val is not None else None
    if spec.train_volumes is not None and not 1 <= spec.train_volumes <= n - n_val:
        raise ValueError(
            f"train_recon_model: {field_and_flag('train_volumes')} must be in [1, {n - n_val}] (training volumes), got "
            f"{spec.train_volumes}"
        )
    bank = _bank(files, spec, cache_dir)
    if val_files is None:
        val = bank.subset(range(n - n_val, n))
        bank = bank.subset(range(n - n_val))
    else:
        val = _bank(val_files, spec, cache_dir)
    if spec.train_volumes is not None:
        bank = bank.subset(range(spec.train_volumes))
    if val.shape != bank.shape:
        raise ValueError(
            f"train_recon_model: validation k-space {val.shape} differs from training k-space {bank.shape}"
        )
    return bank, val


def train_recon_model(
    spec: ReconTrainSpec, out: str | os.PathLike, *, resume: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Train ``spec`` into the run folder ``out``; returns the trainer's summary (history, best, status).

    Under ``torchrun`` every process calls this; it trains with DistributedDataParallel.

    Raises
    ------
    RunConflictError
        ``out`` holds a run that differs from ``spec`` (resume) or that would be replaced (no ``overwrite``).
    ValueError, FileNotFoundError
        Bad data (the file named), bad settings.
    """
    import torch

    out = Path(out)
    _check_run_folder(spec, out, resume=resume, overwrite=overwrite)
    if spec.model == "varnet":  # an optional extra: refused before the slice cache is written into the run folder
        from monarch_sci.operators.mri.varnet import VARNET_INSTALL, varnet_available

        if not varnet_available():
            raise ValueError(f"--model varnet needs fastMRI's VarNet (the [varnet] extra): {VARNET_INSTALL}")
    if spec.threads:
        torch.set_num_threads(int(spec.threads))
    # with overwrite the new run takes the old one's place only once it is complete
    with replacing_run(out, overwrite=overwrite, run_files=RUN_FILES) as work:
        cache_dir = Path(spec.cache_dir) if spec.cache_dir is not None else default_cache_dir(out)
        use = cache_dir
        if work != out and cache_dir == out / "cache":  # the new folder's own cache, the old entries linked in
            use = _carry_cache(out / "cache", work / "cache")
        return _train(spec, out, work, cache_dir, use, resume=resume)


def _carry_cache(old: Path, new: Path) -> Path:
    """``new``, holding a hard link (or, where the file system has none, a copy) of every cache file of ``old``.

    Cache entries are found by their content key (:func:`~monarch_sci.datasets.mri.cache.cache_file`), so the
    replacing run reuses those of the data it reads and rebuilds the others; the old run keeps its own files
    (a cache entry is only ever replaced by a rename, never written in place).
    """
    new.mkdir(parents=True, exist_ok=True)
    if old.is_dir():
        for f in sorted(old.iterdir()):
            if f.is_file() and not f.name.startswith("."):  # not the temporaries of a killed writer
                try:
                    os.link(f, new / f.name)
                except OSError:
                    shutil.copy2(f, new / f.name)
    return new


def _train(spec: ReconTrainSpec, out: Path, work: Path, cache_dir: Path, use: Path, *, resume: bool) -> dict[str, Any]:
    """The body of :func:`train_recon_model`, writing into ``work`` (``out`` itself, or the run replacing it) with
    the slice cache in ``use`` (``cache_dir``, the recorded one, or the replacing run's ``cache/``)."""
    from monarch_sci.training.trainer import TrainConfig, Trainer, seed_everything

    bank, val = load_banks(spec, use)
    seed_everything(spec.seed)  # the model's initial weights depend on the seed only
    model = build_model(spec.model, bank.shape, **spec.hparams)
    if resume:
        recorded = json.loads((out / "record.json").read_text())["model"]
        if recorded.get("shape") != list(bank.shape):
            raise RunConflictError(
                f"train_recon_model: {out} trained a model for {recorded.get('shape')} k-space; the data is "
                f"{list(bank.shape)}"
            )
    config = TrainConfig.from_spec(spec, monitor="val_loss")
    # a Poisson mask's calibration square is the acquisition's (the maps' block unless maps="oracle")
    mask_calib = None
    if spec.mask_type == "poisson":
        mask_calib = acquisition_calib(bank.shape, spec.acceleration, "poisson", calib=spec.calib)
    hp = dict(spec.hparams)
    record = {
        "command": "mri train",
        "spec": defining_settings(spec),
        "bookkeeping": {k: getattr(spec, k) for k in BOOKKEEPING if k != "epochs"} | {"cache_dir": str(cache_dir)},
        "data_fingerprint": spec_fingerprints(spec),
        "model": {"name": spec.model, "shape": list(bank.shape), "hparams": hp, "label": model_label(spec.model, hp)},
        "data": {
            "train_volumes": bank.names,
            "val_volumes": val.names,
            "train_slices": len(bank.volume),
            "recon_size": list(bank.recon_size),
            "coils": int(bank.kspace.shape[1]),
        },
        "coil_maps": bank.maps_settings,
        "task": {
            "accel": spec.acceleration,
            "mask_policy": spec.mask_policy,
            "mask_type": spec.mask_type,
            "mask_calib": mask_calib,
            "maps": spec.maps,
            "target": spec.target,
            "loss": spec.loss,
        },
    }
    masks = {"accel": spec.acceleration, "mask_policy": spec.mask_policy, "mask_type": spec.mask_type}
    train_set = ReconSlices(bank, train=True, calib=mask_calib, **masks)
    val_set = ReconSlices(val, train=False, calib=mask_calib, **masks)
    trainer = Trainer(
        model, ReconTask(loss=spec.loss), train_set, val_set, config, out=work, record=record, device=spec.device
    )
    try:
        summary = trainer.fit(resume=resume)
    except RuntimeError as err:
        if resume and "state_dict" in str(err):
            raise RunConflictError(f"train_recon_model: {out}/last.pt does not fit this model: {err}") from None
        raise
    if trainer.is_main:
        _plots(work, summary["history"], model, val_set)
    return summary


def _plots(out: Path, history: list[dict], model, val_set) -> None:
    """``curves.png`` (losses, validation PSNR) and ``example.png`` (a validation slice), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from monarch_sci.training.checkpoint import save_figure

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
    save_figure(fig, out / "curves.png", dpi=100)
    sample = val_set[0]
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    with torch.no_grad():
        batch = [sample[k][None].to(device) for k in ("kspace", "mask", "maps")]
        pred = model(*batch)[0].cpu()
    imgs = [sample["target"].abs(), pred.abs(), (pred.abs() - sample["target"].abs()).abs()]  # on magnitudes
    fig, ax = plt.subplots(1, 3, figsize=(9, 3.2))
    vmax = float(imgs[0].max())
    for a, im, title in zip(ax, imgs, ["target", "reconstruction", "|error|"]):
        a.imshow(im.numpy(), cmap="gray", vmin=0, vmax=vmax if title != "|error|" else vmax / 5)
        a.set_title(title)
        a.axis("off")
    fig.tight_layout()
    save_figure(fig, out / "example.png", dpi=100)
