"""PDE science (issue 14): FFT-FNO against Monarch-FNO, settings chosen on validation, converged comparisons.

Five stages, each a fixed list of training runs (problem × setting × seed):

* ``select`` — the Monarch factors' settings (learning rate relative to the main rate, which maps learn, when the
  factors start, a penalty toward the initial DFT) beside the FFT model, at a short budget, on **validation data
  only**: NS runs hold out trajectories 500–549 for choosing the epoch and score 550–599 (both inside the final
  validation range; the final test trajectories 600–699 are never read), Darcy runs get no test file;
* ``final`` — FFT and Monarch (the toolkit's defaults) at the converged budget, 3 seeds, test read once per run
  after training (plus the zero-shot error on the 2× grid);
* ``controls`` — NS ν = 1e-3 only: an FFT model widened to the Monarch model's parameter count, Monarch factors
  started from a random Monarch, only the forward or only the inverse maps learning;
* ``fno3d`` — FFT and Monarch as in ``final`` on NS ν = 1e-3, but FNO-3D (the whole 10-snapshot output in one
  space–time pass) instead of the autoregressive FNO-2D;
* ``paper`` — a GPU check at the published scale: NS ν = 1e-3 solved at 256² and trained at 64² (modes 12),
  1000/100/100 trajectories, 500 epochs, FFT and Monarch, 3 seeds (``benchmarks/pde_science_gpu.py`` runs it
  within a time box: ``--calibrate`` measures the epoch time, ``--epochs`` then sets the budget that fits).

Every run trains in its own folder under ``--work`` (resumed from ``last.pt`` when interrupted) and leaves a small
JSON (curves, metrics) under ``benchmarks/results/pde_science_runs/`` when it finishes; a finished run is never
trained again. ``--shard K/N`` runs every N-th run of the stage's list starting at K, so N processes (one per
core, one thread each) share a stage. ``--summarize`` writes ``benchmarks/results/pde_science.{md,json}`` and the
curves from the finished runs. Commands::

    python benchmarks/pde_science.py --prepare                      # the data (resumable)
    OMP_NUM_THREADS=1 nice python benchmarks/pde_science.py --stage select --shard 0/2 &
    OMP_NUM_THREADS=1 nice python benchmarks/pde_science.py --stage select --shard 1/2 &
    python benchmarks/pde_science.py --summarize
    python benchmarks/pde_science_gpu.py --budget 480               # the paper stage on one GPU, 480 s in all

A run is converged when its best validation error improved by less than 1% over the last 10% of its epochs
(:func:`converged`); the summary says so per run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from _timing import shard

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = RESULTS / "pde_science_runs"
DATA = ROOT / "data" / "science"
WORK = ROOT / "runs" / "pde_science"  # training run folders (default of --work)

#: Navier–Stokes stores: 700 trajectories of T = 20 (20 snapshots after the initial field), stored at 64²,
#: trained at 32² (``sub`` 2). ``gen`` is the solver grid and time step (checked by ``nu_check`` in the notes of
#: ``pde_science.md``).
NS = {
    "ns1e-3": {"visc": 1e-3, "gen_resolution": 64, "dt": 0.01},
    "ns1e-4": {"visc": 1e-4, "gen_resolution": 64, "dt": 0.01},
    "ns1e-3-paper": {"visc": 1e-3, "gen_resolution": 256, "dt": 0.01},  # the FNO benchmark's solver grid
}
NS_SIZE = {"n": 700, "T": 20, "record": 20, "resolution": 64}
#: Final split (trajectories): 0–499 train, 500–599 validation, 600–699 test. Selection: 500–549 choose the
#: epoch, 550–599 score the setting.
NS_SPLIT = {"final": (500, 100, 100), "select": (500, 50, 50)}
#: The paper stage's own data size, split and model (trained on the stored 64² grid, so no zero-shot 2× error).
PAPER = {"n": 1200, "split": (1000, 100, 100), "arch": {"modes": 12, "sub": 1}, "batch": 300}
DARCY = {"train": (600, 0), "val": (100, 1), "test": (100, 2)}  # samples, seed; 64 × 64 nodes
#: The benchmark architecture at 32² (FNO-2D, four Fourier layers), a cosine schedule over the budget.
ARCH = {"modes": 8, "width": 20, "layers": 4, "sub": 2, "batch_size": 20, "scheduler": "cosine"}
EPOCHS = {
    "select": {"ns": 25, "darcy": 30},
    "final": {"ns": 100, "darcy": 150},
    "controls": {"ns": 100},
    "paper": {"ns": 500},
    "fno3d": {"ns": 100},
}
SEEDS = {"select": (0, 1), "final": (0, 1, 2), "controls": (0, 1, 2), "paper": (0, 1, 2), "fno3d": (0, 1, 2)}

#: Settings of the selection stage: keyword fields of the training spec (``factor_lr`` relative to ``lr``). They
#: ran before the FNO default ``factor_anchor`` became :data:`FACTOR_ANCHOR` (the outcome of this stage), so all
#: but the anchor candidate pin it to 0, as they ran.
_NO_ANCHOR = {"fourier": "monarch", "factor_anchor": 0.0}
SELECT = {
    "fft": {"fourier": "fft"},
    "monarch": _NO_ANCHOR,
    "monarch-flr0.3": {**_NO_ANCHOR, "factor_lr_scale": 0.3},
    "monarch-flr0.1": {**_NO_ANCHOR, "factor_lr_scale": 0.1},
    "monarch-forward": {**_NO_ANCHOR, "learn": "forward"},
    "monarch-inverse": {**_NO_ANCHOR, "learn": "inverse"},
    "monarch-start20": {**_NO_ANCHOR, "factor_start_fraction": 0.2},
    "monarch-warmup20": {**_NO_ANCHOR, "factor_warmup_fraction": 0.2},
    "monarch-anchor1e-2": {"fourier": "monarch", "factor_anchor": 1e-2},
}
#: The final comparison and the controls use the spec defaults, which include the selected factor anchor.
FINAL = {"fft": {"fourier": "fft"}, "monarch": {"fourier": "monarch"}}
CONTROLS = {
    "fft-wide": {"fourier": "fft", "width": "match-monarch"},
    "monarch-random": {"fourier": "monarch", "monarch_init": "random"},
    "monarch-forward": {"fourier": "monarch", "learn": "forward"},
    "monarch-inverse": {"fourier": "monarch", "learn": "inverse"},
}
STAGES = {
    "select": (("ns1e-3", "darcy"), SELECT),
    "final": (("ns1e-3", "ns1e-4", "darcy"), FINAL),
    "controls": (("ns1e-3",), CONTROLS),
    "paper": (("ns1e-3-paper",), FINAL),
    "fno3d": (("ns1e-3",), FINAL),
}
#: Architecture changes of a stage over :data:`ARCH`, besides the paper stage's ``PAPER['arch']`` (FNO-3D: one
#: space–time pass over the 10 output snapshots, modes 8 in x, y and the time axis padded to 16).
STAGE_ARCH = {"fno3d": {"model": "fno3d"}}
#: Problems ``--prepare`` makes when none is named (the paper stage's data is made on the GPU that trains it).
CPU_PROBLEMS = ("ns1e-3", "ns1e-4", "darcy")


def ns_file(problem: str) -> Path:
    visc = f"{NS[problem]['visc']:.0e}".replace("e-0", "e-")
    if problem.endswith("-paper"):
        return DATA / f"ns_v{visc}_g{NS[problem]['gen_resolution']}_s64_T20_n{PAPER['n']}.h5"
    return DATA / f"ns_v{visc}_s64_T20_n700.h5"


def ns_split(problem: str, stage: str) -> tuple[int, int, int]:
    """``(ntrain, nval, ntest)`` trajectories of an NS problem in ``stage``."""
    if problem.endswith("-paper"):
        return PAPER["split"]
    return NS_SPLIT["select" if stage == "select" else "final"]


def darcy_file(split: str) -> Path:
    return DATA / f"darcy_{split}_s64.h5"


def prepare(problems: tuple[str, ...], progress: bool, device: str = "cpu") -> None:
    """Generate the data (resumable: an interrupted store resumes, a finished one is checked and kept); NS on
    ``device``."""
    from monarch_sci.datasets.pde import DarcyConfig, NSGenerationConfig, generate_darcy, generate_store

    DATA.mkdir(parents=True, exist_ok=True)
    for problem in problems:
        t0 = time.perf_counter()
        if problem in NS:
            size = NS_SIZE
            n, batch = (PAPER["n"], PAPER["batch"]) if problem.endswith("-paper") else (size["n"], 50)
            cfg = NSGenerationConfig(
                n=n, T=float(size["T"]), record=size["record"], resolution=size["resolution"],
                seed=0, batch=batch, **NS[problem],
            )  # fmt: skip
            generate_store(cfg, ns_file(problem), progress=progress, device=device)
        else:
            for split, (n, seed) in DARCY.items():
                if not darcy_file(split).is_file():
                    generate_darcy(darcy_file(split), DarcyConfig(n=n, s=64, seed=seed), progress=progress)
        print(f"data {problem}: ready ({time.perf_counter() - t0:.0f} s)", flush=True)


def _kind(problem: str) -> str:
    return "ns" if problem in NS else "darcy"


def plan(
    stage: str,
    seeds: tuple[int, ...] | None = None,
    problems: tuple[str, ...] | None = None,
    settings: tuple[str, ...] | None = None,
) -> list[tuple[str, str, int]]:
    """The runs of ``stage`` as ``(problem, setting, seed)``, seeds outermost (early shards finish whole seeds);
    ``seeds``, ``problems`` and ``settings`` narrow the list."""
    all_problems, all_settings = STAGES[stage]
    problems = all_problems if problems is None else tuple(p for p in all_problems if p in problems)
    settings = all_settings if settings is None else {k: v for k, v in all_settings.items() if k in settings}
    seeds = SEEDS[stage] if seeds is None else seeds
    return [(p, name, s) for s in seeds for p in problems for name in settings]


def run_name(stage: str, problem: str, setting: str, seed: int) -> str:
    return f"{stage}__{problem}__{setting}__seed{seed}"


def _matched_width(problem: str) -> int:
    """The smallest FFT width whose parameter count reaches the Monarch model's at the benchmark width."""
    from monarch_sci.operators.pde.fno import count_parameters
    from monarch_sci.operators.pde.forecasting import ForecastSpec, build_forecaster

    def params(**kw: Any) -> int:
        spec = ForecastSpec(ns_file(problem), **{**ARCH, **kw})
        return count_parameters(build_forecaster(spec, 32))

    target = params(fourier="monarch")
    width = ARCH["width"]
    while params(fourier="fft", width=width) < target:
        width += 1
    return width


def make_spec(
    stage: str,
    problem: str,
    setting: str,
    seed: int,
    threads: int | None,
    *,
    device: str = "cpu",
    epochs: int | None = None,
) -> Any:
    """The training spec of one run (raises ``KeyError`` naming a spec field this version lacks); ``epochs``
    replaces the stage's budget (the schedule follows it)."""
    from monarch_sci.operators.pde.forecasting import FNOTraining, ForecastSpec
    from monarch_sci.operators.pde.steady_training import SteadySpec

    kw = dict(STAGES[stage][1][setting])
    epochs = EPOCHS[stage][_kind(problem)] if epochs is None else epochs
    lr = 1e-3
    if "factor_lr_scale" in kw:
        kw["factor_lr"] = kw.pop("factor_lr_scale") * lr
    for name in ("factor_start", "factor_warmup"):
        if f"{name}_fraction" in kw:
            kw[name] = round(kw.pop(f"{name}_fraction") * epochs)
    if kw.get("width") == "match-monarch":
        kw["width"] = _matched_width(problem)
    known = {f.name for f in dataclasses.fields(FNOTraining)}
    missing = sorted(set(kw) - known)
    if missing:
        raise KeyError(f"setting {setting!r} needs spec fields this version lacks: {', '.join(missing)}")
    arch = {**ARCH, **(PAPER["arch"] if stage == "paper" else STAGE_ARCH.get(stage, {}))}
    common = {**arch, **kw, "epochs": epochs, "lr": lr, "seed": seed, "threads": threads, "progress": False}
    common["device"] = device
    if problem in NS:
        ntrain, nval, ntest = ns_split(problem, stage)
        return ForecastSpec(ns_file(problem), t_in=10, t_out=10, ntrain=ntrain, nval=nval, ntest=ntest, **common)
    test = None if stage == "select" else darcy_file("test")
    return SteadySpec(darcy_file("train"), val=darcy_file("val"), test=test, **common)


def converged(curve: list[float], *, tail: float = 0.1, tol: float = 0.01) -> bool:
    """Whether the best of ``curve`` improved by less than ``tol`` (relative) over its last ``tail`` fraction.

    >>> converged([1.0, 0.5, 0.4, 0.3, 0.2, 0.15, 0.12, 0.11, 0.105, 0.1045])
    True
    >>> converged([1.0, 0.5, 0.4, 0.3, 0.2, 0.15, 0.12, 0.11, 0.105, 0.09])
    False
    """
    k = max(1, math.ceil(tail * len(curve)))
    if len(curve) <= k:
        return False
    before, best = min(curve[:-k]), min(curve)
    return (before - best) / before < tol


def run_one(stage: str, problem: str, setting: str, seed: int, work: Path, spec: Any) -> dict:
    """Train (or resume) one run with its spec (:func:`make_spec`), evaluate it as its stage asks; its summary."""
    from monarch_sci.operators.pde.forecasting import read_record, train_forecaster
    from monarch_sci.operators.pde.run_eval import evaluate_run
    from monarch_sci.operators.pde.steady_training import train_steady

    out = work / run_name(stage, problem, setting, seed)
    train = train_forecaster if problem in NS else train_steady
    record = read_record(out)
    t0 = time.perf_counter()
    if record is None or record.get("status") != "finished":
        has_last = (out / "last.pt").is_file()
        train(spec, out, resume=has_last, overwrite=not has_last)
        record = read_record(out)
    curve = [e["val_rel_l2"] for e in record["epochs"]]
    result = {
        "stage": stage, "problem": problem, "setting": setting, "seed": seed, "spec": record["spec"],
        "parameters": record.get("parameters"), "epochs": len(curve), "val_curve": curve,
        "train_loss_curve": [e["train_loss"] for e in record["epochs"]], "best_val_rel_l2": min(curve),
        "converged": converged(curve), "seconds_per_epoch": record["timing"]["train_seconds_per_epoch"],
        "seconds_this_call": None,
    }  # fmt: skip
    if stage != "select":
        if problem in NS:
            ntrain, nval, ntest = ns_split(problem, stage)
            test_ids = range(ntrain + nval, ntrain + nval + ntest)
            result["test"] = record["test"]
            trained_on_stored_grid = record["spec"]["sub"] == 1  # no finer grid to test on zero-shot
            result["test_2x"] = (
                None
                if trained_on_stored_grid
                else evaluate_run(out, ns_file(problem), sub=1, samples=test_ids)["rel_l2_mean"]
            )
        else:
            result["test"] = record["test"]
            result["test_2x"] = evaluate_run(out, darcy_file("test"), sub=1)["rel_l2_mean"]
        if record["spec"]["fourier"] == "monarch":
            result["drift"] = learned_map_drift(out)
    else:
        # NS: the spec's "test" slice is validation data (550-599); Darcy selection runs have no test file.
        result["score"] = record["test"]["test_rel_l2"] if problem in NS else min(curve)
    result["seconds_this_call"] = time.perf_counter() - t0
    return result


def learned_map_drift(run: Path) -> list[dict]:
    """How far each learned Fourier map of the run's ``best.pt`` moved from the DFT (one row per layer, axis and
    direction: :func:`~monarch_sci.operators.pde.factor_analysis.fourier_drift`)."""
    from monarch_sci.operators.pde.factor_analysis import fourier_drift
    from monarch_sci.operators.pde.run_eval import load_run_model

    return fourier_drift(load_run_model(run))


def _claim(lock: Path) -> bool:
    """Take the run's lock file (holding this process id); a lock whose process is gone is taken over."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                os.kill(int(lock.read_text() or 0), 0)
                return False  # another live process trains this run
            except (ProcessLookupError, ValueError):
                lock.unlink(missing_ok=True)
                continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def calibrate(stage: str, shard: tuple[int, int], work: Path, threads: int | None, epochs: int, device: str,
              **narrow: Any) -> None:  # fmt: skip
    """Time ``epochs`` epochs of each of this shard's runs of ``stage`` in scratch folders under
    ``work/calibrate`` (overwritten each call); writes ``work/calibrate/NAME.json`` with the seconds per epoch.
    Nothing reaches the results: the pass only sizes the budget (``--epochs``) of a time-boxed stage."""
    from monarch_sci.operators.pde.forecasting import read_record, train_forecaster
    from monarch_sci.operators.pde.steady_training import train_steady
    from monarch_sci.training.checkpoint import write_json_atomic

    k, n = shard
    for i, (problem, setting, seed) in enumerate(plan(stage, **narrow)):
        if i % n != k:
            continue
        name = run_name(stage, problem, setting, seed)
        spec = make_spec(stage, problem, setting, seed, threads, device=device, epochs=epochs)
        out = work / "calibrate" / name
        t0 = time.perf_counter()
        (train_forecaster if problem in NS else train_steady)(spec, out, overwrite=True)
        timing = read_record(out)["timing"]
        row = {"run": name, "epochs": epochs, "seconds_per_epoch": timing["train_seconds_per_epoch"],
               "seconds_total": time.perf_counter() - t0, "device": device}  # fmt: skip
        write_json_atomic(work / "calibrate" / f"{name}.json", row)
        print(f"== calibrate {name}: {row['seconds_per_epoch']:.2f} s/epoch", flush=True)


def run_stage(
    stage: str,
    shard: tuple[int, int],
    work: Path,
    threads: int | None,
    *,
    device: str = "cpu",
    epochs: int | None = None,
    **narrow: Any,
) -> None:
    """Train this shard's pending runs of ``stage`` (``narrow``: the ``seeds``/``problems``/``settings`` of
    :func:`plan`) on ``device`` (``epochs``: the budget, default the stage's); a run another process holds (its
    lock file in ``work``) is left to it."""
    from monarch_sci.training.checkpoint import write_json_atomic

    k, n = shard
    RUNS.mkdir(parents=True, exist_ok=True)
    for i, (problem, setting, seed) in enumerate(plan(stage, **narrow)):
        name = run_name(stage, problem, setting, seed)
        if i % n != k or (RUNS / f"{name}.json").is_file():
            continue
        lock = work / f"{name}.lock"
        if not _claim(lock):
            print(f"== {name}: trained by another process", flush=True)
            continue
        try:
            spec = make_spec(stage, problem, setting, seed, threads, device=device, epochs=epochs)
        except KeyError as err:
            lock.unlink(missing_ok=True)
            print(f"== {name}: skipped ({err.args[0]})", flush=True)
            continue
        print(f"== {name}", flush=True)
        try:
            result = run_one(stage, problem, setting, seed, work, spec)
            write_json_atomic(RUNS / f"{name}.json", result)
        finally:
            lock.unlink(missing_ok=True)
        score = result.get("score", result.get("test", {}).get("test_rel_l2", result["best_val_rel_l2"]))
        print(f"   {score:.4f} ({result['epochs']} epochs, {result['seconds_per_epoch']:.1f} s/epoch)", flush=True)


def main(argv: list[str] | None = None) -> int:
    from monarch_sci.cli.scripts import add_flags, script_parser

    p = script_parser(__doc__, summary="line")
    p.add_argument("--stage", choices=tuple(STAGES), help="train the pending runs of this stage")
    p.add_argument("--seeds", type=int, nargs="+", help="only these seeds (default: the stage's)")
    p.add_argument("--problems", nargs="+", help="only these problems (default: the stage's)")
    p.add_argument("--settings", nargs="+", help="only these settings (default: the stage's)")
    p.add_argument(
        "--shard", type=shard, default=(0, 1), metavar="K/N", help="K/N: every N-th run of the stage starting at K"
    )
    p.add_argument("--work", type=Path, default=WORK, help="training run folders")
    add_flags(p, "threads", "device", threads=1, device="cpu")
    p.add_argument("--epochs", type=int, help="the budget of every run trained by this call (default: the stage's)")
    p.add_argument("--calibrate", type=int, metavar="EPOCHS", help="time EPOCHS epochs of the shard's runs and stop")
    p.add_argument(
        "--prepare", nargs="*", metavar="PROBLEM", help=f"generate the data (default: {', '.join(CPU_PROBLEMS)})"
    )
    p.add_argument("--list", action="store_true", help="print the stage's runs and whether each is finished")
    p.add_argument("--summarize", action="store_true", help="write the tables and curves of the finished runs")
    args = p.parse_args(argv)
    k, n = args.shard
    import torch

    from monarch_sci.cli.common import UserError, resolve_device

    torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    for name, value in (("--epochs", args.epochs), ("--calibrate", args.calibrate)):
        if value is not None and value < 1:
            raise UserError(f"{name}: expected a number of epochs >= 1, got {value}")
    if args.prepare is not None:
        unknown = sorted(set(args.prepare) - {*NS, "darcy"})
        if unknown:
            raise UserError(f"--prepare: expected problems among {', '.join((*NS, 'darcy'))}, got {', '.join(unknown)}")
        prepare(tuple(args.prepare) or CPU_PROBLEMS, progress=False, device=device)
    narrow = {k: tuple(v) if v else None for k, v in (("seeds", args.seeds), ("problems", args.problems),
                                                        ("settings", args.settings))}  # fmt: skip
    if args.list and args.stage:
        for r in plan(args.stage, **narrow):
            done = (RUNS / f"{run_name(args.stage, *r)}.json").is_file()
            print(f"{'done' if done else 'todo'}  {run_name(args.stage, *r)}")
    elif args.stage and args.calibrate:
        calibrate(args.stage, (k, n), args.work, args.threads, args.calibrate, device, **narrow)
    elif args.stage:
        run_stage(args.stage, (k, n), args.work, args.threads, device=device, epochs=args.epochs, **narrow)
    if args.summarize:
        from pde_science_report import summarize

        print(summarize(), end="")
    return 0


if __name__ == "__main__":
    from monarch_sci.cli.scripts import run_script

    sys.exit(run_script(main))
