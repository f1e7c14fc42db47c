"""``monarch-sci study``: run, follow and report a declared comparison (a study spec, TOML).

* ``study run SPEC [--stage S ...] [--shard K/N]`` trains the pending runs (``N`` processes with ``--shard K/N``,
  or several plain processes on the same spec: each run is claimed with a file lock); rerun to resume;
* ``study status SPEC`` lists done, running and left runs with an estimate of the time left;
* ``study report SPEC`` writes ``report.md``, ``results.json`` and the figures into the spec's report folder.

The engine is :mod:`monarch_sci.training.study`; the domain hooks (``runner = "pde"``, ``runner = "mri"``) are
registered by ``monarch_sci.operators.pde.study_hooks`` and ``monarch_sci.operators.mri.study_hooks``, imported
here.
"""

from __future__ import annotations

import argparse

from monarch_sci.cli.common import UserError, add_command, add_flags, resolve_device, set_threads


def _shard(text: str) -> tuple[int, int]:
    from monarch_sci.training.study_plan import parse_shard

    try:
        return parse_shard(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(groups: argparse._SubParsersAction) -> None:
    study = groups.add_parser("study", help="declared FFT-vs-Monarch comparisons: run, status, report")
    study.set_defaults(group_parser=study)
    sub = study.add_subparsers(dest="command", metavar="COMMAND")
    run = add_command(sub, "run", cmd_run, help="train the study's pending runs (resumable; shardable)")
    run.add_argument("spec", help="study spec (TOML)")
    run.add_argument("--stage", nargs="+", default=None, help="only these stages (None: all, in order)")
    run.add_argument("--shard", type=_shard, default="0/1", metavar="K/N",
                     help="this process takes every N-th run of the plan, starting at run K")  # fmt: skip
    run.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="every run of this call trains this many epochs (time-boxed stages; None: the stage's)",
    )
    run.add_argument(
        "--calibrate",
        type=int,
        default=None,
        metavar="EPOCHS",
        help="only time EPOCHS epochs of each of the shard's runs in scratch folders (sizes --epochs)",
    )
    add_flags(run, "device", "threads", "no_progress", threads=1)  # fmt: skip
    status = add_command(sub, "status", cmd_status, help="done, running and left runs, and the time left")
    status.add_argument("spec", help="study spec (TOML)")
    report = add_command(sub, "report", cmd_report, help="write report.md, results.json and the figures")
    report.add_argument("spec", help="study spec (TOML)")


def _load(path: str):
    import monarch_sci.operators.mri.study_hooks  # registers the MRI runner and sections
    import monarch_sci.operators.pde.study_hooks  # noqa: F401  (registers the PDE runner and sections)
    from monarch_sci.training.study import load_study

    return load_study(path)


def cmd_run(args: argparse.Namespace) -> int:
    from monarch_sci.training.study import RunContext, calibrate, run_study

    spec = _load(args.spec)
    for name in args.stage or ():
        if name not in spec.stages:
            raise UserError(f"--stage {name}: expected a stage of {args.spec} ({', '.join(spec.stages)})")
    set_threads(args.threads)
    device = str(resolve_device(args.device))
    context = RunContext(device=device, threads=args.threads, progress=not args.no_progress)
    stages = tuple(args.stage) if args.stage else None
    say = lambda line: print(line, flush=True)  # noqa: E731
    if args.calibrate is not None:
        calibrate(spec, args.calibrate, stages=stages, shard=args.shard, context=context, say=say)
        return 0
    log = run_study(spec, stages=stages, shard=args.shard, context=context, epochs=args.epochs, say=say)
    counts = {"trained": log.trained, "finished before": log.finished_before, "held by other processes":
              log.held_elsewhere, "other shards": log.other_shards, "waiting for a choice": log.waiting}  # fmt: skip
    print(", ".join(f"{k} {len(v)}" for k, v in counts.items()))
    return 0


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def cmd_status(args: argparse.Namespace) -> int:
    from monarch_sci.training.study import status

    found = status(_load(args.spec))
    for stage, row in found["stages"].items():
        print(f"{stage}: {len(row['done'])} done, {len(row['running'])} running, {len(row['left'])} left")
        for name in row["running"]:
            print(f"  running  {name}")
    line = f"time left: about {_duration(found['seconds_left'])} of training in one process"
    if found["unknown"]:
        line += f" (+ {len(found['unknown'])} runs with no measured epoch time yet)"
    print(line)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from monarch_sci.training.study import write_study_report

    spec = _load(args.spec)
    write_study_report(spec)
    print(f"wrote {spec.report / 'report.md'}, {spec.report / 'results.json'}")
    return 0
