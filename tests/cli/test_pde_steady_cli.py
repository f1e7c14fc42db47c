"""``monarch-sci pde train --task steady``, ``pde evaluate`` and ``pde darcy generate`` end to end (tiny sizes)."""

import json

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from monarch_sci.cli import main
from monarch_sci.datasets.pde.darcy import DarcyConfig, generate_darcy
from monarch_sci.datasets.pde.pairs import read_field_pairs

BASE = ["--width", "4", "--batch-size", "4", "--epochs", "2", "--no-progress"]
TINY = ["--modes", "2", *BASE]


@pytest.fixture(scope="module")
def darcy(tmp_path_factory):
    root = tmp_path_factory.mktemp("darcy")
    train = generate_darcy(root / "train.h5", DarcyConfig(n=12, s=32, seed=0))
    test = generate_darcy(root / "test.h5", DarcyConfig(n=4, s=32, seed=1))
    return train, test


def _write(path, fmt, x, y):
    if fmt == "npz":
        np.savez(path, x=x, y=y)
    elif fmt == "mat":
        scipy.io.savemat(path, {"x": x, "y": y})
    elif fmt == "pt":
        torch.save({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, path)
    else:
        with h5py.File(path, "w") as h5:
            h5["x"], h5["y"] = x, y


@pytest.mark.parametrize("fmt", ["h5", "npz", "mat", "pt"])
def test_steady_training_from_each_format(tmp_path, capsys, fmt):
    rng = np.random.default_rng(0)
    x = rng.random((10, 16, 16)) > 0.5  # a boolean two-phase medium (converted explicitly)
    y = np.stack([np.cumsum(x, 1), np.cumsum(x, 2)], -1).astype(np.float64)  # two output channels
    _write(tmp_path / f"train.{fmt}", fmt, x[:6], y[:6])
    _write(tmp_path / f"val.{fmt}", fmt, x[6:8], y[6:8])
    _write(tmp_path / f"test.{fmt}", fmt, x[8:], y[8:])
    out = tmp_path / "run"
    args = ["pde", "train", "--task", "steady", "--data", str(tmp_path / f"train.{fmt}"), "--out", str(out)]
    args += ["--val", str(tmp_path / f"val.{fmt}"), "--test", str(tmp_path / f"test.{fmt}"), *BASE]
    assert main([*args, "--fourier", "monarch", "--loss", "rel_h1", "--n-modes", "4", "4", "--layers", "2"]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["task"] == "steady" and rec["status"] == "finished" and rec["monitor"] == "val_rel_l2"
    assert rec["data"] == {
        "grid": [16, 16],
        "in_channels": 1,
        "out_channels": 2,
        "train_samples": 6,
        "val_samples": 2,
        "mapping": {"format": "pairs", "x": "x", "y": "y"},
    }
    assert rec["spec"]["n_modes"] == [4, 4] and rec["spec"]["layers"] == 2 and rec["spec"]["loss"] == "rel_h1"
    assert len(rec["test"]["test_rel_l2_per_sample"]) == 2 and 0 < rec["test"]["test_rel_l2"] < 10
    state = torch.load(out / "best.pt", weights_only=True)["model"]
    assert torch.allclose(state["normalizer.mean"], torch.from_numpy(y[:6]).float().mean((0, 1, 2)), atol=1e-5)
    assert "test relative L2" in capsys.readouterr().out


def test_steady_without_validation_or_test(darcy, tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["pde", "train", "--task", "steady", "--data", str(darcy[0]), "--sub", "2", "--out", str(out), *TINY]) == 0
    )
    rec = json.loads((out / "record.json").read_text())
    assert rec["monitor"] == "train_loss" and rec["status"] == "finished" and "test" not in rec
    assert all("val_rel_l2" not in h for h in rec["epochs"]) and (out / "best.pt").is_file()
    assert "no --test file" in capsys.readouterr().out
    # a rerun into the same folder is refused; --overwrite retrains
    again = ["pde", "train", "--task", "steady", "--data", str(darcy[0]), "--sub", "2", "--out", str(out), *TINY]
    assert main([*again, "--lr", "1e-2"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main([*again, "--lr", "1e-2", "--resume"]) == 2
    assert "lr: 0.001 -> 0.01" in capsys.readouterr().err
    assert main([*again, "--lr", "1e-2", "--overwrite"]) == 0
    assert json.loads((out / "record.json").read_text())["spec"]["lr"] == 1e-2


@pytest.mark.parametrize("fourier", ["fft", "monarch"])
def test_evaluate_at_the_training_grid_and_twice_it(darcy, tmp_path, capsys, fourier):
    train, test = darcy
    out = tmp_path / "run"
    args = ["pde", "train", "--task", "steady", "--data", str(train), "--val", str(test), "--test", str(test)]
    assert main([*args, "--sub", "2", "--out", str(out), "--fourier", fourier, *TINY]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(test), "--sub", "2"]) == 0
    same = json.loads((out / "eval_test_16.json").read_text())
    assert same["grid"] == [16, 16] and same["trained_grid"] == [16, 16] and same["samples"] == 4
    assert np.isclose(same["rel_l2_mean"], rec["test"]["test_rel_l2"], rtol=1e-5)
    assert len(same["rel_l2_per_sample"]) == 4
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(test), "--resolution", "32"]) == 0
    fine = json.loads((out / "eval_test_32.json").read_text())
    assert fine["grid"] == [32, 32] and fine["sub"] == 1 and np.isfinite(fine["rel_l2_mean"])
    # 2 epochs of training: the zero-shot error at 2x stays near the training-grid error (measured: 0.015% apart
    # for both transforms, seed 0; asserted within 1%)
    assert abs(fine["rel_l2_mean"] - same["rel_l2_mean"]) < 0.01 * same["rel_l2_mean"]
    assert "relative L2" in capsys.readouterr().out
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_evaluate_a_rollout_run(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "ns.mat"
    scipy.io.savemat(path, {"u": rng.standard_normal((8, 16, 16, 6)).astype(np.float32)})
    out = tmp_path / "run"
    args = ["pde", "train", "--data", str(path), "--out", str(out), "--t-in", "3", "--t-out", "2", "--sub", "2"]
    args += ["--ntrain", "4", "--nval", "2", "--ntest", "2", *BASE, "--n-modes", "4", "4", "--layers", "3"]
    assert main(args) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["task"] == "rollout" and rec["spec"]["n_modes"] == [4, 4] and rec["spec"]["layers"] == 3
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(path), "--samples", "6", "8", "--sub", "2"]) == 0
    r = json.loads((out / "eval_ns_8.json").read_text())
    assert np.isclose(r["rel_l2_mean"], rec["test"]["test_rel_l2"], rtol=1e-5) and len(r["rel_l2_per_step"]) == 2
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(path), "--resolution", "16"]) == 0
    assert json.loads((out / "eval_ns_16.json").read_text())["samples"] == 8


def test_evaluate_errors_name_the_culprit(darcy, tmp_path, run_cli):
    train, test = darcy
    out = tmp_path / "run"
    assert main(["pde", "train", "--task", "steady", "--data", str(train), "--out", str(out), *TINY]) == 0
    before = sorted(p.name for p in out.iterdir())
    ns = tmp_path / "ns.mat"
    scipy.io.savemat(ns, {"u": np.zeros((2, 8, 8, 4), np.float32)})
    cases = [
        (["--run", str(tmp_path / "nope"), "--data", str(test)], "nope: no such run folder (--run)"),
        (["--run", str(tmp_path), "--data", str(test)], "is not a trained run (no record.json)"),
        (["--run", str(out), "--data", str(ns)], "is a steady model and needs a pairs file"),
        (["--run", str(out), "--data", str(test), "--resolution", "3"], "need a grid of at least (4, 2), got "),
        (["--run", str(out), "--data", str(test), "--resolution", "31"], "resolution 31 is not reachable"),
    ]
    for extra, message in cases:
        proc = run_cli("pde", "evaluate", *extra)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == before


def test_task_flags_are_refused_for_the_other_task(darcy, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pde", "train", "--task", "steady", "--data", str(darcy[0]), "--out", str(out), "--t-in", "3"]) == 2
    assert "--t-in: not a flag of --task steady" in capsys.readouterr().err
    assert main(["pde", "train", "--data", str(darcy[0]), "--out", str(out), "--val", str(darcy[1])]) == 2
    assert "--val: not a flag of --task rollout" in capsys.readouterr().err
    bad = ["pde", "train", "--task", "steady", "--data", str(darcy[0]), "--out", str(out), "--n-modes", "3", "4"]
    assert main(bad) == 2
    assert "n_modes (total modes per axis, both signs) must be even" in capsys.readouterr().err
    assert not out.exists()


def test_darcy_generate_writes_pairs_and_a_record(tmp_path, capsys):
    out = tmp_path / "d.h5"
    args = ["pde", "darcy", "generate", "--n", "3", "--resolution", "17", "--seed", "4", "--out", str(out)]
    assert main([*args, "--no-progress"]) == 0
    x, y = read_field_pairs(out)
    assert x.shape == y.shape == (3, 17, 17, 1) and set(np.unique(x.numpy())) <= {3.0, 12.0}
    rec = json.loads((tmp_path / "d.json").read_text())
    assert rec["config"]["seed"] == 4 and rec["config"]["s"] == 17 and "h5py" in rec["versions"]
    ref = generate_darcy(tmp_path / "ref.h5", DarcyConfig(n=3, s=17, seed=4))
    assert torch.equal(read_field_pairs(ref)[1], y)
    assert main([*args, "--no-progress"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--no-progress", "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5", "d.json", "ref.h5"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--n", "0"], "--n: expected a positive number of samples, got 0"),
        (["--resolution", "2"], "--resolution: expected at least 3 nodes per axis, got 2"),
        (["--a-neg", "-1"], "--a-pos/--a-neg: expected positive coefficients"),
        (["--out", "{tmp}/missing/d.h5"], "the folder {tmp}/missing does not exist"),
        (["--out", "{tmp}/d.txt"], "expected an HDF5 file name ending in .h5 or .hdf5"),
    ],
)
def test_darcy_generate_bad_input_in_a_subprocess(tmp_path, run_cli, extra, message):
    extra = [e.format(tmp=tmp_path) for e in extra]
    args = ["--n", "2", "--resolution", "9", "--out", str(tmp_path / "d.h5"), "--no-progress"]
    proc = run_cli("pde", "darcy", "generate", *args, *extra)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message.format(tmp=tmp_path) in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_readme_pde_commands_parse():
    """Every ``monarch-sci pde`` command of the README's bash blocks is accepted by the parser."""
    import re
    import shlex
    from pathlib import Path

    from monarch_sci.cli import build_parser

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    lines = [ln.split("  #")[0] for b in blocks for ln in b.replace("\\\n", " ").splitlines()]
    commands = [shlex.split(ln)[1:] for ln in lines if ln.startswith("monarch-sci pde")]
    assert len(commands) >= 7
    for argv in commands:
        args = build_parser().parse_args(argv)
        assert callable(args.func), argv
