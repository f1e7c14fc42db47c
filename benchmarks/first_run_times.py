"""The README's times, measured as a new user meets them: a fresh clone, ``make install``, ``make demo``, ``make test``.

Clones the repository (``--repo``, default this one; its committed ``HEAD``) into an empty folder, then runs and
times, one after the other, the README's commands there: ``make install`` (creates ``.venv``: the CPU torch
build, then this package with its ``dev`` and ``neuralop`` extras), ``make demo`` and ``make test``. Writes
``benchmarks/results/first_run_times.json`` and ``.md``: each step's wall seconds, its exit status and last
line, the demo's own "Total time" line, the test summary line, and the machine (CPU model, cores, memory,
Python) with the load averages before and after each step, since a shared machine's load changes the times.
The README quotes these numbers (a test checks that it quotes the ones in the JSON)::

    python benchmarks/first_run_times.py --clone /tmp/first_run
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from monarch_sci.cli.scripts import run_script, script_parser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: The README's commands, in the order a new user runs them.
STEPS = (("install", ["make", "install"]), ("demo", ["make", "demo"]), ("test", ["make", "test"]))


def minutes(seconds: float) -> str:
    """``"4 min 05 s"`` (or ``"45 s"``): how the README quotes a measured time.

    >>> minutes(245.4), minutes(44.6)
    ('4 min 05 s', '45 s')
    """
    s = round(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def machine() -> dict:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    ) if Path("/proc/cpuinfo").is_file() else platform.processor()  # fmt: skip
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0) if Path("/proc/meminfo").is_file() else 0  # fmt: skip
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem / 2**20, 1),
            "python": platform.python_version(), "system": platform.platform()}  # fmt: skip


def run_step(name: str, cmd: list[str], cwd: Path, log: Path) -> dict:
    before = os.getloadavg()
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "CI": "true"})
    seconds = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    row = {"step": name, "command": " ".join(cmd), "seconds": seconds, "status": proc.returncode,
           "last_line": lines[-1] if lines else "", "load_average_before": before,
           "load_average_after": os.getloadavg(), "carriage_returns_in_log": text.count("\r")}  # fmt: skip
    if name == "demo":
        found = re.search(r"Total time: (\d+) s", (cwd / "reports" / "demo" / "report.md").read_text())
        row["demo_total_seconds"] = int(found.group(1)) if found else None
    if name == "test":
        summary = [line for line in lines if re.search(r"\d+ passed", line)]
        row["summary"] = summary[-1].strip("= ") if summary else ""
    return row


def write(result: dict, results: Path) -> None:
    from monarch_sci.training.checkpoint import write_json_atomic

    write_json_atomic(results / "first_run_times.json", result)
    m = result["machine"]
    lines = [
        "# First-run times (fresh clone)",
        "",
        f"Produced by `python benchmarks/first_run_times.py` on {result['date']} at commit `{result['commit'][:10]}`: "
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}. The machine was shared; "
        "the load averages (1 min) before and after each step say how busy it was.",
        "",
        "| step | command | wall time | status | load before → after | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["steps"]:
        note = {"demo": f"the report's own total: {r.get('demo_total_seconds')} s",
                "test": r.get("summary", "")}.get(r["step"], r["last_line"][:80])  # fmt: skip
        lines.append(
            f"| {r['step']} | `{r['command']}` | {minutes(r['seconds'])} | {r['status']} | "
            f"{r['load_average_before'][0]:.1f} → {r['load_average_after'][0]:.1f} | {note} |"
        )
    (results / "first_run_times.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = script_parser(__doc__)
    p.add_argument("--repo", default=str(ROOT), help="repository to clone (its committed HEAD)")
    p.add_argument("--clone", type=Path, required=True, help="empty or absent folder for the fresh clone")
    p.add_argument("--results", type=Path, default=RESULTS, help="folder of first_run_times.json and .md")
    p.add_argument("--steps", nargs="+", choices=[s for s, _ in STEPS], default=[s for s, _ in STEPS])
    args = p.parse_args(argv)
    if args.clone.exists() and any(args.clone.iterdir()):
        raise ValueError(f"--clone {args.clone}: expected an empty or absent folder (a fresh clone)")
    if shutil.which("make") is None or shutil.which("git") is None:
        raise ValueError("first_run_times: needs `git` and `make` on PATH")
    subprocess.run(["git", "clone", "-q", args.repo, str(args.clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=args.clone, capture_output=True, text=True).stdout
    result = {"command": "python benchmarks/first_run_times.py", "commit": commit.strip(), "machine": machine(),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "steps": []}  # fmt: skip
    for name, cmd in STEPS:
        if name not in args.steps:
            continue
        row = run_step(name, cmd, args.clone, args.clone / f"{name}.log")
        result["steps"].append(row)
        write(result, args.results)  # after every step: an interrupted measurement keeps what it measured
        print(f"{name}: {minutes(row['seconds'])} (status {row['status']})", flush=True)
        if row["status"] != 0:
            break
    return 0 if all(r["status"] == 0 for r in result["steps"]) else 1


if __name__ == "__main__":
    sys.exit(run_script(main))
