"""``compare_forecasters``: the FFT and the Monarch FNO on the same data, split, seeds and budget.

Each run lives in ``out/<fourier>_seed<k>`` (see :mod:`monarch_sci.operators.pde.forecasting` for run folders).
A finished run is reused only if its record matches the requested spec exactly (``epochs`` included), a
matching unfinished one is resumed; a mismatching run is refused before anything is trained (the message lists
the runs and the differing arguments), or retrained from scratch with ``overwrite=True``. The comparison is
written as ``compare.json`` (standard JSON; non-finite errors are refused, naming the runs), ``compare.md`` and
``error_per_step.png``, each atomically: a run killed before the end leaves the previous comparison intact.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from monarch_sci.operators.pde.forecasting import (
    ForecastSpec,
    check_modes_fit,
    defining_arguments,
    load_forecast_splits,
    read_record,
    run_differences,
    train_forecaster,
    write_json,
)
from monarch_sci.operators.pde.plots import plot_error_per_step
from monarch_sci.training.checkpoint import write_text_atomic

__all__ = ["PUBLISHED", "compare_forecasters", "compare_table"]

# -- the comparison ------------------------------------------------------------------------------------------
#: Published relative L2 errors (FNO-2D style benchmark at ν = 1e-3 / 1e-4 / 1e-5), FFT-FNO vs Monarch-FNO.
PUBLISHED = {
    "fft": {"1e-3": 0.017, "1e-4": 0.178, "1e-5": 0.155},
    "monarch": {"1e-3": 0.010, "1e-4": 0.145, "1e-5": 0.136},
}


def _plan_compare(spec: ForecastSpec, out: Path, fouriers, seeds, overwrite: bool) -> list[tuple]:
    """``(spec, folder, "train" | "resume" | "reuse")`` per run; refuses mismatching runs unless ``overwrite``."""
    plan, refused = [], []
    for seed in seeds:
        for fourier in fouriers:
            run_spec = replace(spec, fourier=fourier, seed=int(seed))
            run_dir = out / f"{fourier}_seed{seed}"
            try:
                record = read_record(run_dir)
            except ValueError:
                if not overwrite:
                    raise
                record = None
            action = "train"
            if record is not None:
                diffs = run_differences(record, run_spec, allow_more_epochs=False)
                if diffs and not overwrite:
                    refused.append(f"{run_dir.name} ({'; '.join(diffs)})")
                elif not diffs:
                    finished = record.get("status") == "finished" and "test" in record
                    action = "reuse" if finished else ("resume" if (run_dir / "last.pt").is_file() else "train")
            elif (run_dir / "last.pt").is_file() and not overwrite:
                refused.append(f"{run_dir.name} (a checkpoint without a record)")
            plan.append((run_spec, run_dir, action))
    if refused:
        raise ValueError(
            f"compare: {out} holds runs made with other arguments: {', '.join(refused)}; pass --overwrite to "
            "retrain them, or choose another --out"
        )
    return plan


def compare_forecasters(
    spec: ForecastSpec,
    out: str | os.PathLike,
    *,
    fouriers: Sequence[str] = ("fft", "monarch"),
    seeds: Sequence[int] = (0, 1, 2),
    overwrite: bool = False,
) -> dict[str, Any] | None:
    """Train ``spec`` with each Fourier transform and seed into ``out/<fourier>_seed<k>``; write the comparison.

    ``spec.fourier`` and ``spec.seed`` are replaced per run. Finished runs whose record matches the requested
    spec (``epochs`` included) are reused, matching unfinished ones resumed; mismatching ones are refused
    before any training (``ValueError`` naming the runs and the differing arguments), or retrained from
    scratch with ``overwrite=True``. Writes ``compare.json``, ``compare.md`` and ``error_per_step.png``
    (atomically) and returns the summary with its markdown ``"table"`` (``None`` on other ranks, or when
    ``spec.stop_after`` stopped a run).

    Examples
    --------
    >>> summary = compare_forecasters(ForecastSpec("ns.h5", epochs=5), "cmp", seeds=[0, 1])  # doctest: +SKIP
    >>> summary["rows"]["monarch"]["rel_l2_mean"]  # doctest: +SKIP
    0.38
    """
    out = Path(out)
    fouriers, seeds = list(fouriers), [int(s) for s in seeds]
    if not fouriers or not seeds or len(set(fouriers)) < len(fouriers) or len(set(seeds)) < len(seeds):
        raise ValueError(f"compare_forecasters: expected distinct fouriers and seeds, got {fouriers} and {seeds}")
    for f in fouriers:
        replace(spec, fourier=f)  # validates the name
    plan = _plan_compare(spec, out, fouriers, seeds, overwrite)
    _, _, _, info = load_forecast_splits(spec)  # data and modes checked once, before anything is written
    check_modes_fit(spec, info["resolution"])
    runs: dict[str, list[dict]] = {f: [] for f in fouriers}
    for run_spec, run_dir, action in plan:
        if action == "reuse":
            rec = read_record(run_dir)
        else:
            if spec.progress:
                note = " (resuming)" if action == "resume" else ""
                print(f"== {run_spec.fourier}, seed {run_spec.seed} -> {run_dir}{note}", flush=True)
            rec = train_forecaster(run_spec, run_dir, resume=action == "resume", overwrite=action == "train")
            if rec is None:
                return None
        runs[run_spec.fourier].append(rec)
    bad = [
        f"{f}_seed{r['spec']['seed']}"
        for f, recs in runs.items()
        for r in recs
        if not all(_finite(v) for v in [r["test"]["test_rel_l2"], *r["test"]["test_rel_l2_per_step"]])
    ]
    if bad:
        raise ValueError(f"compare: non-finite test errors (NaN/Inf) in runs {', '.join(bad)}; nothing written")
    summary = _summarize(runs, spec, seeds)
    table = compare_table(summary)
    write_json(out / "compare.json", summary, what=f"compare {out}")
    write_text_atomic(out / "compare.md", table)
    plot_error_per_step(
        {f: (r["per_step_mean"], r["per_step_std"]) for f, r in summary["rows"].items()},
        out / "error_per_step.png",
        title=f"{summary['data']}, mean ± std over seeds {seeds}",
    )
    return {**summary, "table": table}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and abs(v) < float("inf")


def _summarize(runs: dict[str, list[dict]], spec: ForecastSpec, seeds: list[int]) -> dict[str, Any]:
    import numpy as np

    rows = {}
    for fourier, recs in runs.items():
        errs = np.array([r["test"]["test_rel_l2"] for r in recs])
        per_step = np.array([r["test"]["test_rel_l2_per_step"] for r in recs])
        sec_epoch = np.array([np.mean([h["train_seconds"] for h in r["epochs"]]) for r in recs])
        rows[fourier] = {
            "rel_l2": errs.tolist(),
            "rel_l2_mean": float(errs.mean()),
            "rel_l2_std": float(errs.std(ddof=1)) if errs.size > 1 else 0.0,
            "per_step_mean": per_step.mean(0).tolist(),
            "per_step_std": per_step.std(0).tolist(),
            "parameters": recs[0]["parameters"],
            "seconds_per_epoch": float(sec_epoch.mean()),
            "seconds_per_step": float(np.mean([s / r["steps_per_epoch"] for s, r in zip(sec_epoch, recs)])),
            "inference_ms_per_sample": float(np.mean([r["test"]["inference_ms_per_sample"] for r in recs])),
        }
    data = next(iter(runs.values()))[0]["data"]
    visc, mapping = data["visc"], data.get("mapping", {"format": "store"})
    spec_record = {**defining_arguments(spec), "fouriers": list(runs), "seeds": seeds}
    del spec_record["fourier"], spec_record["seed"]
    ns = mapping["format"] in ("store", "mat-v7.3", "mat-v5")  # the published rows are FNO Navier–Stokes numbers
    if ns:
        label = f"Navier–Stokes ν = {visc}"
    else:
        source = (
            "PDEBench " + mapping["layout"]
            if mapping["format"] == "pdebench"
            else f"The Well {mapping['dataset_name']}"
        )
        label = f"{source}, field {mapping['field']} ({mapping['component']})"
    summary = {"command": "pde compare", "spec": spec_record, "visc": visc, "data": label, "rows": rows}
    return {**summary, "published": PUBLISHED if ns else None}


def compare_table(summary: dict[str, Any]) -> str:
    """The markdown table of a :func:`compare_forecasters` summary: our rows (mean ± std) and the published."""
    name = {"fft": "FNO (FFT)", "monarch": "Monarch-FNO"}
    a, rows, visc = summary["spec"], summary["rows"], summary["visc"]
    published, data = summary.get("published"), summary.get("data", f"Navier–Stokes ν = {visc}")
    n_modes = a.get("n_modes")
    modes = f"modes {a['modes']}" if n_modes is None else f"n_modes {tuple(n_modes)}"
    lines = [
        f"{data}, {a['model']}, {modes}, width {a['width']}, {a.get('layers', 4)} layers, "
        f"{a['t_in']} → {a['t_out']} steps, {a['ntrain']}/{a['nval']}/{a['ntest']} train/val/test trajectories, "
        f"{a['epochs']} epochs, batch {a['batch_size']}, seeds {' '.join(map(str, a['seeds']))}.",
        "",
        "| model | source | rel. L2 (test, mean ± std) | parameters | s / epoch | s / step | inference ms / sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for t, r in rows.items():
        spread = f" ± {r['rel_l2_std']:.4f}" if len(r["rel_l2"]) > 1 else " (1 seed)"  # one seed has no spread
        lines.append(
            f"| {name[t]} | ours{f' (ν = {visc})' if published else ''} | {r['rel_l2_mean']:.4f}{spread} | "
            f"{r['parameters']:,} | {r['seconds_per_epoch']:.2f} | {r['seconds_per_step']:.3f} | "
            f"{r['inference_ms_per_sample']:.2f} |"
        )
    for t in ("fft", "monarch") if published else ():
        p = published[t]
        errs = " / ".join(f"{p[v]:.3f}" for v in ("1e-3", "1e-4", "1e-5"))
        lines.append(f"| {name[t]} | published (ν = 1e-3 / 1e-4 / 1e-5) | {errs} | | | | |")
    if "fft" in rows and "monarch" in rows:
        f, m = rows["fft"], rows["monarch"]
        change = 100 * (m["rel_l2_mean"] / f["rel_l2_mean"] - 1)
        paper = (
            f" (published at ν = 1e-3: {100 * (1 - published['monarch']['1e-3'] / published['fft']['1e-3']):.0f}% "
            "lower, at a far larger budget)"
            if published
            else ""
        )
        lines += [
            "",
            f"Monarch vs FFT: mean error {abs(change):.1f}% {'lower' if change < 0 else 'higher'}{paper}; "
            f"time per training step {m['seconds_per_step'] / f['seconds_per_step']:.2f}× (goal: ≤ 1.3×; seconds "
            "as measured during these runs, so they include whatever else the machine was doing).",
        ]
    return "\n".join(lines) + "\n"
