"""The Well files (Ohana et al., NeurIPS 2024, ``github.com/PolymathicAI/the_well``): rollout frames of one field.

The schema followed is the one The Well's own reader checks and reads (``the_well/data/datasets.py``,
``WellDataset._build_metadata`` and ``_reconstruct_fields``), one HDF5 file holding ``n_trajectories``
trajectories:

* root attributes ``dataset_name``, ``n_spatial_dims``, ``n_trajectories``, ``grid_type``;
* ``dimensions``: attribute ``spatial_dims`` (e.g. ``["x", "y"]``), one coordinate array per spatial dimension
  and ``time`` (``(n_steps,)``, or ``(n_trajectories, n_steps)`` when its ``sample_varying`` attribute is set);
* ``t0_fields``, ``t1_fields``, ``t2_fields`` (scalar, vector and rank-2 tensor fields): attribute
  ``field_names``; each field a dataset with the attributes ``time_varying``, ``sample_varying`` and
  ``dim_varying`` (one flag per spatial dimension), of shape ``([n_trajectories,] [n_steps,] *spatial, *(d,)
  * order)`` where the leading axes are present only when the flags say so and a spatial axis only when it
  varies along it;
* ``boundary_conditions`` (groups with the attribute ``bc_type``) and ``scalars`` (attribute
  ``field_names``), recorded here but not used.

:class:`WellFrames` reads one component of one time-varying field as frames ``(F, s, s)`` float32, one
trajectory at a time. The components are numbered as The Well flattens them (``velocity_x``,
``velocity_y``; ``D_xx``, ``D_xy``, ``D_yx``, ``D_yy``), so ``--field velocity --channel 1`` is The Well's
``velocity_y``; a field constant along a spatial axis (``dim_varying`` false; the axis left out, or kept with
size 1) is repeated along it, as The Well's readers do. Frame 0 is the first stored step.

The ``the_well`` package itself is not needed: its ``WellDataset`` reads whole folders of such files into
dictionaries of windows and pins ``fsspec==2024.10.0`` (release 1.2.0); this reader follows its schema for one
file. ``tests/datasets/pde/test_the_well.py`` compares the two where the package is installed.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .frame_file import FrameFile, choose_component

__all__ = ["WellFrames", "is_the_well_file"]


def is_the_well_file(h5) -> bool:
    """Whether an open HDF5 file follows The Well's schema (its root attributes and field groups)."""
    return all(k in h5.attrs for k in ("dataset_name", "n_spatial_dims", "n_trajectories")) and "t0_fields" in h5


def _names(value) -> list[str]:
    """A string-list attribute as ``list[str]`` (h5py returns arrays of ``str`` or ``bytes``)."""
    values = np.atleast_1d(np.asarray(value)).tolist()
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


class WellFrames(FrameFile):
    """Frames ``(F, s, s)`` float32 of one component of one time-varying field of a The Well file.

    Parameters
    ----------
    path
        One HDF5 file of The Well with 2-D data on a square grid (the FNO rollout's grid; other grids are
        refused with their size).
    field
        A time-varying field of ``t0_fields``/``t1_fields``/``t2_fields``; ``None`` only when there is one.
    channel
        The component of a vector or tensor field (The Well's flattened order); ``None`` for a scalar field.
    include_initial
        Keep the first stored step (default ``True``).

    Examples
    --------
    >>> src = WellFrames("gray_scott_reaction_diffusion_gliders_F_0.014_k_0.054.hdf5", field="A")  # doctest: +SKIP
    >>> src.read(0).shape == (src.n_frames, src.s, src.s), src.mapping["component"]  # doctest: +SKIP
    (True, 'A')
    """

    kind, what = "the-well", "The Well file"

    def _inspect(self, h5, field: str | None, channel: int | None) -> None:
        where = f"{self.path} (The Well"
        if not is_the_well_file(h5):
            raise ValueError(
                f"{self.path}: not a The Well file: expected the root attributes dataset_name, n_spatial_dims, "
                f"n_trajectories and the group t0_fields; found attributes {sorted(h5.attrs)[:6]}, "
                f"members {sorted(h5.keys())[:6]}"
            )
        name = str(_names(h5.attrs["dataset_name"])[0])
        ndim = int(h5.attrs["n_spatial_dims"])
        where = f"{where} {name!r})"
        if ndim != 2:
            raise ValueError(f"{where}: n_spatial_dims = {ndim}; the FNO rollout reads 2-D data only")
        dims = _names(h5["dimensions"].attrs["spatial_dims"])
        size = tuple(int(h5["dimensions"][d].shape[-1]) for d in dims)
        fields: dict[str, tuple[int, tuple[str, ...]]] = {}  # name -> (order, component labels)
        constant = []
        for order in range(3):
            group = h5.get(f"t{order}_fields")
            if group is None:
                continue
            for f in _names(group.attrs.get("field_names", [])):
                labels = tuple(f"{f}_{''.join(c)}" if order else f for c in itertools.product(dims, repeat=order))
                if bool(group[f].attrs["time_varying"]):
                    fields[f] = (order, labels)
                else:
                    constant.append(f)
        listing = ", ".join(f"{f} (t{o}: {', '.join(f'{k}={lab}' for k, lab in enumerate(ls))})"
                            for f, (o, ls) in fields.items())  # fmt: skip
        if not fields:
            raise ValueError(f"{where}: no time-varying field (constant fields: {constant})")
        labelled = {f: labels for f, (_, labels) in fields.items()}
        note = f" ({field!r} is constant in time)" if field in constant else ""
        field, channel = choose_component(where, labelled, field, channel, listing=listing, note=note)
        order, labels = fields[field]
        ds = h5[f"t{order}_fields"][field]
        self._sample_varying = bool(ds.attrs["sample_varying"])
        self._varying = [bool(v) for v in np.atleast_1d(ds.attrs["dim_varying"])]
        lead = 2 if self._sample_varying else 1
        # an axis the field is constant along is left out (as hdf5_to_xarray reads it) or kept with size 1
        stored = tuple(int(n) for n, v in zip(size, self._varying, strict=True) if v)
        self._singleton = ds.ndim == lead + len(size) + order
        if self._singleton:
            stored = tuple(int(n) if v else 1 for n, v in zip(size, self._varying, strict=True))
        want = (*(("n_trajectories",) if self._sample_varying else ()), "n_steps", *stored, *(len(dims),) * order)
        if ds.ndim != lead + len(stored) + order or tuple(ds.shape[lead : lead + len(stored)]) != stored:
            raise ValueError(f"{where}: {field!r} has shape {tuple(ds.shape)}, expected {want}")
        if size[0] != size[1]:
            raise ValueError(
                f"{where}: {field!r} is on a {size[0]}×{size[1]} grid; the FNO rollout needs a square grid"
            )
        frames = int(ds.shape[lead - 1])
        if frames < 2:
            raise ValueError(f"{where}: {field!r} holds {frames} time step(s); a rollout needs at least 2")
        self.n = int(h5.attrs["n_trajectories"])
        if self._sample_varying and ds.shape[0] != self.n:
            raise ValueError(f"{where}: {field!r} holds {ds.shape[0]} trajectories, n_trajectories = {self.n}")
        self.field, self.channel, self.order, self.s = field, channel, order, int(size[0])
        self._component = tuple(int(k) for k in np.unravel_index(channel, (len(dims),) * order)) if order else ()
        self._key = f"t{order}_fields/{field}"
        self.n_frames = frames - (0 if self.include_initial else 1)
        time = h5["dimensions"]["time"]
        t = np.asarray(time[0] if bool(time.attrs.get("sample_varying", False)) else time[()], dtype=np.float64)
        t = t.reshape(-1)[:frames]
        self.times = t if self.include_initial else t[1:]
        bcs = {k: _names(g.attrs.get("bc_type", ["?"]))[0] for k, g in h5.get("boundary_conditions", {}).items()}
        self.mapping: dict[str, Any] = {
            "format": "the-well",
            "dataset_name": name,
            "field": field,
            "tensor_order": order,
            "channel": channel,
            "component": labels[channel],
            "axes": f"({'trajectory, ' if self._sample_varying else ''}time, {', '.join(dims)}"
            + ", component" * order
            + ")",
            "time_axis": lead - 1,
            "frames_stored": frames,
            "first_frame": "first stored step" if self.include_initial else "second stored step (first dropped)",
            "times": "dimensions/time" + (" of trajectory 0" if time.ndim == 2 else ""),
            "grid": list(size),
            "boundary_conditions": bcs,
        }

    # -- reading -----------------------------------------------------------------------------------------------
    def read(self, i: int, frames: slice = slice(None), sub: int = 1) -> np.ndarray:
        """Frames ``frames`` of trajectory ``i`` on every ``sub``-th grid point: ``(F, s', s')`` float32,
        ``[step, x, y]``; only those are read."""
        if not 0 <= i < self.n:
            raise IndexError(f"{self.path}: trajectory {i} out of range for {self.n} trajectories")
        xy = [slice(None, None, sub) for v in self._varying if v or self._singleton]  # the stored spatial axes
        index = ((i,) if self._sample_varying else ()) + (self._stored(frames), *xy, *self._component)
        try:
            u = np.asarray(self._file()[self._key][index], dtype=np.float32)  # (T', *stored spatial axes)
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(
                f"{self.path}: cannot read trajectory {i} of {self._key!r} ({type(err).__name__}: {err})"
            ) from err
        if not all(self._varying):  # constant along an axis: repeated along it (a writable copy)
            s = len(range(0, self.s, sub))
            shape = [u.shape[0]] + [s if v else 1 for v in self._varying]
            u = np.broadcast_to(u.reshape(shape), (u.shape[0], s, s)).copy()
        return u
