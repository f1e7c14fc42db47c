"""A study's runs: the plan, the choices made on validation data, claiming, resuming, and the status.

* :func:`plan` — the runs of a spec (stage × seed × problem × setting, seeds outermost so early shards finish
  whole seeds), each a :class:`StudyRun` with its merged parameters (study < problem < stage < chosen setting <
  setting);
* :func:`make_choices` — what each validation stage chose, from its finished records only (a later stage that
  uses a choice cannot start before the choice is made);
* :func:`run_study` — train the pending runs of this process's shard; a run is claimed with an OS file lock
  (:func:`~monarch_sci.training.outputs.output_lock`, released when the process ends, however it ends), so
  shards and plain processes can share a folder; a finished run is never trained again, and a finished run
  whose recorded parameters differ from the spec's is refused;
* :func:`calibrate_study` — seconds per epoch of each run, measured in scratch folders, to size the budget of a
  time-boxed stage;
* :func:`study_status` — done, running and left runs, with the time left estimated from measured epoch times;
* :func:`converged` — the convergence rule.

A **runner** (:class:`Runner`) is the domain hook that trains one run; it lives with its domain
(``monarch_sci.operators.pde.study_hooks``) and is found by name (:mod:`monarch_sci.training.study`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monarch_sci.training.records import defining_differences
from monarch_sci.training.study_spec import Stage, StudySpec, StudySpecError

__all__ = [
    "RunContext",
    "Runner",
    "StudyRun",
    "calibrate_study",
    "converged",
    "make_choices",
    "parse_shard",
    "plan",
    "read_records",
    "record_value",
    "run_study",
    "study_status",
]


@dataclass(frozen=True)
class StudyRun:
    """One planned training run: where it sits in the study and the parameters the runner receives."""

    stage: str
    problem: str
    setting: str
    seed: int
    epochs: int
    split: str
    params: dict[str, Any]
    base: Path
    choice: str | None = None
    template: str = "{stage}__{problem}__{setting}__seed{seed}"

    @property
    def name(self) -> str:
        """The run's record and folder name (the spec's ``record_name``)."""
        return self.template.format(stage=self.stage, problem=self.problem, setting=self.setting, seed=self.seed)

    def defining(self) -> dict[str, Any]:
        """What a finished run's record must match to count for this run."""
        return {"params": self.params, "epochs": self.epochs, "split": self.split, "choice": self.choice}


@dataclass(frozen=True)
class RunContext:
    """How runs are trained (not part of any result)."""

    device: str = "cpu"
    threads: int | None = None
    progress: bool = False


@dataclass(frozen=True)
class Runner:
    """A domain's way to train one run.

    ``train(run, folder, context)`` trains (or resumes) ``run`` in ``folder`` and returns its record: at least
    the validation curve under the spec's ``curve`` key and ``seconds_per_epoch``; a validation-split run's
    record holds no key starting with ``test``. ``epochs_done(folder)`` (optional) says how far an unfinished
    run has come, for :func:`study_status`; ``time_epochs(run, folder, context)`` (optional) trains ``run`` from
    scratch in ``folder`` and returns its seconds per epoch (:func:`calibrate_study`).
    """

    train: Callable[[StudyRun, Path, RunContext], dict[str, Any]]
    epochs_done: Callable[[Path], int] | None = None
    time_epochs: Callable[[StudyRun, Path, RunContext], float] | None = None


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)`` with ``0 <= K < N``: a process that takes every N-th run of a plan from run K.

    Examples
    --------
    >>> parse_shard("1/3")
    (1, 3)
    """
    try:
        k, n = (int(v) for v in text.split("/"))
        if 0 <= k < n:
            return k, n
    except ValueError:
        pass
    raise ValueError(f"expected K/N with 0 <= K < N, got {text!r}")


def converged(curve: list[float], *, tail: float = 0.1, tol: float = 0.01) -> bool:
    """Whether the best of ``curve`` improved by less than ``tol`` (relative) over its last ``tail`` fraction.

    Examples
    --------
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


def _settings_of(stage: Stage, setting: str, choices: dict[str, dict] | None) -> tuple[dict, str | None]:
    ref = stage.choices_used.get(setting)
    if ref is None:
        return dict(stage.settings[setting]), None
    if choices is None or ref not in choices:
        return dict(stage.settings[setting]), ref  # planned, not runnable before the choice is made
    return {**choices[ref]["params"], **stage.settings[setting]}, ref


def plan(
    spec: StudySpec, stages: tuple[str, ...] | None = None, choices: dict[str, dict] | None = None
) -> list[StudyRun]:
    """The runs of ``stages`` (default: all, in the spec's order); a setting that takes a choice gets the chosen
    parameters when ``choices`` holds it (:func:`make_choices`)."""
    out = []
    for name in stages or tuple(spec.stages):
        if name not in spec.stages:
            raise StudySpecError(f"{spec.path}: no stage {name!r} (the stages: {', '.join(spec.stages)})")
        st = spec.stages[name]
        for seed in st.seeds:
            for problem in st.problems:
                for setting in st.settings:
                    own, ref = _settings_of(st, setting, choices)
                    params = {**spec.params, **spec.problems[problem], **st.params, **own}
                    out.append(StudyRun(name, problem, setting, seed, st.epochs[problem], st.split, params,
                                        spec.base, ref, spec.record_name))  # fmt: skip
    return out


def read_records(spec: StudySpec) -> dict[str, dict[str, Any]]:
    """The finished runs' records of the spec's plan, by run name (unreadable records are errors)."""
    out = {}
    for run in plan(spec):
        path = spec.records / f"{run.name}.json"
        if path.is_file():
            try:
                record = json.loads(path.read_text())
            except ValueError as err:
                raise StudySpecError(
                    f"{path}: unreadable run record ({err}); remove it to train the run again"
                ) from None
            # where the run sits in the study follows from its name (records of older scripts may not say it);
            # a record that says otherwise is not this run's
            where = {"stage": run.stage, "problem": run.problem, "setting": run.setting, "seed": run.seed}
            clash = sorted(k for k, v in where.items() if record.get(k, v) != v)
            if clash:
                raise StudySpecError(f"{path}: the record is not run {run.name}'s ({clash[0]}: {record[clash[0]]!r})")
            out[run.name] = {**where, **record}
    return out


def record_value(record: dict[str, Any], metric: str) -> Any:
    """The value at the dotted path ``metric`` of a run record (``"test.test_rel_l2"``), ``None`` when absent;
    ``"a|b"``: the first of several paths present (a metric renamed between versions of a runner).

    Examples
    --------
    >>> record_value({"test": {"rel_l2": 0.1}, "s": 2}, "test.rel_l2"), record_value({"s": 2}, "seconds|s")
    (0.1, 2)
    """
    for path in metric.split("|"):
        value: Any = record
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                value = None
                break
            value = value[part]
        if value is not None:
            return value
    return None


def make_choices(spec: StudySpec, records: dict[str, dict] | None = None) -> dict[str, dict[str, Any]]:
    """Every choice whose validation stage has finished: ``{"STAGE.NAME": {"setting", "params", "scores",
    "runs"}}``. Only the records of that validation stage are read."""
    records = read_records(spec) if records is None else records
    out: dict[str, dict[str, Any]] = {}
    for st in spec.stages.values():
        if not st.choose:
            continue
        runs = [r for r in plan(spec, (st.name,), out) if r.name in records]
        if len(runs) < len(st.seeds) * len(st.problems) * len(st.settings):
            continue  # not made yet
        for choice in st.choose:
            scores = {}
            for setting in choice.among:
                per_problem = []
                for problem in st.problems:
                    mean = _seed_mean(records, runs, problem, setting, choice.metric)
                    if choice.relative_to is not None:
                        mean /= _seed_mean(records, runs, problem, choice.relative_to, choice.metric)
                    per_problem.append(mean)
                scores[setting] = statistics.mean(per_problem)
            pick = (min if choice.goal == "min" else max)(scores, key=scores.__getitem__)
            out[f"{st.name}.{choice.name}"] = {
                "setting": pick, "params": dict(st.settings[pick]), "scores": scores, "metric": choice.metric,
                "relative_to": choice.relative_to, "goal": choice.goal, "runs": sorted(r.name for r in runs),
            }  # fmt: skip
    return out


def _seed_mean(records: dict, runs: list[StudyRun], problem: str, setting: str, metric: str) -> float:
    values = []
    for r in runs:
        if r.problem == problem and r.setting == setting:
            v = record_value(records[r.name], metric)
            if not isinstance(v, (int, float)):
                raise StudySpecError(f"{r.name}: the record has no number {metric!r} to choose by (got {v!r})")
            values.append(float(v))
    return statistics.mean(values)


def check_finished(run: StudyRun, record: dict[str, Any], path: Path, *, time_box: bool = False) -> None:
    """Refuse a finished run whose record was made with other parameters than the spec now gives it (in a
    time-boxed stage, any budget up to the stage's counts)."""
    recorded = record.get("study")
    if recorded is None:
        return  # written before the engine (benchmarks' scripts): nothing recorded to compare
    ignore = ["epochs"] if time_box and int(recorded.get("epochs", 0)) <= run.epochs else []
    diffs = defining_differences(recorded, run.defining(), ignore=ignore)
    if diffs:
        raise StudySpecError(
            f"{path}: finished with other parameters than the spec gives run {run.name} ({'; '.join(diffs)}); "
            "restore the spec, give the changed run another setting name, or remove the record to train it again"
        )


@dataclass
class StudyLog:
    """What one :func:`run_study` call did, by run name."""

    trained: list[str] = field(default_factory=list)
    finished_before: list[str] = field(default_factory=list)
    held_elsewhere: list[str] = field(default_factory=list)
    other_shards: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)


def run_study(
    spec: StudySpec,
    runner: Runner,
    *,
    stages: tuple[str, ...] | None = None,
    shard: tuple[int, int] = (0, 1),
    context: RunContext = RunContext(),
    epochs: int | None = None,
    say: Callable[[str], None] = print,
) -> StudyLog:
    """Train this shard's pending runs of ``stages`` (every ``N``-th run of the plan from ``K``), in order.

    A run another process holds (its lock under ``spec.work``) is left to it; a run that takes a choice waits
    for its validation stage (reported in the returned log; rerun the command once it has finished).
    ``epochs`` gives every run of this call that budget (time-boxed stages only, at most the stage's budget).
    """
    from monarch_sci.training.checkpoint import write_json_atomic
    from monarch_sci.training.outputs import OutputError, output_lock

    k, n = shard
    log = StudyLog()
    spec.records.mkdir(parents=True, exist_ok=True)
    spec.work.mkdir(parents=True, exist_ok=True)
    names = stages or tuple(spec.stages)
    _check_budget(spec, names, epochs, "epochs")
    for i, planned in enumerate(plan(spec, names)):
        if i % n != k:
            log.other_shards.append(planned.name)
            continue
        path = spec.records / f"{planned.name}.json"
        run, ready = _resolve(spec, planned)
        if path.is_file():
            check_finished(run, json.loads(path.read_text()), path, time_box=spec.stages[run.stage].time_box)
            log.finished_before.append(run.name)
            continue
        if not ready:
            log.waiting[run.name] = str(run.choice)
            say(f"== {run.name}: waits for the choice {run.choice} (its validation stage is not finished)")
            continue
        if epochs is not None:
            run = dataclasses.replace(run, epochs=epochs)
        try:
            with output_lock(spec.work / run.name, flag="study run"):
                if path.is_file():  # finished by another process between the check and the claim
                    log.finished_before.append(run.name)
                    continue
                say(f"== {run.name}")
                t0 = time.perf_counter()
                record = runner.train(run, spec.work / run.name, context)
                record = _complete(spec, run, record, time.perf_counter() - t0)
                write_json_atomic(path, record)
        except OutputError:
            log.held_elsewhere.append(run.name)
            say(f"== {run.name}: trained by another process")
            continue
        log.trained.append(run.name)
        say(f"   done ({len(record[spec.curve])} epochs, {record['seconds_per_epoch']:.2f} s/epoch)")
    return log


def _check_budget(spec: StudySpec, names: tuple[str, ...], epochs: int | None, what: str) -> None:
    if epochs is None:
        return
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise StudySpecError(f"{what}: expected a number of epochs >= 1, got {epochs!r}")
    for name in names:
        st = spec.stages[name]
        if what == "epochs" and not st.time_box:
            raise StudySpecError(f"{what} {epochs}: stage {name!r} of {spec.path} is not time-boxed (a budget other "
                                 "than its own needs time_box = true in its table)")  # fmt: skip
        if epochs > max(st.epochs.values()):
            raise StudySpecError(f"{what} {epochs}: more than stage {name!r}'s budget ({max(st.epochs.values())})")


def calibrate_study(
    spec: StudySpec,
    runner: Runner,
    epochs: int,
    *,
    stages: tuple[str, ...] | None = None,
    shard: tuple[int, int] = (0, 1),
    context: RunContext = RunContext(),
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Time ``epochs`` epochs of each of this shard's runs in scratch folders ``spec.work/calibrate/NAME``
    (replaced each call) and write ``spec.work/calibrate/NAME.json`` (seconds per epoch). Nothing reaches the
    records: the pass only sizes the budget of a time-boxed stage (``run_study(..., epochs=E)``)."""
    from monarch_sci.training.checkpoint import write_json_atomic

    if runner.time_epochs is None:
        raise StudySpecError(f"{spec.path}: the runner {spec.runner!r} cannot time runs (no time_epochs hook)")
    names = stages or tuple(spec.stages)
    _check_budget(spec, names, epochs, "calibrate")
    k, n = shard
    rows = []
    for i, planned in enumerate(plan(spec, names)):
        run, ready = _resolve(spec, planned)
        if i % n != k or not ready:
            continue
        run = dataclasses.replace(run, epochs=epochs)
        t0 = time.perf_counter()
        seconds = runner.time_epochs(run, spec.work / "calibrate" / run.name, context)
        row = {"run": run.name, "epochs": epochs, "seconds_per_epoch": seconds,
               "seconds_total": time.perf_counter() - t0, "device": context.device}  # fmt: skip
        write_json_atomic(spec.work / "calibrate" / f"{run.name}.json", row)
        say(f"== calibrate {run.name}: {seconds:.2f} s/epoch")
        rows.append(row)
    return rows


def _resolve(spec: StudySpec, run: StudyRun) -> tuple[StudyRun, bool]:
    """``run`` with the chosen parameters when it takes a choice, and whether it can be trained now (a run that
    takes a choice cannot before its validation stage has finished)."""
    if run.choice is None:
        return run, True
    made = make_choices(spec)
    if run.choice not in made:
        return run, False
    (resolved,) = (r for r in plan(spec, (run.stage,), made) if r.name == run.name)
    return resolved, True


def _complete(spec: StudySpec, run: StudyRun, record: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The runner's record with what the engine adds; a validation run holding test metrics is refused."""
    if run.split == "validation":
        leaked = sorted(k for k in record if k.startswith("test"))
        if leaked:
            raise RuntimeError(f"{run.name}: the runner returned test metrics ({', '.join(leaked)}) for a run of "
                               "a validation stage; a validation stage never reads the test split")  # fmt: skip
    curve = record.get(spec.curve)
    if not isinstance(curve, list) or not curve:
        raise RuntimeError(f"{run.name}: the runner's record has no curve {spec.curve!r}")
    tail, tol = spec.convergence.tail, spec.convergence.tol
    return {
        "stage": run.stage, "problem": run.problem, "setting": run.setting, "seed": run.seed, **record,
        "converged": converged(curve, tail=tail, tol=tol), "seconds_this_call": seconds,
        "study": run.defining(),
    }  # fmt: skip


def _holder(lock: Path) -> int | None:
    """The live process holding a run's lock file, if any (read without taking the lock)."""
    try:
        pid = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def study_status(spec: StudySpec, runner: Runner | None = None) -> dict[str, Any]:
    """``{"stages": {stage: {"done", "running", "left"}}, "seconds_left", "unknown"}``: which runs are finished,
    held by a live process, or left, and the training time left in one process, estimated from the measured
    seconds per epoch of finished runs (same stage, problem and setting; else same problem and setting; else
    same problem); ``unknown`` lists runs no measurement covers."""
    from monarch_sci.training.outputs import lock_path

    records = read_records(spec)
    per_epoch: dict[tuple, list[float]] = {}
    for rec in records.values():
        s = rec.get("seconds_per_epoch")
        if isinstance(s, (int, float)):
            for key in ((rec["stage"], rec["problem"], rec["setting"]), (rec["problem"], rec["setting"]),
                        (rec["problem"],)):  # fmt: skip
                per_epoch.setdefault(key, []).append(float(s))
    out: dict[str, Any] = {"stages": {}, "seconds_left": 0.0, "unknown": []}
    for run in plan(spec):
        row = out["stages"].setdefault(run.stage, {"done": [], "running": [], "left": []})
        if run.name in records:
            row["done"].append(run.name)
            continue
        folder = spec.work / run.name
        pid = _holder(lock_path(folder))
        row["running" if pid else "left"].append(run.name)
        done = runner.epochs_done(folder) if runner is not None and runner.epochs_done and folder.is_dir() else 0
        for key in ((run.stage, run.problem, run.setting), (run.problem, run.setting), (run.problem,)):
            if key in per_epoch:
                out["seconds_left"] += statistics.mean(per_epoch[key]) * max(0, run.epochs - done)
                break
        else:
            out["unknown"].append(run.name)
    return out
