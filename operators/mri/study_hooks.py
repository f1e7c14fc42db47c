"""The MRI runner of the study engine (:mod:`monarch_sci.training.study`): one reconstruction run from a study's
parameters.

Importing this module registers the runner ``"mri"`` and the MRI report sections
(:mod:`~monarch_sci.operators.mri.study_sections`). A run's parameters (study < problem < stage < setting) are
the fields of :class:`~monarch_sci.operators.mri.training.ReconTrainSpec` (``data``, ``val``, ``model``,
``hparams``, ``acceleration``, ``mask_type``, ``mask_policy``, ``maps``, ``target``, ``lr``, ``factor_lr``, ...;
paths relative to the spec file), plus the runner's own:

* ``test`` — the test volumes (a folder or file), read by a ``split = "test"`` stage only, once, after training,
  with the checkpoint of the best validation loss (``best.pt``);
* ``model = "zero-filled"`` or ``"cg-sense"`` — a classical reconstruction instead of a trained model, on the
  same slices, masks (those of the learned runs' validation/test policy), coil maps and targets; ``lam`` is
  CG-SENSE's weight (required), ``max_iter``, ``tol`` its stopping rule (default: :func:`cg_sense`'s). A
  classical run has one "epoch": its curve is its mean validation NMSE.

Every run's record holds ``acceleration``, ``label``, ``val_curve`` (validation loss per epoch; the spec's
``curve``), ``best_val_loss``, ``best_val_psnr``, ``best_epoch`` and ``seconds_per_epoch``; a test-stage run adds
``test``: per-volume ``psnr``/``ssim``/``nmse`` lists, their means ``psnr_mean``/``ssim_mean``/``nmse_mean``,
``psnr_std_volumes`` and ``seconds_per_slice``. A validation-stage run never opens the test volumes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from monarch_sci.operators.mri import study_sections  # noqa: F401  (registers the report sections)
from monarch_sci.training.study import RunContext, Runner, StudyRun, StudySpecError, register_runner

__all__ = ["CLASSICAL", "RUNNER", "make_train_spec"]

#: Classical methods a run's ``model`` may name (no training).
CLASSICAL = ("zero-filled", "cg-sense")
#: Parameters the runner reads itself (not fields of ReconTrainSpec).
OWN = ("test", "lam", "max_iter", "tol")
PATHS = ("data", "val", "test")


def _params(run: StudyRun) -> dict[str, Any]:
    kw = dict(run.params)
    for name in PATHS:
        if kw.get(name) is not None:
            kw[name] = str((run.base / kw[name]).resolve())
    if "data" not in kw or "val" not in kw:
        raise StudySpecError(f"{run.name}: parameters 'data' and 'val' are required (training and validation volumes)")
    if run.split == "test" and kw.get("test") is None:
        raise StudySpecError(f"{run.name}: a test stage needs the parameter 'test' (the test volumes)")
    return kw


def make_train_spec(run: StudyRun, folder: Path, context: RunContext | None = None) -> Any:
    """The :class:`~monarch_sci.operators.mri.training.ReconTrainSpec` of a learned ``run`` (the slice cache
    shared by the study's runs, beside the run folders)."""
    from monarch_sci.operators.mri.training import ReconTrainSpec

    kw = {k: v for k, v in _params(run).items() if k not in OWN}
    known = {f.name for f in dataclasses.fields(ReconTrainSpec)}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise StudySpecError(f"{run.name}: parameter {unknown[0]!r} is not a field of ReconTrainSpec nor one of the "
                             f"runner's own ({', '.join(OWN)})")  # fmt: skip
    context = context or RunContext()
    how = {"device": context.device, "threads": context.threads, "progress": context.progress}
    try:
        return ReconTrainSpec(**{**kw, "epochs": run.epochs, "seed": run.seed, "cache_dir": folder.parent / "cache",
                                 **how})  # fmt: skip
    except (TypeError, ValueError) as err:
        raise StudySpecError(f"{run.name}: {err}") from None


def _bank(files: Any, params: dict[str, Any], cache_dir: Path):
    """A :class:`SliceBank` of ``files`` under the run's protocol (maps from the acquisition's calibration region
    unless ``maps = "oracle"``; ``target``), as training builds its validation bank."""
    from monarch_sci.datasets.mri.fastmri import list_volume_files
    from monarch_sci.operators.mri.slice_bank import load_slice_bank
    from monarch_sci.operators.mri.training import ReconTrainSpec, spec_calib

    protocol = {k: params[k] for k in ("acceleration", "mask_type", "maps", "target", "calib") if k in params}
    spec = ReconTrainSpec(data=files, model="diag", **protocol)  # only its protocol fields are read
    paths = list_volume_files(files, "study")
    return load_slice_bank(paths, calib=spec_calib(spec, paths), target=spec.target, cache_dir=cache_dir), spec


def _record(folder: Path) -> dict[str, Any] | None:
    """The run folder's ``record.json`` (``None`` before the first epoch)."""
    path = folder / "record.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _metrics(m: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    out = {k: [float(v) for v in m[k]] for k in ("psnr", "ssim", "nmse")}
    out.update({f"{k}_mean": float(np.mean(out[k])) for k in ("psnr", "ssim", "nmse")})
    return {**out, "psnr_std_volumes": float(np.std(out["psnr"])), "seconds_per_slice": float(m["seconds_per_slice"])}


def _train_learned(run: StudyRun, folder: Path, context: RunContext) -> dict[str, Any]:
    from monarch_sci.operators.mri.runs import evaluate_run
    from monarch_sci.operators.mri.training import train_recon_model

    spec = make_train_spec(run, folder, context)
    record = _record(folder)
    if record is None or record.get("status") != "finished":
        has_last = (folder / "last.pt").is_file()
        train_recon_model(spec, folder, resume=has_last, overwrite=not has_last)
        record = _record(folder)
        if record is None or record.get("status") != "finished":
            raise RuntimeError(f"{run.name}: training stopped before its last epoch ({folder}); rerun to resume")
    best = min(record["epochs"], key=lambda e: e["val_loss"])
    result = {
        "spec": record["spec"], "acceleration": spec.acceleration, "label": record["model"]["label"],
        "val_curve": [e["val_loss"] for e in record["epochs"]], "best_val_loss": best["val_loss"],
        "best_val_psnr": best["val_psnr"], "best_epoch": best["epoch"],
        "seconds_per_epoch": record["timing"]["train_seconds_per_epoch"],
    }  # fmt: skip
    if run.split == "test":
        test, _ = _bank(_params(run)["test"], run.params, folder.parent / "cache")
        found = evaluate_run(folder, test, accel=spec.acceleration, mask_policy=spec.mask_policy,
                             mask_type=spec.mask_type)  # fmt: skip
        result["test"] = _metrics(found)
    return result


def _classical(model: str, bank: Any, spec: Any, params: dict[str, Any]) -> tuple[Any, float]:
    """The reconstructions of every slice of ``bank`` and the seconds per slice."""
    import torch

    from monarch_sci.operators.mri.classical import cg_sense
    from monarch_sci.operators.mri.sense import SenseOperator
    from monarch_sci.operators.mri.slice_bank import ReconSlices, acquisition_calib

    mask_calib = None
    if spec.mask_type == "poisson":
        mask_calib = acquisition_calib(bank.shape, spec.acceleration, "poisson", calib=spec.calib)
    ds = ReconSlices(bank, accel=spec.acceleration, mask_policy=params.get("mask_policy", "slice"),
                     mask_type=spec.mask_type, calib=mask_calib)  # fmt: skip
    items = [ds[i] for i in range(len(ds))]
    k, m, s = (torch.stack([it[key] for it in items]) for key in ("kspace", "mask", "maps"))
    t0 = time.perf_counter()
    if model == "zero-filled":
        x = SenseOperator(s, m).adjoint(k)
    else:
        lam = params.get("lam")
        if not isinstance(lam, (int, float)):
            raise StudySpecError(f"model 'cg-sense': parameter 'lam' (its weight) is required, got {lam!r}")
        stop = {k: params[k] for k in ("max_iter", "tol") if k in params}  # else cg_sense's defaults
        x, _ = cg_sense(k, s, m, lam=float(lam), **stop)
    return x, (time.perf_counter() - t0) / len(k)


def _train_classical(run: StudyRun, folder: Path, context: RunContext) -> dict[str, Any]:
    import numpy as np

    from monarch_sci.operators.mri.recon_task import volume_metrics

    params = _params(run)
    model = params["model"]
    cache = folder.parent / "cache"
    val, spec = _bank(params["val"], run.params, cache)
    x, seconds = _classical(model, val, spec, params)
    m = volume_metrics(x, val.target, val.volume, val.recon_size)
    label = "zero-filled SENSE" if model == "zero-filled" else f"CG-SENSE (λ={float(params['lam']):g})"
    result = {
        "spec": {k: params.get(k) for k in ("model", "lam", "max_iter", "tol", "mask_policy")},
        "acceleration": spec.acceleration, "label": label, "val_curve": [float(np.mean(m["nmse"]))],
        "best_val_loss": float(np.mean(m["nmse"])), "best_val_psnr": float(np.mean(m["psnr"])), "best_epoch": 1,
        "seconds_per_epoch": seconds * len(val.volume),
    }  # fmt: skip
    if run.split == "test":
        test, _ = _bank(params["test"], run.params, cache)
        x, seconds = _classical(model, test, spec, params)
        result["test"] = _metrics({**volume_metrics(x, test.target, test.volume, test.recon_size),
                                   "seconds_per_slice": seconds})  # fmt: skip
    return result


def train_run(run: StudyRun, folder: Path, context: RunContext) -> dict[str, Any]:
    """Train (or resume) one run in ``folder``, or reconstruct with a classical method, and evaluate it as its
    stage's split allows; its study record (see the module docstring)."""
    if run.params.get("model") in CLASSICAL:
        if context.threads:
            import torch

            torch.set_num_threads(int(context.threads))
        return _train_classical(run, folder, context)
    return _train_learned(run, folder, context)


def time_epochs(run: StudyRun, folder: Path, context: RunContext) -> float:
    """Run ``run`` from scratch in the scratch folder ``folder`` (replaced) and return its seconds per epoch (a
    classical run: its seconds on the validation volumes)."""
    if run.params.get("model") in CLASSICAL:
        scored = _train_classical(dataclasses.replace(run, split="validation"), folder, context)
        return float(scored["seconds_per_epoch"])
    from monarch_sci.operators.mri.training import train_recon_model

    train_recon_model(make_train_spec(run, folder, context), folder, overwrite=True)
    return float(_record(folder)["timing"]["train_seconds_per_epoch"])


def epochs_done(folder: Path) -> int:
    """Epochs an unfinished run has trained (its ``record.json``)."""
    record = _record(folder)
    return 0 if record is None else len(record.get("epochs", []))


RUNNER = register_runner("mri", Runner(train=train_run, epochs_done=epochs_done, time_epochs=time_epochs))
