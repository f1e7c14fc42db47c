"""Operator-learning data of any PDE: input/output field pairs read from HDF5, ``.npz``, ``.mat`` and ``.pt`` files.

A file holds two arrays under the keys ``x_key`` and ``y_key`` (default ``"x"`` and ``"y"``), each
``(N, s1, s2)`` (one field per sample) or ``(N, s1, s2, c)`` (``c`` channels, *channels last*), with the same
``N`` and grid. :func:`read_field_pairs` reads them as ``float32`` (or ``dtype``) tensors ``(N, s1', s2', c)``,
``s' = ⌈s/sub⌉`` (every ``sub``-th grid point, as the FNO scripts subsample their 421² Darcy files):

* HDF5 (``.h5``/``.hdf5``; :mod:`~monarch_sci.datasets.pde.darcy` writes this layout) — only the requested
  samples are read;
* MATLAB ``.mat`` v7.3 (HDF5 written by MATLAB, which stores every array with its axes reversed: they are put
  back in MATLAB's order) and v5 (``scipy.io.loadmat``), e.g. the FNO Darcy files with ``x_key="coeff"``,
  ``y_key="sol"``;
* NumPy ``.npz`` and PyTorch ``.pt`` (a ``dict`` of tensors or arrays, read with ``torch.load(weights_only=True)``:
  no code is executed).

Every numeric or boolean dtype is converted explicitly: booleans to ``0.0``/``1.0`` (a mask or a two-phase
medium), integers and floats to ``dtype``; complex data is refused. :class:`FieldNormalizer` standardises the
*outputs* with a mean and standard deviation per channel fitted on the training split only (so no validation or
test statistics leak into training); it is a module whose buffers travel in the model's ``state_dict``, and
per-channel (not per-grid-point) statistics keep it valid on every grid.

Examples
--------
>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "pairs.npz")
>>> np.savez(path, a=np.random.rand(5, 16, 16) > 0.5, u=np.random.rand(5, 16, 16, 2))
>>> x, y = read_field_pairs(path, x_key="a", y_key="u", sub=2)
>>> x.shape, x.dtype, y.shape
(torch.Size([5, 8, 8, 1]), torch.float32, torch.Size([5, 8, 8, 2]))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

__all__ = [
    "PAIRS_FORMATS",
    "FieldNormalizer",
    "FieldPairs",
    "detect_pairs_format",
    "read_field_pairs",
    "read_steady_pairs",
]

#: ``--format`` of steady (input/output) files: detected from the content (``auto``) or named.
PAIRS_FORMATS = ("auto", "pairs", "pdebench")

_WHERE = "read_field_pairs"


def detect_pairs_format(path: str | os.PathLike) -> str:
    """``"hdf5"``, ``"mat-v7.3"``, ``"mat-v5"``, ``"npz"`` or ``"pt"``, from the file's first bytes."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{_WHERE}: {path}: no such file")
    with open(path, "rb") as fh:
        head = fh.read(128)
    if head.startswith(b"MATLAB 7.3"):
        return "mat-v7.3"
    if h5py.is_hdf5(path):
        return "hdf5"
    if head.startswith(b"MATLAB 5.0") or (len(head) == 128 and head[124:126] in (b"\x00\x01", b"\x01\x00")):
        return "mat-v5"
    if path.suffix in (".pt", ".pth"):  # torch.save: a zip archive (or a legacy pickle)
        return "pt"
    if head.startswith(b"PK"):  # a zip archive: .npz
        return "npz"
    raise ValueError(
        f"{_WHERE}: {path} is none of HDF5, MATLAB .mat (v5 / v7.3), .npz or .pt (first bytes {head[:16]!r})"
    )


def _missing(path: Path, key: str, keys: Sequence[str]) -> ValueError:
    return ValueError(f"{_WHERE}: {path} has no array {key!r}; it holds {sorted(keys)}")


def _read_arrays(path: Path, keys: tuple[str, str], indices: np.ndarray | None) -> list[np.ndarray]:
    fmt = detect_pairs_format(path)
    if fmt in ("hdf5", "mat-v7.3"):
        import h5py

        out = []
        with h5py.File(path, "r") as h5:
            for key in keys:
                if key not in h5 or not isinstance(h5[key], h5py.Dataset):
                    raise _missing(path, key, [k for k in h5 if isinstance(h5[k], h5py.Dataset)])
                ds = h5[key]
                if fmt == "mat-v7.3":  # MATLAB (N, s, s[, c]) is stored (…, s, s, N): reverse every axis
                    a = np.asarray(ds[()]).transpose(tuple(range(ds.ndim - 1, -1, -1)))
                    out.append(a if indices is None else a[indices])
                elif indices is None:
                    out.append(np.asarray(ds[()]))
                else:
                    order = np.argsort(indices)
                    block = np.asarray(ds[np.sort(indices)])  # h5py reads increasing indices
                    out.append(block[np.argsort(order)])
        return out
    if fmt == "mat-v5":
        from scipy.io import loadmat

        data: dict[str, Any] = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    elif fmt == "npz":
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    else:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict):
            raise ValueError(f"{_WHERE}: {path} holds a {type(obj).__name__}, expected a dict of tensors")
        data = obj
    out = []
    for key in keys:
        if key not in data:
            raise _missing(path, key, [str(k) for k in data])
        a = data[key]
        a = a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        out.append(a if indices is None else a[indices])
    return out


def _as_fields(a: np.ndarray, path: Path, key: str, dtype: torch.dtype, sub: int) -> torch.Tensor:
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{_WHERE}: {path}[{key!r}] has dtype {a.dtype}; expected a real numeric or boolean array")
    if a.ndim not in (3, 4):
        raise ValueError(
            f"{_WHERE}: {path}[{key!r}] has shape {a.shape}; expected (N, s1, s2) or (N, s1, s2, c) (channels last)"
        )
    t = torch.from_numpy(np.ascontiguousarray(a[:, ::sub, ::sub]))
    t = t.to(torch.float64) if t.dtype == torch.bool else t  # explicit: False -> 0.0, True -> 1.0
    t = t.to(dtype)
    return t if t.dim() == 4 else t[..., None]


def read_field_pairs(
    path: str | os.PathLike,
    *,
    x_key: str = "x",
    y_key: str = "y",
    sub: int = 1,
    indices: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Input and output fields ``(N, s1', s2', c)`` of a pairs file (see the module docstring).

    Parameters
    ----------
    path
        HDF5, ``.mat`` (v5 or v7.3), ``.npz`` or ``.pt`` file.
    x_key, y_key
        Names of the input and output arrays.
    sub
        Keep every ``sub``-th grid point along both axes.
    indices
        Samples to read (default all), in the order given.
    dtype
        ``torch.float32`` or ``torch.float64``.

    Shape
    -----
    ``x`` ``(N, s1', s2', c_in)``, ``y`` ``(N, s1', s2', c_out)`` (channels last).
    """
    path = Path(path)
    if not isinstance(sub, int) or sub < 1:
        raise ValueError(f"{_WHERE}: sub must be a positive integer, got {sub!r}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{_WHERE}: dtype must be torch.float32 or torch.float64, got {dtype}")
    idx = None if indices is None else np.asarray([int(i) for i in indices], dtype=np.int64)
    if idx is not None and (idx.size == 0 or len(set(idx.tolist())) != idx.size):
        raise ValueError(f"{_WHERE}: indices must be a non-empty list without repeats, got {list(idx)[:10]}")
    try:
        xa, ya = _read_arrays(path, (x_key, y_key), idx)
    except IndexError as err:
        raise ValueError(f"{_WHERE}: {path}: indices out of range ({err})") from None
    x = _as_fields(xa, path, x_key, dtype, sub)
    y = _as_fields(ya, path, y_key, dtype, sub)
    if x.shape[:3] != y.shape[:3]:
        raise ValueError(
            f"{_WHERE}: {path}: inputs {x_key!r} {tuple(xa.shape)} and outputs {y_key!r} {tuple(ya.shape)} must "
            "share the sample count and the grid (N, s1, s2)"
        )
    for name, t in ((x_key, x), (y_key, y)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{_WHERE}: {path}[{name!r}] contains NaN or Inf")
    return x, y


def read_steady_pairs(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    x_key: str = "x",
    y_key: str = "y",
    sub: int = 1,
    indices: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Input and output fields ``(N, s1', s2', c)`` of a pairs file or a PDEBench Darcy file, and the mapping read.

    ``format="pairs"`` reads ``x_key`` → ``y_key`` (:func:`read_field_pairs`); ``"pdebench"`` reads ``nu`` →
    ``tensor`` (:func:`~monarch_sci.datasets.pde.pdebench.read_pdebench_darcy`); ``"auto"`` takes PDEBench when
    an HDF5 file holds PDEBench's Darcy arrays and not both ``x_key`` and ``y_key``.
    """
    import h5py

    from .pdebench import detect_pdebench_layout, read_pdebench_darcy

    path = Path(path)
    if format not in PAIRS_FORMATS:
        raise ValueError(f"{path}: --format {format!r}: expected one of {', '.join(PAIRS_FORMATS)} for steady pairs")
    if format == "auto" and detect_pairs_format(path) == "hdf5":
        with h5py.File(path, "r") as h5:
            darcy = detect_pdebench_layout(h5) == "darcy" and not (x_key in h5 and y_key in h5)
        format = "pdebench" if darcy else "pairs"
    if format == "pdebench":
        if (x_key, y_key) != ("x", "y"):
            raise ValueError(f"{path}: PDEBench Darcy files map 'nu' to 'tensor'; --x-key/--y-key apply to pairs files")
        return read_pdebench_darcy(path, sub=sub, indices=indices, dtype=dtype)
    x, y = read_field_pairs(path, x_key=x_key, y_key=y_key, sub=sub, indices=indices, dtype=dtype)
    return x, y, {"format": "pairs", "x": x_key, "y": y_key}


class FieldPairs(Dataset):
    """``(x_i, y_i)`` field pairs held in memory, channels last ``(s1, s2, c)`` or channels first ``(c, s1, s2)``.

    Examples
    --------
    >>> ds = FieldPairs(torch.zeros(4, 8, 8, 1), torch.ones(4, 8, 8, 2), layout="channels_first")
    >>> len(ds), ds[0][1].shape
    (4, torch.Size([2, 8, 8]))
    """

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, *, layout: str = "channels_last", mapping: dict | None = None
    ) -> None:
        if layout not in ("channels_last", "channels_first"):
            raise ValueError(f"FieldPairs: layout must be 'channels_last' or 'channels_first', got {layout!r}")
        for name, t in (("x", x), ("y", y)):
            if not isinstance(t, torch.Tensor) or t.dim() != 4 or not t.is_floating_point():
                got = (tuple(t.shape), t.dtype) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"FieldPairs: {name} must be a floating tensor (N, s1, s2, c), got {got}")
        if x.shape[:3] != y.shape[:3]:
            raise ValueError(f"FieldPairs: x {tuple(x.shape)} and y {tuple(y.shape)} must share (N, s1, s2)")
        if layout == "channels_first":
            x, y = x.movedim(-1, 1), y.movedim(-1, 1)
        self.x, self.y, self.layout = x.contiguous(), y.contiguous(), layout
        self.mapping = dict(mapping or {})  # what was read (format, arrays), for run records

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


class FieldNormalizer(nn.Module):
    """``encode(y) = (y − μ_c) / (σ_c + ε)`` per channel ``c``; ``decode`` inverts it.

    Fit it on the training outputs only (:meth:`fit`); ``μ`` and ``σ`` are persistent buffers, saved with the
    model that holds it.

    Parameters
    ----------
    channels
        Number of channels ``c``.
    channel_dim
        Axis of the channels: ``-1`` (channels last, default) or ``1`` (channels first).

    Examples
    --------
    >>> y = 3.0 + 2.0 * torch.randn(100, 8, 8, 1, dtype=torch.float64)
    >>> norm = FieldNormalizer.fit(y)
    >>> torch.allclose(norm.decode(norm.encode(y)), y), abs(float(norm.encode(y).mean())) < 1e-12
    (True, True)
    """

    def __init__(self, channels: int, *, channel_dim: int = -1, eps: float = 1e-6) -> None:
        super().__init__()
        if channel_dim not in (-1, 1):
            raise ValueError(f"FieldNormalizer: channel_dim must be -1 or 1, got {channel_dim}")
        self.channel_dim, self.eps = channel_dim, float(eps)
        self.register_buffer("mean", torch.zeros(int(channels)))
        self.register_buffer("std", torch.ones(int(channels)))

    @classmethod
    def fit(cls, y: torch.Tensor, *, channel_dim: int = -1, eps: float = 1e-6) -> FieldNormalizer:
        """Per-channel mean and (population) standard deviation of the training outputs ``y``."""
        if not isinstance(y, torch.Tensor) or y.dim() < 2 or not y.is_floating_point():
            got = (tuple(y.shape), y.dtype) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"FieldNormalizer.fit: expected floating outputs (N, ..., c), got {got}")
        yc = y.movedim(channel_dim, -1).reshape(-1, y.shape[channel_dim])
        norm = cls(yc.shape[-1], channel_dim=channel_dim, eps=eps).to(y.dtype)
        norm.mean.copy_(yc.mean(0))
        norm.std.copy_(yc.std(0, correction=0))
        return norm

    def _shape(self, t: torch.Tensor) -> tuple[int, ...]:
        shape = [1] * t.dim()
        shape[self.channel_dim] = -1
        return tuple(shape)

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        s = self._shape(y)
        return (y - self.mean.view(s)) / (self.std.view(s) + self.eps)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        s = self._shape(y)
        return y * (self.std.view(s) + self.eps) + self.mean.view(s)

    def extra_repr(self) -> str:
        return f"channels={self.mean.numel()}, channel_dim={self.channel_dim}"
