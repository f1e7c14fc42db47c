"""The Monarch factor options on the command line (``--factor-start/-warmup/-anchor``, ``--monarch-init``), their
record, resume checks, and loading a trained run back for analysis."""

import json

import pytest
import torch

from monarch_sci.cli import main
from monarch_sci.operators.pde.factor_analysis import fourier_drift
from monarch_sci.operators.pde.run_eval import load_run_model
from monarch_sci.training.checkpoint import load_checkpoint

TINY = ["--t-in", "4", "--t-out", "3", "--modes", "2", "--width", "4", "--batch-size", "4", "--no-progress"]
SPLIT = ["--ntrain", "8", "--nval", "2", "--ntest", "2"]
FACTORS = ["--factor-start", "1", "--factor-warmup", "1", "--factor-anchor", "0.5", "--monarch-init", "random"]


def _train(mat_file, out, *extra):
    return ["pde", "train", "--data", str(mat_file), "--out", str(out), *TINY, *SPLIT, *extra]


def test_factor_flags_are_recorded_used_and_checked_on_resume(mat_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train(mat_file, out, "--fourier", "monarch", "--epochs", "3", "--stop-after", "1", *FACTORS)) == 0
    assert main([*_train(mat_file, out, "--fourier", "monarch", "--epochs", "3", *FACTORS), "--resume"]) == 0
    rec = json.loads((out / "record.json").read_text())
    spec, config = rec["spec"], rec["config"]
    assert (spec["factor_start"], spec["factor_warmup"], spec["factor_anchor"]) == (1, 1, 0.5)
    assert spec["monarch_init"] == "random"
    assert (config["factor_start"], config["factor_warmup"], config["factor_anchor"]) == (1, 1, 0.5)
    assert [h["factor_lr"] for h in rec["epochs"]] == [0.0, 0.5e-3, 1e-3]
    assert rec["epochs"][0]["anchor_penalty"] == 0.0 < rec["epochs"][-1]["anchor_penalty"]
    # a resume with another factor setting is refused, naming it
    changed = [*FACTORS[:5], "0.25", *FACTORS[6:]]
    assert main([*_train(mat_file, out, "--fourier", "monarch", "--epochs", "3", *changed), "--resume"]) == 2
    assert "factor_anchor: 0.5 -> 0.25" in capsys.readouterr().err


def test_random_init_with_the_fft_is_a_user_error(mat_file, tmp_path, capsys):
    assert main(_train(mat_file, tmp_path / "run", "--epochs", "1", "--monarch-init", "random")) == 2
    err = capsys.readouterr().err
    assert "monarch_init='random' (--monarch-init)" in err and "got fourier='fft'" in err
    assert not (tmp_path / "run").exists()  # refused before any output


def test_the_flags_are_on_compare_and_show_their_defaults(capsys):
    for command in (["pde", "compare"], ["pde", "train"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for flag in ("--factor-start", "--factor-warmup", "--factor-anchor", "--monarch-init"):
            assert flag in text
        assert "(default: dft)" in text and "(default: 0.01)" in text


@pytest.mark.parametrize("command", ["train", "compare"])
def test_every_flag_default_is_the_spec_default(command):
    """The command line and the Python API cannot drift apart: a flag whose destination is a field of the FNO
    specs has that field's default (e.g. ``--factor-anchor`` = ``FACTOR_ANCHOR``)."""
    import argparse
    import dataclasses

    from monarch_sci.cli import build_parser
    from monarch_sci.operators.pde.forecasting import FACTOR_ANCHOR, ForecastSpec
    from monarch_sci.operators.pde.steady_training import SteadySpec

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    pde = next(a for a in sub.choices["pde"]._actions if isinstance(a, argparse._SubParsersAction))
    flags = {a.dest: a.default for a in pde.choices[command]._actions}
    checked = 0
    for spec in (ForecastSpec, SteadySpec):
        for f in dataclasses.fields(spec):
            if f.name in flags and f.default is not dataclasses.MISSING and f.name not in ("device", "threads"):
                assert flags[f.name] == f.default or (flags[f.name] is None and f.default in ((), None)), f.name
                checked += 1
    assert checked > 20 and flags["factor_anchor"] == FACTOR_ANCHOR


def test_load_run_model_rebuilds_the_trained_model(mat_file, tmp_path):
    out = tmp_path / "run"
    assert main(_train(mat_file, out, "--fourier", "monarch", "--epochs", "2", "--factor-lr", "0.01")) == 0
    model = load_run_model(out)
    assert not model.training
    best = load_checkpoint(out / "best.pt")["model"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in best.items())
    assert min(r["drift"] for r in fourier_drift(model)) > 0
    last = load_run_model(out, checkpoint="last")
    assert all(torch.equal(v, last.state_dict()[k]) for k, v in load_checkpoint(out / "last.pt")["model"].items())
    with pytest.raises(ValueError, match="expected checkpoint 'best' or 'last', got 'first'"):
        load_run_model(out, checkpoint="first")
    (out / "best.pt").unlink()
    with pytest.raises(ValueError, match=r"load_run_model: .* is not a trained run \(no best.pt\)"):
        load_run_model(out)
    with pytest.raises(FileNotFoundError):
        load_run_model(tmp_path / "missing")
