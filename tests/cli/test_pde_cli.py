"""``monarch-sci pde train`` / ``pde compare`` end to end on a tiny FNO ``.mat`` (v5) file."""

import json

import numpy as np
import pytest
import torch

from monarch_sci.cli import main

TINY = ["--t-in", "4", "--t-out", "3", "--modes", "2", "--width", "4", "--batch-size", "4", "--no-progress"]
SPLIT = ["--ntrain", "8", "--nval", "2", "--ntest", "2"]


def _train(mat_file, out, *extra):
    return ["pde", "train", "--data", str(mat_file), "--out", str(out), *TINY, *SPLIT, *extra]


@pytest.mark.parametrize("model", ["fno2d", "fno3d"])
def test_train_writes_record_checkpoints_and_plots(mat_file, tmp_path, capsys, model):
    out = tmp_path / "run"
    assert main([*_train(mat_file, out, "--fourier", "monarch", "--epochs", "2"), "--model", model]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["status"] == "finished" and rec["spec"]["fourier"] == "monarch"
    assert rec["spec"]["model"] == model and len(rec["epochs"]) == 2 and len(rec["test"]["test_rel_l2_per_step"]) == 3
    assert 0 < rec["test"]["test_rel_l2"] < 10 and rec["test"]["inference_ms_per_sample"] > 0
    assert rec["spec"]["factor_lr"] == rec["spec"]["lr"] == 1e-3 and rec["config"]["factor_lr_effective"] == 1e-3
    for name in ("best.pt", "last.pt", "loss_curves.png", "error_per_step.png", "fields_test0.png"):
        assert (out / name).is_file(), name
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert "test relative L2" in capsys.readouterr().out


def test_deprecated_spellings_still_work_and_warn(mat_file, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["pde", "train", "--data", str(mat_file), "--out", str(out), "--epochs", "1", *SPLIT, "--no-progress"]
    args += ["--t-in", "4", "--t-out", "3", "--modes", "2", "--width", "4", "--batch", "4", "--transform", "monarch"]
    assert main([*args, "--share-transform"]) == 0
    err = capsys.readouterr().err
    for old, new in (
        ("--batch", "--batch-size"),
        ("--transform", "--fourier"),
        ("--share-transform", "--share-fourier"),
    ):
        assert f"{old} is deprecated; use {new}" in err
    spec = json.loads((out / "record.json").read_text())["spec"]
    assert spec["batch_size"] == 4 and spec["fourier"] == "monarch" and spec["share_fourier"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--t-out", "6"], "does not fit the 8 frames"),  # 4 + 6 > 8 snapshots
        (["--modes", "9"], "keeps 18 frequencies per axis, the grid is only 16×16"),
        (["--ntrain", "20"], "holds 12 samples"),
        (["--ntrain", "0"], "ntrain (--ntrain) >= 1, got 0"),
        (["--epochs", "0"], "epochs (--epochs) >= 1, got 0"),
        (["--lr", "-1"], "lr (--lr) > 0"),
    ],
)
def test_bad_input_fails_before_any_output(mat_file, tmp_path, refuses, extra, message):
    refuses([*_train(mat_file, tmp_path / "run", "--epochs", "1"), *extra], message)
    assert not (tmp_path / "run").exists()


def test_bad_shared_flags_fail_before_any_output(mat_file, tmp_path, refuses, bad_shared_flag):
    refuses([*_train(mat_file, tmp_path / "run", "--epochs", "1"), *bad_shared_flag[0]], bad_shared_flag[1])
    assert not (tmp_path / "run").exists()


def test_resume_flag_needs_a_checkpoint(mat_file, tmp_path, capsys):
    assert main([*_train(mat_file, tmp_path / "none", "--epochs", "1"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_without_validation_best_follows_the_training_loss(mat_file, tmp_path):
    out = tmp_path / "run"
    args = _train(mat_file, out, "--epochs", "2", "--optimizer", "adamw", "--scheduler", "cosine")
    assert main([*args, "--nval", "0"]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["monitor"] == "train_loss" and "val_loss" not in rec["epochs"][0]
    assert rec["best"]["train_loss"] == min(h["train_loss"] for h in rec["epochs"])
    assert rec["config"]["optimizer"] == "adamw" and rec["config"]["scheduler"] == "cosine"
    # Cosine over the 2-epoch budget (the record holds the lr after each epoch's scheduler step).
    assert [h["lr"][0] for h in rec["epochs"]] == pytest.approx([0.5e-3, 0.0])


def test_rerun_and_resume_check_the_record(mat_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*_train(mat_file, out, "--epochs", "2", "--stop-after", "1")]) == 0
    capsys.readouterr()
    # A rerun without --resume never overwrites the run.
    assert main(_train(mat_file, out, "--epochs", "2")) == 2
    assert "already holds a run" in capsys.readouterr().err
    # A resume with another learning rate or another model is refused, naming the arguments.
    assert main([*_train(mat_file, out, "--epochs", "2", "--lr", "0.01"), "--resume"]) == 2
    assert "lr: 0.001 -> 0.01" in capsys.readouterr().err
    assert main([*_train(mat_file, out, "--epochs", "2", "--width", "6"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "width: 4 -> 6" in err and "Traceback" not in err
    before = (out / "last.pt").read_bytes()
    assert (out / "last.pt").read_bytes() == before
    # The same arguments with more epochs resume and finish.
    assert main([*_train(mat_file, out, "--epochs", "3"), "--resume"]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["status"] == "finished" and len(rec["epochs"]) == 3 and rec["spec"]["epochs"] == 3
    # --overwrite starts anew.
    assert main([*_train(mat_file, out, "--epochs", "1"), "--overwrite"]) == 0
    assert len(json.loads((out / "record.json").read_text())["epochs"]) == 1


def test_compare_table_has_both_models_and_published_rows(mat_file, tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["pde", "compare", "--data", str(mat_file), "--epochs", "1", "--seeds", "3", "--out", str(out)]
    assert main([*args, *TINY, *SPLIT]) == 0
    table = (out / "compare.md").read_text()
    assert "FNO (FFT) | ours" in table and "Monarch-FNO | ours" in table
    assert "published (ν = 1e-3 / 1e-4 / 1e-5) | 0.017 / 0.178 / 0.155" in table
    assert "published (ν = 1e-3 / 1e-4 / 1e-5) | 0.010 / 0.145 / 0.136" in table
    assert "(1 seed) |" in table and "± 0.0000" not in table  # one seed: no spread printed
    assert "(published at ν = 1e-3: 41% lower, at a far larger budget)" in table and "goal: ≥ 40%" not in table
    summary = json.loads((out / "compare.json").read_text())
    assert len(summary["rows"]["fft"]["rel_l2"]) == 1 and len(summary["rows"]["monarch"]["rel_l2"]) == 1
    assert (out / "error_per_step.png").is_file()
    # Rerunning reuses the finished runs (no retraining): the records stay as they were.
    before = (out / "fft_seed3" / "record.json").read_text()
    assert main([*args, *TINY, *SPLIT]) == 0
    assert (out / "fft_seed3" / "record.json").read_text() == before
    # Other --epochs: the old runs do not match; refused (naming them) before anything is trained ...
    capsys.readouterr()
    other = [a if a != "1" else "2" for a in args]
    assert main([*other, *TINY, *SPLIT]) == 2
    err = capsys.readouterr().err
    assert "fft_seed3 (epochs: 1 -> 2)" in err and "monarch_seed3 (epochs: 1 -> 2)" in err
    assert (out / "fft_seed3" / "record.json").read_text() == before
    assert json.loads((out / "compare.json").read_text())["spec"]["epochs"] == 1
    # ... or retrained with --overwrite, and the table then holds the new runs.
    assert main([*other, *TINY, *SPLIT, "--overwrite"]) == 0
    summary = json.loads((out / "compare.json").read_text())
    assert summary["spec"]["epochs"] == 2
    assert len(json.loads((out / "fft_seed3" / "record.json").read_text())["epochs"]) == 2
    assert "2 epochs" in (out / "compare.md").read_text()


def test_compare_killed_before_its_final_write_keeps_the_previous_output(mat_file, tmp_path, monkeypatch):
    from monarch_sci.operators.pde import forecast_compare

    out = tmp_path / "cmp"
    args = ["pde", "compare", "--data", str(mat_file), "--epochs", "1", "--seeds", "0", "--out", str(out)]
    assert main([*args, *TINY, *SPLIT, "--fouriers", "fft"]) == 0
    old = {n: (out / n).read_bytes() for n in ("compare.json", "compare.md", "error_per_step.png")}

    def killed(*a, **k):
        raise KeyboardInterrupt  # what a kill between the last run and the outputs looks like

    # Killed just before its first output write (compare.json): every previous output intact.
    monkeypatch.setattr(forecast_compare, "write_json", killed)
    assert main([*args, *TINY, *SPLIT, "--fouriers", "fft", "monarch"]) == 130
    assert {n: (out / n).read_bytes() for n in old} == old
    assert json.loads((out / "monarch_seed0" / "record.json").read_text())["status"] == "finished"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # temporary files removed


def test_cli_errors_are_one_line_in_a_subprocess(mat_file, tmp_path, run_cli):
    out = tmp_path / "run"
    proc = run_cli(*_train(mat_file, out, "--epochs", "1", "--modes", "9"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("monarch-sci pde train: error: --modes 9") and not out.exists()
    proc = run_cli(*_train(tmp_path / "nope.h5", out, "--epochs", "1"))
    assert proc.returncode == 2 and "nope.h5" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_help_shows_defaults(help_text):
    text = help_text("pde", "train")
    for needle in ("--batch-size", "(default: 20)", "--fourier", "--device", "(default: auto)", "--optimizer"):
        assert needle in text, needle


def test_bf16_training_runs_and_keeps_the_spectral_path_in_float32(mat_file, tmp_path):
    out = tmp_path / "run"
    assert main([*_train(mat_file, out, "--epochs", "1", "--fourier", "monarch"), "--precision", "bf16"]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["config"]["precision"] == "bf16" and rec["spec"]["precision"] == "bf16"
    assert np.isfinite(rec["test"]["test_rel_l2"])
    # A resume in the other precision is a different experiment: refused with the difference named.
    assert main([*_train(mat_file, out, "--epochs", "2", "--fourier", "monarch"), "--resume"]) == 2


def test_spectral_conv_under_autocast_computes_in_float32():
    from monarch_sci.operators.pde.spectral_conv import SpectralConv2d

    torch.manual_seed(0)
    conv = SpectralConv2d(3, 2, 4, 4, fourier="monarch", size=(16, 16))
    x = torch.randn(2, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x.to(torch.bfloat16))
    assert y.dtype == torch.float32
    # same as float32 on the bfloat16-rounded input: the transform itself was not run in bfloat16
    assert torch.allclose(y, conv(x.to(torch.bfloat16).float()), atol=1e-6)
