"""Run records: the versions behind a result, the arguments that define it, and metrics pooled over seeds.

Every job writes a JSON record beside its outputs. Two pieces are shared by all of them, one by every typed spec,
one by the jobs that compare trained models:

* :func:`package_versions` — the one place that says which versions produced a file;
* :func:`defining_differences` — which result-defining arguments of a resume or rerun differ from the record
  of the run it would continue (a resume with other data or another learning rate would silently mix two
  experiments, so the jobs refuse it and name the arguments);
* :func:`field_and_flag` — how an error of a typed spec names a field: with its command-line flag, so that one
  message serves the Python caller and the command line (``batch_size (--batch-size)``);
* :func:`job_record` — the record a job writes beside its outputs (command, arguments, versions, results);
* :func:`folder_record_path` — where the record of a job that writes a data folder goes: beside the folder
  (``OUT.json`` next to ``OUT/``), never inside it, where readers that open every file (fastMRI's
  ``SliceDataset``) would take it for data;
* :func:`pool_seeds` — one metric over several training seeds and test volumes, as a mean and its two spreads
  (the numbers a comparison of trained models reports).
"""

from __future__ import annotations

import importlib
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "defining_differences",
    "field_and_flag",
    "folder_record_path",
    "job_record",
    "package_versions",
    "pool_seeds",
]

_ALWAYS = ("numpy", "torch")


def package_versions(*extra: str) -> dict[str, str]:
    """``{"python": ..., "monarch_sci": ..., "numpy": ..., "torch": ..., **extra}``; missing extras are skipped.

    Examples
    --------
    >>> sorted(package_versions("h5py"))
    ['h5py', 'monarch_sci', 'numpy', 'python', 'torch']
    """
    from monarch_sci import __version__

    out = {"python": platform.python_version(), "monarch_sci": __version__}
    for name in (*_ALWAYS, *extra):
        try:
            out[name] = str(importlib.import_module(name).__version__)
        except ImportError:
            continue
    return out


def job_record(command: str, arguments: Mapping[str, Any], *packages: str, **extra: Any) -> dict[str, Any]:
    """The JSON record of a job: ``{"command", "args", "versions" (with ``packages``), **extra}``.

    The arguments are stored as JSON reads them back (paths as strings, tuples as lists).

    Examples
    --------
    >>> record = job_record("mri recon", {"model": "cg_sense"}, "h5py", method="cg_sense")
    >>> record["command"], record["args"], record["method"], "h5py" in record["versions"]
    ('mri recon', {'model': 'cg_sense'}, 'cg_sense', True)
    """
    return {"command": command, "args": _norm(dict(arguments)), "versions": package_versions(*packages), **extra}


def folder_record_path(folder: str | os.PathLike) -> Path:
    """The record of a job that writes the data folder ``folder``: ``FOLDER.json`` beside it, not inside.

    Examples
    --------
    >>> folder_record_path("data/knee_4x/").as_posix()
    'data/knee_4x.json'
    """
    p = Path(folder)
    if p.name in ("", ".", ".."):
        p = p.resolve()
    if not p.name:
        raise ValueError(f"folder_record_path: {folder} has no parent folder to hold its record")
    return p.with_name(p.name + ".json")


def field_and_flag(name: str) -> str:
    """A spec field as error messages name it: the field and the command-line flag that sets it.

    Examples
    --------
    >>> field_and_flag("batch_size")
    'batch_size (--batch-size)'
    """
    return f"{name} (--{name.replace('_', '-')})"


def _norm(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_norm(v) for v in value]
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _norm(v) for k, v in value.items()}
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def defining_differences(
    recorded: Mapping[str, Any], requested: Mapping[str, Any], *, ignore: Iterable[str] = ()
) -> list[str]:
    """The result-defining arguments whose values differ, as ``"name: recorded -> requested"`` lines.

    Both mappings hold the arguments that define a result (JSON-like values; paths compare as strings). Keys in
    ``ignore`` (bookkeeping such as the thread count, or ``epochs`` when extending a run is allowed) are
    skipped; a key present on one side only counts as a difference.

    Examples
    --------
    >>> defining_differences({"lr": 1e-3, "epochs": 10}, {"lr": 1e-2, "epochs": 20}, ignore=["epochs"])
    ['lr: 0.001 -> 0.01']
    """
    skip = set(ignore)
    out = []
    for key in sorted(set(recorded) | set(requested)):
        if key in skip:
            continue
        a, b = _norm(recorded.get(key, "<absent>")), _norm(requested.get(key, "<absent>"))
        if a != b:
            out.append(f"{key}: {a} -> {b}")
    return out


def pool_seeds(table) -> dict[str, float]:
    """Mean and spreads of one metric measured for every (training seed, test volume) pair.

    ``table`` is ``(seeds, volumes)``. Returns ``mean`` (over both), ``std_volumes`` (the std over volumes of
    the seed-averaged values) and ``std_seeds`` (the std over seeds of each seed's mean over volumes); a
    single seed or volume gives a spread of 0.

    Examples
    --------
    >>> pool_seeds([[30.0, 32.0], [31.0, 33.0]])
    {'mean': 31.5, 'std_volumes': 1.0, 'std_seeds': 0.5}
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or 0 in t.shape:
        raise ValueError(f"pool_seeds: expected a non-empty (seeds, volumes) table, got shape {t.shape}")
    return {"mean": float(t.mean()), "std_volumes": float(t.mean(0).std()), "std_seeds": float(t.mean(1).std())}
