"""Every notebook runs top to bottom on tiny sizes, and its .ipynb is in sync with its percent script.

The percent scripts (``notebooks/NN_name.py``) are the source of truth; ``make notebooks`` regenerates the
paired ``.ipynb`` files (outputs stripped) with jupytext.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
SCRIPTS = sorted(p for p in NB_DIR.glob("[0-9][0-9]_*.py"))


def test_there_are_notebooks():
    assert [p.stem for p in SCRIPTS][:1] == ["01_monarch_basics"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(script, tmp_path):
    env = dict(os.environ, MONARCH_NB_SIZE="tiny", MPLBACKEND="Agg", MONARCH_NB_WORKDIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, script.name], cwd=NB_DIR, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_ipynb_is_in_sync_with_script(script):
    jupytext = pytest.importorskip("jupytext")
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make notebooks`"
    a = jupytext.read(script)
    b = jupytext.read(ipynb)
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(a) == cells(b), f"{ipynb.name} differs from {script.name}: run `make notebooks`"
    assert all(not c.get("outputs") for c in b.cells if c.cell_type == "code"), "commit notebooks without outputs"
