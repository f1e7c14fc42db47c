"""``pde train`` / ``pde evaluate`` / ``pde compare`` on PDEBench and The Well files (tiny files written in each
schema; one epoch at tiny size), the mapping recorded, and the one-line refusals."""

import importlib.util
import json
from pathlib import Path

import pytest

from monarch_sci.cli import main
from monarch_sci.cli.pde import FORMATS

_spec = importlib.util.spec_from_file_location("bench_files", Path(__file__).parents[1] / "datasets/pde/bench_files.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

TINY = ["--modes", "2", "--width", "4", "--layers", "1", "--batch-size", "2", "--epochs", "1", "--no-progress"]
SPLIT = ["--t-in", "2", "--t-out", "3", "--ntrain", "3", "--nval", "1", "--ntest", "2"]

ROLLOUTS = {
    # writer, flags choosing the field, the mapping entries the record must state
    "incompressible": (bench.write_pdebench_incompressible, ["--field", "velocity", "--channel", "1"],
                       {"format": "pdebench", "layout": "incompressible-ns", "field": "velocity", "component": "y"}),
    "groups": (bench.write_pdebench_groups, ["--field", "data", "--channel", "0"],
               {"format": "pdebench", "layout": "per-sample", "field": "data", "channel": 0}),
    "cfd": (bench.write_pdebench_cfd, ["--field", "density", "--format", "pdebench"],
            {"format": "pdebench", "layout": "cfd", "field": "density"}),
    "the_well": (bench.write_the_well, ["--field", "velocity", "--channel", "0", "--format", "the-well"],
                 {"format": "the-well", "dataset_name": "tiny_flow", "component": "velocity_x"}),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(ROLLOUTS))
def test_rollout_training_and_evaluation(tmp_path, capsys, kind):
    write, flags, mapping = ROLLOUTS[kind]
    data = tmp_path / f"{kind}.h5"
    write(data)
    out = tmp_path / "run"
    assert main(["pde", "train", "--data", str(data), "--out", str(out), *flags, *SPLIT, *TINY]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["status"] == "finished" and rec["data"]["resolution"] == 16 and rec["data"]["samples_in_file"] == 6
    assert mapping.items() <= rec["data"]["mapping"].items(), rec["data"]["mapping"]
    assert rec["data"]["mapping"]["first_frame"] in ("t=0 (initial condition)", "first stored step")
    field = flags[flags.index("--field") + 1]
    assert rec["spec"]["field"] == field and rec["spec"]["format"] == (flags[-1] if "--format" in flags else "auto")
    assert len(rec["test"]["test_rel_l2_per_step"]) == 3 and rec["test"]["samples"] == 2
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(data), "--samples", "4", "6", "--sub", "2"]) == 0
    result = json.loads((out / f"eval_{kind}_8.json").read_text())
    assert result["grid"] == [8, 8] and result["samples"] == 2 and result["rel_l2_mean"] > 0
    assert "relative L2" in capsys.readouterr().out


def test_temporal_stride_is_recorded_and_used_by_evaluate(tmp_path):
    data = tmp_path / "cfd.h5"
    bench.write_pdebench_cfd(data)  # 8 frames: with --t-sub 2, 4 frames (0, 2, 4, 6) -> 1 in, 3 out
    out = tmp_path / "run"
    flags = ["--field", "Vx", "--t-sub", "2", "--t-in", "1", "--t-out", "3", "--ntrain", "3", "--nval", "1"]
    assert main(["pde", "train", "--data", str(data), "--out", str(out), *flags, "--ntest", "2", *TINY]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["spec"]["t_sub"] == 2 and rec["data"]["mapping"]["t_sub"] == 2
    assert len(rec["test"]["test_rel_l2_per_step"]) == 3
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(data)]) == 0
    assert len(json.loads((out / "eval_cfd_16.json").read_text())["rel_l2_per_step"]) == 3


def test_compare_on_a_the_well_file(tmp_path):
    data = tmp_path / "well.hdf5"
    bench.write_the_well(data)
    out = tmp_path / "cmp"
    args = ["pde", "compare", "--data", str(data), "--field", "density", "--seeds", "0", "--out", str(out)]
    assert main([*args, *SPLIT, *TINY]) == 0
    summary = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert set(summary["rows"]) == {"fft", "monarch"} and summary["published"] is None
    assert summary["data"] == "The Well tiny_flow, field density (density)"
    table = (out / "compare.md").read_text()
    assert table.startswith("The Well tiny_flow, field density") and "published" not in table
    for run in out.iterdir():
        if (run / "record.json").is_file():
            assert json.loads((run / "record.json").read_text())["data"]["mapping"]["field"] == "density"


def test_steady_training_on_pdebench_darcy(tmp_path):
    bench.write_pdebench_darcy(tmp_path / "darcy.h5", n=8)
    bench.write_pdebench_darcy(tmp_path / "darcy_test.h5", n=3, seed=9)
    out = tmp_path / "run"
    args = ["pde", "train", "--task", "steady", "--data", str(tmp_path / "darcy.h5"), "--out", str(out)]
    assert main([*args, "--test", str(tmp_path / "darcy_test.h5"), *TINY]) == 0  # --format auto: detected
    rec = json.loads((out / "record.json").read_text())
    assert rec["data"]["mapping"]["format"] == "pdebench" and rec["data"]["in_channels"] == 1
    assert rec["data"]["grid"] == [16, 16] and rec["test"]["samples"] == 3
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(tmp_path / "darcy_test.h5")]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "holds the time-varying fields velocity (2 components), particles (1 component); choose one with --field"),
        (["--field", "velocity"], "field 'velocity' has 2 components (x, y); choose one with --channel 0..1"),
        (["--format", "store"], "--format store, but the content is 'pdebench' (detected); pass --format pdebench"),
        (["--format", "pairs"], "--format pairs: not a format of --task rollout; choose one of auto, store, mat"),
        (["--field", "velocity", "--channel", "-1"], "expected channel (--channel) >= 0 or None, got -1"),
        (["--task", "steady", "--field", "velocity"], "--field: not a flag of --task steady"),
        (["--field", "velocity", "--channel", "0", "--t-sub", "0"], "expected t_sub (--t-sub) >= 1, got 0"),
        (["--field", "particles", "--t-sub", "2"], "does not fit the 4 frames per sample"),
    ],
)
def test_bad_choices_are_one_line_errors_before_any_output(tmp_path, refuses, extra, message):
    data = tmp_path / "ns_incom.h5"
    bench.write_pdebench_incompressible(data)
    out = tmp_path / "run"
    refuses(["pde", "train", "--data", str(data), "--out", str(out), *SPLIT, *TINY, *extra], message)
    assert not out.exists()


def test_format_choices_are_the_libraries():
    from monarch_sci.datasets.pde import PAIRS_FORMATS, ROLLOUT_FORMATS

    assert set(FORMATS) == set(ROLLOUT_FORMATS) | set(PAIRS_FORMATS)
