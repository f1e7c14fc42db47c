"""Tiny files in the PDEBench and The Well schemas, written with h5py as their generators lay them out.

PDEBench: ``pdebench/data_gen/src/data_io.py`` (incompressible NS: ``(batch, time, x, y, v)`` chunked
``(1, 1, x, y, v)``, lzf, shuffle), ``sim_radial_dam_break.py`` ``save_state_to_disk`` (per-sample groups), the
arrays ``FNODatasetSingle`` reads (CFD, Darcy). The Well: the attributes ``WellDataset`` reads (``the_well/data/
datasets.py``). Each field is a smooth random function of the sample, time and space, so that a misplaced axis
changes the values read.
"""

from __future__ import annotations

import h5py
import numpy as np


def _field(rng, n, t, s, c=None):
    """``(n, t, s, s[, c])`` float32 with distinct values along every axis."""
    shape = (n, t, s, s) if c is None else (n, t, s, s, c)
    base = rng.standard_normal(shape).astype(np.float32)
    ramp = np.arange(t, dtype=np.float32).reshape(1, t, *([1] * (len(shape) - 2)))
    return base + ramp


def write_pdebench_incompressible(path, *, n=6, t=8, s=16, seed=0):
    rng = np.random.default_rng(seed)
    velocity, particles = _field(rng, n, t, s, 2), _field(rng, n, t, s, 1)
    with h5py.File(path, "w") as h5:
        for name, a in (("velocity", velocity), ("particles", particles)):
            h5.create_dataset(name, data=a, chunks=(1, 1, *a.shape[2:]), compression="lzf", shuffle=True)
        h5["force"] = rng.standard_normal((n, s, s, 2)).astype(np.float32)
        h5["t"] = np.tile(np.linspace(0, 0.05 * (t - 1), t, dtype=np.float32), (n, 1))
        h5.attrs["config"] = "sim_name: ns_incom_inhom_2d_512\n"
    return {"velocity": velocity, "particles": particles}


def write_pdebench_cfd(path, *, n=6, t=8, s=16, seed=1):
    rng = np.random.default_rng(seed)
    fields = {name: _field(rng, n, t, s) for name in ("density", "pressure", "Vx", "Vy")}
    with h5py.File(path, "w") as h5:
        for name, a in fields.items():
            h5[name] = a
        h5["x-coordinate"] = h5["y-coordinate"] = np.linspace(0, 1, s, dtype=np.float32)
        h5["t-coordinate"] = np.linspace(0, 1, t + 1, dtype=np.float32)  # one more than the frames, as PDEBench
    return fields


def write_pdebench_groups(path, *, n=6, t=8, s=16, c=2, seed=2):
    rng = np.random.default_rng(seed)
    data = _field(rng, n, t, s, c)
    with h5py.File(path, "w") as h5:
        for i in range(n):
            h5.create_dataset(f"{i:04d}/data", data=data[i], dtype="f")
            h5.create_dataset(f"{i:04d}/grid/x", data=np.linspace(-1, 1, s), dtype="f")
            h5.create_dataset(f"{i:04d}/grid/y", data=np.linspace(-1, 1, s), dtype="f")
            h5.create_dataset(f"{i:04d}/grid/t", data=np.linspace(0, 5, t), dtype="f")
    return data


def write_pdebench_darcy(path, *, n=12, s=16, seed=3):
    rng = np.random.default_rng(seed)
    nu = np.where(rng.standard_normal((n, s, s)) > 0, 1.0, 0.1).astype(np.float32)
    u = np.cumsum(np.cumsum(nu, 1), 2)[:, None].astype(np.float32) / s  # (N, 1, X, Y), a function of nu
    with h5py.File(path, "w") as h5:
        h5["nu"], h5["tensor"] = nu, u
        h5["x-coordinate"] = h5["y-coordinate"] = np.linspace(0, 1, s, dtype=np.float32)
    return nu, u


def write_the_well(path, *, n=6, t=8, s=16, seed=4, sizes=None, ndim=2, constant_axis="absent"):
    """A The Well file: ``density`` (t0), ``velocity`` (t1), a constant field ``mask`` and ``tracer`` (t0,
    constant along y: that axis left out, as The Well's ``hdf5_to_xarray`` reads it, or kept with size 1, as
    ``WellDataset._pad_axes`` tiles it), time-invariant scalars and periodic boundaries on both axes."""
    rng = np.random.default_rng(seed)
    sizes = sizes or (s,) * ndim
    dims = ["x", "y", "z"][:ndim]
    density = (rng.standard_normal((n, t, *sizes)) + np.arange(t).reshape(1, t, *[1] * ndim)).astype(np.float32)
    velocity = rng.standard_normal((n, t, *sizes, ndim)).astype(np.float32)
    tracer = rng.standard_normal((n, t, sizes[0])).astype(np.float32)  # varies along x only
    stored_tracer = tracer if constant_axis == "absent" else tracer.reshape(n, t, sizes[0], *[1] * (ndim - 1))
    with h5py.File(path, "w") as h5:
        h5.attrs.update(dataset_name="tiny_flow", n_spatial_dims=ndim, n_trajectories=n, grid_type="cartesian")
        d = h5.create_group("dimensions")
        d.attrs["spatial_dims"] = dims
        for name, size in zip(dims, sizes, strict=True):
            d[name] = np.linspace(0, 1, size, endpoint=False)
            d[name].attrs.update(sample_varying=False, time_varying=False)
        d["time"] = np.linspace(0, 0.1 * (t - 1), t)
        d["time"].attrs.update(sample_varying=False, time_varying=True)
        along_x = [True] + [False] * (ndim - 1)
        fields = {
            0: {
                "density": (density, True, [True] * ndim),
                "tracer": (stored_tracer, True, along_x),
                "mask": (np.ones(sizes, dtype=np.float32), False, [True] * ndim),
            },
            1: {"velocity": (velocity, True, [True] * ndim)},
            2: {},
        }
        for order, group in fields.items():
            g = h5.create_group(f"t{order}_fields")
            g.attrs["field_names"] = list(group)
            for name, (a, varying, dim_varying) in group.items():
                g[name] = a
                g[name].attrs.update(time_varying=varying, sample_varying=varying, dim_varying=dim_varying)
        sc = h5.create_group("scalars")
        sc.attrs["field_names"] = ["Re"]
        sc["Re"] = 1000.0
        sc["Re"].attrs.update(time_varying=False, sample_varying=False)
        bc = h5.create_group("boundary_conditions")
        for name in dims:
            b = bc.create_group(f"{name}_periodic")
            b.attrs.update(bc_type="PERIODIC", associated_dims=[name], associated_fields=[], sample_varying=False,
                           time_varying=False)  # fmt: skip
            mask = np.zeros(sizes[dims.index(name)], dtype=bool)
            mask[[0, -1]] = True
            b["mask"] = mask
    return {"density": density, "velocity": velocity, "tracer": tracer}
