"""PDEBench 2-D files: rollout frames of one scalar field, and the steady Darcy pairs.

PDEBench (Takamoto et al., NeurIPS 2022, ``github.com/pdebench/PDEBench``) stores one HDF5 file per PDE. The
layouts read here are the ones its own loaders and generators define (``pdebench/models/fno/utils.py``:
``FNODatasetSingle`` for the single-array files, ``FNODatasetMult`` for the per-sample groups;
``pdebench/data_gen/src/data_io.py`` ``dims_for`` and ``sim_ns_incomp_2d.py`` for incompressible
Navier–Stokes; ``sim_radial_dam_break.py`` ``save_state_to_disk`` for the groups). Axes are as stored, samples
first, then time, then ``x``, ``y``:

=====================  ===================================================================  ==================
layout                 arrays                                                               ``field`` choices
=====================  ===================================================================  ==================
``incompressible-ns``  ``velocity`` ``(N, T, X, Y, 2)``, ``particles`` ``(N, T, X, Y, 1)``,      ``velocity`` (2),
                       ``force`` ``(N, X, Y, 2)`` (constant in time), ``t`` ``(N, T)``         ``particles``
                       (``ns_incom_inhom_2d_512-*.h5``)
``cfd``                ``density``, ``pressure``, ``Vx``, ``Vy`` ``(N, T, X, Y)`` each,             each name
                       ``x-coordinate``, ``y-coordinate``, ``t-coordinate`` (``2D_CFD_*.hdf5``)
``tensor``             ``tensor`` ``(N, T, X, Y)`` with ``T > 1``                               ``tensor``
``per-sample``         one group per sample (``0000``, ``0001``, … in sorted order, as           ``data`` (``C``)
                       ``FNODatasetMult``): ``data`` ``(T, X, Y, C)``, ``grid/x``, ``grid/y``,
                       ``grid/t`` (``2D_diff-react_NA_NA.h5``: ``C = 2``; ``2D_rdb_NA_NA.h5``: ``h``,
                       ``C = 1``)
``darcy`` (steady)     ``nu`` ``(N, X, Y)`` input, ``tensor`` ``(N, 1, X, Y)`` output,              —
                       ``x-coordinate``, ``y-coordinate`` (``2D_DarcyFlow_beta*.h5``)
=====================  ===================================================================  ==================

:class:`PDEBenchFrames` reads one scalar field (``field``, and ``channel`` for a field with several components)
as frames ``(F, s, s)`` float32, one sample at a time (each read touches only that sample's chunks), for
:class:`~monarch_sci.datasets.pde.ns_dataset.NavierStokesDataset`. Frame 0 is the stored ``t = 0`` state (the
initial condition), as PDEBench's ``initial_step`` windows count it. Whatever cannot be decided from the file
(which field, which component) must be named; nothing is guessed. :attr:`PDEBenchFrames.mapping` states the
choice for the run record. :func:`read_pdebench_darcy` reads the Darcy pairs ``nu → tensor`` channels last.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .frame_file import FrameFile, choose_component

__all__ = ["PDEBenchFrames", "detect_pdebench_layout", "read_pdebench_darcy"]

#: Scalar fields of the compressible (CFD) files (FNODatasetSingle reads them in this order).
CFD_FIELDS = ("density", "pressure", "Vx", "Vy")


#: The stored axes of each rollout layout (the field read is ``[sample, :, :, :, channel]`` or ``[sample]``).
_AXES = {
    "incompressible-ns": "(sample, time, x, y, component)",
    "cfd": "(sample, time, x, y)",
    "tensor": "(sample, time, x, y)",
    "per-sample": "group per sample: (time, x, y, component)",
}


def _datasets(h5) -> list[str]:
    import h5py

    return sorted(k for k in h5 if isinstance(h5[k], h5py.Dataset))


def detect_pdebench_layout(h5) -> str | None:
    """The PDEBench layout of an open HDF5 file (see the module docstring), or ``None`` if it is none of them."""
    import h5py

    names = set(h5.keys())
    velocity = h5.get("velocity")
    if isinstance(velocity, h5py.Dataset) and velocity.ndim == 5 and "particles" in names:
        return "incompressible-ns"
    if "tensor" in names and "nu" in names:
        return "darcy"
    if "tensor" in names:
        return "tensor"
    if "density" in names and "Vx" in names:
        return "cfd"
    keys = sorted(names)  # per-sample groups: the first and the last checked (a file may hold thousands)
    if keys and all(
        isinstance(h5[k], h5py.Group) and isinstance(h5[k].get("data"), h5py.Dataset) for k in {keys[0], keys[-1]}
    ):
        return "per-sample"
    return None


def _describe(fields: dict[str, tuple[str, ...]]) -> str:
    return ", ".join(f"{name} ({len(c)} component{'s' if len(c) > 1 else ''})" for name, c in fields.items())


class PDEBenchFrames(FrameFile):
    """Frames ``(F, s, s)`` float32 of one scalar field of a PDEBench 2-D rollout file, read per sample.

    Parameters
    ----------
    path
        A PDEBench HDF5 file of the layouts ``incompressible-ns``, ``cfd``, ``tensor`` or ``per-sample``.
    field
        The field to read (see the module docstring); ``None`` only when the file holds one.
    channel
        The component of a field with several (``velocity``: 0 = x, 1 = y; ``data``: its last axis); ``None``
        only for a one-component field.
    include_initial
        Keep frame 0, the stored ``t = 0`` state (default ``True``, PDEBench's convention).

    Examples
    --------
    >>> src = PDEBenchFrames("ns_incom_inhom_2d_512-0.h5", field="velocity", channel=0)  # doctest: +SKIP
    >>> src.read(0).shape, src.mapping["component"]  # doctest: +SKIP
    ((1000, 512, 512), 'x')
    """

    kind, what = "pdebench", "PDEBench file"

    def _inspect(self, h5, field: str | None, channel: int | None) -> None:
        layout = detect_pdebench_layout(h5)
        where = f"{self.path} (PDEBench"
        if layout is None:
            raise ValueError(
                f"{self.path}: not a PDEBench 2-D rollout file: expected 'velocity'+'particles', 'density'+'Vx'+…, "
                f"'tensor', or per-sample groups holding 'data'; found {sorted(h5.keys())[:8]}"
            )
        if layout == "darcy":
            raise ValueError(f"{where} Darcy): steady pairs nu -> tensor, not a rollout; train them with --task steady")
        self._groups: list[str] = []
        if layout == "incompressible-ns":
            fields = {"velocity": ("x", "y"), "particles": ("particles",)}
            shapes = {name: tuple(h5[name].shape) for name in fields}
            for name, comps in fields.items():
                s = shapes[name]
                if len(s) != 5 or s[-1] != len(comps):
                    raise ValueError(f"{where} incompressible NS): {name!r} has shape {s}, expected (N, T, X, Y, "
                                     f"{len(comps)})")  # fmt: skip
        elif layout in ("cfd", "tensor"):
            names = [n for n in CFD_FIELDS if n in h5] if layout == "cfd" else ["tensor"]
            fields = {name: (name,) for name in names}
            shapes = {name: (*h5[name].shape, 1) for name in names}
        else:
            self._groups = sorted(h5.keys())
            data = h5[self._groups[0]]["data"]
            self._shape0 = tuple(data.shape)
            fields = {"data": tuple(str(c) for c in range(data.shape[-1]))}
            shapes = {"data": (len(self._groups), *data.shape)}
        field, channel = choose_component(f"{where} {layout})", fields, field, channel, listing=_describe(fields))
        comps = fields[field]
        shape = shapes[field]  # (N, T, X, Y, C)
        if len(shape) != 5:
            raise ValueError(
                f"{where} {layout}): {field!r} has {len(shape) - 3} spatial axes (shape {shape[:-1]}); "
                "2-D files only (samples, time, x, y)"
            )
        n, frames, sx, sy = shape[:4]
        if sx != sy:
            raise ValueError(
                f"{where} {layout}): {field!r} is on a {sx}×{sy} grid; the FNO rollout needs a square grid"
            )
        if frames < 2:
            raise ValueError(f"{where} {layout}): {field!r} holds {frames} time step(s); a rollout needs at least 2")
        self.layout, self.field, self.channel = layout, field, channel
        self.n, self.s = int(n), int(sx)
        self.n_frames = int(frames) - (0 if self.include_initial else 1)
        times, time_source = self._times(h5, int(frames))
        self.times = times if self.include_initial else times[1:]
        self.mapping: dict[str, Any] = {
            "format": "pdebench",
            "layout": layout,
            "field": field,
            "channel": channel,
            "component": comps[channel],
            "axes": _AXES[layout],
            "time_axis": 1,
            "frames_stored": int(frames),
            "first_frame": "t=0 (initial condition)" if self.include_initial else "t[1] (initial condition dropped)",
            "times": time_source,
            "grid": [int(sx), int(sy)],
        }

    def _times(self, h5, frames: int) -> tuple[np.ndarray, str]:
        if self.layout == "incompressible-ns" and "t" in h5:
            t = np.asarray(h5["t"][0], dtype=np.float64).reshape(-1)
            source = "'t' of sample 0"
        elif self.layout == "per-sample" and "t" in h5[self._groups[0]].get("grid", {}):
            t = np.asarray(h5[self._groups[0]]["grid"]["t"][()], dtype=np.float64).reshape(-1)
            source = f"'{self._groups[0]}/grid/t'"
        elif "t-coordinate" in h5:
            t = np.asarray(h5["t-coordinate"][()], dtype=np.float64).reshape(-1)
            source = "'t-coordinate'"
        else:
            return np.arange(frames, dtype=np.float64), "frame index (the file stores no time coordinate)"
        # PDEBench's 't-coordinate' may hold one entry more than the stored frames (the end time)
        if t.size not in (frames, frames + 1):
            raise ValueError(f"{self.path}: the time coordinate {source} has {t.size} entries for {frames} frames")
        return t[:frames], source

    # -- reading -----------------------------------------------------------------------------------------------
    def read(self, i: int, frames: slice = slice(None), sub: int = 1) -> np.ndarray:
        """Frames ``frames`` of sample ``i`` on every ``sub``-th grid point: ``(F, s', s')`` float32,
        ``[frame, x, y]``; only those are read."""
        t, xy = self._stored(frames), slice(None, None, sub)
        try:
            h5 = self._file()
            if self.layout == "incompressible-ns":
                u = h5[self.field][i, t, xy, xy, self.channel]  # chunks (1, 1, X, Y, C): one per frame
            elif self.layout == "per-sample":
                data = h5[self._groups[i]]["data"]
                if data.shape[:3] != (self.mapping["frames_stored"], self.s, self.s):  # groups may differ
                    raise ValueError(
                        f"{self.path}: sample {self._groups[i]!r} holds 'data' {data.shape}, sample 0 "
                        f"{self._shape0}; every sample must share the time steps, the grid and the components"
                    )
                u = data[t, xy, xy, self.channel]
            else:
                u = h5[self.field][i, t, xy, xy]
        except (OSError, KeyError, IndexError) as err:
            raise ValueError(
                f"{self.path}: cannot read sample {i} of {self.field!r} ({type(err).__name__}: {err})"
            ) from err
        return np.asarray(u, dtype=np.float32)


def read_pdebench_darcy(
    path: str | os.PathLike,
    *,
    sub: int = 1,
    indices: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """The Darcy pairs of a PDEBench ``2D_DarcyFlow_beta*.h5`` file: ``nu`` → ``tensor[:, 0]``, channels last.

    As ``FNODatasetSingle`` pairs them: the coefficient ``nu`` ``(N, X, Y)`` is the input, the solution
    ``tensor`` ``(N, 1, X, Y)`` (one time step) the output. Only the requested samples are read.

    Returns
    -------
    x, y, mapping
        ``(N, X', Y', 1)`` each (``X' = ⌈X/sub⌉``) and the mapping for the run record.
    """
    import h5py

    path = Path(path)
    idx = None if indices is None else np.asarray([int(i) for i in indices], dtype=np.int64)
    try:
        with h5py.File(path, "r") as h5:
            if detect_pdebench_layout(h5) != "darcy":
                raise ValueError(
                    f"{path}: not a PDEBench Darcy file: expected the arrays 'nu' (N, X, Y) and 'tensor' "
                    f"(N, 1, X, Y); found {_datasets(h5)[:8]}"
                )
            nu, u = h5["nu"], h5["tensor"]
            if (
                nu.ndim != 3
                or u.ndim != 4
                or u.shape[1] != 1
                or tuple(u.shape[2:]) != tuple(nu.shape[1:])
                or (u.shape[0] != nu.shape[0])
            ):
                raise ValueError(
                    f"{path} (PDEBench Darcy): 'nu' {tuple(nu.shape)} and 'tensor' {tuple(u.shape)}; expected "
                    "(N, X, Y) and (N, 1, X, Y)"
                )
            if idx is None:
                a, b = np.asarray(nu[()]), np.asarray(u[:, 0])
            else:
                if idx.size == 0 or idx.min() < 0 or idx.max() >= nu.shape[0] or np.unique(idx).size != idx.size:
                    raise ValueError(f"{path}: sample indices must be distinct and in [0, {nu.shape[0]})")
                order = np.argsort(idx)
                back = np.argsort(order)
                a, b = np.asarray(nu[idx[order]])[back], np.asarray(u[idx[order], 0])[back]
    except OSError as err:
        raise ValueError(f"{path}: cannot read the PDEBench Darcy file ({err})") from err
    x = torch.from_numpy(np.ascontiguousarray(a[:, ::sub, ::sub])).to(dtype)[..., None]
    y = torch.from_numpy(np.ascontiguousarray(b[:, ::sub, ::sub])).to(dtype)[..., None]
    for name, t in (("nu", x), ("tensor", y)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{path}[{name!r}] contains NaN or Inf")
    mapping = {"format": "pdebench", "layout": "darcy", "x": "nu (N, X, Y)", "y": "tensor[:, 0] (N, 1, X, Y)"}
    return x, y, mapping
