"""What the command-line tests share: the console command in a fresh process, the check that a command refuses
bad input with one error line, the shared flags' bad values, and the thread count restored after each test."""

import os
import subprocess

import numpy as np
import pytest
import scipy.io
import torch
from forked_cli import ForkedCLI

from monarch_sci.cli import main


@pytest.fixture(autouse=True)
def _restore_threads():
    # `--threads N` sets torch's thread count for the whole process; keep the tests independent of their order
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def _forked_cli():
    server = ForkedCLI(env={**os.environ, "OMP_NUM_THREADS": "1"})
    yield server
    server.close()


@pytest.fixture
def run_cli(_forked_cli):
    """``run_cli(*args, timeout=300)``: ``monarch-sci ARGS`` in a fresh process on one thread (forked from one that
    imported the CLI once: tests/cli/forked_cli.py)."""

    def run(*args, timeout: float = 300) -> subprocess.CompletedProcess:
        return _forked_cli(*args, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=timeout)

    return run


@pytest.fixture
def refuses(capsys):
    """``refuses(argv, message)``: ``main(argv)`` is a user error (exit 2) reported in one line holding
    ``message``."""

    def check(argv: list[str], message: str) -> None:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err

    return check


@pytest.fixture
def help_text(capsys):
    """``help_text(*command)``: the ``--help`` page of a command, whitespace collapsed (argparse wraps lines)."""

    def text(*command: str) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        return " ".join(capsys.readouterr().out.split())

    return text


@pytest.fixture(
    params=[
        (["--threads", "0"], "--threads: expected a positive count"),
        (["--device", "tpu"], "--device: expected auto, cpu, cuda or cuda:K"),
    ],
    ids=["threads", "device"],
)
def bad_shared_flag(request):
    """``(flags, message)``: a bad value of a flag every command shares (``cli.common``), refused by every
    command before it writes anything."""
    return request.param


@pytest.fixture
def mat_file(tmp_path):
    """A tiny Navier–Stokes file in the original FNO ``.mat`` layout: ``u`` ``(N, s, s, T)`` after the initial
    field, ``a`` ``(N, s, s)`` the initial field."""
    rng = np.random.default_rng(0)
    path = tmp_path / "ns_tiny.mat"
    u = rng.standard_normal((12, 16, 16, 8)).astype(np.float32)
    scipy.io.savemat(path, {"u": u, "a": rng.standard_normal((12, 16, 16)).astype(np.float32)})
    return path
