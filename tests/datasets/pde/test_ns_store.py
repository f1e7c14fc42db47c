"""HDF5 store: layout and attributes, crash safety (SIGKILL + resume), torchrun sharding."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from monarch_sci.datasets.pde.grf import GaussianRandomField
from monarch_sci.datasets.pde.ns_generate import NSGenerationConfig, generate_store, shard_path
from monarch_sci.datasets.pde.ns_solver import downsample_field, fno_forcing
from monarch_sci.datasets.pde.ns_store import StoreError, merge_shards

ROOT = Path(__file__).resolve().parents[3]
# Tiny runs: 32² solved, 16² stored, 3 snapshots; a batch takes well under a second on one thread.
CLI_ARGS = ["--T", "0.6", "--record", "3", "--dt", "0.01", "--resolution", "16", "--gen-resolution", "32"]
CFG = {"T": 0.6, "record": 3, "dt": 0.01, "resolution": 16, "gen_resolution": 32}


# One torch thread (tests/datasets/pde/conftest.py): the subprocesses below run with --threads 1 too, same bits.


def _datasets(path):
    with h5py.File(path, "r") as h5:
        return {k: h5[k][...] for k in ("u", "t", "f", "done")}


def _assert_identical(a, b):
    da, db = _datasets(a), _datasets(b)
    for key in da:
        assert da[key].dtype == db[key].dtype and da[key].shape == db[key].shape, key
        assert da[key].tobytes() == db[key].tobytes(), f"dataset {key!r} differs between {a} and {b}"


def test_store_layout_attributes_and_content(tmp_path):
    cfg = NSGenerationConfig(n=5, batch=2, seed=3, **CFG)
    out = generate_store(cfg, tmp_path / "ns.h5", progress=False)
    with h5py.File(out, "r") as h5:
        u, t, f, done = h5["u"][...], h5["t"][...], h5["f"][...], h5["done"][...]
        attrs = dict(h5.attrs)
        assert h5["u"].chunks == (1, 4, 16, 16)
    assert u.shape == (5, 4, 16, 16) and u.dtype == np.float32
    np.testing.assert_allclose(t, [0.0, 0.2, 0.4, 0.6], rtol=0, atol=1e-15)
    assert done.all()
    np.testing.assert_array_equal(f, downsample_field(fno_forcing(32), 16, "subsample").float().numpy())
    # The initial field of sample i is the GRF of (seed, i), subsampled.
    w0 = GaussianRandomField().sample(32, seed=3, indices=[4], dtype=torch.float32)
    np.testing.assert_array_equal(u[4, 0], w0[0, ::2, ::2].numpy())
    assert np.abs(u[:, -1] - u[:, 0]).max() > 1e-3  # the flow evolved
    for key in ("visc", "T", "record", "dt", "integrator", "solver_dtype", "alpha", "tau", "sigma", "seed", "batch"):
        assert key in attrs, key
    assert attrs["gen_resolution"] == 32 and attrs["resolution"] == 16 and attrs["sigma"] == pytest.approx(7**1.5)
    assert attrs["version_torch"] == str(torch.__version__) and attrs["format"] == "monarch-sci/navier-stokes/1"


def test_crash_after_data_before_flag_leaves_batch_incomplete_and_resume_is_identical(tmp_path):
    cfg = NSGenerationConfig(n=6, batch=2, seed=1, **CFG)
    ref = generate_store(cfg, tmp_path / "ref.h5", progress=False)

    def crash(stage, b0, b1):
        if stage == "data-written" and b0 == 2:
            raise KeyboardInterrupt("simulated crash")

    with pytest.raises(KeyboardInterrupt):
        generate_store(cfg, tmp_path / "ns.h5", progress=False, on_batch=crash)
    with h5py.File(tmp_path / "ns.h5", "r") as h5:
        np.testing.assert_array_equal(h5["done"][...], [True, True, False, False, False, False])
    written = []
    generate_store(cfg, tmp_path / "ns.h5", progress=False, on_batch=lambda st, b0, b1: written.append((st, b0)))
    assert [b0 for st, b0 in written if st == "done"] == [2, 4]  # only the unfinished batches were redone
    _assert_identical(ref, tmp_path / "ns.h5")


def test_resume_with_other_parameters_is_refused(tmp_path):
    cfg = NSGenerationConfig(n=2, batch=2, **CFG)
    generate_store(cfg, tmp_path / "ns.h5", progress=False)
    other = NSGenerationConfig(n=2, batch=2, **{**CFG, "dt": 0.02})
    with pytest.raises(StoreError, match=r"ns.h5 already exists .*dt: file has 0.01, this run has 0.02"):
        generate_store(other, tmp_path / "ns.h5", progress=False)


def _cli(*args):
    return [sys.executable, "-m", "monarch_sci.cli", "ns", "generate", *CLI_ARGS, "--threads", "1", *args]


def test_sigkill_at_any_point_then_rerun_gives_the_uninterrupted_file(tmp_path):
    n, batch = 8, 1
    cfg = NSGenerationConfig(n=n, batch=batch, seed=2, **CFG)
    ref = generate_store(cfg, tmp_path / "ref.h5", progress=False)
    out = tmp_path / "ns.h5"
    cmd = _cli("--n", str(n), "--batch", str(batch), "--seed", "2", "--out", str(out), "--no-progress")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(os.environ.get("MONARCH_TEST_SEED", "0"))
    for kill_after_lines in (1, 3):  # kill right after a batch finished, then at a random moment of a later one
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(kill_after_lines):
            line = proc.stdout.readline()
            assert "wrote samples" in line, line + proc.stderr.read()
        if kill_after_lines > 1:
            time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with h5py.File(out, "r") as h5:
            n_done = int(h5["done"][...].sum())
        assert 1 <= n_done < n, f"kill did not land mid-run ({n_done} of {n} done)"
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    _assert_identical(ref, out)


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_torchrun_two_ranks_shard_and_join_into_the_single_process_file(tmp_path):
    cfg = NSGenerationConfig(n=5, batch=2, seed=4, **CFG)
    ref = generate_store(cfg, tmp_path / "ref.h5", progress=False)
    out = tmp_path / "ns.h5"
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    cmd = [torchrun, "--standalone", "--nproc_per_node=2", "--monitor-interval=0.1",  # the agent sees the exit soon
           "-m", "monarch_sci.cli", "ns", "generate", *CLI_ARGS]  # fmt: skip
    cmd += ["--threads", "1", "--num-samples", "5", "--batch", "2", "--seed", "4", "--out", str(out), "--no-progress"]
    proc = subprocess.run(
        cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rank 1 wrote samples" in proc.stdout and "rank 0 wrote samples" in proc.stdout
    assert not shard_path(out, 0, 2).exists() and not shard_path(out, 1, 2).exists()
    _assert_identical(ref, out)


def test_merge_refuses_a_missing_shard(tmp_path):
    cfg = NSGenerationConfig(n=4, batch=1, **CFG)
    full = generate_store(cfg, tmp_path / "full.h5", progress=False)
    with h5py.File(full, "r+") as h5:
        h5.attrs["sample_start"], h5.attrs["sample_stop"] = 1, 4  # pretend it is the second of two shards
    with pytest.raises(StoreError, match="starts at sample 1, expected 0"):
        merge_shards([full], tmp_path / "merged.h5")
