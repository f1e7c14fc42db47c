"""The README's Python examples run as written (the MRI one on a tiny simulated folder)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_has_the_three_examples():
    assert len(BLOCKS) == 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path):
    code = BLOCKS[index]
    if "data/sim_knee/" in code:
        sim = tmp_path / "sim_knee"
        subprocess.run(
            [sys.executable, "-m", "monarch_sci.cli", "mri", "simulate", "--volumes", "1", "--slices", "1",
             "--coils", "4", "--size", "64", "--quiet", "--out", str(sim)],
            check=True, capture_output=True,
        )  # fmt: skip
        code = code.replace("data/sim_knee/", f"{sim}/")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
