"""Data generation shards by rank: ``pde darcy generate`` and ``mri simulate`` under ``torchrun`` (2 processes)
write the same data as one process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset
from monarch_sci.datasets.pde.darcy import DarcyConfig, generate_darcy

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(TORCHRUN is None, reason="no torchrun")


def torchrun(*argv) -> subprocess.CompletedProcess:
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "--monitor-interval=0.1",  # the agent sees the exit soon
           "-m", "monarch_sci.cli", *map(str, argv)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def same_datasets(a: Path, b: Path, skip: tuple[str, ...] = ()) -> None:
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert sorted(fa) == sorted(fb)
        for key in fa:
            np.testing.assert_array_equal(fa[key][()], fb[key][()], err_msg=f"{a.name}:{key}")
        assert {k: str(v) for k, v in fa.attrs.items() if k not in skip} == {
            k: str(v) for k, v in fb.attrs.items() if k not in skip
        }


def test_darcy_generate_two_ranks_equals_one_process(tmp_path):
    out = tmp_path / "d.h5"
    proc = torchrun(
        "pde", "darcy", "generate", "--num-samples", 5, "--resolution", 9, "--seed", 2, "--out", out, "--no-progress"
    )
    assert proc.stdout.count("5 Darcy pairs") == 1  # rank 0 reports (and writes the record) once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5", "d.json"]  # shards joined and removed
    same_datasets(out, generate_darcy(tmp_path / "ref" / "d.h5", DarcyConfig(n=5, s=9, seed=2)))


def test_mri_simulate_two_ranks_equals_one_process(tmp_path):
    args = ["--volumes", 3, "--slices", 1, "--coils", 2, "--size", 16, "--oversampling", 1, "--fine-factor", 1]
    proc = torchrun("mri", "simulate", *args, "--seed", 4, "--out", tmp_path / "s", "--no-progress")
    assert proc.stdout.count("wrote 3 volumes") == 1
    cfg = SimulationConfig(recon_size=(16, 16), num_coils=2, num_slices=1, oversampling=1, fine_factor=1, seed=4)
    ref = simulate_dataset(tmp_path / "ref", cfg, 3)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(p.name for p in ref)  # the data only
    assert (tmp_path / "s.json").is_file()  # the record beside the folder
    for p in ref:
        same_datasets(tmp_path / "s" / p.name, p)
