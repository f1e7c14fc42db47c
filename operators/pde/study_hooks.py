"""The PDE runner of the study engine (:mod:`monarch_sci.training.study`): one FNO run from a study's parameters.

Importing this module registers the runner ``"pde"`` and the PDE report sections
(:mod:`~monarch_sci.operators.pde.study_sections`). A run's parameters (study < problem < stage < setting) are
the fields of :class:`~monarch_sci.operators.pde.forecasting.ForecastSpec` (``task = "rollout"``, the default:
Navier–Stokes stores or FNO ``.mat`` files) or :class:`~monarch_sci.operators.pde.steady_training.SteadySpec`
(``task = "steady"``: input/output pairs files), with paths relative to the spec file, plus:

* ``factor_lr_scale`` — the Monarch factors' learning rate as a multiple of ``lr``;
* ``factor_start_fraction``, ``factor_warmup_fraction`` — ``factor_start``/``factor_warmup`` as fractions of
  the run's epochs;
* ``width = "match-monarch"`` — the smallest FFT width whose parameter count reaches the Monarch model's at
  ``monarch_width`` (default: the spec's default width; the capacity control);
* ``zero_shot = true`` — after training on a subsampled grid (``sub > 1``), also evaluate on the stored grid
  (``test_2x``, the test samples only);
* ``evaluate_subs = { NAME = STRIDE, ... }`` — evaluate the test samples at each stride of the stored grid
  instead: ``test`` is then ``{NAME: {"rel_l2_mean", "samples"}}`` (a resolution-transfer study).

**Validation only.** A run of a ``split = "validation"`` stage never sees the test split: a rollout run holds
out its ``nval`` validation trajectories and splits them in two, the first half choosing the epoch and the second
half scoring the run (``score``); a steady run gets no test file and scores its best validation error. A run of
a ``split = "test"`` stage reads its test split once, after training, with the checkpoint chosen on validation
(``test``, ``test_2x``, and for a Monarch model ``drift``: how far each learned map moved from the DFT).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from monarch_sci.operators.pde import study_sections  # noqa: F401  (registers the report sections)
from monarch_sci.training.study import RunContext, Runner, StudyRun, StudySpecError, register_runner

__all__ = ["RUNNER", "make_training_spec"]

#: Parameters the runner reads itself (not fields of the training specs).
OWN = (
    "task",
    "factor_lr_scale",
    "factor_start_fraction",
    "factor_warmup_fraction",
    "zero_shot",
    "monarch_width",
    "evaluate_subs",
)
PATHS = ("data", "val", "test")


def _spec_class(task: str) -> type:
    from monarch_sci.operators.pde.forecasting import ForecastSpec
    from monarch_sci.operators.pde.steady_training import SteadySpec

    if task not in ("rollout", "steady"):
        raise StudySpecError(f"task: expected 'rollout' or 'steady', got {task!r}")
    return ForecastSpec if task == "rollout" else SteadySpec


def make_training_spec(run: StudyRun, context: RunContext | None = None) -> Any:
    """The :class:`ForecastSpec` or :class:`SteadySpec` of ``run`` (see the module docstring for the extra
    parameters and what a validation run holds out)."""
    kw = dict(run.params)
    task = kw.pop("task", "rollout")
    cls = _spec_class(task)
    kw = {k: v for k, v in kw.items() if k not in OWN}
    if "monarch_width" in run.params:
        kw["monarch_width"] = run.params["monarch_width"]
    lr = float(kw.get("lr", 1e-3))
    if "factor_lr_scale" in run.params:
        kw["factor_lr"] = run.params["factor_lr_scale"] * lr
    for name in ("factor_start", "factor_warmup"):
        if f"{name}_fraction" in run.params:
            kw[name] = round(run.params[f"{name}_fraction"] * run.epochs)
    for name in PATHS:
        if kw.get(name) is not None:
            kw[name] = str((run.base / kw[name]).resolve())
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kw) - known - {"epochs", "seed", "monarch_width"})
    if unknown:
        raise StudySpecError(
            f"{run.name}: parameter {unknown[0]!r} is not a field of {cls.__name__} (task = {task!r}) nor one of "
            f"the runner's own ({', '.join(OWN)})"
        )
    if "data" not in kw:
        raise StudySpecError(f"{run.name}: parameter 'data' is missing (the problem's data file)")
    if run.split == "validation":
        if task == "rollout":
            nval = int(kw.get("nval", 0))
            if nval < 2:
                raise StudySpecError(f"{run.name}: a validation stage needs nval >= 2 (half chooses the epoch, "
                                     f"half scores), got nval = {nval}")  # fmt: skip
            kw["nval"], kw["ntest"] = nval - nval // 2, nval // 2
        else:
            kw["test"] = None
    context = context or RunContext()
    how = {"device": context.device, "threads": context.threads, "progress": context.progress}
    kw = {**kw, "epochs": run.epochs, "seed": run.seed, "lr": lr, **how}
    if kw.get("width") == "match-monarch":
        kw["width"] = _matched_width(cls, kw)
    kw.pop("monarch_width", None)
    return cls(**kw)


def _matched_width(cls: type, kw: dict[str, Any]) -> int:
    """The smallest FFT width whose parameter count reaches the Monarch model's at width ``monarch_width``
    (default: the spec's default width)."""
    from monarch_sci.operators.pde.fno import count_parameters

    default = next(f.default for f in dataclasses.fields(cls) if f.name == "width")
    monarch_width = kw.pop("monarch_width", default)

    def params(**change: Any) -> int:
        return count_parameters(_model(cls(**{**kw, **change})))

    target = params(fourier="monarch", width=monarch_width)
    width = monarch_width
    while params(fourier="fft", width=width) < target:
        width += 1
    return width


def _model(spec: Any) -> Any:
    """The untrained model of a training spec (on the grid its data gives)."""
    from monarch_sci.operators.pde.forecasting import build_forecaster, load_forecast_splits
    from monarch_sci.operators.pde.steady_training import build_steady_model, load_steady_split

    if hasattr(spec, "t_in"):
        return build_forecaster(spec, load_forecast_splits(spec)[3]["resolution"])
    train = load_steady_split(spec, "data")
    grid = (int(train.x.shape[1]), int(train.x.shape[2]))
    return build_steady_model(spec, grid, int(train.x.shape[-1]), int(train.y.shape[-1]))


def train_run(run: StudyRun, folder: Path, context: RunContext) -> dict[str, Any]:
    """Train (or resume) one run in ``folder`` and evaluate it as its stage's split allows; its study record."""
    from monarch_sci.operators.pde.forecasting import read_record, train_forecaster
    from monarch_sci.operators.pde.run_eval import evaluate_run
    from monarch_sci.operators.pde.steady_training import train_steady

    spec = make_training_spec(run, context)
    rollout = hasattr(spec, "t_in")
    record = read_record(folder)
    if record is None or record.get("status") != "finished":
        has_last = (folder / "last.pt").is_file()
        (train_forecaster if rollout else train_steady)(spec, folder, resume=has_last, overwrite=not has_last)
        record = read_record(folder)
        if record is None or record.get("status") != "finished":
            raise RuntimeError(f"{run.name}: training stopped before its last epoch ({folder}); rerun to resume")
    curve = [e["val_rel_l2"] for e in record["epochs"]]
    if any(v is None for v in curve):
        raise StudySpecError(f"{run.name}: the run has no validation data (give the problem a validation split)")
    result = {
        "spec": record["spec"], "parameters": record.get("parameters"), "epochs": len(curve), "val_curve": curve,
        "train_loss_curve": [e["train_loss"] for e in record["epochs"]], "best_val_rel_l2": min(curve),
        "seconds_per_epoch": record["timing"]["train_seconds_per_epoch"],
    }  # fmt: skip
    if run.split == "validation":
        # rollout: the spec's "test" slice is the second half of the validation trajectories
        result["score"] = record["test"]["test_rel_l2"] if rollout else min(curve)
        return result
    result["test"] = record.get("test")
    if "evaluate_subs" in run.params:
        test_file, ids = (spec.data, range(spec.ntrain + spec.nval, spec.ntrain + spec.nval + spec.ntest)) if rollout \
            else (spec.test, None)  # fmt: skip
        result["test"] = {}
        for name, stride in run.params["evaluate_subs"].items():
            found = evaluate_run(folder, test_file, sub=int(stride), samples=ids)
            result["test"][str(name)] = {"rel_l2_mean": found["rel_l2_mean"], "samples": found["samples"]}
    result["test_2x"] = None
    if run.params.get("zero_shot") and spec.sub != 1:
        if rollout:
            first = spec.ntrain + spec.nval
            result["test_2x"] = evaluate_run(folder, spec.data, sub=1, samples=range(first, first + spec.ntest))
        elif spec.test is not None:
            result["test_2x"] = evaluate_run(folder, spec.test, sub=1)
        result["test_2x"] = None if result["test_2x"] is None else result["test_2x"]["rel_l2_mean"]
    if spec.fourier == "monarch":
        from monarch_sci.operators.pde.factor_analysis import fourier_drift
        from monarch_sci.operators.pde.run_eval import load_run_model

        result["drift"] = fourier_drift(load_run_model(folder))
    return result


def time_epochs(run: StudyRun, folder: Path, context: RunContext) -> float:
    """Train ``run`` from scratch in the scratch folder ``folder`` (replaced) and return its seconds per epoch."""
    from monarch_sci.operators.pde.forecasting import read_record, train_forecaster
    from monarch_sci.operators.pde.steady_training import train_steady

    spec = make_training_spec(run, context)
    (train_forecaster if hasattr(spec, "t_in") else train_steady)(spec, folder, overwrite=True)
    return float(read_record(folder)["timing"]["train_seconds_per_epoch"])


def epochs_done(folder: Path) -> int:
    """Epochs an unfinished run has trained (its ``record.json``)."""
    from monarch_sci.operators.pde.forecasting import read_record

    record = read_record(folder)
    return 0 if record is None else len(record.get("epochs", []))


RUNNER = register_runner("pde", Runner(train=train_run, epochs_done=epochs_done, time_epochs=time_epochs))
