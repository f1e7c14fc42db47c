"""The Navier–Stokes HDF5 store: layout, crash-safe creation, completion flags, shard merging.

Layout of a store (one file; ``N`` samples, ``R = record`` snapshots after the initial one, ``s × s`` grid):

===========  ======================  =========  ==================================================================
dataset      shape                   dtype      meaning
===========  ======================  =========  ==================================================================
``u``        ``(N, R+1, s, s)``      float32    vorticity ``u[i, j, a, b] = w_i(t_j, x=(a/s, b/s))``; ``j = 0`` is
                                                the initial field; one HDF5 chunk per sample
``t``        ``(R+1,)``              float64    snapshot times, ``t[j] = j·T/R``
``f``        ``(s, s)``              float32    forcing on the stored grid
``done``     ``(N,)``                bool       sample ``i`` is complete (written after its data was flushed)
===========  ======================  =========  ==================================================================

Attributes: ``format`` (:data:`STORE_FORMAT`) and every generation parameter (``visc``, ``T``, ``record``,
``dt``, ``integrator``, ``solver_dtype``, ``resolution``, ``gen_resolution``, ``downsample``, ``alpha``,
``tau``, ``sigma``, ``forcing``, ``forcing_amplitude``, ``cfl_max``, ``seed``, ``batch``, ``n``,
``device_type``), the versions of python/monarch-sci/torch/numpy/h5py/HDF5, and for shard files
``sample_start``/``sample_stop`` (the global indices the shard holds).

Crash safety (``kill -9`` at any moment): a store is created under a temporary name with every chunk allocated
and then renamed into place, so an existing file always has complete metadata; afterwards generation only
overwrites pre-allocated raw data (no metadata changes), writing a batch's ``u`` and flushing *before* setting
its ``done`` flags and flushing again. A sample whose flag is unset is never read as data: the loader refuses
incomplete stores, and generation recomputes every batch that is not entirely done.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "STORE_FORMAT",
    "StoreError",
    "allocated_dataset",
    "check_store_attrs",
    "create_store",
    "merge_shards",
    "package_versions",
    "store_progress",
]

STORE_FORMAT = "monarch-sci/navier-stokes/1"
# Attributes that describe the software, not the data; compared on resume too (bits may differ across them).
VERSION_KEYS = (
    "version_python",
    "version_monarch_sci",
    "version_torch",
    "version_numpy",
    "version_h5py",
    "version_hdf5",
)


# Stored for the record but free to change on resume: they never change the data.
NOT_IDENTITY = ("cfl_max",)


class StoreError(RuntimeError):
    """A Navier–Stokes store is missing, corrupt, incomplete or was written with other parameters."""


def package_versions() -> dict[str, str]:
    """Versions recorded in every store (python, monarch-sci, torch, numpy, h5py, HDF5)."""
    import h5py

    from monarch_sci.training.records import package_versions as versions

    return {f"version_{k}": v for k, v in versions("h5py").items()} | {"version_hdf5": h5py.version.hdf5_version}


def allocated_dataset(group, name: str, shape: tuple[int, ...], dtype, chunks: tuple[int, ...] | None):
    """Dataset with all storage allocated at creation (so later writes never touch metadata), no fill."""
    import h5py

    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    if chunks is not None:
        dcpl.set_chunk(chunks)
    return group.create_dataset(name, shape=shape, dtype=dtype, dcpl=dcpl)


def create_store(
    path: str | os.PathLike,
    *,
    n: int,
    t: np.ndarray,
    f: np.ndarray,
    attrs: Mapping[str, Any],
) -> None:
    """Create an empty store (all ``done`` flags false) at ``path``, atomically (temporary file + rename).

    Shape
    -----
    ``t``: ``(R+1,)``, ``f``: ``(s, s)``; ``u`` is allocated as ``(n, R+1, s, s)`` float32.
    """
    import h5py

    from monarch_sci.training.checkpoint import atomic_output

    path = Path(path)
    t = np.asarray(t, dtype=np.float64)
    f = np.asarray(f, dtype=np.float32)
    if t.ndim != 1 or f.ndim != 2 or f.shape[0] != f.shape[1]:
        raise ValueError(f"create_store: expected t (R+1,) and f (s, s), got t {t.shape} and f {f.shape}")
    if n < 1:
        raise ValueError(f"create_store: expected n >= 1 samples, got n={n}")
    s = f.shape[0]
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        allocated_dataset(h5, "u", (n, t.size, s, s), np.float32, chunks=(1, t.size, s, s))
        allocated_dataset(h5, "done", (n,), np.bool_, chunks=None)[...] = False
        h5.create_dataset("t", data=t)
        h5.create_dataset("f", data=f)
        h5.attrs["format"] = STORE_FORMAT
        for key, value in attrs.items():
            h5.attrs[key] = value


def _as_python(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_store_attrs(path: str | os.PathLike, h5, expected: Mapping[str, Any]) -> None:
    """Raise :class:`StoreError` listing every attribute of ``h5`` that differs from ``expected``.

    Keys in :data:`NOT_IDENTITY` (settings that cannot change the data, such as ``cfl_max``) are not compared.
    """
    if _as_python(h5.attrs.get("format")) != STORE_FORMAT:
        raise StoreError(
            f"{path}: not a monarch-sci Navier–Stokes store (attribute format={h5.attrs.get('format')!r}, "
            f"expected {STORE_FORMAT!r})"
        )
    diffs = []
    for key, value in expected.items():
        if key in NOT_IDENTITY:
            continue
        have = _as_python(h5.attrs.get(key, "<missing>"))
        if have != value:  # exact: HDF5 keeps float64 attributes bit for bit
            diffs.append(f"{key}: file has {have!r}, this run has {value!r}")
    if diffs:
        raise StoreError(
            f"{path} already exists and was written with other settings ({'; '.join(diffs)}); resume it with the "
            "same command and software, or choose another --out (or pass --overwrite)"
        )


def store_progress(path: str | os.PathLike) -> tuple[int, int]:
    """``(samples done, samples in the store)`` of a store file."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if "done" not in h5:
                raise StoreError(f"{path}: no 'done' dataset; not a monarch-sci Navier–Stokes store")
            done = h5["done"][...]
    except OSError as err:
        raise StoreError(f"{path}: cannot be read as HDF5 ({err})") from err
    return int(done.sum()), int(done.size)


def merge_shards(shards: Sequence[str | os.PathLike], out: str | os.PathLike) -> None:
    """Join complete shard stores (contiguous ``sample_start``/``sample_stop`` ranges) into one store ``out``.

    The merged file has the same datasets and attributes (minus the shard ranges) as a store written by one
    process, and is created atomically (temporary name, then rename).
    """
    import h5py

    from monarch_sci.training.checkpoint import atomic_output

    out = Path(out)
    infos = []
    for p in shards:
        with h5py.File(p, "r") as h5:
            done = h5["done"][...]
            if not done.all():
                raise StoreError(f"{p}: shard is incomplete ({int(done.sum())} of {done.size} samples done)")
            infos.append((int(h5.attrs["sample_start"]), int(h5.attrs["sample_stop"]), p))
    infos.sort()
    n = int(infos[-1][1])
    expected_start = 0
    for start, stop, p in infos:
        if start != expected_start:
            raise StoreError(f"{p}: shard starts at sample {start}, expected {expected_start} (missing shard?)")
        expected_start = stop
    with h5py.File(infos[0][2], "r") as first:
        attrs = {k: v for k, v in first.attrs.items() if k != "format"}
        t, f = first["t"][...], first["f"][...]
    if int(attrs.get("n", n)) != n:
        raise StoreError(f"shards cover {n} samples but their attribute n = {attrs['n']}")
    attrs.update(sample_start=0, sample_stop=n)
    with atomic_output(out) as tmp:
        create_store(tmp, n=n, t=t, f=f, attrs=attrs)
        with h5py.File(tmp, "r+") as dst:
            for start, stop, p in infos:
                with h5py.File(p, "r") as src:
                    for i in range(stop - start):  # one sample (one chunk) at a time: bounded memory
                        dst["u"][start + i] = src["u"][i]
            dst["done"][...] = True
