"""The windows a forecasting run trains and tests on: the fixed splits of one rollout file.

Any rollout file :func:`~monarch_sci.datasets.pde.ns_dataset.open_frames` reads — our Navier–Stokes store, an
FNO ``.mat``, a PDEBench 2-D file or a The Well file, one scalar field chosen by ``spec.field``/``spec.channel``
— is cut into ``t_in → t_out`` windows (one per sample, from its first frame): samples ``[0, ntrain)`` train,
the next ``nval`` validate, the next ``ntest`` test. The ``info`` returned goes into the run record: the format
detected, the mapping read (field, component, axes, first frame, times), the sizes and the viscosity when the
file states one.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from monarch_sci.operators.pde.tasks import ForecastWindows

__all__ = ["load_forecast_splits"]


def load_forecast_splits(spec: Any) -> tuple[ForecastWindows, ForecastWindows | None, ForecastWindows, dict]:
    """``(train, val or None, test, info)`` windows of ``spec.data`` (a
    :class:`~monarch_sci.operators.pde.forecasting.ForecastSpec`; ``info``: format, mapping, sizes, viscosity)."""
    import numpy as np

    from monarch_sci.datasets.pde.ns_dataset import NavierStokesDataset

    data = Path(spec.data)
    if not data.is_file():
        raise FileNotFoundError(
            2, "no such data file (expected a Navier–Stokes store, FNO .mat, PDEBench or The Well file)", str(data)
        )
    read = {"t_in": spec.t_in, "t_out": spec.t_out, "sub": spec.sub}
    read |= {"format": spec.format, "field": spec.field, "channel": spec.channel, "t_sub": spec.t_sub}
    probe = NavierStokesDataset(data, **read)
    n, mapping = len(probe.indices), probe.mapping
    probe.close()
    need = spec.ntrain + spec.nval + spec.ntest
    if need > n:
        raise ValueError(
            f"{data} holds {n} samples, but ntrain={spec.ntrain} + nval={spec.nval} + ntest={spec.ntest} = {need}"
        )
    bounds = np.cumsum([0, spec.ntrain, spec.nval, spec.ntest])
    splits: list[ForecastWindows | None] = []
    for a, b in itertools.pairwise(bounds):
        if a == b:
            splits.append(None)
            continue
        ds = NavierStokesDataset(data, **read, indices=range(int(a), int(b)))
        x, y = ds.tensors()
        ds.close()
        splits.append(ForecastWindows(x, y, kind=spec.model))
    train, val, test = splits
    mapping["t_sub"] = spec.t_sub  # every t_sub-th stored frame
    info = {"format": mapping["format"], "mapping": mapping, "samples_in_file": n}
    info |= {"resolution": int(train.x.shape[1]), "visc": _visc(data)}
    return train, val, test, info


def _visc(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            v = h5.attrs.get("visc")
    except OSError:
        return "unknown"
    return "unknown" if v is None else f"{float(v):.0e}".replace("e-0", "e-")
