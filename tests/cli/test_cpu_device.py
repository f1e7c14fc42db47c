"""Every subcommand has ``--device``: the CPU-only ones (their work cannot run on a GPU) accept ``cpu`` / ``auto``
and refuse a GPU in one line naming the work, before any output exists (never a silent fallback)."""

from __future__ import annotations

import pytest

from monarch_sci.cli import main
from monarch_sci.cli.common import UserError, cpu_device


def test_cpu_device():
    assert cpu_device("cpu", "x") == cpu_device("auto", "x") == "cpu"
    for spec in ("cuda", "cuda:1", "mps"):
        with pytest.raises(UserError, match=f"--device {spec}: the solver runs on the CPU only; use --device cpu"):
            cpu_device(spec, "the solver")


@pytest.mark.parametrize(
    ("command", "work"),
    [
        (["mri", "simulate", "--volumes", "1", "--out", "{tmp}/s"], "the simulation"),
        (["mri", "undersample", "--in", "{tmp}/none", "--out", "{tmp}/u"], "undersampling"),
        (["mri", "import", "{tmp}/k.npy", "--out", "{tmp}/i.h5"], "the import"),
        (["ns", "info", "{tmp}/store.h5"], "reading a store's header"),
        (["pde", "darcy", "generate", "--num-samples", "2", "--resolution", "9", "--out", "{tmp}/d.h5"],
         "the Darcy solver"),
    ],
)  # fmt: skip
def test_cpu_only_commands_refuse_a_gpu(tmp_path, refuses, help_text, command, work):
    argv = [a.format(tmp=tmp_path) for a in command]
    refuses([*argv, "--device", "cuda"], f"--device cuda: {work}")
    assert list(tmp_path.iterdir()) == []
    words = [a for a in command if a.isidentifier()]
    assert "--device DEVICE cpu (auto: the same)" in help_text(*words[: 3 if words[0] == "pde" else 2])


def test_darcy_generate_runs_with_device_auto(tmp_path):
    out = tmp_path / "d.h5"
    argv = ["pde", "darcy", "generate", "--num-samples", "2", "--resolution", "9", "--out", str(out)]
    assert main([*argv, "--device", "auto", "--no-progress"]) == 0 and out.is_file()
