"""Corrupt state is one clear error naming the file, or (a cache) rebuilt with one line saying so: truncated or
random checkpoints, checkpoints of another model, truncated caches and HDF5 files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from monarch_sci.cli import main
from monarch_sci.cli.common import report_error
from monarch_sci.training.checkpoint import CheckpointError, load_checkpoint, load_model_state, save_checkpoint


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": torch.nn.Linear(3, 2).state_dict(), "epoch": 1})
    return path


@pytest.mark.parametrize("damage", ["truncated", "cut short", "random", "empty", "not a dict"])
def test_an_unreadable_checkpoint_is_one_error_naming_it(ckpt, damage):
    data = ckpt.read_bytes()
    if damage == "truncated":
        ckpt.write_bytes(data[: len(data) // 2])
    elif damage == "cut short":  # the zip reader seeks before the start (EINVAL, an OSError)
        ckpt.write_bytes(data[: len(data) // 3])
    elif damage == "random":
        ckpt.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif damage == "empty":
        ckpt.write_bytes(b"")
    else:
        torch.save([1, 2], ckpt)
    with pytest.raises(CheckpointError, match=f"^{ckpt}: not a "):
        load_checkpoint(ckpt)


def test_a_checkpoint_of_another_model_names_the_file_and_the_mismatch(ckpt):
    model = torch.nn.Linear(3, 2)
    load_model_state(model, ckpt)
    with pytest.raises(CheckpointError, match=f"^{ckpt}: holds another model than its run record describes"):
        load_model_state(torch.nn.Linear(4, 2), ckpt)


TINY = ["--t-in", "4", "--t-out", "3", "--modes", "2", "--width", "4", "--batch-size", "4", "--no-progress"]
SPLIT = ["--ntrain", "8", "--nval", "2", "--ntest", "2"]


def one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_corrupt_run_files_through_the_command_line(mat_file, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["pde", "train", "--data", str(mat_file), "--out", str(out), *TINY, *SPLIT, "--epochs", "2"]
    assert main(argv) == 0
    evaluate = ["pde", "evaluate", "--run", str(out), "--data", str(mat_file), "--samples", "10", "12"]
    assert main(evaluate) == 0
    capsys.readouterr()
    good = (out / "last.pt").read_bytes()
    (out / "last.pt").write_bytes(good[:100])
    assert main([*argv, "--epochs", "3", "--resume"]) == 2
    assert f"{out / 'last.pt'}: not a readable checkpoint" in one_line(capsys)
    (out / "best.pt").write_bytes(np.random.default_rng(1).bytes(4096))
    assert main(evaluate) == 2
    assert f"{out / 'best.pt'}: not a readable checkpoint" in one_line(capsys)
    (out / "best.pt").write_bytes(good)
    record = json.loads((out / "record.json").read_text())
    record["spec"]["width"] = 6  # edited by hand
    (out / "record.json").write_text(json.dumps(record))
    assert main(evaluate) == 2
    assert "holds another model than its run record describes" in one_line(capsys)
    (out / "record.json").write_text('{"spec": {"width": ')  # cut short
    assert main(evaluate) == 2
    assert "record.json" in one_line(capsys)


def test_a_truncated_slice_cache_is_rebuilt_saying_so(tmp_path, capsys):
    from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset
    from monarch_sci.operators.mri.slice_bank import load_slice_bank

    cfg = SimulationConfig(recon_size=(16, 16), num_coils=2, num_slices=1, oversampling=1, fine_factor=1, seed=3)
    simulate_dataset(tmp_path / "d", cfg, 2)
    first = load_slice_bank(tmp_path / "d", cache_dir=tmp_path / "c")
    [cache] = (tmp_path / "c").glob("slices-*.pt")
    cache.write_bytes(cache.read_bytes()[:64])
    capsys.readouterr()
    again = load_slice_bank(tmp_path / "d", cache_dir=tmp_path / "c")
    line = one_line(capsys)
    assert line.startswith(f"slice cache: {cache}: not a readable checkpoint") and line.endswith("rebuilding it"), line
    torch.testing.assert_close(again.maps, first.maps)
    load_checkpoint(cache)  # written again, whole


def test_truncated_hdf5_is_reported_as_corrupt_naming_it_and_a_lock_as_busy(tmp_path, capsys):
    f = tmp_path / "data.h5"
    with h5py.File(f, "w") as h5:
        h5["u"] = np.zeros((64, 64))
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(OSError) as info:
        h5py.File(f, "r")
    assert report_error(info.value, "monarch-sci x") == 2
    line = one_line(capsys)
    assert line.startswith(f"monarch-sci x: error: {f}: not a readable HDF5 file, truncated or corrupt"), line
    assert report_error(BlockingIOError(11, "Resource temporarily unavailable", str(f)), "monarch-sci x") == 2
    assert f"{f} is in use by another process (busy file)" in one_line(capsys)
