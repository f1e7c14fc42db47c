"""``monarch-sci ns generate`` / ``ns info``: bad input, records, busy stores, deprecated flags."""

import json

import h5py
import pytest
import torch

from monarch_sci.cli import main

# Tiny runs: 16² solved and stored, 2 snapshots; well under a second on one thread.
TINY = ["--T", "0.2", "--record", "2", "--dt", "0.01", "--resolution", "16", "--gen-resolution", "16"]
TINY += ["--n", "2", "--threads", "1", "--no-progress"]


def _gen(out, *extra):
    return ["ns", "generate", *TINY, "--out", str(out), *extra]


def test_generate_writes_store_and_record_and_info_reads_it(tmp_path, capsys):
    out = tmp_path / "ns.h5"
    assert main(_gen(out, "--solve-batch", "2")) == 0
    assert "complete (2/2 samples)" in capsys.readouterr().out
    record = json.loads((tmp_path / "ns.h5.json").read_text())
    assert record["samples_done"] == 2 and record["runs"][0]["arguments"]["solve_batch"] == 2
    assert record["runs"][0]["device"] == "cpu"
    assert main(_gen(out, "--solve-batch", "2")) == 0  # finished: returns at once, one more record entry
    assert len(json.loads((tmp_path / "ns.h5.json").read_text())["runs"]) == 2
    capsys.readouterr()
    assert main(["ns", "info", str(out)]) == 0
    assert "2/2 samples done" in capsys.readouterr().out
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_deprecated_batch_is_the_solve_batch(tmp_path, capsys):
    out = tmp_path / "ns.h5"
    assert main(_gen(out, "--batch", "1")) == 0
    assert "--batch is deprecated; use --solve-batch" in capsys.readouterr().err
    with h5py.File(out, "r") as h5:
        assert int(h5.attrs["batch"]) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--T", "0"], "--T: expected a final time > 0, got 0.0"),
        (["--dt", "0.03"], "is not a whole number of steps --dt 0.03"),
        (["--n", "0"], "expected n >= 1 samples, got n=0"),
        (["--solve-batch", "0"], "expected batch >= 1"),
        (["--visc", "-1"], "expected viscosity visc > 0"),
        (["--resolution", "12"], "needs resolution to divide gen_resolution"),
        (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "tpu"], "--device"),
    ],
)
def test_bad_arguments_fail_before_the_store_is_created(tmp_path, refuses, extra, message):
    refuses([*_gen(tmp_path / "ns.h5"), *extra], message)
    assert list(tmp_path.iterdir()) == []


def test_bad_shared_flags_fail_before_the_store_is_created(tmp_path, refuses, bad_shared_flag):
    refuses([*_gen(tmp_path / "ns.h5"), *bad_shared_flag[0]], bad_shared_flag[1])
    assert list(tmp_path.iterdir()) == []


def test_a_store_without_u_is_not_reported_complete(tmp_path, capsys):
    out = tmp_path / "ns.h5"
    assert main(_gen(out)) == 0
    with h5py.File(out, "r+") as h5:
        del h5["u"]
    capsys.readouterr()
    assert main(_gen(out)) == 2
    err = capsys.readouterr().err
    assert "complete" not in err and "lacks ['u']" in err
    assert main(["ns", "info", str(out)]) == 2
    assert "no u dataset" in capsys.readouterr().err


def test_info_on_missing_or_corrupt_files_is_one_line(tmp_path, capsys):
    assert main(["ns", "info", str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5: no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # an HDF5 signature, then garbage
    assert main(["ns", "info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.h5" in err and err.count("\n") == 1


def test_a_second_writer_gets_a_busy_error(tmp_path, run_cli):
    out = tmp_path / "ns.h5"
    assert main(_gen(out)) == 0
    # Another process holds the store open for writing (HDF5's file lock) while the command runs again.
    with h5py.File(out, "r+"):
        proc = run_cli(*_gen(out), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ns.h5: busy" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_record_write_killed_keeps_the_previous_record(tmp_path, monkeypatch):
    import monarch_sci.training.checkpoint as checkpoint

    out = tmp_path / "ns.h5"
    assert main(_gen(out)) == 0
    before = (tmp_path / "ns.h5.json").read_text()

    def killed(path, text):
        raise KeyboardInterrupt  # a kill just before the record's final write

    monkeypatch.setattr(checkpoint, "write_text_atomic", killed)
    assert main(_gen(out)) == 130
    assert (tmp_path / "ns.h5.json").read_text() == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_help_shows_defaults(help_text):
    text = help_text("ns", "generate")
    for needle in ("--solve-batch", "(default: 50)", "--device", "(default: cpu)", "--seed", "--overwrite"):
        assert needle in text, needle
