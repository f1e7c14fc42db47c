"""benchmarks/mri_poisson3d.py: the plan selects on validation before the other seeds train, and the choice is
the grid value with the lowest validation loss."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import mri_poisson3d


def test_selection_runs_come_first_and_cover_every_grid_value():
    runs = mri_poisson3d.plan(8, [0, 1, 2])
    phases = [r["phase"] for r in runs]
    assert phases == sorted(phases, key=lambda p: p != "select")  # every selection run before any seed run
    for model, accel in mri_poisson3d.ORDER:
        key, grid = mri_poisson3d.MODELS[model][1]
        sel = [r for r in runs if (r["model"], r["accel"], r["phase"]) == (model, accel, "select")]
        assert sorted(r["value"] for r in sel) == sorted(grid) and {r["seed"] for r in sel} == {0}
        seeds = [r for r in runs if (r["model"], r["accel"], r["phase"]) == (model, accel, "seed")]
        assert [r["seed"] for r in seeds] == [1, 2] and all(r["value"] is None for r in seeds)
    assert {r["epochs"] for r in runs if r["model"] == "msense"} == {24}


def test_chosen_value_is_the_lowest_validation_loss_and_waits_for_the_grid(tmp_path):
    key, grid = mri_poisson3d.MODELS["msense"][1]
    losses = dict(zip(grid, (0.3, 0.1, 0.2)))
    for i, v in enumerate(grid):
        folder = mri_poisson3d.run_dir(tmp_path, {"model": "msense", "accel": 2, "seed": 0, "key": key, "value": v})
        folder.mkdir()
        epochs = [{"epoch": 1, "val_loss": losses[v] + 1, "val_psnr": 20.0},
                  {"epoch": 2, "val_loss": losses[v], "val_psnr": 30.0 - i}]  # fmt: skip
        status = "finished" if i < len(grid) - 1 else "running"
        (folder / "record.json").write_text(json.dumps({"status": status, "epochs": epochs}))
    assert mri_poisson3d.chosen_value(tmp_path, "msense", 2, 0)[0] is None  # one grid run unfinished
    last = mri_poisson3d.run_dir(tmp_path, {"model": "msense", "accel": 2, "seed": 0, "key": key, "value": grid[-1]})
    record = json.loads((last / "record.json").read_text())
    (last / "record.json").write_text(json.dumps({**record, "status": "finished"}))
    value, scores = mri_poisson3d.chosen_value(tmp_path, "msense", 2, 0)
    assert value == grid[1] and scores[grid[1]] == {"val_loss": 0.1, "val_psnr": 29.0, "epoch": 2}
