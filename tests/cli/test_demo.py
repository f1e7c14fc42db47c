"""`monarch-sci demo --size tiny` runs the whole story and writes a report with both tables."""

import json
import os
import re
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
    for needle in ("FNO (FFT)", "Monarch-FNO", "published", "zero_filled_sense", "cg_sense", "mSENSE", ".png",
                   "unrolled-FFT", "unrolled-Monarch"):  # fmt: skip
        assert needle in report, needle
    assert re.search(r"Measured here .*: mSENSE [+-]\d+\.\d\d dB .* [+-]\d+\.\d\d dB \(FFT\)", report)
    # Small sizes must not produce garbage (coil maps that miss the anatomy): CG-SENSE beats zero-filled SENSE.
    for acc in (2, 4):
        rows = {r["method"]: r for r in json.loads((out / f"mri_{acc}x" / "results.json").read_text())["summary"]}
        assert rows["cg_sense"]["psnr"] > rows["zero_filled_sense"]["psnr"] + 1.0, acc
    assert str((out / "report.md").resolve()) in proc.stdout  # it says where the report is
    # Its output went to pipes, not a terminal: one line per epoch or stage, no carriage-return frames.
    assert "\r" not in proc.stdout + proc.stderr
    assert re.search(r"^epoch 2/2: .* in \d+\.\d s", proc.stderr, re.M), proc.stderr[-2000:]

    # Rerunning resumes: every finished step is skipped and the report is written again.
    again = subprocess.run(
        [sys.executable, "-m", "monarch_sci.cli", "demo", "--size", "tiny", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert "done already" in again.stdout


def test_demo_checks_its_flags_before_writing(tmp_path):
    for bad, culprit in ((["--threads", "0"], "--threads"), (["--device", "tpu"], "--device")):
        out = tmp_path / "demo"
        proc = subprocess.run(
            [sys.executable, "-m", "monarch_sci.cli", "demo", *bad, "--out", str(out)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2 and culprit in proc.stderr and "Traceback" not in proc.stderr
        assert not out.exists()
