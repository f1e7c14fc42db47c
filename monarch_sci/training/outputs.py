"""The rules every output of a job obeys, beside the atomic write (:func:`.checkpoint.atomic_output`).

* An output never aliases an input (:func:`check_no_alias`): the same file or folder after resolving links,
  the same inode (a hard link), or an output folder that contains an input.
* An existing output is replaced only when asked (:func:`check_output_free`), and then only once the new one is
  complete (the writers write beside it and rename at the end).
* A path being written is locked against a second writer (:func:`output_lock`): an OS file lock (``flock``)
  on ``.NAME.lock`` beside the output, which dies with the process that holds it; the second writer gets one
  line naming the first's PID.
* Leftovers of a killed writer, ``.NAME.PID.tmp`` beside the output, are recognised by their dead PID and
  removed on the next run (:func:`clean_stale_temporaries`; :func:`.checkpoint.atomic_output` calls it).
* A size that sets an allocation is checked before anything is allocated (:func:`check_memory`) against the
  memory the machine has free (``MemAvailable`` of ``/proc/meminfo``, where it can be read).

Every refusal is an :class:`OutputError` (a ``ValueError``): one line through the command line's user-error path.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = [
    "OutputError",
    "available_memory",
    "check_memory",
    "check_no_alias",
    "check_output_free",
    "clean_stale_temporaries",
    "format_bytes",
    "lock_path",
    "output_lock",
]


class OutputError(ValueError):
    """An output that aliases an input, exists without ``overwrite``, is locked, or would not fit in memory."""


PathLike = str | os.PathLike


def _contains(folder: Path, path: Path) -> bool:
    return folder == path or folder in path.parents


def check_no_alias(outputs: Mapping[str, PathLike], inputs: Mapping[str, PathLike]) -> None:
    """Refuse an output that is an input, or a folder that contains one (keys name the flags in the message).

    Paths are compared resolved (symbolic links, ``..``) and, when both exist, by inode (hard links).

    Examples
    --------
    >>> def refusal(outputs, inputs):
    ...     try:
    ...         check_no_alias(outputs, inputs)
    ...     except OutputError as err:
    ...         return str(err).split(";")[0]
    >>> refusal({"--out": "data/x.h5"}, {"--in": "data/./x.h5"})
    '--out data/x.h5 is the input --in data/./x.h5'
    >>> refusal({"--out": "data"}, {"--in": "data/x.h5"})
    '--out data contains the input --in data/x.h5'
    >>> refusal({"--out": "data/y.h5"}, {"--in": "data/x.h5"}) is None
    True
    """
    for oflag, out in outputs.items():
        o = Path(out).resolve()
        for iflag, inp in inputs.items():
            i = Path(inp).resolve()
            same = o == i or (o.exists() and i.exists() and os.path.samefile(o, i))
            if same or _contains(o, i):
                how = "is" if same else "contains"
                raise OutputError(
                    f"{oflag} {out} {how} the input {iflag} {inp}; writing it would destroy the input: "
                    f"choose another {oflag}"
                )


def check_output_free(path: PathLike, *, overwrite: bool, flag: str = "--out") -> None:
    """Refuse an existing ``path`` (a file, or a folder that is not empty) unless ``overwrite``, with which the
    writers replace it only once the new output is complete."""
    path = Path(path)
    if path.is_dir() and not any(path.iterdir()):
        return  # an empty folder made beforehand holds nothing to lose
    if path.exists() and not overwrite:
        kind = "folder" if path.is_dir() else "file"
        raise OutputError(
            f"{flag} {path}: the {kind} exists; pass --overwrite to replace it (kept until the new one is complete) "
            f"or choose another {flag}"
        )


_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<kind>tmp|old)$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale_temporaries(path: PathLike) -> list[Path]:
    """Remove the temporaries ``.NAME.PID.tmp`` (files or folders) beside ``path`` whose process is dead.

    They are what a writer killed between its write and its rename leaves behind (:func:`.atomic_output`,
    :func:`.atomic_folder`). A temporary of a live process (another writer) is left alone. A folder
    ``.NAME.PID.old`` is the previous output of a folder swap that was killed between its two renames: it is
    moved back to ``NAME`` when that is missing (else removed). Returns the removed paths.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / ".r.h5.999999999.tmp").write_text("half")  # no such process
    >>> _ = (d / f".r.h5.{os.getpid()}.tmp").write_text("being written")
    >>> [p.name for p in clean_stale_temporaries(d / "r.h5")]
    ['.r.h5.999999999.tmp']
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        return []
    removed = []
    for p in sorted(folder.glob(f".{glob_escape(path.name)}.*.*")):
        m = _TMP.match(p.name)
        if m is None or m["name"] != path.name or _alive(int(m["pid"])):
            continue
        if m["kind"] == "old" and not path.exists():
            os.replace(p, path)  # the swap died after moving the old output away: put it back
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with the glob metacharacters ``*?[`` escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def lock_path(path: PathLike) -> Path:
    """The lock file of ``path``: ``.NAME.lock`` beside it, in the nearest folder that exists.

    When ``path``'s folder does not exist yet, the lock is taken on the first missing folder instead (the one the
    job will create), so that nothing is created before the job has validated its inputs.

    Examples
    --------
    >>> lock_path("/tmp/run").name
    '.run.lock'
    """
    path = Path(path).absolute()
    while not path.parent.is_dir() and path.parent != path:
        path = path.parent
    rank = os.environ.get("RANK", "0") if int(os.environ.get("WORLD_SIZE", "1")) > 1 else "0"
    suffix = "" if rank == "0" else f".rank{rank}"  # under torchrun each rank locks its own file
    return path.with_name(f".{path.name}{suffix}.lock")


@contextlib.contextmanager
def output_lock(path: PathLike, *, flag: str = "--out") -> Iterator[Path]:
    """Hold an exclusive ``flock`` on :func:`lock_path` of ``path`` while the block runs.

    The lock dies with the process (``kill -9`` included), so it never needs cleaning up by hand; the lock file
    holds the owner's PID, which the refusal of a second writer names.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> with output_lock(out):
    ...     try:
    ...         with output_lock(out):  # a second writer (a second process in practice)
    ...             pass
    ...     except OutputError as err:
    ...         print(str(err).split(": ")[1].split(";")[0] == f"being written by another process (PID {os.getpid()})")
    True
    """
    lock = lock_path(path)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise OutputError(
                f"{flag} {path}: being written by another process (PID {owner}); wait for it to finish or choose "
                f"another {flag}"
            ) from None
        # the file may have been unlinked by its last owner between our open and our lock: lock the new one
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        if current is not None and current.st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # while still held: a waiter that opened it re-checks the inode above
        os.close(fd)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable``), or ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units.

    Examples
    --------
    >>> format_bytes(3 * 2**30), format_bytes(1536)
    ('3.0 GiB', '1.5 KiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def check_memory(nbytes: float, what: str, *, available: int | None = None) -> None:
    """Refuse, before allocating, work that needs ``nbytes`` when the machine has less available.

    ``what`` names the size and its flag (``"--size 100000 (k-space of 8 coils)"``); ``available`` defaults
    to :func:`available_memory`. Where the free memory cannot be read, nothing is refused.

    Examples
    --------
    >>> try:
    ...     check_memory(2**40, "--size 100000", available=2**34)
    ... except OutputError as err:
    ...     print(str(err).split(";")[0])
    --size 100000: needs about 1.0 TiB of memory, but 16.0 GiB are available
    """
    free = available_memory() if available is None else available
    if free is not None and nbytes > free:
        raise OutputError(
            f"{what}: needs about {format_bytes(nbytes)} of memory, but {format_bytes(free)} are available; "
            "choose a smaller size"
        )
