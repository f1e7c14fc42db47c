"""Where derived data (slices, coil maps, targets) is cached, and the content key that names a cache file.

A cache file is found by a key made of what it was computed from: for every input file its name, size and the
SHA-256 of its whole content (:func:`~monarch_sci.training.fingerprint.content_digest`, computed once per file
and process), plus the computation's own settings. A file replaced or edited anywhere, even in place with the
same size and modification time, gets a new key, so a changed file never meets a stale cache; callers still
validate the data (NaN/Inf, shapes) on every run, cached or not.

Caches live outside the data folder, so read-only data works and a dataset is never written to:
``$MONARCH_SCI_CACHE`` when set, else the ``cache/`` folder of the run that needs it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CACHE_ENV", "cache_file", "cache_key", "default_cache_dir", "file_fingerprint"]

#: Environment variable naming a shared cache folder (overrides the per-run ``cache/`` folder).
CACHE_ENV = "MONARCH_SCI_CACHE"


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """``{"name", "size", "sha256"}`` of a file; ``sha256`` covers its whole content.

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "a.h5"
    >>> _ = f.write_bytes(b"abc")
    >>> fp = file_fingerprint(f)
    >>> fp["name"], fp["size"], fp["sha256"][:8]
    ('a.h5', 3, 'ba7816bf')
    """
    from monarch_sci.training.fingerprint import content_digest

    path = Path(path)
    return {"name": path.name, "size": path.stat().st_size, "sha256": content_digest(path)}


def default_cache_dir(run_folder: str | os.PathLike | None = None) -> Path:
    """``$MONARCH_SCI_CACHE`` if set, else ``<run_folder>/cache``.

    Examples
    --------
    >>> os.environ.pop(CACHE_ENV, None) and None
    >>> default_cache_dir("runs/x").as_posix()
    'runs/x/cache'
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    if run_folder is None:
        raise ValueError(f"default_cache_dir: no run folder given and ${CACHE_ENV} is not set")
    return Path(run_folder) / "cache"


def cache_key(files: Iterable[str | os.PathLike], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The key of data computed from ``files`` with ``settings``: every file's :func:`file_fingerprint` and the
    settings, as JSON values (the key a cache file is named by and stores, to be compared on load).

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "v.h5"
    >>> _ = f.write_bytes(b"one")
    >>> key = cache_key([f], {"calib": 8, "espirit": (6, 0.95)})
    >>> key["files"][0]["name"], key["settings"]
    ('v.h5', {'calib': 8, 'espirit': [6, 0.95]})
    """
    key = {"files": [file_fingerprint(f) for f in files], "settings": dict(settings)}
    return json.loads(json.dumps(key, default=str))


def cache_file(
    kind: str, files: Iterable[str | os.PathLike], settings: Mapping[str, Any], *, cache_dir: str | os.PathLike
) -> Path:
    """``<cache_dir>/<kind>-<hash>.pt``, the hash of :func:`cache_key` (every file's fingerprint, ``settings``).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> f = d / "v.h5"
    >>> _ = f.write_bytes(b"one")
    >>> a = cache_file("slices", [f], {"calib": 8}, cache_dir=d / "c")
    >>> _ = f.write_bytes(b"two")  # replaced in place: a new key
    >>> a != cache_file("slices", [f], {"calib": 8}, cache_dir=d / "c")
    True
    """
    digest = hashlib.sha256(json.dumps(cache_key(files, settings), sort_keys=True).encode()).hexdigest()[:20]
    return Path(cache_dir) / f"{kind}-{digest}.pt"
