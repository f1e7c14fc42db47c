"""benchmarks/cli_battery.py: its judge (a row is good only when there is no traceback, no data lost and, after a
kill, the rerun's result equals the uninterrupted one) and a short real run of the fast families."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import cli_battery
import cli_battery_families as families


def test_a_row_is_good_only_without_traceback_lost_data_or_a_different_result(tmp_path):
    r = families.Runner(sys.executable, tmp_path)
    ok = families.refused("destroy")
    r.row("f", "refused", 2, "monarch-sci x: error: would destroy the input\n", kept=True, expect=ok)
    r.row("f", "traceback", 2, "Traceback (most recent call last):\n  ...\nValueError: destroy\n", expect=ok)
    r.row("f", "two lines", 2, "a\nmonarch-sci x: error: would destroy the input\n", expect=ok)
    r.row("f", "data lost", 2, "monarch-sci x: error: would destroy the input\n", kept=False, expect=ok)
    r.row("f", "unequal rerun", 0, "", equal=False)
    r.row("f", "exit 0", 0, "", kept=True, expect=ok)
    assert [row["good"] for row in r.rows] == [True, False, False, False, False, False]
    counts = cli_battery._counts(r.rows)
    assert counts == {"cases": 6, "good": 1, "traceback": 1, "data_lost": 1, "unequal": 1, "over_bound": 0}
    table = cli_battery.table({"label": "", "families": {"f": counts}, "total": counts, "rows": r.rows})
    assert "| f | 6 | 1 | 1 | 1 | 1 | 0 |" in table and "| f | data lost | 2 | no | no | - | - | no |" in table


def test_digests_see_in_place_edits_and_ignore_temporaries(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.h5").write_bytes(b"1")
    before = families.digest(d)
    (d / ".a.h5.99.tmp").write_bytes(b"half")  # a writer's temporary: not data
    assert families.digest(d) == before
    (d / "a.h5").write_bytes(b"2")
    assert families.digest(d) != before and families.digest(tmp_path / "none") == "absent"


def test_the_fast_families_run_and_hold_every_goal(tmp_path):
    out = tmp_path / "b.json"
    md = tmp_path / "b.md"
    assert cli_battery.main(["--families", "aliasing", "huge", "--out", str(out), "--md", str(md)]) == 0
    summary = json.loads(out.read_text())
    assert set(summary["families"]) == {"aliasing", "huge sizes"}
    assert summary["total"]["cases"] == summary["total"]["good"] >= 10, summary["rows"]
    assert all(r["peak_mib"] < families.HUGE_BOUND_MIB for r in summary["rows"] if r["family"] == "huge sizes")
    assert "| aliasing | mri recon --in X --out X | 2 | no | yes |" in md.read_text()


def test_update_replaces_only_the_families_run_now_where_they_stood():
    row = lambda fam, case: {"family": fam, "case": case}  # noqa: E731
    old = [row("a", 1), row("k", 1), row("k", 2), row("z", 1)]
    assert cli_battery._merged(old, [row("k", 3)]) == [row("a", 1), row("k", 3), row("z", 1)]
    assert cli_battery._merged(old, [row("n", 1)]) == [*old, row("n", 1)]
