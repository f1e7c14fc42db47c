"""``--factor-lr main|LR``: the Monarch factors' rate either follows the main ``--lr`` (``main``) or is absolute,
independent of it; the rate used is in the record, and ``main`` reproduces the runs made before the option."""

import json

import pytest

from monarch_sci.cli import main
from monarch_sci.cli.pde import factor_lr

TINY = ["--t-in", "4", "--t-out", "3", "--modes", "2", "--width", "4", "--batch-size", "4", "--no-progress"]
SPLIT = ["--ntrain", "8", "--nval", "2", "--ntest", "2", "--fourier", "monarch", "--epochs", "2"]


def _train(mat_file, out, *extra):
    return ["pde", "train", "--data", str(mat_file), "--out", str(out), *TINY, *SPLIT, *extra]


def _rates(out):
    rec = json.loads((out / "record.json").read_text())
    return rec, [h["lr"] for h in rec["epochs"]], [h["factor_lr"] for h in rec["epochs"]]


def test_an_absolute_factor_lr_does_not_follow_the_main_lr(mat_file, tmp_path):
    out = tmp_path / "abs"
    args = ["--lr", "8e-3", "--factor-lr", "1e-3", "--scheduler", "cosine", "--optimizer", "adamw"]
    assert main(_train(mat_file, out, *args)) == 0
    rec, main_lr, fac_lr = _rates(out)
    assert rec["spec"]["factor_lr"] == 1e-3 and rec["config"]["factor_lr_effective"] == 1e-3
    # cosine over 2 epochs: the factors train at 1e-3 then 0.5e-3 (the rate used in each epoch), the rest at 8e-3
    # then 4e-3 (the history's "lr" is the rate after the epoch's schedule step: 4e-3, then 0)
    assert fac_lr == pytest.approx([1e-3, 0.5e-3]) and [lr[0] for lr in main_lr] == pytest.approx([4e-3, 0.0])


def test_main_is_the_main_lr_and_matches_the_old_spelling(mat_file, tmp_path, capsys):
    old, named = tmp_path / "old", tmp_path / "named"
    assert main(_train(mat_file, old, "--lr", "2e-3")) == 0  # no --factor-lr: as runs made before the option
    assert main(_train(mat_file, named, "--lr", "2e-3", "--factor-lr", "main")) == 0
    for out in (old, named):
        rec, _, fac_lr = _rates(out)
        assert rec["spec"]["factor_lr"] == 2e-3 and fac_lr == [2e-3, 2e-3]  # step schedule: constant over 2 epochs
    a, b = (json.loads((o / "record.json").read_text()) for o in (old, named))
    assert [h["val_rel_l2"] for h in a["epochs"]] == [h["val_rel_l2"] for h in b["epochs"]]
    # the named run resumes from the old run's record (same defining arguments)
    capsys.readouterr()
    assert main([*_train(mat_file, old, "--lr", "2e-3", "--factor-lr", "main"), "--resume"]) == 0


def test_a_bad_factor_lr_is_one_line(mat_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(_train(mat_file, tmp_path / "r", "--factor-lr", "fast"))
    assert exc.value.code == 2
    assert "--factor-lr: expected 'main' or a learning rate (a number), got 'fast'" in capsys.readouterr().err
    assert main(_train(mat_file, tmp_path / "r", "--factor-lr", "-1")) == 2
    assert "factor_lr" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_factor_lr_parses_main_and_numbers():
    assert factor_lr("main") is None and factor_lr("3e-4") == 3e-4


@pytest.mark.parametrize("command", ["train", "compare"])
def test_both_commands_take_main_and_a_rate(command):
    from monarch_sci.cli import build_parser

    base = ["pde", command, "--data", "x.mat", "--out", "o"]
    assert build_parser().parse_args([*base, "--factor-lr", "main"]).factor_lr is None
    assert build_parser().parse_args([*base, "--factor-lr", "2e-4"]).factor_lr == 2e-4
    assert build_parser().parse_args(base).factor_lr is None  # the default: main
