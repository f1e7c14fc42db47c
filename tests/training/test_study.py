"""The study engine with a stand-in runner (``study_worker.py``): spec errors, planning, claiming across processes,
resume refusal, validation-only choices, convergence, pooling, status and the report."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study_worker

from monarch_sci.training.study import (
    StudySpecError,
    converged,
    load_study,
    make_choices,
    plan,
    pooled,
    run_study,
    status,
    write_study_report,
)
from monarch_sci.training.study_plan import parse_shard

SPEC = """
[study]
title = "toy"
runner = "fake"
records = "records"
work = "work"
report = "report"
params = { scale = 1.0 }

[problems.a]
[problems.b]
scale = 2.0

[stages.select]
split = "validation"
problems = ["a", "b"]
seeds = [0, 1]
epochs = { a = 10, b = 20 }
settings = { fft = { kind = "fft" }, monarch = { kind = "monarch" }, monarch-slow = { kind = "monarch-slow" } }
choose.best = { metric = "score", among = ["monarch", "monarch-slow"], relative_to = "fft" }

[stages.final]
split = "test"
problems = ["a"]
seeds = [0, 1, 2]
epochs = 30
settings = { fft = { kind = "fft" }, monarch = { choice = "select.best" }, wide = { kind = "wide" } }

[[report]]
kind = "text"
text = "# Toy"

[[report]]
kind = "table"
stage = "final"
rows_header = ["problem", "model"]
columns = [
    { header = "test (mean ± std)", show = "mean_std", metric = "test.rel_l2" },
    { header = "per seed", show = "per_seed", metric = "test.rel_l2" },
    { header = "vs FFT", show = "change", metric = "test.rel_l2", baseline = "fft" },
    { header = "converged", show = "converged" },
    { header = "params", show = "first", metric = "parameters", format = "," },
]
references = [{ problem = "a", label = "published", values = [0.2, 0.1] }]

[[report]]
kind = "per_index"
stage = "final"
metric = "test.per_step"
settings = ["fft", "monarch"]
title = "**{problem} per step**"

[[report]]
kind = "paired"
stages = ["final"]
metric = "test.rel_l2"
[report.options]
problem = "a"
baseline = "fft"
target = "monarch"
labels = { fft = "FFT", wide = "wide FFT", monarch = "Monarch" }
header = ["model", "test", "per seed", "vs FFT", "share", "converged", "params"]

[[report]]
kind = "goals"
stage = "final"
metric = "test.rel_l2"
options = { baseline = "fft", target = "monarch", at_most = -25.0 }

[[report]]
kind = "goals"
stage = "final"
metric = "test.rel_l2"
options = { baseline = "fft", target = "wide", at_most = 0 }

[[report]]
kind = "choices"

[[report]]
kind = "curves"

[[report]]
kind = "figures"
text = "Figures: "

[[report]]
kind = "missing"
"""


def write_spec(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.fixture
def spec(tmp_path):
    return load_study(write_spec(tmp_path))


# -- the spec -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('runner = "fake"', 'runner = "fake"\nrunnr = 1', r"study\.runnr: unknown key"),
        ("seeds = [0, 1]\n", "seeds = [0, -1]\n", r"stages\.select\.seeds: expected a non-empty list of seeds"),
        ('problems = ["a"]', 'problems = ["c"]', r"stages\.final\.problems: expected names among a, b, got 'c'"),
        ("epochs = { a = 10, b = 20 }", "epochs = { a = 10 }", r"stages\.select\.epochs: expected one budget per"),
        ("epochs = 30", "epochs = 0", r"stages\.final\.epochs: expected epochs >= 1, got 0"),
        ('split = "test"', 'split = "train"', r"stages\.final\.split: expected 'validation' or 'test'"),
        ('choice = "select.best"', 'choice = "final.best"', r"settings\.monarch\.choice: expected a choice of an "),
        ('choice = "select.best"', 'choice = "select.worst"', r"expected a choice stage 'select' makes \(best\)"),
        ('show = "per_seed"', 'show = "median"', r"report\[1\]\.columns\[1\]\.show: expected one of"),
        (
            ', baseline = "fft" },\n    { header = "conv',
            ' },\n    { header = "conv',
            r"columns\[2\]\.baseline: missing",
        ),
        ('kind = "missing"', 'kind = "summary"', r"report\[9\]\.kind: expected one of"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_key(tmp_path, old, new, message):
    assert old in SPEC
    with pytest.raises(StudySpecError, match=message):
        load_study(write_spec(tmp_path, SPEC.replace(old, new, 1)))


def test_a_choice_is_made_on_validation_data_only(tmp_path):
    text = SPEC.replace('[stages.final]\nsplit = "test"', '[stages.final]\nsplit = "test"\nchoose.x = '
                        '{ metric = "test.rel_l2", among = ["fft"] }')  # fmt: skip
    with pytest.raises(StudySpecError, match=r"stages\.final\.choose: a choice is made on validation data only"):
        load_study(write_spec(tmp_path, text))


def test_missing_file_and_bad_toml_are_one_line_errors(tmp_path):
    with pytest.raises(StudySpecError, match="no such study spec"):
        load_study(tmp_path / "none.toml")
    with pytest.raises(StudySpecError, match="not valid TOML"):
        load_study(write_spec(tmp_path, "[study\n"))


# -- planning -------------------------------------------------------------------------------------------------
def test_plan_order_budgets_and_parameters(spec):
    runs = plan(spec)
    assert len(runs) == 2 * 2 * 3 + 3 * 3
    assert [r.name for r in runs[:3]] == ["select__a__fft__seed0", "select__a__monarch__seed0",
                                          "select__a__monarch-slow__seed0"]  # fmt: skip
    b = next(r for r in runs if r.problem == "b")
    assert (b.epochs, b.params["scale"], b.params["kind"]) == (20, 2.0, "fft")  # problem over study, setting last
    monarch = next(r for r in runs if r.stage == "final" and r.setting == "monarch")
    assert monarch.choice == "select.best" and "kind" not in monarch.params  # planned, not chosen yet


def test_shards_split_the_plan_without_overlap(spec):
    names = [r.name for r in plan(spec)]
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "-1/2", "1", "a/b"):
        with pytest.raises(ValueError, match="expected K/N with 0 <= K < N"):
            parse_shard(bad)
    logs = [run_study(spec, stages=("select",), shard=(k, 3), say=lambda s: None) for k in range(3)]
    trained = [n for log in logs for n in log.trained]
    assert sorted(trained) == sorted(n for n in names if n.startswith("select"))
    assert len(set(trained)) == len(trained)


# -- claiming, resume -----------------------------------------------------------------------------------------
def test_two_processes_share_a_study_and_train_each_run_once(tmp_path):
    path = write_spec(tmp_path)
    log = tmp_path / "trained.log"
    env = {**os.environ, "STUDY_WORKER_DELAY": "0.3", "OMP_NUM_THREADS": "1"}
    worker = Path(study_worker.__file__)
    procs = [subprocess.Popen([sys.executable, str(worker), str(path), str(log)], env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    lines = [line.split() for line in log.read_text().splitlines()]
    names = [n for n, _ in lines]
    assert len(names) == len(set(names))  # nobody trained a run twice
    assert len({pid for _, pid in lines}) == 2  # both processes trained some
    # the final stage's Monarch runs waited for the choice, so one more call finishes the study
    spec = load_study(path)
    run_study(spec, say=lambda s: None)
    assert all((spec.records / f"{r.name}.json").is_file() for r in plan(spec))


def test_a_finished_run_is_not_trained_again_and_a_changed_spec_is_refused(tmp_path, spec):
    first = run_study(spec, stages=("select",), say=lambda s: None)
    assert len(first.trained) == 12
    again = run_study(spec, stages=("select",), say=lambda s: None)
    assert again.trained == [] and len(again.finished_before) == 12
    changed = load_study(write_spec(tmp_path, SPEC.replace("params = { scale = 1.0 }", "params = { scale = 1.5 }")))
    with pytest.raises(StudySpecError, match=r"select__a__fft__seed0.*finished with other parameters.*scale"):
        run_study(changed, stages=("select",), say=lambda s: None)


def test_a_time_boxed_stage_takes_a_smaller_budget_and_calibrates_without_records(tmp_path):
    from monarch_sci.training.study import calibrate

    spec = load_study(write_spec(tmp_path))
    with pytest.raises(StudySpecError, match=r"epochs 5: stage 'select' .* is not time-boxed"):
        run_study(spec, stages=("select",), epochs=5, say=lambda s: None)
    head = '[stages.select]\nsplit = "validation"'
    text = SPEC.replace(head, head + "\ntime_box = true")
    boxed = load_study(write_spec(tmp_path, text))
    with pytest.raises(StudySpecError, match=r"epochs 25: more than stage 'select''s budget \(20\)"):
        run_study(boxed, stages=("select",), epochs=25, say=lambda s: None)
    rows = calibrate(boxed, 2, stages=("select",), shard=(1, 4), say=lambda s: None)
    assert [r["run"] for r in rows] == [r.name for i, r in enumerate(plan(boxed, ("select",))) if i % 4 == 1]
    assert all(r["seconds_per_epoch"] == 0.5 for r in rows) and not any(boxed.records.glob("*.json"))
    assert (boxed.work / "calibrate" / f"{rows[0]['run']}.json").is_file()
    run_study(boxed, stages=("select",), epochs=5, say=lambda s: None)
    record = json.loads((boxed.records / "select__b__fft__seed0.json").read_text())
    assert len(record["val_curve"]) == 5 and record["study"]["epochs"] == 5
    assert len(run_study(boxed, stages=("select",), say=lambda s: None).finished_before) == 12  # a budget <= 20


# -- validation-only choices ----------------------------------------------------------------------------------
def test_the_final_stage_waits_for_and_uses_the_choice_made_on_validation(spec):
    early = run_study(spec, stages=("final",), say=lambda s: None)
    assert sorted(early.waiting) == [f"final__a__monarch__seed{s}" for s in range(3)]
    assert set(early.waiting.values()) == {"select.best"}
    run_study(spec, stages=("select",), say=lambda s: None)
    made = make_choices(spec)["select.best"]
    # monarch (0.08 against fft 0.10 on both problems) beats monarch-slow (0.09)
    assert made["setting"] == "monarch" and made["scores"]["monarch"] < made["scores"]["monarch-slow"]
    assert all(name.startswith("select__") for name in made["runs"])
    run_study(spec, stages=("final",), say=lambda s: None)
    record = json.loads((spec.records / "final__a__monarch__seed1.json").read_text())
    assert record["params"]["kind"] == "monarch" and record["study"]["choice"] == "select.best"
    assert record["test"]["rel_l2"] == pytest.approx(0.081)


def test_a_validation_run_that_returns_test_metrics_is_refused(tmp_path):
    spec = load_study(write_spec(tmp_path, SPEC.replace("params = { scale = 1.0 }", "params = { leak = true }")))
    with pytest.raises(RuntimeError, match=r"returned test metrics \(test\) for a run of a validation stage"):
        run_study(spec, stages=("select",), say=lambda s: None)
    assert not any(spec.records.glob("*.json"))


# -- convergence, pooling -------------------------------------------------------------------------------------
def test_convergence_rule():
    flat = [1.0, 0.5, 0.3, 0.2, 0.15, 0.12, 0.11, 0.105, 0.1005, 0.1001]
    assert converged(flat)
    assert not converged([*flat[:-1], 0.09])
    assert not converged([0.5])
    assert converged([*flat[:-1], 0.0995], tol=0.01) and not converged([*flat[:-1], 0.0995], tol=0.001)


def test_pooling_is_the_mean_and_sample_std_over_seeds():
    values = [0.0059, 0.0056, 0.0070]
    m, s = pooled(values)
    assert m == pytest.approx(statistics.mean(values)) and s == pytest.approx(statistics.stdev(values))
    assert pooled([0.3]) == (0.3, 0.0)


# -- status, report -------------------------------------------------------------------------------------------
def test_labels_name_a_table_s_rows(tmp_path):
    text = SPEC.replace('title = "**{problem} per step**"', 'title = "**{problem} per step**"\n\n[[report]]\n'
                        'kind = "table"\nstage = "select"\nrows_header = ["Fourier", "kind"]\n'
                        'columns = [{ header = "score", show = "mean_std", metric = "score" }]\n'
                        'labels = { fft = ["fft", "— (no factors)"] }')  # fmt: skip
    spec = load_study(write_spec(tmp_path, text))
    run_study(spec, stages=("select",), say=lambda s: None)
    lines = write_study_report(spec).splitlines()
    assert "| Fourier | kind | score |" in lines
    assert any(line.startswith("| fft | — (no factors) | 0.10") for line in lines)
    assert any(line.startswith("| a | monarch | 0.08") for line in lines)  # no label: problem and setting


def test_status_counts_and_estimates_the_time_left(spec):
    from monarch_sci.training.outputs import output_lock

    before = status(spec)
    assert before["seconds_left"] == 0 and len(before["unknown"]) == len(plan(spec))
    run_study(spec, stages=("select",), shard=(0, 2), say=lambda s: None)
    with output_lock(spec.work / "select__a__monarch__seed0"):  # held by a live process (this one)
        found = status(spec)
    sel = found["stages"]["select"]
    assert (len(sel["done"]), len(sel["running"]), len(sel["left"])) == (6, 1, 5)
    # every left run has a measured 0.5 s/epoch for its problem: select a 10, b 20 epochs; final a 30 epochs
    left = [r for r in plan(spec) if r.name not in sel["done"]]
    assert found["seconds_left"] == pytest.approx(sum(0.5 * r.epochs for r in left))


def test_report_tables_choices_figures_and_missing_runs(spec):
    run_study(spec, stages=("select",), say=lambda s: None)
    run_study(spec, stages=("final",), shard=(0, 3), say=lambda s: None)  # a third of the final runs
    text = write_study_report(spec)
    assert (spec.report / "report.md").read_text() == text
    results = json.loads((spec.report / "results.json").read_text())
    assert results["missing"]["final"] and not results["missing"]["select"]
    run_study(spec, say=lambda s: None)
    text = write_study_report(spec)
    lines = text.splitlines()
    assert lines[0] == "# Toy"
    assert "| problem | model | test (mean ± std) | per seed | vs FFT | converged | params |" in lines
    assert "| a | fft | 0.1010 ± 0.0010 | 0.1000 / 0.1010 / 0.1020 |  | 3/3 | 1,000 |" in lines
    assert "| a | monarch | 0.0810 ± 0.0010 | 0.0800 / 0.0810 / 0.0820 | -19.8% | 0/3 | 1,000 |" in lines
    assert "| a | published | 0.2 / 0.1 | | -50% | | |" in lines
    assert "| fft | 0.1010 | 0.2020 |" in lines  # per step, mean over seeds
    # wide over seeds 0-2: FFT 0.101, Monarch 0.081, wide 0.096 -> 25% of the gain
    assert any(line.startswith("| wide FFT | 0.0960 ± 0.0010 |") and "| -5.0% | 25% |" in line for line in lines)
    # seed means of the score relative to FFT (10 and 20 epochs: FFT ends 2% and 0.5% above its error), averaged
    assert "| select.best | monarch | 0.7909 | yes |" in lines
    assert "- a: monarch vs fft (mean `test.rel_l2`, 3 and 3 seeds): -19.8% (goal: ≤ -25.0% — missed)" in lines
    assert "- a: wide vs fft (mean `test.rel_l2`, 3 and 3 seeds): -5.0% (goal: ≤ +0.0% — met)" in lines
    found = json.loads((spec.report / "results.json").read_text())["goals"]["final"]
    assert found["wide vs fft"]["a"]["met"] is True and found["monarch vs fft"]["a"]["met"] is False
    assert "Runs not finished yet" not in text
    assert (spec.report / "final_curves.png").stat().st_size > 0
    assert "Figures: `select_curves.png`, `final_curves.png`" in text
