"""The last tracebacks of the battery, now one line each: argparse errors (the usage pointer and the error, not
the usage block), steady inputs with complex or string ``x``, ``pde evaluate --samples`` beyond the file,
``mri train --model varnet`` without the extra (refused before its cache is written)."""

from __future__ import annotations

import numpy as np
import pytest

from monarch_sci.cli import main


def test_a_usage_error_is_the_usage_pointer_and_one_error_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["pde", "train", "--data", "x.h5", "--out", "r", "--epochs", "x"])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "usage: monarch-sci pde train ... (see monarch-sci pde train --help)",
        "monarch-sci pde train: error: argument --epochs: invalid int value: 'x'",
    ]


@pytest.mark.parametrize("x", ["complex", "string"])
def test_steady_inputs_of_a_wrong_dtype_are_one_line(tmp_path, capsys, x):
    values = (np.ones((6, 8, 8)) + 1j).astype(np.complex64) if x == "complex" else np.full((6, 8, 8), "a")
    np.savez(tmp_path / "p.npz", x=values, y=np.ones((6, 8, 8), np.float32))
    argv = ["pde", "train", "--task", "steady", "--data", str(tmp_path / "p.npz"), "--out", str(tmp_path / "r")]
    assert main([*argv, "--epochs", "1", "--modes", "2", "--width", "4", "--quiet"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "p.npz['x'] has dtype" in line and not (tmp_path / "r").exists()


def test_evaluate_samples_beyond_the_file_are_one_line(mat_file, tmp_path, capsys):
    out = tmp_path / "run"
    tiny = ["--t-in", "4", "--t-out", "3", "--modes", "2", "--width", "4", "--batch-size", "4", "--no-progress"]
    argv = ["pde", "train", "--data", str(mat_file), "--out", str(out), *tiny]
    assert main([*argv, "--ntrain", "8", "--nval", "2", "--ntest", "2", "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(mat_file), "--samples", "10", "40"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "(--samples)" in line and "out of range for 12 samples" in line, line


def test_varnet_without_its_extra_is_refused_before_the_cache(fully_sampled_mri, tmp_path, capsys, monkeypatch):
    import monarch_sci.operators.mri.varnet as varnet

    monkeypatch.setattr(varnet, "varnet_available", lambda: False)
    out = tmp_path / "run"
    assert (
        main(["mri", "train", "--data", str(fully_sampled_mri), "--model", "varnet", "--out", str(out), "--quiet"]) == 2
    )
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--model varnet needs fastMRI's VarNet" in line and not out.exists()
