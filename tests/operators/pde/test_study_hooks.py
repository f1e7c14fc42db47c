"""The PDE runner of the study engine end to end on tiny data (plan → run → report through ``monarch-sci study``),
and the committed PDE-science tables regenerated from the committed per-run records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from monarch_sci.cli import main
from monarch_sci.operators.pde import study_hooks
from monarch_sci.training.study import load_study, plan, write_study_report

ROOT = Path(__file__).resolve().parents[3]
SPEC = """
[study]
title = "tiny"
runner = "pde"
records = "records"
work = "work"
report = "report"
params = { modes = 3, width = 6, layers = 2, batch_size = 2, lr = 3e-3 }

[problems.pairs]
task = "steady"
data = "train.npz"
val = "val.npz"
test = "test.npz"
sub = 2
zero_shot = true

[problems.ns]
data = "ns.h5"
t_in = 10
t_out = 10
ntrain = 3
nval = 2
ntest = 1

[stages.select]
split = "validation"
problems = ["pairs", "ns"]
seeds = [0]
epochs = 2
choose.monarch = { metric = "score", among = ["monarch", "anchored"], relative_to = "fft" }

[stages.select.settings]
fft = { fourier = "fft" }
monarch = { fourier = "monarch", factor_anchor = 0.0 }
anchored = { fourier = "monarch", factor_anchor = 1e-2 }

[stages.final]
split = "test"
problems = ["pairs", "ns"]
seeds = [0, 1]
epochs = 3

[stages.final.settings]
fft = { fourier = "fft" }
monarch = { choice = "select.monarch" }
fft-wide = { fourier = "fft", width = "match-monarch", monarch_width = 6 }

[[report]]
kind = "table"
stage = "final"
columns = [
    { header = "test rel. L2", show = "mean_std", metric = "test.test_rel_l2" },
    { header = "vs FFT", show = "change", metric = "test.test_rel_l2", baseline = "fft" },
    { header = "zero-shot", show = "mean_std", metric = "test_2x" },
    { header = "params", show = "first", metric = "parameters", format = "," },
]

[[report]]
kind = "section"
hook = "pde.drift"
"""


def _pairs(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 16, 16)).astype(np.float32)
    y = np.cumsum(np.cumsum(x, axis=1), axis=2) / 16  # a smooth linear map of the input
    np.savez(path, x=x, y=y.astype(np.float32))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from monarch_sci.datasets.pde import NSGenerationConfig, generate_store

    folder = tmp_path_factory.mktemp("tiny_study")
    for name, n, seed in (("train", 6, 0), ("val", 2, 1), ("test", 2, 2)):
        _pairs(folder / f"{name}.npz", n, seed)
    cfg = NSGenerationConfig(n=6, T=20.0, record=20, resolution=16, gen_resolution=16, dt=0.01, visc=1e-3, seed=0,
                             batch=6)  # fmt: skip
    generate_store(cfg, folder / "ns.h5", progress=False)
    (folder / "study.toml").write_text(SPEC)
    return folder


def test_a_tiny_study_plans_runs_and_reports_through_the_command_line(tiny, capsys):
    path = str(tiny / "study.toml")
    assert main(["study", "run", path, "--device", "cpu", "--quiet"]) == 0
    spec = load_study(path)
    records = {r.name: json.loads((spec.records / f"{r.name}.json").read_text()) for r in plan(spec)}
    # validation runs: no test split (steady: no test file; rollout: the validation trajectories split in two)
    ns_select = records["select__ns__fft__seed0"]
    assert not any(k.startswith("test") for k in ns_select) and ns_select["score"] > 0
    assert (ns_select["spec"]["nval"], ns_select["spec"]["ntest"]) == (1, 1)
    assert records["select__pairs__monarch__seed0"]["spec"]["test"] is None
    # the final Monarch runs take the setting chosen on validation
    final = records["final__pairs__monarch__seed1"]
    chosen = final["study"]["params"]["factor_anchor"]
    assert chosen in (0.0, 1e-2) and final["spec"]["factor_anchor"] == chosen
    assert final["test"]["test_rel_l2"] > 0 and final["test_2x"] > 0 and final["drift"]
    assert records["final__ns__fft__seed0"]["test_2x"] is None  # trained on the stored grid (sub 1)
    wide = records["final__pairs__fft-wide__seed0"]
    assert wide["spec"]["width"] > 6 and wide["parameters"] >= final["parameters"]
    capsys.readouterr()
    assert main(["study", "status", path]) == 0
    out = capsys.readouterr().out
    assert "select: 6 done, 0 running, 0 left" in out and "final: 12 done" in out
    # a second run trains nothing; the report holds every final row
    assert main(["study", "run", path, "--device", "cpu", "--quiet"]) == 0
    assert "trained 0, finished before 18" in capsys.readouterr().out
    # a calibration pass times one run in a scratch folder and leaves the records alone
    argv = ["study", "run", path, "--stage", "final", "--calibrate", "1", "--shard", "0/12", "--device", "cpu"]
    assert main([*argv, "--quiet"]) == 0
    row = json.loads((spec.work / "calibrate" / "final__pairs__fft__seed0.json").read_text())
    assert row["epochs"] == 1 and row["seconds_per_epoch"] > 0 and len(list(spec.records.glob("*.json"))) == 18
    assert main(["study", "report", path]) == 0
    text = (spec.report / "report.md").read_text()
    for problem in ("pairs", "ns"):
        for setting in ("fft", "monarch", "fft-wide"):
            assert f"| {problem} | {setting} | " in text
    assert "| problem | setting | layer | forward axis 0 |" in text


def test_an_unknown_parameter_is_one_line_naming_it(tiny, capsys):
    bad = tiny / "bad.toml"
    bad.write_text(SPEC.replace("lr = 3e-3 }", "lr = 3e-3, lerning_rate = 1 }").replace('"records"', '"bad_records"'))
    assert main(["study", "run", str(bad), "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "parameter 'lerning_rate' is not a field of SteadySpec" in err[0]


def test_the_readme_study_runs_on_a_users_pairs_files_at_tiny_size(tiny, capsys):
    """The README's "Compare FFT and Monarch on your data" spec, as written but for the sizes and the files."""
    import re

    readme = (ROOT / "README.md").read_text().split("### Compare FFT and Monarch on your data")[1]
    text = re.search(r"```toml\n(.*?)```", readme, flags=re.S).group(1)
    tiny_sizes = {"modes = 12, width = 32": "modes = 3, width = 6, batch_size = 2", "seeds = [0, 1, 2]": "seeds = [0]",
                  "epochs = 100": "epochs = 2", '"data/': '"'}  # fmt: skip
    for old, new in tiny_sizes.items():
        assert old in text
        text = text.replace(old, new)
    (tiny / "readme" / "").mkdir()
    for name in ("train", "val", "test"):
        (tiny / "readme" / f"{name}.h5").write_bytes((tiny / f"{name}.npz").read_bytes())  # read by content
    path = tiny / "readme" / "my_study.toml"
    path.write_text(text)
    assert main(["study", "run", str(path), "--device", "cpu", "--quiet"]) == 0
    assert main(["study", "report", str(path)]) == 0
    report = (tiny / "readme" / "study" / "report" / "report.md").read_text()
    assert "| problem | setting | test rel. L2 | vs FFT | converged |" in report
    assert re.search(r"\| mine \| monarch \| \d\.\d{4} \(1 seed\) \| [+-]\d+\.\d% \| [01]/1 \|", report)


def test_the_committed_pde_science_tables_are_regenerated_identically(tmp_path):
    """Every table row of the committed report comes back from the committed per-run records, number for number."""
    spec = load_study(ROOT / "benchmarks" / "studies" / "pde_science.toml")
    committed = spec.report / "report.md"
    spec = dataclasses.replace(spec, report=tmp_path / "report")
    text = write_study_report(spec)
    assert [line for line in text.splitlines() if line.startswith("|")] == [
        line for line in committed.read_text().splitlines() if line.startswith("|")
    ]
    assert "| ns1e-3 | monarch | 0.0046 ± 0.0002 | 0.0047 / 0.0044 / 0.0048 | -25.6% |" in text
    assert "| select.monarch | monarch-anchor1e-2 | 0.6065 | yes |" in text  # the anchor, chosen on validation


def test_the_committed_resolution_table_is_regenerated_identically(tmp_path):
    """A second study, whose records an older script named its own way (``record_name``) and which evaluates
    every test sample at three grids (``evaluate_subs``)."""
    spec = load_study(ROOT / "benchmarks" / "studies" / "pde_resolution.toml")
    committed = (spec.report / "report.md").read_text()
    text = write_study_report(dataclasses.replace(spec, report=tmp_path / "report"))
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows == [line for line in committed.splitlines() if line.startswith("|")] and len(rows) == 6
    assert "| ns | monarch | 0.2388 ± 0.0224 | 0.2135 ± 0.0201 | 0.2134 ± 0.0201 | 0.2135 ± 0.0199 | 6.3 |" in rows
    assert "- ns: monarch vs fft (mean `test.64.rel_l2_mean`, 3 and 3 seeds): -60.9% (goal: ≤ +0.0% — met)" in text


def test_the_committed_factor_lr_table_is_regenerated_identically(tmp_path):
    spec = load_study(ROOT / "benchmarks" / "studies" / "factor_lr_selection.toml")
    committed = (spec.report / "report.md").read_text()
    text = write_study_report(dataclasses.replace(spec, report=tmp_path / "report"))
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows == [line for line in committed.splitlines() if line.startswith("|")]
    assert "| monarch | main lr (1e-3, the default) | 0.0604 ± 0.0031 |" in rows
    assert "| select.factor_lr | monarch | 0.0604 | yes |" in rows  # the main lr, chosen on validation


def test_the_runner_is_registered():
    from monarch_sci.training.study import get_runner

    spec = load_study(ROOT / "benchmarks" / "studies" / "pde_science.toml")
    assert get_runner(spec) is study_hooks.RUNNER
