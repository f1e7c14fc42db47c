"""The MRI runner of the study engine end to end on tiny simulated 3-D scans (plan → run → report through
``monarch-sci study``), and the committed MRI study spec planned as the former script planned it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from monarch_sci.cli import main
from monarch_sci.operators.mri import study_hooks  # registers the runner "mri"
from monarch_sci.training.study import StudySpecError, load_study, make_choices, plan
from monarch_sci.training.study_plan import read_records

ROOT = Path(__file__).resolve().parents[3]
SPEC = """
[study]
title = "tiny MRI"
runner = "mri"
records = "records"
work = "work"
report = "report"
params = { data = "train", val = "val", test = "test", mask_type = "poisson", mask_policy = "volume", batch_size = 2 }

[problems.a2]
acceleration = 2

[stages.select_msense]
split = "validation"
problems = ["a2"]
seeds = [0]
epochs = 2
params = { model = "msense" }
settings = { lr1e-3 = { lr = 1e-3 }, lr1e-1 = { lr = 1e-1 } }
choose.lr = { metric = "best_val_loss", among = ["lr1e-3", "lr1e-1"] }

[stages.select_cg]
split = "validation"
problems = ["a2"]
seeds = [0]
epochs = 1
params = { model = "cg-sense", max_iter = 5 }
settings = { lam1e-4 = { lam = 1e-4 }, lam1 = { lam = 1.0 } }
choose.lam = { metric = "best_val_psnr", among = ["lam1e-4", "lam1"], goal = "max" }

[stages.test_classical]
split = "test"
problems = ["a2"]
seeds = [0]
epochs = 1
settings.zero-filled = { model = "zero-filled" }
settings.cg-sense = { model = "cg-sense", max_iter = 5, choice = "select_cg.lam" }

[stages.test_learned]
split = "test"
problems = ["a2"]
seeds = [0, 1]
epochs = 2
settings.msense = { model = "msense", choice = "select_msense.lr" }
settings.unrolled-fft = { model = "unrolled", hparams = { fourier = "fft", cascades = 1, channels = 4 } }
settings.unrolled-monarch = { model = "unrolled", hparams = { fourier = "monarch", cascades = 1, channels = 4 } }

[[report]]
kind = "section"
hook = "mri.recon_table"
stages = ["test_classical", "test_learned"]

[[report]]
kind = "section"
hook = "mri.recon_goals"
stages = ["test_classical", "test_learned"]
options = { pairs = [["msense", "zero-filled"], ["unrolled-monarch", "unrolled-fft"]] }

[[report]]
kind = "choices"
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny study's spec file, beside its simulated train/val/test folders."""
    from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset

    folder = tmp_path_factory.mktemp("tiny_mri_study")
    for split, n, seed in (("train", 2, 7), ("val", 1, 8), ("test", 1, 9)):
        cfg = SimulationConfig(recon_size=(32, 24), num_coils=4, num_slices=2, oversampling=1, fine_factor=1,
                               seed=seed, acquisition="3d")  # fmt: skip
        simulate_dataset(folder / split, cfg, n, prefix="file_sim3d")
    (folder / "study.toml").write_text(SPEC)
    return folder / "study.toml"


def test_a_tiny_mri_study_plans_runs_and_reports_through_the_command_line(tiny, capsys):
    path = str(tiny)
    assert main(["study", "run", path, "--device", "cpu", "--quiet"]) == 0
    spec = load_study(path)
    records = read_records(spec)
    assert sorted(records) == sorted(r.name for r in plan(spec))  # every planned run finished
    # validation runs never hold test metrics; the choices are made from their records only
    for name, rec in records.items():
        if name.startswith("select"):
            assert not any(k.startswith("test") for k in rec) and rec["val_curve"]
    made = make_choices(spec)
    lrs = {s: records[f"select_msense__a2__{s}__seed0"]["best_val_loss"] for s in ("lr1e-3", "lr1e-1")}
    assert made["select_msense.lr"]["setting"] == min(lrs, key=lrs.get)
    lams = {s: records[f"select_cg__a2__{s}__seed0"]["best_val_psnr"] for s in ("lam1e-4", "lam1")}
    assert made["select_cg.lam"]["setting"] == max(lams, key=lams.get)
    # the test runs take the values chosen on validation, and read the test volume once
    msense = records["test_learned__a2__msense__seed1"]
    assert msense["spec"]["lr"] == made["select_msense.lr"]["params"]["lr"]
    assert len(msense["test"]["psnr"]) == 1 and msense["test"]["psnr_mean"] == msense["test"]["psnr"][0]
    cg = records["test_classical__a2__cg-sense__seed0"]
    assert cg["spec"]["lam"] == made["select_cg.lam"]["params"]["lam"] and cg["label"].startswith("CG-SENSE")
    zf = records["test_classical__a2__zero-filled__seed0"]["test"]["psnr_mean"]
    assert cg["test"]["psnr_mean"] > zf  # CG-SENSE beats zero-filled SENSE on the same test slices

    capsys.readouterr()
    assert main(["study", "status", path]) == 0
    assert "0 left" in capsys.readouterr().out
    assert main(["study", "report", path]) == 0
    text = (spec.report / "report.md").read_text()
    assert "| accel | method | chosen on val | PSNR dB | SSIM | s/slice | seeds |" in text
    lr = made["select_msense.lr"]["params"]["lr"]
    assert f"| 2× | mSENSE | lr={lr:g} | " in text and "(vol)" in text
    learned = [r for r in json.loads((spec.report / "results.json").read_text())["mri_table"] if r["seeds"] == [0, 1]]
    fft = next(r for r in learned if r["setting"] == "unrolled-fft")
    mon = next(r for r in learned if r["setting"] == "unrolled-monarch")
    d = np.subtract(mon["psnr_per_seed"], fft["psnr_per_seed"])
    assert f"unrolled-Monarch − unrolled-FFT {d.mean():+.2f} ± {np.std(d, ddof=1):.2f} dB (2 seeds)" in text
    # choices scored by different rules: one sentence per rule
    assert "Pooled score (select_msense.lr): the seed mean of `best_val_loss` per problem (absolute)" in text
    assert "Pooled score (select_cg.lam): the seed mean of `best_val_psnr`" in text and "max wins." in text
    # the report is a function of the records: regenerated identically
    (spec.report / "report.md").unlink()
    assert main(["study", "report", path]) == 0
    assert (spec.report / "report.md").read_text() == text


def test_calibrate_times_the_runs_in_scratch_folders_and_writes_no_record(tiny, capsys):
    spec = load_study(tiny)
    before = set(read_records(spec))
    assert main(["study", "run", str(tiny), "--stage", "select_msense", "select_cg", "--calibrate", "1"]) == 0
    out = capsys.readouterr().out
    for run in plan(spec, ("select_msense", "select_cg")):
        row = json.loads((spec.work / "calibrate" / f"{run.name}.json").read_text())
        assert row["epochs"] == 1 and row["seconds_per_epoch"] > 0 and f"calibrate {run.name}" in out
    assert set(read_records(spec)) == before


def test_an_unknown_parameter_names_the_run_and_the_field(tiny, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.replace('params = { model = "msense" }', 'params = { model = "msense", lrr = 1 }')
                   .replace('"train"', f'"{tiny.parent}/train"').replace('"val"', f'"{tiny.parent}/val"'))  # fmt: skip
    spec = load_study(bad)
    run = plan(spec, ("select_msense",))[0]
    with pytest.raises(StudySpecError, match="select_msense__a2__lr1e-3__seed0: parameter 'lrr'"):
        study_hooks.make_train_spec(run, tmp_path / "work" / run.name)


def test_the_committed_poisson3d_spec_plans_the_former_scripts_grid():
    spec = load_study(ROOT / "benchmarks" / "studies" / "mri_poisson3d.toml")
    runs = plan(spec)
    select = [r for r in runs if r.split == "validation"]
    grids = {(r.params["model"], r.params.get("hparams", {}).get("fourier"), r.params["acceleration"]) for r in select}
    assert len(grids) == 10  # (msense, diag, unrolled-FFT, unrolled-Monarch, CG-SENSE) × (2×, 4×)
    assert sorted(r.params["lr"] for r in select if r.stage == "select_msense_2x") == [1e-3, 3e-3, 1e-2]
    assert sorted(r.params["factor_lr"] for r in select if r.stage == "select_unrolled-monarch_4x") == [1e-4, 1e-3]
    assert {r.seed for r in select} == {0}
    assert {r.epochs for r in runs if r.params.get("model") in ("msense", "diag")} == {24}
    assert {r.epochs for r in runs if r.params.get("model") == "unrolled"} == {8}
    learned_test = [r for r in runs if r.split == "test" and r.params.get("model") not in study_hooks.CLASSICAL]
    assert len(learned_test) == 8 * 3 and all(r.choice for r in learned_test)
