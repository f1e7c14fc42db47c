"""The scripts' command line (``monarch_sci.cli.scripts``): parser from the docstring, shared flags, error path."""

from __future__ import annotations

from pathlib import Path

import pytest

from monarch_sci.cli.scripts import ArgumentTypeError, run_script, script_parser

DOC = """Time the multiply.

Longer text that is not the description.
"""


def test_parser_takes_the_docstring_summary_and_the_shared_flags():
    p = script_parser(DOC, "threads", "device", "out", threads=1, device="cpu", out="r.json", out_type=Path)
    assert p.description == "Time the multiply."
    args = p.parse_args([])
    assert (args.threads, args.device, args.out) == (1, "cpu", Path("r.json"))
    args = p.parse_args(["--threads", "3", "--device", "auto", "--out", "x/y.json"])
    assert (args.threads, args.device, args.out) == (3, "auto", Path("x/y.json"))
    assert "torch CPU threads (default: 1)" in p.format_help()
    assert script_parser(DOC, summary="line").description == "Time the multiply."
    assert script_parser("One line\nsecond line", summary="line").description == "One line"


def test_parser_out_is_required_without_a_default(capsys):
    p = script_parser(DOC, "out")
    with pytest.raises(SystemExit):
        p.parse_args([])
    assert "--out" in capsys.readouterr().err


def test_parser_refuses_unknown_names():
    with pytest.raises(TypeError, match="unknown overrides"):
        script_parser(DOC, "threads", thread=1)
    with pytest.raises(ValueError, match="summary must be 'paragraph' or 'line', got 'word'"):
        script_parser(DOC, summary="word")


def test_run_script_reports_a_user_error_in_one_line(capsys, monkeypatch):
    monkeypatch.delenv("MONARCH_SCI_DEBUG", raising=False)

    def main():
        raise ValueError("--sizes: expected positive sizes, got [-1]")

    assert run_script(main, prog="bench.py") == 2
    assert capsys.readouterr().err == "bench.py: error: --sizes: expected positive sizes, got [-1]\n"
    monkeypatch.setenv("MONARCH_SCI_DEBUG", "1")
    with pytest.raises(ValueError, match="expected positive sizes"):
        run_script(main, prog="bench.py")


def test_run_script_keeps_the_traceback_of_a_bug_and_returns_the_status():
    def bug():
        raise ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError):
        run_script(bug)
    assert run_script(lambda: 5) == 5
    assert run_script(lambda: {"result": 1}) == 0  # a script that returns its record exits 0
    assert run_script(lambda: None) == 0


def test_argument_type_error_is_argparses():
    p = script_parser(DOC)

    def positive(text):
        if int(text) <= 0:
            raise ArgumentTypeError(f"expected a positive count, got {text!r}")
        return int(text)

    p.add_argument("--n", type=positive)
    with pytest.raises(SystemExit):
        p.parse_args(["--n", "0"])
