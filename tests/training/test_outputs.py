"""The output rules (:mod:`monarch_sci.training.outputs`): no aliasing, no silent replacement, one writer at a
time, leftovers of killed writers cleaned, sizes bounded before allocation; and content fingerprints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from monarch_sci.training.checkpoint import atomic_output
from monarch_sci.training.fingerprint import content_digest, data_fingerprints, fingerprint_differences
from monarch_sci.training.outputs import (
    OutputError,
    check_memory,
    check_no_alias,
    check_output_free,
    clean_stale_temporaries,
    lock_path,
    output_lock,
)


def test_an_output_equal_to_or_containing_an_input_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    f = data / "x.h5"
    f.write_bytes(b"k")
    (tmp_path / "link.h5").symlink_to(f)
    os.link(f, tmp_path / "hard.h5")
    for out, how in [(f, "is"), (data, "contains"), (tmp_path, "contains"), (tmp_path / "link.h5", "is"),
                     (tmp_path / "hard.h5", "is"), (data / ".." / "data" / "x.h5", "is")]:  # fmt: skip
        with pytest.raises(OutputError, match=f"--out {out} {how} the input --in {f}"):
            check_no_alias({"--out": out}, {"--in": f})
    with pytest.raises(OutputError, match="is the input --data"):
        check_no_alias({"--out": data}, {"--data": data})
    check_no_alias({"--out": data / "y.h5"}, {"--in": f})  # a sibling is fine
    check_no_alias({"--out": data / "sub"}, {"--in": data})  # inside an input folder: a new, separate folder


def test_an_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "o.h5"
    check_output_free(out, overwrite=False)
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="the file exists; pass --overwrite"):
        check_output_free(out, overwrite=False)
    check_output_free(out, overwrite=True)


def test_leftovers_of_dead_writers_are_cleaned_and_live_ones_kept(tmp_path):
    out = tmp_path / "r.h5"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    stale = tmp_path / f".r.h5.{pid}.tmp"
    stale.write_bytes(b"half")
    stale_dir = tmp_path / f".r.h5.{pid + 1000000}.tmp"
    stale_dir.mkdir()
    (stale_dir / "a").write_bytes(b"x")
    live = tmp_path / f".r.h5.{os.getppid()}.tmp"  # the test runner's parent is alive
    live.write_bytes(b"being written")
    other = tmp_path / f".r.h5x.{pid}.tmp"  # another output's leftover
    other.write_bytes(b"")
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
    assert not stale.exists() and not stale_dir.exists() and live.exists() and other.exists()
    assert clean_stale_temporaries(tmp_path / "r.h5x") == [other]


HOLD = textwrap.dedent(
    """
    import sys, time
    from monarch_sci.training.outputs import output_lock
    with output_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_a_second_writer_is_refused_naming_the_first_pid_and_the_lock_dies_with_it(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "held"
        with (
            pytest.raises(OutputError, match=f"being written by another process \\(PID {first.pid}\\)"),
            output_lock(out),
        ):
            pass
    finally:
        first.kill()  # kill -9: no clean-up code runs
        first.wait()
    assert lock_path(out).exists()  # the file stays, its lock does not
    with output_lock(out):
        assert lock_path(out).read_text().strip() == str(os.getpid())
    assert not lock_path(out).exists() and not out.exists()


def test_the_lock_of_a_path_whose_folder_is_missing_creates_nothing(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    assert lock_path(out) == tmp_path / ".a.lock"
    with output_lock(out):
        assert not (tmp_path / "a").exists()
    assert sorted(tmp_path.iterdir()) == []


def test_sizes_beyond_the_free_memory_are_refused_in_one_line():
    with pytest.raises(OutputError, match=r"--size 9: needs about 1.0 TiB of memory, but 1.0 GiB are available"):
        check_memory(2**40, "--size 9", available=2**30)
    check_memory(2**20, "--size 9", available=2**30)


def test_fingerprints_follow_the_whole_content(tmp_path):
    f = tmp_path / "d.h5"
    f.write_bytes(bytes(3 << 20))
    before = data_fingerprints({"data": f})
    st = f.stat()
    with open(f, "r+b") as h:  # one byte in the middle, same size, same modification time
        h.seek(3 << 19)
        h.write(b"\x01")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = data_fingerprints({"data": f})
    assert before["data"]["size"] == after["data"]["size"]
    [diff] = fingerprint_differences(before, after)
    assert diff.startswith("data: content changed since the record was written")
    assert fingerprint_differences(after, data_fingerprints({"data": f})) == []
    assert fingerprint_differences(None, after) == []  # records written before fingerprints existed
    assert content_digest(f) == after["data"]["sha256"]


def test_atomic_folder_keeps_the_old_folder_until_the_new_one_is_whole(tmp_path):
    from monarch_sci.training.checkpoint import atomic_folder

    out = tmp_path / "data"
    with atomic_folder(out) as new:
        (new / "a.h5").write_bytes(b"1")
    with pytest.raises(KeyboardInterrupt), atomic_folder(out, replace=True) as new:
        (new / "b.h5").write_bytes(b"2")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"] and [p.name for p in out.iterdir()] == ["a.h5"]
    with atomic_folder(out) as new:  # merge: other files stay
        (new / "b.h5").write_bytes(b"2")
    assert sorted(p.name for p in out.iterdir()) == ["a.h5", "b.h5"]
    with atomic_folder(out, replace=True) as new:  # replace: the whole set
        (new / "c.h5").write_bytes(b"3")
    assert [p.name for p in out.iterdir()] == ["c.h5"] and sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_folder_swap_killed_between_its_renames_is_undone_by_the_next_run(tmp_path):
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    out = tmp_path / "data"
    old = tmp_path / f".data.{dead}.old"  # the old folder moved away, the new one not yet in place
    old.mkdir()
    (old / "a.h5").write_bytes(b"1")
    (tmp_path / f".data.{dead}.tmp").mkdir()
    clean_stale_temporaries(out)
    assert [p.name for p in tmp_path.iterdir()] == ["data"] and (out / "a.h5").read_bytes() == b"1"
