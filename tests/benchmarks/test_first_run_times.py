"""The README's times are the measured ones (benchmarks/first_run_times.py on a fresh clone), and the script's
pieces behave: its time format, its refusal of a used clone folder, its table."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import first_run_times  # noqa: E402

MEASURED = ROOT / "benchmarks" / "results" / "first_run_times.json"


def test_minutes_reads_as_the_readme_quotes_it():
    assert first_run_times.minutes(245.4) == "4 min 05 s"
    assert first_run_times.minutes(59.4) == "59 s"
    assert first_run_times.minutes(60.0) == "1 min 00 s"


def test_the_readme_quotes_the_measured_times():
    result = json.loads(MEASURED.read_text())
    steps = {r["step"]: r for r in result["steps"]}
    assert steps and set(steps) <= {"install", "demo", "test"} and all(r["status"] == 0 for r in steps.values())
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"Measured on a fresh clone .*?: (.+?) on ", readme, re.S)
    assert found, "the README's start section quotes the measured times"
    names = {"install": "install", "demo": "`make demo`", "test": "`make test`"}
    expected = ", ".join(f"{names[s]} {first_run_times.minutes(steps[s]['seconds'])}" for s in steps)
    assert found.group(1) == expected
    if "demo" in steps:
        assert steps["demo"]["carriage_returns_in_log"] == 0  # the demo's log, written to a file, has whole lines


def test_a_used_clone_folder_is_refused(tmp_path, capsys):
    (tmp_path / "x").write_text("")
    assert first_run_times.run_script(lambda: first_run_times.main(["--clone", str(tmp_path)]), prog="t") == 2
    err = capsys.readouterr().err
    assert "--clone" in err and "a fresh clone" in err


@pytest.mark.parametrize("status", [0, 2])
def test_the_table_names_the_machine_and_each_step(tmp_path, status):
    row = {"step": "demo", "command": "make demo", "seconds": 330.2, "status": status, "last_line": "x",
           "load_average_before": (1.0, 0, 0), "load_average_after": (2.5, 0, 0),
           "demo_total_seconds": 300}  # fmt: skip
    result = {"commit": "0123456789abcdef", "date": "2026-12-08 00:00 UTC", "steps": [row],
              "machine": {"cpu": "Some CPU", "cores": 2, "memory_gib": 8.0, "python": "3.12.0"}}  # fmt: skip
    first_run_times.write(result, tmp_path)
    table = (tmp_path / "first_run_times.md").read_text()
    assert "Some CPU, 2 cores" in table and f"| demo | `make demo` | 5 min 30 s | {status} | 1.0 → 2.5 |" in table
    assert json.loads((tmp_path / "first_run_times.json").read_text())["steps"][0]["seconds"] == 330.2
