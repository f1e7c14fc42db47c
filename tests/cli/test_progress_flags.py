"""Every long job takes ``--progress {auto,bar,line,none}`` and ``--quiet``; in a log (not a terminal) a job
writes whole lines, never carriage-return frames."""

import argparse

import pytest

from monarch_sci.cli import build_parser, main

#: The jobs that run for minutes at real sizes.
LONG_JOBS = [
    ("demo",), ("ns", "generate"), ("pde", "train"), ("pde", "compare"), ("pde", "darcy", "generate"),
    ("mri", "simulate"), ("mri", "undersample"), ("mri", "recon"), ("mri", "compare"), ("mri", "train"),
]  # fmt: skip


def _subparser(path: tuple[str, ...]) -> argparse.ArgumentParser:
    p = build_parser()
    for name in path:
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        p = sub.choices[name]
    return p


@pytest.mark.parametrize("path", LONG_JOBS, ids=" ".join)
def test_every_long_job_takes_progress_and_quiet(path):
    options = {o: a for a in _subparser(path)._actions for o in a.option_strings}
    assert tuple(options["--progress"].choices) == ("auto", "bar", "line", "none")
    assert options["--quiet"] is options["--no-progress"]


def test_a_job_writing_to_a_file_has_no_carriage_returns(tmp_path, capfd):
    # stderr is a file here (pytest's capture), as in `cmd 2> log`: the auto style writes lines
    argv = ["mri", "simulate", "--volumes", "2", "--slices", "1", "--coils", "2", "--size", "32", "--out"]
    assert main([*argv, str(tmp_path / "a")]) == 0
    err = capfd.readouterr().err
    assert "\r" not in err and err.splitlines()[-1].startswith("simulate: 2/2 vol in "), err
    assert main([*argv, str(tmp_path / "b"), "--progress", "bar"]) == 0
    assert "\r" in capfd.readouterr().err  # the terminal style redraws in place
    assert main([*argv, str(tmp_path / "c"), "--quiet"]) == 0
    assert "simulate:" not in capfd.readouterr().err
