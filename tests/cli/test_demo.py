"""`monarch-sci demo --size tiny` runs the whole story and writes a report with both tables."""

import os
import subprocess
import sys


def test_tiny_demo_writes_the_report(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-m", "monarch_sci.cli", "demo", "--size", "tiny", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = (out / "report.md").read_text()
    for needle in ("FNO (FFT)", "Monarch-FNO", "published", "zero_filled_sense", "cg_sense", "mSENSE", ".png"):
        assert needle in report, needle
    assert "Measured here: mSENSE" in report
    assert str((out / "report.md").resolve()) in proc.stdout  # it says where the report is

    # Rerunning resumes: every finished step is skipped and the report is written again.
    again = subprocess.run(
        [sys.executable, "-m", "monarch_sci.cli", "demo", "--size", "tiny", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert "done already" in again.stdout
