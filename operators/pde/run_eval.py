"""Evaluate a trained run (rollout or steady) on any data file and grid: ``monarch-sci pde evaluate``.

:func:`evaluate_run` rebuilds the model of a run folder from its ``record.json`` (the spec it was trained
with), loads ``best.pt`` and evaluates it on a file of the same kind — a Navier–Stokes store / FNO ``.mat``
for a rollout run, a pairs file for a steady run — subsampled to the requested grid. FNOs are functions of
the grid (the FFT model natively, the Monarch model by carrying its learned maps, see
:class:`~monarch_sci.operators.pde.fourier_modes.MonarchModes`), so a run trained at 32² evaluates at 64²
zero-shot. The result (relative L2 error, mean and per sample; the per-step curve for rollouts, the relative
H¹ error for steady maps) is written atomically to ``RUN/eval_<file stem>_<S>.json`` (``S`` the grid side).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import torch

from monarch_sci.metrics import relative_l2_per_sample
from monarch_sci.operators.pde.forecasting import ForecastSpec, build_forecaster, spec_modes, write_json
from monarch_sci.operators.pde.fourier_modes import check_grid
from monarch_sci.operators.pde.steady import SteadyModel
from monarch_sci.operators.pde.steady_training import SteadySpec, build_steady_model
from monarch_sci.operators.pde.tasks import ForecastModel, ForecastTask, ForecastWindows
from monarch_sci.training.checkpoint import load_model_state
from monarch_sci.training.fingerprint import data_fingerprints

__all__ = ["evaluate_run", "load_run_model", "sub_for_resolution"]


def sub_for_resolution(stored: int, resolution: int, where: str = "evaluate_run") -> int:
    """The stride ``k`` with ``⌈stored / k⌉ = resolution`` (every ``k``-th grid point), or a ``ValueError``.

    Examples
    --------
    >>> sub_for_resolution(64, 32), sub_for_resolution(65, 33), sub_for_resolution(64, 64)
    (2, 2, 1)
    """
    for k in range(1, stored + 1):
        if -(-stored // k) == resolution:
            return k
    reachable = sorted({-(-stored // k) for k in range(1, min(stored, 16) + 1)}, reverse=True)
    raise ValueError(
        f"{where}: resolution {resolution} is not reachable by subsampling the stored {stored}-point grid "
        f"(reachable: {', '.join(map(str, reachable))}, ...); pass one of those or --sub"
    )


def _spec(record: dict[str, Any], cls: type, run: Path) -> Any:
    names = {f.name for f in fields(cls)}
    recorded = record.get("spec")
    if not isinstance(recorded, dict):
        raise ValueError(f"evaluate_run: {run / 'record.json'} holds no spec (written by an older version)")
    kept = {k: v for k, v in recorded.items() if k in names}
    if kept.get("n_modes") is not None:
        kept["n_modes"] = tuple(kept["n_modes"])
    return cls(**kept)


def _read_run(run: Path, checkpoint: str = "best", where: str = "evaluate_run") -> tuple[dict[str, Any], Path]:
    path, best = run / "record.json", run / f"{checkpoint}.pt"
    if not run.is_dir():
        raise FileNotFoundError(2, "no such run folder (--run)", str(run))
    if not path.is_file() or not best.is_file():
        missing = path if not path.is_file() else best
        raise ValueError(f"{where}: {run} is not a trained run (no {missing.name}); train it with pde train")
    try:
        record = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"evaluate_run: {path}: unreadable run record ({err})") from None
    return record, best


def load_run_model(
    run: str | os.PathLike, *, checkpoint: Literal["best", "last"] = "best", device: str | torch.device = "cpu"
) -> ForecastModel | SteadyModel:
    """The trained model of the run folder ``run`` (rollout or steady), in eval mode on ``device``.

    The model is rebuilt from the spec in ``record.json`` (on the grid it was trained on) and its weights are
    read from ``best.pt`` (the checkpoint chosen on validation data) or ``last.pt``.

    Examples
    --------
    >>> model = load_run_model("runs/ns_monarch")  # doctest: +SKIP
    >>> fourier_drift(model)[0]["drift"]  # doctest: +SKIP
    0.031
    """
    if checkpoint not in ("best", "last"):
        raise ValueError(f"load_run_model: expected checkpoint 'best' or 'last', got {checkpoint!r}")
    run = Path(run)
    record, path = _read_run(run, checkpoint, "load_run_model")
    kind = record.get("task", "rollout")
    if kind == "steady":
        spec, info = _spec(record, SteadySpec, run), record["data"]
        model = build_steady_model(spec, tuple(info["grid"]), info["in_channels"], info["out_channels"])
    elif kind == "rollout":
        model = build_forecaster(_spec(record, ForecastSpec, run), int(record["data"]["resolution"]))
    else:
        raise ValueError(f"load_run_model: {run / 'record.json'} names an unknown task {kind!r}")
    load_model_state(model, path)
    return model.to(device).eval()


def evaluate_run(
    run: str | os.PathLike,
    data: str | os.PathLike,
    *,
    resolution: int | None = None,
    sub: int | None = None,
    samples: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 20,
) -> dict[str, Any]:
    """Evaluate the run folder ``run`` on ``data`` at grid ``resolution`` (or stride ``sub``); write and return
    the result (see the module docstring).

    Parameters
    ----------
    run
        A folder written by :func:`~monarch_sci.operators.pde.forecasting.train_forecaster` or
        :func:`~monarch_sci.operators.pde.steady_training.train_steady`.
    data
        A file of the kind the run was trained on (any grid, any number of samples).
    resolution, sub
        The grid side to evaluate at (reached by subsampling the stored grid), or the stride; at most one
        (default: the run's own stride ``sub``).
    samples
        Sample indices of ``data`` (default: all).

    Examples
    --------
    >>> result = evaluate_run("runs/darcy", "darcy_test_64.h5", resolution=64)  # doctest: +SKIP
    >>> result["rel_l2_mean"], result["trained_grid"]  # doctest: +SKIP
    (0.021, [32, 32])
    """
    run, data = Path(run), Path(data)
    if resolution is not None and sub is not None:
        raise ValueError("evaluate_run: pass resolution (--resolution) or sub (--sub), not both")
    for name, v in (("resolution", resolution), ("sub", sub)):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise ValueError(f"evaluate_run: expected {name} (--{name}) >= 1, got {v!r}")
    record, best = _read_run(run)
    if not data.is_file():
        raise FileNotFoundError(2, "no such data file (--data)", str(data))
    task_kind = record.get("task", "rollout")
    device = torch.device(device)
    if task_kind not in ("steady", "rollout"):
        raise ValueError(f"evaluate_run: {run / 'record.json'} names an unknown task {task_kind!r}")
    evaluate = _evaluate_steady if task_kind == "steady" else _evaluate_rollout
    try:
        result = evaluate(record, run, best, data, resolution, sub, samples, device, batch_size)
    except IndexError as err:  # samples beyond the file's: the readers say which
        raise ValueError(f"evaluate_run (--samples): {err}") from None
    result = {"run": str(run.resolve()), "data": str(data.resolve()), "task": task_kind, **result}
    result["data_fingerprint"] = data_fingerprints({"data": data})  # what was evaluated, by content
    side = result["grid"][0]
    write_json(run / f"eval_{data.stem}_{side}.json", result, what=f"evaluate {run}")
    return result


def _kind_error(run: Path, kind: str, data: Path, err: Exception) -> ValueError:
    want = "a rollout file (store, FNO .mat, PDEBench, The Well)" if kind == "rollout" else "a pairs file"
    return ValueError(f"evaluate_run: the run {run} is a {kind} model and needs {want}; {data}: {err}")


def _evaluate_steady(record, run, best, data, resolution, sub, samples, device, batch_size) -> dict[str, Any]:
    from monarch_sci.datasets.pde.pairs import FieldPairs, read_steady_pairs
    from monarch_sci.operators.pde.steady import SteadyTask

    spec = _spec(record, SteadySpec, run)
    info = record["data"]
    keys = {"x_key": spec.x_key, "y_key": spec.y_key, "format": spec.format}
    try:
        x0, _, _ = read_steady_pairs(data, **keys, indices=[0])
    except (ValueError, TypeError, OSError) as err:
        raise _kind_error(run, "steady", data, err) from None
    if resolution is not None:
        sub = sub_for_resolution(int(x0.shape[1]), resolution)
    sub = spec.sub if sub is None else sub
    x, y, _ = read_steady_pairs(data, **keys, sub=sub, indices=samples)
    if x.shape[-1] != info["in_channels"] or y.shape[-1] != info["out_channels"]:
        raise ValueError(
            f"evaluate_run: {data} holds {x.shape[-1]} input and {y.shape[-1]} output channels; the run {run} "
            f"maps {info['in_channels']} to {info['out_channels']}"
        )
    grid = (int(x.shape[1]), int(x.shape[2]))
    check_grid(grid, spec_modes(spec), "evaluate_run", what=f"{data} at sub={sub}: grid")
    model = load_run_model(run, device=device)
    task = SteadyTask(loss=spec.loss, eval_batch=batch_size)
    with torch.no_grad():
        metrics = task.evaluate(model, FieldPairs(x, y), prefix="eval")
    return {
        "grid": list(grid),
        "sub": sub,
        "trained_grid": info["grid"],
        "samples": int(x.shape[0]),
        "rel_l2_mean": metrics["eval_rel_l2"],
        "rel_l2_per_sample": metrics["eval_rel_l2_per_sample"],
        "rel_h1_mean": metrics["eval_rel_h1"],
    }


def _evaluate_rollout(record, run, best, data, resolution, sub, samples, device, batch_size) -> dict[str, Any]:
    from monarch_sci.datasets.pde.ns_dataset import NavierStokesDataset

    spec = _spec(record, ForecastSpec, run)
    window = {"t_in": spec.t_in, "t_out": spec.t_out, "format": spec.format, "field": spec.field}
    window |= {"channel": spec.channel, "t_sub": spec.t_sub}  # the run's field, component and stride, here too
    try:
        probe = NavierStokesDataset(data, **window)
        stored = int(probe[0][0].shape[0])
        probe.close()
    except (ValueError, TypeError, OSError, KeyError) as err:
        raise _kind_error(run, "rollout", data, err) from None
    if resolution is not None:
        sub = sub_for_resolution(stored, resolution)
    sub = spec.sub if sub is None else sub
    ds = NavierStokesDataset(data, **window, sub=sub, indices=samples)
    x, y = ds.tensors()
    ds.close()
    s = int(x.shape[1])
    grid = (s, s) if spec.model == "fno2d" else (s, s, spec.t_out + 6)
    check_grid(grid, spec_modes(spec, len(grid)), "evaluate_run", what=f"{data} at sub={sub}: grid")
    model = load_run_model(run, device=device)
    task = ForecastTask(spec.model, eval_batch=batch_size)
    with torch.no_grad():
        pred, true = task.predict(model, ForecastWindows(x, y, kind=spec.model))
    per_sample = relative_l2_per_sample(pred, true)
    per_step = relative_l2_per_sample(pred, true, dims=(1, 2)).mean(0)
    return {
        "grid": [s, s],
        "sub": sub,
        "trained_grid": [record["data"]["resolution"]] * 2,
        "samples": int(x.shape[0]),
        "rel_l2_mean": float(per_sample.mean()),
        "rel_l2_per_sample": [float(v) for v in per_sample],
        "rel_l2_per_step": [float(v) for v in per_step],
    }
