"""``atomic_output``: the one way a job writes a file (temporary name, then rename), resumable or not."""

from __future__ import annotations

import pytest

from monarch_sci.training.checkpoint import atomic_output, partial_path


class Killed(Exception):
    pass


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    out = tmp_path / "sub" / "r.txt"
    with atomic_output(out) as tmp:
        assert tmp.parent == out.parent and tmp != out
        tmp.write_text("first")
    with pytest.raises(Killed), atomic_output(out) as tmp:
        tmp.write_text("second, half")
        assert out.read_text() == "first"  # nothing under the final name until the block ends
        raise Killed
    assert out.read_text() == "first"
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.txt"]


def test_a_resumable_write_keeps_its_partial_file_for_the_next_run(tmp_path):
    out = tmp_path / "d.h5"
    with pytest.raises(Killed), atomic_output(out, resumable=True) as tmp:
        assert tmp == partial_path(out) == tmp_path / "d.h5.partial"
        tmp.write_text("1 of 2")
        raise Killed
    assert not out.exists() and partial_path(out).read_text() == "1 of 2"
    with atomic_output(out, resumable=True) as tmp:  # the rerun finds it and continues
        tmp.write_text(tmp.read_text().replace("1 of 2", "2 of 2"))
    assert out.read_text() == "2 of 2" and not partial_path(out).exists()
