"""The paper stage of the PDE-science study (``benchmarks/studies/pde_science.toml``) on one GPU inside a fixed
wall-clock budget (issue 14).

NS ν = 1e-3 at the published scale: solved at 256², trained at 64² (FNO-2D, modes 12, width 20), 1000/100/100
trajectories, FFT and Monarch, seeds 0–2, all six runs at once on one GPU (one process each). The stage's budget
is 500 epochs; when the time box cannot hold that, every run gets the same smaller budget, measured not guessed:

1. the data (``monarch-sci ns generate`` on the GPU, into the file the spec's ``ns1e-3-paper`` problem names)
   while ``pytest -m gpu tests/test_gpu.py`` checks the CUDA paths (skipped with ``--skip-tests``);
2. a calibration pass: every run trains ``--calibrate-epochs`` epochs at once (``monarch-sci study run SPEC
   --stage paper --calibrate E``: scratch folders, no results), which gives the slowest run's seconds per epoch
   with all six sharing the GPU;
3. the budget ``E = min(500, ⌊time left / (1.15 · slowest epoch)⌋)``, the same for every run, its cosine schedule
   scaled to ``E`` (the stage is ``time_box = true``); the six runs then train (``monarch-sci study run SPEC
   --stage paper --epochs E``) and leave their records in ``benchmarks/results/pde_science_runs/``
   (``paper__*.json``) as the CPU stages do.

``--out`` receives ``summary.json`` (budget, the calibration, ``E``, the device, each phase's time and outcome) and
the logs of every process. Usage::

    python benchmarks/pde_science_gpu.py --budget 470 --out benchmarks/results/pde_science_gpu
    monarch-sci study report benchmarks/studies/pde_science.toml    # the paper table joins the report

A process still running at the end of the budget is stopped (its run folder resumes with the same command).
"""

from __future__ import annotations

import datetime
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from monarch_sci.cli.scripts import run_script, script_parser

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "studies" / "pde_science.toml"
#: The paper store (the spec's ``ns1e-3-paper`` problem): NS ν = 1e-3 solved at 256², stored at 64², T = 20.
PAPER_DATA = ("--visc", "1e-3", "--n", "1200", "--T", "20", "--record", "20", "--resolution", "64",
              "--gen-resolution", "256", "--dt", "0.01", "--seed", "0", "--solve-batch", "300")  # fmt: skip
#: Seconds kept back for starting the training processes and, after training, the test evaluation and drift.
EVAL_RESERVE = 40.0
#: Safety factor on the calibrated epoch time (the first epochs include warm-up, so it is already generous).
EPOCH_MARGIN = 1.15


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    """``monarch-sci ARGS`` in a process of its own, its output in ``log``."""
    with open(log, "w") as f:
        cmd = [sys.executable, "-m", "monarch_sci.cli", *args]
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)


def _wait(procs: list[subprocess.Popen], deadline: float) -> list[int | None]:
    """Exit statuses of ``procs``; any still running at ``deadline`` (``time.monotonic``) is stopped (``None``)."""
    codes: list[int | None] = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            codes.append(None)
    return codes


def choose_epochs(seconds_left: float, seconds_per_epoch: float, cap: int) -> int:
    """The common budget: as many epochs as fit in ``seconds_left`` at the slowest run's pace, at most ``cap``.

    >>> choose_epochs(400.0, 0.8, 500)
    434
    >>> choose_epochs(1e6, 0.8, 500)
    500
    """
    return max(0, min(cap, math.floor(seconds_left / (EPOCH_MARGIN * seconds_per_epoch))))


def main(argv: list[str] | None = None) -> int:
    p = script_parser(__doc__, "out", "device", out=HERE / "results" / "pde_science_gpu", out_type=Path,
                      out_help="summary and logs folder", device="cuda")  # fmt: skip
    p.add_argument("--budget", type=float, default=470.0, help="wall-clock seconds for everything (default 470)")
    p.add_argument("--procs", type=int, default=6, help="training processes at once (default 6: every run)")
    p.add_argument("--calibrate-epochs", type=int, default=2, help="epochs of the calibration pass (default 2)")
    p.add_argument("--max-epochs", type=int, default=500, help="the stage's budget, the cap on E (default 500)")
    p.add_argument("--skip-tests", action="store_true", help="no pytest -m gpu run beside the data generation")
    args = p.parse_args(argv)
    from monarch_sci.cli.common import UserError, resolve_device

    for flag, value in (("--budget", args.budget), ("--procs", args.procs),
                        ("--calibrate-epochs", args.calibrate_epochs), ("--max-epochs", args.max_epochs)):  # fmt: skip
        if not value > 0:
            raise UserError(f"{flag}: expected a positive number, got {value}")
    resolve_device(args.device)  # a GPU asked for where there is none: one line, before anything is written
    start = time.monotonic()
    deadline = start + args.budget
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {
        "benchmark": "pde_science_gpu",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "budget_s": args.budget,
        "procs": args.procs,
        "phases": {},
    }
    import torch

    summary["torch"] = torch.__version__
    summary["device_name"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"

    def write() -> None:
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    def phase(name: str, t0: float, **info) -> None:
        summary["phases"][name] = {"seconds": round(time.monotonic() - t0, 1), **info}
        write()
        print(f"[{time.monotonic() - start:6.1f} s] {name}: {json.dumps(summary['phases'][name])}", flush=True)

    # 1. data on the GPU, the CUDA tests beside it
    t0 = time.monotonic()
    from monarch_sci.training.study import load_study

    spec = load_study(SPEC)
    store = spec.base / spec.problems["ns1e-3-paper"]["data"]
    store.parent.mkdir(parents=True, exist_ok=True)
    gen_args = ["ns", "generate", *PAPER_DATA, "--device", args.device, "--quiet", "--out", str(store)]
    gen = _spawn(gen_args, out / "prepare.log")
    test_code = None
    if not args.skip_tests:
        with open(out / "pytest_gpu.log", "w") as f:
            cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "tests/test_gpu.py", "-q", "-p", "no:cacheprovider"]
            try:
                test_code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, timeout=120).returncode
            except subprocess.TimeoutExpired:
                test_code = "timeout"
        tail = (out / "pytest_gpu.log").read_text().strip().splitlines()
        summary["pytest_gpu"] = {"exit": test_code, "summary": tail[-1] if tail else ""}
    (gen_code,) = _wait([gen], deadline)
    phase("data", t0, exit=gen_code)
    if gen_code != 0:
        return 1

    # 2. calibration: every run at once, scratch folders
    t0 = time.monotonic()
    base = ["study", "run", str(SPEC), "--stage", "paper", "--device", args.device, "--quiet"]
    procs = [
        _spawn(
            [*base, "--shard", f"{k}/{args.procs}", "--calibrate", str(args.calibrate_epochs)], out / f"calib{k}.log"
        )
        for k in range(args.procs)
    ]
    codes = _wait(procs, deadline)
    rows = [json.loads(f.read_text()) for f in sorted((spec.work / "calibrate").glob("paper__*.json"))]
    slowest = max((r["seconds_per_epoch"] for r in rows), default=float("nan"))
    phase("calibrate", t0, exit=codes, runs=rows, slowest_seconds_per_epoch=slowest)
    if any(c != 0 for c in codes) or not rows:
        return 1

    # 3. the common budget, then the six runs
    left = deadline - time.monotonic() - EVAL_RESERVE
    epochs = choose_epochs(left, slowest, args.max_epochs)
    summary["epochs"] = epochs
    summary["epochs_reason"] = (
        f"{args.max_epochs} (the stage's budget)"
        if epochs == args.max_epochs
        else f"time box: {left:.0f} s left / ({EPOCH_MARGIN} × {slowest:.2f} s per epoch, the slowest run)"
    )
    write()
    if epochs < 10:
        print(f"only {epochs} epochs fit in the budget; nothing trained", file=sys.stderr)
        return 1
    t0 = time.monotonic()
    procs = [
        _spawn([*base, "--shard", f"{k}/{args.procs}", "--epochs", str(epochs)], out / f"train{k}.log")
        for k in range(args.procs)
    ]
    codes = _wait(procs, deadline)
    phase("train", t0, exit=codes, epochs=epochs)
    summary["total_seconds"] = round(time.monotonic() - start, 1)
    write()
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == "__main__":
    sys.exit(run_script(main))
