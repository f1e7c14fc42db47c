"""``pde train`` / ``mri train`` ``--compile MODE``: parsed into the typed specs, validated, recorded (eager by
default)."""

import json

import pytest

from monarch_sci.cli import build_parser, main
from monarch_sci.cli.common import _FLAGS
from monarch_sci.cli.mri.train import spec_from_args as mri_spec_from_args
from monarch_sci.cli.pde import spec_from_args
from monarch_sci.operators.mri.training import defining_settings
from monarch_sci.training.step import COMPILE_MODES

TINY = ["--t-in", "4", "--t-out", "3", "--modes", "2", "--width", "4", "--batch-size", "4", "--no-progress"]
SPLIT = ["--ntrain", "8", "--nval", "2", "--ntest", "2", "--epochs", "1"]


def test_the_flag_offers_the_trainer_modes():
    assert _FLAGS["compile"][2]["choices"] == COMPILE_MODES


def test_compile_reaches_the_spec(tmp_path):
    pde = ["pde", "train", "--data", "x.mat", "--out", str(tmp_path / "r"), "--compile", "reduce-overhead"]
    args = build_parser().parse_args(pde)
    assert spec_from_args(args, fourier="fft", seed=0).compile == "reduce-overhead"
    mri = ["mri", "train", "--data", "d", "--model", "unrolled", "--out", str(tmp_path / "m"), "--compile", "default"]
    args = build_parser().parse_args(mri)
    spec = mri_spec_from_args(args)
    assert spec.compile == "default" and "compile" not in defining_settings(spec)  # how to run, not the result


def test_an_unknown_mode_is_a_user_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pde", "train", "--data", "x.mat", "--out", str(tmp_path / "r"), "--compile", "fast"])
    assert exit_info.value.code == 2 and "--compile" in capsys.readouterr().err


def test_eager_is_the_default_and_is_recorded(mat_file, tmp_path):
    out = tmp_path / "run"
    assert main(["pde", "train", "--data", str(mat_file), "--out", str(out), *TINY, *SPLIT]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["config"]["compile"] == "none" and rec["how"]["compile"] == "none"
