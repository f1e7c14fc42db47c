"""Data known by its content: a full-content SHA-256 of every file a job reads, computed once per file.

A record of a job that reads data holds :func:`data_fingerprints` of its inputs; a resume or a reuse of a
finished result compares them with the files as they are now (:func:`fingerprint_differences`) and refuses when
one changed, even in place with the same size and modification time. Cache keys use the same digest.

The digest of a file is computed once per process for each ``(device, inode, size, mtime_ns, ctime_ns)`` (the
memo of :func:`content_digest`; the change time is set by the kernel on every write and cannot be set back, so
an edit that restores the modification time still gets a new digest): reading a data set twice in one job
hashes it once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["content_digest", "data_fingerprints", "fingerprint_differences"]

_MEMO: dict[tuple[int, int, int, int, int], str] = {}


def content_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the whole content of the file ``path``.

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "a.h5"
    >>> _ = f.write_bytes(b"abc")
    >>> content_digest(f)[:8]
    'ba7816bf'
    """
    path = Path(path)
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if key not in _MEMO:
            _MEMO[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return _MEMO[key]


def _one(path: Path) -> dict[str, Any]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        return {"path": str(path.resolve()), "files": {p.name: content_digest(p) for p in files}}
    return {"path": str(path.resolve()), "size": path.stat().st_size, "sha256": content_digest(path)}


def data_fingerprints(inputs: Mapping[str, str | os.PathLike | None]) -> dict[str, Any]:
    """``{name: {"path", "size", "sha256"}}`` of every existing input file (a folder: ``{"path", "files"}`` with
    the digest of each of its visible files); ``None`` and missing paths are left out.

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "ns.h5"
    >>> _ = f.write_bytes(b"abc")
    >>> fp = data_fingerprints({"data": f, "val": None})
    >>> sorted(fp), fp["data"]["size"]
    (['data'], 3)
    """
    return {name: _one(Path(p)) for name, p in inputs.items() if p is not None and Path(p).exists()}


def _short(digest: Any) -> str:
    return str(digest)[:12]


def _folder_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """The files of a folder that changed, appeared or went, by name (the first three, then a count)."""
    names = [f"{n} ({'changed' if n in a and n in b else 'new' if n in b else 'gone'})"
             for n in sorted(set(a) | set(b)) if a.get(n) != b.get(n)]  # fmt: skip
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def fingerprint_differences(recorded: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """``"name: content changed (FILE, sha256 a… -> b…)"`` for every input whose content differs from the record.

    A record without fingerprints (written before they existed) is not compared; an input the record names but
    that is now missing, or the other way round, counts as changed.

    Examples
    --------
    >>> fingerprint_differences({"data": {"sha256": "aa11"}}, {"data": {"path": "/d/ns.h5", "sha256": "bb22"}})
    ['data: content changed since the record was written (ns.h5, sha256 aa11 -> bb22)']
    >>> fingerprint_differences({"data": {"files": {"a.h5": "aa", "b.h5": "bb"}}}, {"data": {"files": {"a.h5": "cc"}}})
    ['data: content changed since the record was written: a.h5 (changed), b.h5 (gone)']
    """
    if not recorded:
        return []
    out = []
    for name in sorted(set(recorded) | set(current)):
        a, b = recorded.get(name), current.get(name)
        if a is None or b is None:
            out.append(f"{name}: {'absent' if a is None else 'recorded'} -> {'absent' if b is None else 'present'}")
            continue
        da, db = a.get("sha256", a.get("files")), b.get("sha256", b.get("files"))
        if isinstance(da, Mapping) and isinstance(db, Mapping):
            if da != db:
                out.append(f"{name}: content changed since the record was written: {_folder_changes(da, db)}")
        elif da != db:
            file = f"{Path(b['path']).name}, " if "path" in b else ""
            change = f"({file}sha256 {_short(da)} -> {_short(db)})"
            out.append(f"{name}: content changed since the record was written {change}")
    return out
