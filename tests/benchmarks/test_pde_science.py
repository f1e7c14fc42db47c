"""benchmarks/pde_science.py: the run plan, the shards, the split hygiene, the convergence rule and the report."""

import dataclasses
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import pde_science
import pde_science_report


@pytest.mark.parametrize("stage", list(pde_science.STAGES))
def test_shards_split_the_plan_without_overlap(stage):
    runs = pde_science.plan(stage)
    assert len(set(runs)) == len(runs)
    shards = [[r for i, r in enumerate(runs) if i % 3 == k] for k in range(3)]
    assert sorted(r for shard in shards for r in shard) == sorted(runs)


def test_selection_never_reads_the_final_test_trajectories():
    ntrain, nval, ntest = pde_science.NS_SPLIT["select"]
    final_train, final_val, _ = pde_science.NS_SPLIT["final"]
    assert ntrain == final_train  # same training set
    assert ntrain + nval + ntest <= final_train + final_val  # the scored slice lies inside the final validation
    spec = pde_science.make_spec("select", "ns1e-3", "fft", 0, 1)
    assert (spec.ntrain, spec.nval, spec.ntest) == (ntrain, nval, ntest)
    darcy = pde_science.make_spec("select", "darcy", "monarch", 0, 1)
    assert darcy.test is None and darcy.val is not None


def test_settings_become_spec_fields():
    spec = pde_science.make_spec("select", "ns1e-3", "monarch-flr0.1", 2, 1)
    assert spec.factor_lr == pytest.approx(0.1 * spec.lr) and spec.seed == 2 and spec.fourier == "monarch"
    assert spec.scheduler == "cosine" and spec.epochs == pde_science.EPOCHS["select"]["ns"]


def test_convergence_rule():
    flat = [1.0, 0.5, 0.3, 0.2, 0.15, 0.12, 0.11, 0.105, 0.1005, 0.1001]
    assert pde_science.converged(flat)
    assert not pde_science.converged([*flat[:-1], 0.09])
    assert not pde_science.converged([0.5])


def test_report_from_finished_runs(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(pde_science_report, "RUNS", runs)
    monkeypatch.setattr(pde_science_report, "RESULTS", tmp_path)
    monkeypatch.setattr(pde_science, "RUNS", runs)
    for setting, score in (("fft", 0.10), ("monarch", 0.08)):
        for seed in (0, 1):
            r = {
                "stage": "select", "problem": "darcy", "setting": setting, "seed": seed,
                "val_curve": [0.3, 0.2, score], "score": score + 0.01 * seed,
            }  # fmt: skip
            (runs / f"{pde_science.run_name('select', 'darcy', setting, seed)}.json").write_text(json.dumps(r))
    text = pde_science_report.summarize()
    assert "| darcy | monarch | 0.0850 ± 0.0071 | -19.0% |" in text
    assert (tmp_path / "pde_science.md").read_text() == text
    assert (tmp_path / "pde_science_select_curves.png").stat().st_size > 0
    assert json.loads((tmp_path / "pde_science.json").read_text())["missing"]["final"]


def test_controls_are_paired_with_the_final_runs_of_their_seeds(tmp_path, monkeypatch):
    """The controls table compares each control with the §2 FFT and Monarch runs of the same seeds, its share of
    the gain and the paragraph come from the numbers, and a control worse than FFT keeps none of the gain."""
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(pde_science_report, "RUNS", runs)
    monkeypatch.setattr(pde_science_report, "RESULTS", tmp_path)
    monkeypatch.setattr(pde_science, "RUNS", runs)
    drift = [
        {"layer": k, "axis": a, "direction": d, "learnable": True, "drift": 0.1 * (k + 1)}
        for k in range(2) for a in (0, 1) for d in ("forward", "inverse")
    ]  # fmt: skip
    results = {
        ("final", "fft"): {0: 0.010, 1: 0.012, 2: 0.020},  # seed 2 has no control: it must not enter the pairs
        ("final", "monarch"): {0: 0.006, 1: 0.008, 2: 0.004},
        ("controls", "fft-wide"): {0: 0.009, 1: 0.011},
        ("controls", "monarch-random"): {0: 0.030},
        ("controls", "monarch-forward"): {0: 0.007, 1: 0.009},
    }
    for (stage, setting), by_seed in results.items():
        for seed, err in by_seed.items():
            r = {
                "stage": stage, "problem": "ns1e-3", "setting": setting, "seed": seed, "val_curve": [0.1, err],
                "test": {"test_rel_l2": err, "test_rel_l2_per_step": [err]}, "test_2x": err, "converged": True,
                "parameters": 1000, "seconds_per_epoch": 1.0, "drift": drift if "monarch" in setting else [],
            }  # fmt: skip
            (runs / f"{pde_science.run_name(stage, 'ns1e-3', setting, seed)}.json").write_text(json.dumps(r))
    text = pde_science_report.summarize()
    # fft-wide over seeds 0, 1: FFT 0.011, Monarch 0.007, control 0.010 -> -9.1%, 25% of the gain
    assert "| 0.0090 (s0) / 0.0110 (s1) | -9.1% | 25% | 2/2 |" in text
    # forward over seeds 0, 1: control 0.008 -> -27.3%, 75%
    assert "| -27.3% | 75% |" in text
    # random over seed 0: 0.030 against FFT 0.010
    assert "| +200.0% | none (worse than FFT) |" in text
    assert "reaches 0.0100 (2 seeds; 2 of 2 seeds below FFT), 25% of the Monarch model's gain" in text
    assert "ends at 0.0300, 3.0× the FFT error (1 seed); the gain needs the DFT start" in text
    assert "only the forward maps 0.0080 (75% of the gain, 2 seeds)" in text
    assert (tmp_path / "pde_science_controls.png").stat().st_size > 0


def test_a_run_is_claimed_by_one_live_process(tmp_path):
    lock = tmp_path / "work" / "run.lock"
    assert pde_science._claim(lock)  # this process holds it now
    assert not pde_science._claim(lock)  # a second claim while the holder lives is refused
    lock.write_text("999999999")  # a holder that is gone
    assert pde_science._claim(lock) and lock.read_text() == str(__import__("os").getpid())


def test_plan_narrows_by_seed_problem_and_setting():
    runs = pde_science.plan("select", seeds=(0,), problems=("darcy",), settings=("fft", "monarch"))
    assert runs == [("darcy", "fft", 0), ("darcy", "monarch", 0)]


def test_shard_argument():
    import argparse

    import _timing

    assert _timing.shard("1/3") == (1, 3)
    for bad in ("3/3", "-1/2", "1", "a/b"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected K/N with 0 <= K < N"):
            _timing.shard(bad)
    with pytest.raises(SystemExit):
        pde_science.main(["--stage", "select", "--shard", "2/2"])


def test_paper_stage_spec_and_data_file():
    spec = pde_science.make_spec("paper", "ns1e-3-paper", "monarch", 1, 1, device="cpu", epochs=35)
    assert (spec.ntrain, spec.nval, spec.ntest) == (1000, 100, 100)
    assert (spec.sub, spec.modes, spec.epochs, spec.seed, spec.device) == (1, 12, 35, 1, "cpu")
    assert pde_science.make_spec("paper", "ns1e-3-paper", "fft", 0, 1).epochs == 500  # the stage's budget
    # the CPU stores keep their names; the paper store is its own file
    assert pde_science.ns_file("ns1e-3").name == "ns_v1e-3_s64_T20_n700.h5"
    assert pde_science.ns_file("ns1e-3-paper").name == "ns_v1e-3_g256_s64_T20_n1200.h5"
    assert "ns1e-3-paper" not in pde_science.CPU_PROBLEMS


def test_bad_budget_and_unknown_problem_are_refused():
    from monarch_sci.cli.common import UserError

    with pytest.raises(UserError, match="--epochs: expected a number of epochs >= 1, got 0"):
        pde_science.main(["--stage", "paper", "--epochs", "0"])
    with pytest.raises(UserError, match="--calibrate: expected a number of epochs >= 1, got 0"):
        pde_science.main(["--stage", "paper", "--calibrate", "0"])
    with pytest.raises(UserError, match=r"--prepare: expected problems among .*, got nope"):
        pde_science.main(["--prepare", "nope"])


def test_gpu_driver_budget():
    import pde_science_gpu

    assert pde_science_gpu.choose_epochs(400.0, 0.8, 500) == 434
    assert pde_science_gpu.choose_epochs(1e6, 0.8, 500) == 500
    assert pde_science_gpu.choose_epochs(1.0, 8.0, 500) == 0


def test_paper_stage_calibrates_trains_and_reports_on_a_tiny_store(tmp_path, monkeypatch):
    """The whole paper path on a 16² store of 6 trajectories: calibration leaves no result; the time-boxed run
    records its budget, no zero-shot error (it trains on the stored grid) and its drift; the report shows it."""
    monkeypatch.setattr(pde_science, "DATA", tmp_path / "data")
    monkeypatch.setattr(pde_science, "RUNS", tmp_path / "results" / "runs")
    monkeypatch.setattr(pde_science, "PAPER", {"n": 6, "split": (4, 1, 1), "arch": {"modes": 4, "sub": 1}, "batch": 6})
    monkeypatch.setattr(pde_science, "NS_SIZE", {"n": 6, "T": 20, "record": 20, "resolution": 16})
    monkeypatch.setitem(pde_science.NS, "ns1e-3-paper", {"visc": 1e-3, "gen_resolution": 16, "dt": 0.01})
    pde_science.prepare(("ns1e-3-paper",), progress=False)
    work = tmp_path / "work"
    narrow = {"seeds": (0,), "settings": ("monarch",)}
    pde_science.calibrate("paper", (0, 1), work, 1, 1, "cpu", **narrow)
    row = json.loads((work / "calibrate" / "paper__ns1e-3-paper__monarch__seed0.json").read_text())
    assert row["epochs"] == 1 and row["seconds_per_epoch"] > 0
    assert not pde_science.RUNS.exists() or not list(pde_science.RUNS.glob("*.json"))
    pde_science.run_stage("paper", (0, 1), work, 1, device="cpu", epochs=2, **narrow)
    result = json.loads((pde_science.RUNS / "paper__ns1e-3-paper__monarch__seed0.json").read_text())
    assert result["spec"]["epochs"] == 2 and len(result["val_curve"]) == 2
    assert result["test_2x"] is None and result["drift"]
    monkeypatch.setattr(pde_science_report, "RUNS", pde_science.RUNS)
    monkeypatch.setattr(pde_science_report, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(pde_science_report, "GPU_SUMMARY", tmp_path / "none.json")
    text = pde_science_report.summarize()
    assert "## 5. The published scale on one GPU (time-boxed)" in text
    paper = text.split("## 5.")[1].splitlines()
    (row,) = [line for line in paper if line.startswith("| ns1e-3-paper | monarch |")]
    assert row.split(" | ")[5] == "—"  # no zero-shot column entry: trained on the stored grid


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--procs", "0"], "--procs: expected a positive number, got 0"),
        (["--budget", "-5"], "--budget: expected a positive number, got -5.0"),
        (["--calibrate-epochs", "0"], "--calibrate-epochs: expected a positive number, got 0"),
        (["--max-epochs", "0"], "--max-epochs: expected a positive number, got 0"),
    ],
)
def test_gpu_driver_refuses_bad_input_before_writing(tmp_path, argv, message):
    import pde_science_gpu

    from monarch_sci.cli.common import UserError

    out = tmp_path / "gpu"
    with pytest.raises(UserError, match=message):
        pde_science_gpu.main([*argv, "--device", "cpu", "--out", str(out)])
    assert not out.exists()


def test_gpu_driver_without_a_gpu_says_so_in_one_line(tmp_path, capsys):
    import pde_science_gpu
    import torch

    from monarch_sci.cli.scripts import run_script

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out = tmp_path / "gpu"
    status = run_script(lambda: pde_science_gpu.main(["--out", str(out)]), prog="pde_science_gpu.py")
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "--device cuda" in err[0] and "Traceback" not in err[0]
    assert not out.exists()


def test_fno3d_stage_differs_from_final_only_in_the_model():
    final = dataclasses.asdict(pde_science.make_spec("final", "ns1e-3", "monarch", 0, None))
    fno3d = dataclasses.asdict(pde_science.make_spec("fno3d", "ns1e-3", "monarch", 0, None))
    assert (final["model"], fno3d["model"]) == ("fno2d", "fno3d")
    assert {k for k in final if final[k] != fno3d[k]} == {"model"}
