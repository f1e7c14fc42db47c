"""``monarch-sci ARGV`` in a fresh process forked from a server that has already imported the CLI (torch
included), so that a test running many short commands (a kill test starts one per kill point) does not pay the
2-3 s import in each. Every command still runs in its own process, with its own PID, environment, working
directory and exit status, started from a state in which no command has run; what the imports printed comes first
in its output, as in a fresh interpreter; ``os._exit`` in it dies as with ``kill -9``."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

SERVER = r"""
import os, sys
startup = {}  # what the imports print (a warning, say): every command's process prints it first, as a fresh one
saved = {fd: os.dup(fd) for fd in (1, 2)}
for fd in (1, 2):
    os.dup2(os.open(f"{sys.argv[2]}.{fd}", os.O_RDWR | os.O_CREAT | os.O_TRUNC), fd)
import atexit, json, traceback
from monarch_sci.cli import main
sys.stdout.flush()
sys.stderr.flush()
for fd in (1, 2):
    os.dup2(saved[fd], fd)
    with open(f"{sys.argv[2]}.{fd}", "rb") as f:
        startup[fd] = f.read()

prelude = sys.argv[1]
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (1, 2):
            os.write(fd, startup[fd])
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        status = 1
        try:
            exec(compile(prelude, "<prelude>", "exec"), {"__name__": "__prelude__"})
            status = main(job["argv"])
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) or stop.code is None else 1
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            status = 1
        finally:
            atexit._run_exitfuncs()  # what a normal interpreter exit runs
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status or 0)
    _, wait_status = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(wait_status)), flush=True)
"""


class ForkedCLI:
    """``ForkedCLI(prelude, env)(*argv, env=..., timeout=...)``: a ``subprocess.CompletedProcess`` for
    ``monarch-sci ARGV``. ``prelude`` is Python run in each command's process before the command (a test's
    kill hooks); ``env`` is the server's environment (read by torch at import), the per-command ``env`` the
    command's. The server starts on the first call; ``close()`` ends it."""

    def __init__(self, prelude: str = "", env: dict[str, str] | None = None) -> None:
        self.prelude, self.env = prelude, dict(os.environ if env is None else env)
        self.server: subprocess.Popen | None = None
        self.folder = Path(tempfile.mkdtemp(prefix="forked_cli_"))
        self.count = 0

    def __call__(self, *argv, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        if self.server is None or self.server.poll() is not None:
            cmd = [sys.executable, "-c", SERVER, self.prelude, str(self.folder / "startup")]
            self.server = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=self.env,
                                           start_new_session=True)  # fmt: skip
        self.count += 1
        out, err = self.folder / f"{self.count}.out", self.folder / f"{self.count}.err"
        argv = [str(a) for a in argv]
        job = {"argv": argv, "env": dict(self.env if env is None else env), "stdout": str(out), "stderr": str(err)}
        job["cwd"] = os.getcwd()
        self.server.stdin.write(json.dumps(job) + "\n")
        self.server.stdin.flush()
        ready, _, _ = select.select([self.server.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise subprocess.TimeoutExpired(["monarch-sci", *argv], timeout)
        line = self.server.stdout.readline()
        if not line:
            raise RuntimeError(f"the forked-CLI server died (exit status {self.server.wait()})")
        return subprocess.CompletedProcess(["monarch-sci", *argv], json.loads(line), out.read_text(), err.read_text())

    def close(self) -> None:
        if self.server is not None:
            os.killpg(self.server.pid, signal.SIGKILL)  # the server and its running command, if any
            self.server.wait()
            self.server.stdin.close()
            self.server.stdout.close()
            self.server = None
        shutil.rmtree(self.folder, ignore_errors=True)
