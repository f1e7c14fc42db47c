"""Data known by its content: a data file changed in place (same name, size and modification time) is seen by
``pde train --resume``, ``pde compare``'s reuse of finished runs and ``mri train --resume``, which refuse it in one
line naming the file; ``pde evaluate`` and ``mri compare`` record the content of what they read."""

from __future__ import annotations

import json
import os
import shutil

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
    assert f"data: content changed since the record was written ({mat_file.name}, sha256" in line, line


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


def test_pde_evaluate_records_the_content_of_what_it_evaluated(mat_file, tmp_path):
    out = tmp_path / "run"
    assert main(["pde", "train", "--data", str(mat_file), "--out", str(out), *TINY, *SPLIT, "--epochs", "1"]) == 0
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(mat_file), "--samples", "10", "12"]) == 0
    (result,) = out.glob("eval_*.json")
    fingerprint = json.loads(result.read_text())["data_fingerprint"]["data"]
    before = fingerprint["sha256"]
    assert fingerprint["size"] == mat_file.stat().st_size and len(before) == 64
    change_in_place(mat_file)
    assert main(["pde", "evaluate", "--run", str(out), "--data", str(mat_file), "--samples", "10", "12"]) == 0
    assert json.loads(result.read_text())["data_fingerprint"]["data"]["sha256"] != before


def change_kspace_in_place(path):
    """Change one k-space value of an HDF5 file in place, keeping its size and modification time."""
    import h5py

    st = os.stat(path)
    with h5py.File(path, "r+") as hf:
        hf["kspace"][0, 0, 0, 0] += 1.0
    assert os.stat(path).st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


MRI_TRAIN = ["mri", "train", "--model", "diag", "--acceleration", "2", "--epochs", "2", "--batch-size", "2",
             "--threads", "1", "--no-progress"]  # fmt: skip


def test_mri_train_resume_and_compare_know_the_data_by_content(fully_sampled_mri, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(fully_sampled_mri, data)
    files = sorted(p.name for p in data.iterdir())
    run, cmp = tmp_path / "run", tmp_path / "cmp"
    argv = [*MRI_TRAIN, "--data", str(data), "--out", str(run)]
    assert main([*argv, "--stop-after", "1"]) == 0
    assert sorted(json.loads((run / "record.json").read_text())["data_fingerprint"]["data"]["files"]) == files
    compare = ["mri", "compare", "--data", str(data), "--out", str(cmp), "--accelerations", "2", "--no-progress"]
    assert main([*compare, "--methods", "zero_filled_rss", "--threads", "1"]) == 0
    recorded = json.loads((cmp / "results.json").read_text())["data_fingerprint"]
    assert sorted(recorded) == files and all(len(recorded[f]["sha256"]) == 64 for f in files)
    change_kspace_in_place(data / files[1])
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"data: content changed since the record was written: {files[1]} (changed)" in line, line
    assert len(json.loads((run / "record.json").read_text())["epochs"]) == 1  # the run was left as it was
