"""The output rules through the real command line, in fresh processes: outputs never alias inputs, an existing
output is replaced only with --overwrite and only once the new one is complete (a kill at any point keeps the old
data and record, and the rerun ends with the uninterrupted result), one writer per --out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
from forked_cli import ForkedCLI

from monarch_sci.cli import main
from monarch_sci.training.outputs import clean_stale_temporaries

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

#: Run before ``monarch-sci ARGV`` in its process: it dies as with ``kill -9`` at its ``KILL_AT``-th HDF5 flush
#: (``KILL_ON=flush``) or rename (``KILL_ON=replace``: just before a file or folder would appear under its final
#: name); 0: never.
KILLABLE = textwrap.dedent(
    """
    import os
    import h5py
    at, seen = int(os.environ.get("KILL_AT", "0")), [0]
    def killing(real):
        def call(*args, **kwargs):
            if os.environ["KILL_ON"] == "replace":
                seen[0] += 1
                if seen[0] == at:
                    os._exit(137)
            out = real(*args, **kwargs)
            if os.environ["KILL_ON"] == "flush":
                seen[0] += 1
                if seen[0] == at:
                    os._exit(137)
            return out
        return call
    h5py.File.flush = killing(h5py.File.flush) if os.environ["KILL_ON"] == "flush" else h5py.File.flush
    os.replace = killing(os.replace) if os.environ["KILL_ON"] == "replace" else os.replace
    """
)
FORKED = ForkedCLI(KILLABLE, ENV)  # each command in a fresh process forked from one that imported the CLI once


@pytest.fixture(autouse=True, scope="module")
def _forked_cli_server():
    yield
    FORKED.close()


def cli(*argv, kill_at: int = 0, kill_on: str = "flush") -> subprocess.CompletedProcess:
    return FORKED(*argv, env={**ENV, "KILL_AT": str(kill_at), "KILL_ON": kill_on}, timeout=300)


def snapshot(*paths):
    return {p: p.read_bytes() for p in paths}


NS = ["ns", "generate", "--n", "3", "--T", "0.2", "--record", "2", "--dt", "0.01", "--resolution", "16",
      "--gen-resolution", "16", "--solve-batch", "1", "--quiet"]  # fmt: skip
DARCY = ["pde", "darcy", "generate", "--n", "4", "--resolution", "9", "--quiet"]


def arrays(path, *keys):
    with h5py.File(path, "r") as h5:
        return [h5[k][()] for k in keys]


@pytest.mark.parametrize("job", ["ns", "darcy"])
def test_overwrite_killed_mid_write_keeps_the_old_data_and_record_and_the_rerun_completes(tmp_path, job):
    base, keys = (NS, ("u",)) if job == "ns" else (DARCY, ("x", "y"))
    out = tmp_path / "d.h5"
    record = tmp_path / ("d.h5.json" if job == "ns" else "d.json")
    assert main([*base, "--out", str(out)]) == 0
    old = snapshot(out, record)
    new = [*base, "--seed", "5", "--overwrite", "--out", out]
    # each batch or sample ends with a flush: killed after the first, then (resumed) after two more, then
    # (resumed again) at the last, just before the rename
    for kill_at in (1, 2, 4) if job == "ns" else (1, 1, 1):
        killed = cli(*new, kill_at=kill_at)
        assert killed.returncode == 137, killed.stderr
        assert snapshot(out, record) == old, f"killed at flush {kill_at}: the old data or record changed"
    done = cli(*new)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert main([*base, "--seed", "5", "--out", str(tmp_path / "ref.h5")]) == 0  # uninterrupted
    for a, b in zip(arrays(out, *keys), arrays(tmp_path / "ref.h5", *keys)):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("d.")) == sorted([out.name, record.name])
    assert json.loads(record.read_text()) != json.loads(old[record].decode())


def test_darcy_killed_mid_write_resumes_to_the_uninterrupted_result(tmp_path):
    out = tmp_path / "d.h5"
    for kill_at in (1, 3):
        killed = cli(*DARCY, "--out", out, kill_at=kill_at)
        assert killed.returncode == 137 and not out.exists()
    assert cli(*DARCY, "--out", out).returncode == 0
    assert main([*DARCY, "--out", str(tmp_path / "ref.h5")]) == 0
    for a, b in zip(arrays(out, "x", "y", "done"), arrays(tmp_path / "ref.h5", "x", "y", "done")):
        np.testing.assert_array_equal(a, b)


def test_a_half_created_darcy_partial_file_is_started_again(tmp_path, capsys):
    out = tmp_path / "d.h5"
    (tmp_path / "d.h5.partial").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(40))  # truncated at creation
    assert main([*DARCY, "--out", str(out)]) == 0
    assert "cannot be read" in capsys.readouterr().err
    assert arrays(out, "done")[0].all()


def test_outputs_aliasing_inputs_are_refused_before_anything_is_written(tmp_path, capsys):
    f = tmp_path / "k.npy"
    np.save(f, np.ones((2, 8, 6), np.complex64))
    before = f.read_bytes()
    for argv in (["mri", "import", str(f), "--out", str(f)], ["mri", "import", str(f), "--out", str(tmp_path)],
                 ["mri", "undersample", "--in", str(tmp_path), "--out", str(tmp_path / "." )]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "would destroy the input" in err[0], err
    assert f.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["k.npy"]


HOLD = textwrap.dedent(
    """
    import sys, time
    from monarch_sci.cli import main
    import monarch_sci.cli.pde as pde
    def slow(args):
        print("started", flush=True)
        time.sleep(60)
        return 0
    pde.cmd_darcy_generate.__code__ = slow.__code__
    sys.exit(main(sys.argv[1:]))
    """
)


def test_a_second_writer_into_the_same_out_gets_one_line_naming_the_first(tmp_path, capsys):
    out = tmp_path / "d.h5"
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, *DARCY, "--out", str(out)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert first.stdout.readline().strip() == "started"
        assert main([*DARCY, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            f"monarch-sci pde darcy generate: error: --out {out}: being written by another process "
            f"(PID {first.pid}); wait for it to finish or choose another --out"
        ]
    finally:
        first.kill()
        first.wait()
    t0 = time.time()
    assert main([*DARCY, "--out", str(out)]) == 0  # the lock died with the process
    assert time.time() - t0 < 60 and not out.with_name(".d.h5.lock").exists()


SIM = ["mri", "simulate", "--volumes", "2", "--slices", "1", "--coils", "2", "--size", "16", "--oversampling", "1",
       "--fine-factor", "1", "--quiet"]  # fmt: skip


def test_an_existing_output_is_refused_without_overwrite_for_jobs_that_make_new_outputs(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main([*SIM, "--out", str(sim)]) == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    f = sorted(sim.glob("*.h5"))[0]
    assert main(["mri", "recon", "--model", "zero_filled_rss", "--in", str(f), "--out", str(tmp_path / "r.h5")]) == 0
    capsys.readouterr()
    recon = ["mri", "recon", "--model", "zero_filled_sense", "--in", str(f), "--out", str(tmp_path / "r.h5")]
    for argv in ([*SIM, "--seed", "3", "--out", str(sim)], recon):  # run again with other arguments
        assert main(argv) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert "exists; pass --overwrite to replace it" in line, line
    assert all(p.read_bytes() == b for p, b in before.items())
    assert main([*SIM, "--seed", "3", "--volumes", "1", "--overwrite", "--out", str(sim)]) == 0
    assert [p.name for p in sim.iterdir()] == ["file_sim0030000.h5"]  # the whole set replaced


def test_mri_simulate_overwrite_killed_keeps_the_whole_previous_data_set(tmp_path):
    sim = tmp_path / "sim"
    assert main([*SIM, "--out", str(sim)]) == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    # renames: volume 1, volume 2, the old folder moved away, the new one in place
    for kill_at in (1, 2, 3, 4):  # before the first volume appears, ..., between the two renames of the swap
        killed = cli(*SIM, "--seed", "3", "--overwrite", "--out", sim, kill_at=kill_at, kill_on="replace")
        assert killed.returncode == 137, killed.stderr
        clean_stale_temporaries(sim)  # what the next run does first: a swap killed between its renames undone
        visible = [p for p in tmp_path.rglob("*") if not any(q.startswith(".") for q in p.relative_to(tmp_path).parts)]
        assert {p: p.read_bytes() for p in visible if p.is_file()} == before, f"killed at rename {kill_at}"
    assert cli(*SIM, "--seed", "3", "--overwrite", "--out", sim).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim", "sim.json"]  # leftovers of the kills cleaned
    assert sorted(p.name for p in sim.iterdir()) == ["file_sim0030000.h5", "file_sim0030001.h5"]


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["mri", "simulate", "--size", "100000", "--volumes", "1"], "--size 100000"),
        (["ns", "generate", "--gen-resolution", "65536", "--resolution", "64"], "--gen-resolution 65536"),
        (["pde", "darcy", "generate", "--n", "1", "--resolution", "30000"], "--resolution 30000"),
    ],
)
def test_huge_sizes_are_refused_before_allocating_saying_how_much_they_need(tmp_path, capsys, argv, flag):
    import resource

    out = tmp_path / ("o.h5" if argv[0] != "mri" else "o")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main([*argv, "--quiet", "--out", str(out)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert flag in line and "needs about" in line and "of memory, but" in line, line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: nothing was allocated
    assert sorted(tmp_path.iterdir()) == []


PDE_TRAIN = ["pde", "train", "--t-in", "2", "--t-out", "2", "--modes", "2", "--width", "4", "--batch-size", "2",
             "--ntrain", "6", "--nval", "2", "--ntest", "2", "--epochs", "2", "--quiet"]  # fmt: skip


def test_pde_train_overwrite_killed_keeps_the_previous_run_and_the_rerun_completes(tmp_path):
    ns = tmp_path / "ns.h5"
    assert cli("ns", "generate", "--n", "10", "--T", "0.6", "--record", "6", "--dt", "0.01", "--resolution", "16",
               "--gen-resolution", "16", "--quiet", "--out", ns).returncode == 0  # fmt: skip
    train = [*PDE_TRAIN, "--data", ns]
    run, ref = tmp_path / "run", tmp_path / "ref"
    assert cli(*train, "--out", run).returncode == 0
    old = snapshot(*sorted(p for p in run.iterdir() if p.is_file()))
    assert {p.name for p in old} >= {"record.json", "last.pt", "best.pt"}
    again = [*train, "--seed", "1", "--fourier", "monarch", "--overwrite", "--out", run]
    for kill_at in (1, 3, 6):  # the new run's first checkpoint, its second epoch, its record and plots
        killed = cli(*again, kill_at=kill_at, kill_on="replace")
        assert killed.returncode == 137, killed.stderr
        assert snapshot(*old) == old and {p for p in run.iterdir() if p.is_file()} == set(old), f"kill {kill_at}"
    assert cli(*again).returncode == 0
    assert cli(*train, "--seed", "1", "--fourier", "monarch", "--out", ref).returncode == 0
    new, want = (json.loads((d / "record.json").read_text()) for d in (run, ref))
    assert new["spec"]["seed"] == 1 and new["test"]["test_rel_l2"] == want["test"]["test_rel_l2"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".run")) in ([], [".run.lock"])


MRI_TRAIN = ["mri", "train", "--model", "diag", "--acceleration", "2", "--epochs", "2", "--batch-size", "2",
             "--threads", "1", "--no-progress"]  # fmt: skip


def test_mri_train_overwrite_killed_keeps_the_previous_run_and_the_rerun_completes(tmp_path):
    sim = tmp_path / "sim"
    assert cli("mri", "simulate", "--volumes", "2", "--slices", "2", "--coils", "3", "--size", "32",
               "--fine-factor", "1", "--no-progress", "--out", sim).returncode == 0  # fmt: skip
    train = [*MRI_TRAIN, "--data", sim]
    run, ref = tmp_path / "run", tmp_path / "ref"
    assert cli(*train, "--out", run).returncode == 0
    old = snapshot(*sorted(p for p in run.rglob("*") if p.is_file()))
    assert {p.name for p in old} >= {"record.json", "last.pt", "best.pt", "curves.png"}
    (cached,) = (run / "cache").iterdir()
    built = cached.stat().st_mtime_ns
    again = [*train, "--seed", "1", "--overwrite", "--out", run]
    for kill_at in (1, 4, 8):  # the new run's first checkpoint, its second epoch, its plots
        killed = cli(*again, kill_at=kill_at, kill_on="replace")
        assert killed.returncode == 137, killed.stderr
        assert snapshot(*old) == old and {p for p in run.rglob("*") if p.is_file()} == set(old), f"kill {kill_at}"
    done = cli(*again)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert cached.stat().st_mtime_ns == built  # the slice cache was the old run's (same content key), not rebuilt
    assert cli(*train, "--seed", "1", "--out", ref).returncode == 0
    new, want = (json.loads((d / "record.json").read_text()) for d in (run, ref))
    assert new["spec"]["seed"] == 1 and new["bookkeeping"]["cache_dir"] == str(run / "cache")
    assert [e["val_loss"] for e in new["epochs"]] == [e["val_loss"] for e in want["epochs"]]
    assert (run / "last.pt").read_bytes() != old[run / "last.pt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".run")) in ([], [".run.lock"])


def test_mri_compare_overwrite_killed_keeps_every_previous_output_and_the_rerun_completes(tmp_path):
    sim, cmp, ref = tmp_path / "sim", tmp_path / "cmp", tmp_path / "ref"
    assert cli("mri", "simulate", "--volumes", "1", "--slices", "2", "--coils", "3", "--size", "32",
               "--fine-factor", "1", "--no-progress", "--out", sim).returncode == 0  # fmt: skip
    compare = ["mri", "compare", "--data", sim, "--accelerations", "2", "--threads", "1", "--no-progress"]
    assert cli(*compare, "--methods", "zero_filled_rss", "--out", cmp).returncode == 0
    old = snapshot(*sorted(cmp.iterdir()))
    assert {p.name for p in old} == {"results.json", "results.md", "figure.png"}
    again = [*compare, "--methods", "zero_filled_rss", "cg_sense", "--overwrite", "--out", cmp]
    for kill_at in (1, 2, 3, 4):  # after each of the three outputs, and between the two renames of the swap
        killed = cli(*again, kill_at=kill_at, kill_on="replace")
        assert killed.returncode == 137, killed.stderr
        if kill_at < 4:
            assert snapshot(*old) == old and set(cmp.iterdir()) == set(old), f"kill {kill_at}"
    done = cli(*again)  # puts a swap killed half-way back first, then replaces it
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert cli(*again[:-3], "--out", ref).returncode == 0
    new, want = (json.loads((d / "results.json").read_text()) for d in (cmp, ref))
    metrics = [[(r["method"], r["nmse"], r["psnr"]) for r in rec["per_volume"] if "nmse" in r] for rec in (new, want)]
    assert metrics[0] == metrics[1] and {m for m, *_ in metrics[0]} == {"zero_filled_rss", "cg_sense"}
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".cmp")) in ([], [".cmp.lock"])
