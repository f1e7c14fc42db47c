"""The shared command-line pieces: one flag vocabulary with deprecated spellings, devices, the user-error path."""

import argparse
import subprocess
import sys

import pytest
import torch

from monarch_sci.cli.common import UserError, add_flags, report_error, resolve_device, set_threads


def _parser(**defaults):
    p = argparse.ArgumentParser(prog="monarch-sci test")
    add_flags(p, "batch_size", "fourier", "acceleration", "mask_policy", "no_progress", "seed", **defaults)
    return p


def test_new_spellings_parse_without_warning(capsys):
    args = _parser(batch_size=4).parse_args(["--batch-size", "8", "--fourier", "monarch", "--acceleration", "2"])
    assert (args.batch_size, args.fourier, args.acceleration, args.no_progress) == (8, "monarch", 2, False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("old", "new", "dest", "value"),
    [
        (["--batch", "8"], "--batch-size", "batch_size", 8),
        (["--transform", "monarch"], "--fourier", "fourier", "monarch"),
        (["--accel", "8"], "--acceleration", "acceleration", 8),
        (["--policy", "fixed"], "--mask-policy", "mask_policy", "fixed"),
    ],
)
def test_old_spellings_still_work_and_warn(old, new, dest, value, capsys):
    args = _parser(batch_size=4).parse_args(old)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert f"{old[0]} is deprecated; use {new}" in err


@pytest.mark.parametrize(
    ("argv", "style", "off"),
    [([], "auto", False), (["--progress", "line"], "line", False), (["--progress", "bar"], "bar", False),
     (["--progress", "none"], "none", True), (["--quiet"], "none", True), (["--no-progress"], "none", True)],
)  # fmt: skip
def test_progress_style_quiet_and_no_progress(argv, style, off, capsys):
    args = _parser(batch_size=4).parse_args(argv)
    assert (args.progress_style, args.no_progress) == (style, off)
    assert capsys.readouterr().err == ""  # --quiet and --no-progress are both current spellings
    with pytest.raises(SystemExit):
        _parser(batch_size=4).parse_args(["--progress", "dots"])


def test_required_override_and_unknown_override():
    with pytest.raises(SystemExit):
        _parser(batch_size=None).parse_args([])
    with pytest.raises(TypeError, match="unknown overrides"):
        add_flags(argparse.ArgumentParser(), "seed", colour="red")


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UserError, match=r"--device: expected auto, cpu, cuda or cuda:K, got 'gpu'"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match=r"--device cuda: .* use --device cpu"):
            resolve_device("cuda")
    with pytest.raises(UserError, match="--threads: expected a positive count, got 0"):
        set_threads(0)


def test_user_errors_are_one_line_and_bugs_are_not_hidden(capsys, tmp_path):
    assert report_error(UserError("--x: expected 1, got 2"), "monarch-sci g c") == 2
    assert capsys.readouterr().err == "monarch-sci g c: error: --x: expected 1, got 2\n"
    assert report_error(FileNotFoundError(2, "No such file or directory", str(tmp_path / "a.h5")), "p") == 2
    assert "a.h5: No such file or directory" in capsys.readouterr().err
    assert report_error(BlockingIOError(11, "Resource temporarily unavailable", "s.h5"), "p") == 2
    assert "s.h5 is in use by another process" in capsys.readouterr().err
    assert report_error(ZeroDivisionError("bug"), "p") is None  # a bug keeps its traceback


def test_a_user_error_through_the_real_command_has_no_traceback():
    cmd = [sys.executable, "-m", "monarch_sci.cli", "pde", "train", "--data", "/nonexistent.h5", "--out", "/tmp/x"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "/nonexistent.h5" in proc.stderr
    debug = subprocess.run([*cmd[:3], "--debug", *cmd[3:]], capture_output=True, text=True, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
