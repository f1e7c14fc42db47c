"""``monarch-sci pde train`` / ``pde compare`` end to end on a tiny FNO ``.mat`` (v5) file."""

import json

import numpy as np
import pytest
import scipy.io

from monarch_sci.cli import main

TINY = ["--t-in", "4", "--t-out", "3", "--modes", "2", "--width", "4", "--batch", "4", "--no-progress"]
SPLIT = ["--ntrain", "8", "--nval", "2", "--ntest", "2"]


@pytest.fixture
def mat_file(tmp_path):
    # The original FNO layout: u (N, s, s, T) after the initial field, a (N, s, s) the initial field.
    rng = np.random.default_rng(0)
    path = tmp_path / "ns_tiny.mat"
    u = rng.standard_normal((12, 16, 16, 8)).astype(np.float32)
    scipy.io.savemat(path, {"u": u, "a": rng.standard_normal((12, 16, 16)).astype(np.float32)})
    return path


@pytest.mark.parametrize("model", ["fno2d", "fno3d"])
def test_train_writes_record_checkpoints_and_plots(mat_file, tmp_path, capsys, model):
    out = tmp_path / "run"
    args = ["pde", "train", "--data", str(mat_file), "--transform", "monarch", "--epochs", "2", "--out", str(out)]
    assert main([*args, "--model", model, *TINY, *SPLIT]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["status"] == "finished" and rec["arguments"]["transform"] == "monarch"
    assert (
        rec["arguments"]["model"] == model and len(rec["epochs"]) == 2 and len(rec["test"]["test_rel_l2_per_step"]) == 3
    )
    assert 0 < rec["test"]["test_rel_l2"] < 10 and rec["test"]["inference_ms_per_sample"] > 0
    for name in ("best.pt", "last.pt", "loss_curves.png", "error_per_step.png", "fields_test0.png"):
        assert (out / name).is_file(), name
    assert "test relative L2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--t-out", "6"], "does not fit the 8 frames"),  # 4 + 6 > 8 snapshots
        (["--modes", "9"], "keeps 18 frequencies per axis, the grid is only 16×16"),
        (["--ntrain", "20"], "holds 12 samples"),
    ],
)
def test_data_that_does_not_fit_fails_before_training(mat_file, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    args = ["pde", "train", "--data", str(mat_file), "--epochs", "1", "--out", str(out), *TINY, *SPLIT, *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (out / "last.pt").exists()


def test_resume_flag_needs_a_checkpoint(mat_file, tmp_path, capsys):
    args = ["pde", "train", "--data", str(mat_file), "--epochs", "1", "--out", str(tmp_path / "none"), "--resume"]
    assert main([*args, *TINY, *SPLIT]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_compare_table_has_both_models_and_published_rows(mat_file, tmp_path):
    out = tmp_path / "cmp"
    args = ["pde", "compare", "--data", str(mat_file), "--epochs", "1", "--seeds", "3", "--out", str(out)]
    assert main([*args, *TINY, *SPLIT]) == 0
    table = (out / "compare.md").read_text()
    assert "FNO (FFT) | ours" in table and "Monarch-FNO | ours" in table
    assert "published (ν = 1e-3 / 1e-4 / 1e-5) | 0.017 / 0.178 / 0.155" in table
    assert "published (ν = 1e-3 / 1e-4 / 1e-5) | 0.010 / 0.145 / 0.136" in table
    summary = json.loads((out / "compare.json").read_text())
    assert len(summary["rows"]["fft"]["rel_l2"]) == 1 and len(summary["rows"]["monarch"]["rel_l2"]) == 1
    assert (out / "error_per_step.png").is_file()
    # Rerunning reuses the finished runs (no retraining): the records stay as they were.
    before = (out / "fft_seed3" / "record.json").read_text()
    assert main([*args, *TINY, *SPLIT]) == 0
    assert (out / "fft_seed3" / "record.json").read_text() == before
