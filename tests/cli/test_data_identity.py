"""Data known by its content: a data file changed in place (same name, size and modification time) is seen by
``pde train --resume`` and by ``pde compare``'s reuse of finished runs, which refuse it in one line."""

from __future__ import annotations

import json
import os

import scipy.io

from monarch_sci.cli import main

TINY = ["--t-in", "4", "--t-out", "3", "--modes", "2", "--width", "4", "--batch-size", "4", "--no-progress"]
SPLIT = ["--ntrain", "8", "--nval", "2", "--ntest", "2"]


def change_in_place(path):
    """Change one value of ``u`` in the middle of the file, keeping its size and modification time."""
    st = os.stat(path)
    data = scipy.io.loadmat(path)
    data["u"][5, 8, 8, 4] += 1.0
    scipy.io.savemat(path, {k: v for k, v in data.items() if not k.startswith("__")})
    assert os.stat(path).st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_resume_on_data_changed_in_place_is_refused(mat_file, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["pde", "train", "--data", str(mat_file), "--out", str(out), *TINY, *SPLIT, "--epochs", "2"]
    assert main([*argv, "--stop-after", "1"]) == 0
    record = json.loads((out / "record.json").read_text())
    assert record["data_fingerprint"]["data"]["size"] == mat_file.stat().st_size
    change_in_place(mat_file)
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "data: content changed since the record was written" in line, line


def test_compare_does_not_reuse_runs_of_changed_data(mat_file, tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["pde", "compare", "--data", str(mat_file), "--out", str(out), *TINY, *SPLIT, "--epochs", "1"]
    assert main([*argv, "--seeds", "0", "--fouriers", "fft"]) == 0
    run = out / "fft_seed0" / "last.pt"
    st = run.stat()
    assert main([*argv, "--seeds", "0", "--fouriers", "fft"]) == 0  # the same data: the run is reused
    assert run.stat().st_mtime_ns == st.st_mtime_ns  # not retrained
    capsys.readouterr()
    change_in_place(mat_file)
    assert main([*argv, "--seeds", "0", "--fouriers", "fft"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "fft_seed0 (data: content changed since the record was written" in line, line
