"""Readers for Navier–Stokes vorticity data: our HDF5 store and the original FNO ``.mat`` files.

Three file kinds of vorticity, one view (PDEBench and The Well files come through the same view, one scalar
field chosen, :func:`open_frames`). Each sample is a sequence of *frames* (vorticity snapshots on an ``s × s`` grid,
equispaced in time):

* our store (:mod:`.ns_store`): ``u`` ``(N, R+1, s, s)``, frame ``j`` at ``t[j] = j·T/R``, ``j = 0`` the
  initial field — read lazily, one HDF5 chunk per sample;
* FNO ``.mat`` v7.3 (an HDF5 file written by MATLAB, every array stored with its axes reversed): ``u`` is
  ``(N, s, s, T)`` in MATLAB, ``(T, s, s, N)`` on disk; the initial field is the separate key ``a``
  ``(N, s, s)`` — read lazily; the sample axis is the fastest on disk, so single items are strided reads, while
  :meth:`NavierStokesDataset.tensors` and :func:`read_ns_frames` read contiguous blocks of samples;
* FNO ``.mat`` v5 (``scipy.io.savemat``, as the original ``ns_2d.py`` writes): same keys, read whole at
  construction (v5 files cannot be read partially).

By default (``include_initial=False``) the frames of every kind are the snapshots *after* the initial field,
``t = Δ, 2Δ, …`` — the FNO convention, where the ν = 1e-3 benchmark feeds frames ``0…9`` (``t = 1…10``)
and predicts frames ``10…49``. ``include_initial=True`` puts the initial field first (``t = 0, Δ, …``; for
``.mat`` files this needs the key ``a``).

Layout of what :class:`NavierStokesDataset` returns (``s' = ⌈s/sub⌉``):

* ``layout="channels_last"`` (default, the FNO-2D layout): ``x`` ``(s', s', t_in)``, ``y`` ``(s', s', t_out)``
  with ``x[a, b, k] = w(t_{start+k}, x₁=a·sub/s, x₂=b·sub/s)`` and ``y[…, k] = w(t_{start+t_in+k}, …)``;
* ``layout="channels_first"``: ``x`` ``(t_in, s', s')``, ``y`` ``(t_out, s', s')``, same values.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from .ns_store import STORE_FORMAT, StoreError
from .pdebench import PDEBenchFrames, detect_pdebench_layout
from .the_well import WellFrames, is_the_well_file

__all__ = ["ROLLOUT_FORMATS", "NavierStokesDataset", "detect_ns_format", "detect_rollout_format", "open_frames",
           "read_ns_frames"]  # fmt: skip

Format = Literal["store", "mat-v7.3", "mat-v5"]
#: ``--format`` of rollout files: detected from the content (``auto``) or named.
ROLLOUT_FORMATS = ("auto", "store", "mat", "pdebench", "the-well")


def detect_ns_format(path: str | os.PathLike) -> Format:
    """``"store"`` (our HDF5 store), ``"mat-v7.3"`` or ``"mat-v5"``; :class:`StoreError` for anything else."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such Navier–Stokes data file")
    if h5py.is_hdf5(path):
        try:
            with h5py.File(path, "r") as h5:
                fmt = h5.attrs.get("format")
                fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
                if fmt == STORE_FORMAT or "done" in h5:
                    return "store"
                return "mat-v7.3"
        except OSError as err:  # truncated or damaged HDF5
            raise StoreError(f"{path}: HDF5 file is damaged or truncated ({err})") from err
    with open(path, "rb") as fh:
        head = fh.read(128)
    if head.startswith(b"MATLAB 5.0 MAT-file") or (len(head) == 128 and head[124:126] in (b"\x00\x01", b"\x01\x00")):
        return "mat-v5"
    raise StoreError(
        f"{path}: neither an HDF5 file (our store / MATLAB v7.3) nor a MATLAB v5 .mat file "
        f"(first bytes {head[:24]!r}); the file may be truncated or of another kind"
    )


def detect_rollout_format(path: str | os.PathLike) -> str:
    """``"store"``, ``"mat-v7.3"``, ``"mat-v5"``, ``"pdebench"`` or ``"the-well"``, from the file's content."""
    import h5py

    kind = detect_ns_format(path)  # any HDF5 file that is not our store comes back as "mat-v7.3"
    if kind != "mat-v7.3":
        return kind
    with h5py.File(path, "r") as h5:
        if is_the_well_file(h5):
            return "the-well"
        if detect_pdebench_layout(h5) is not None:
            return "pdebench"
    return kind


def open_frames(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    field: str | None = None,
    channel: int | None = None,
    include_initial: bool | None = None,
):
    """The frame reader of a rollout file: ``read(i) -> (F, s, s)``, ``n``, ``n_frames``, ``s``, ``times``,
    ``mapping`` (what is read, for the run record).

    ``format`` ``"auto"`` detects the kind from the content (:func:`detect_rollout_format`); a named format must
    match it. ``field``/``channel`` choose the scalar field of a PDEBench or The Well file
    (:class:`~.pdebench.PDEBenchFrames`, :class:`~.the_well.WellFrames`); our store and FNO ``.mat`` files hold
    vorticity only. ``include_initial`` ``None`` keeps each format's convention: without the initial field for
    the store and ``.mat`` (FNO), with the stored ``t = 0`` state for PDEBench and The Well.
    """
    path = Path(path)
    if format not in ROLLOUT_FORMATS:
        raise ValueError(f"{path}: --format {format!r}: expected one of {', '.join(ROLLOUT_FORMATS)}")
    kind = detect_rollout_format(path) if format in ("auto", "store", "mat") else format
    family = "mat" if kind.startswith("mat") else kind
    if format != "auto" and family != format:
        raise StoreError(
            f"{path}: --format {format}, but the content is {family!r} (detected); pass --format {family} or auto"
        )
    if family in ("pdebench", "the-well"):
        reader = PDEBenchFrames if family == "pdebench" else WellFrames
        keep = True if include_initial is None else include_initial
        return reader(path, field=field, channel=channel, include_initial=keep)
    if field is not None or channel is not None:
        raise ValueError(
            f"{path}: a {kind} file holds vorticity only; --field/--channel apply to pdebench and the-well files"
        )
    return _Source(path, bool(include_initial))


class _Source:
    """Uniform frame access ``read(i) -> (F, s, s)`` float32 over one file (opened lazily, per process)."""

    def __init__(self, path: Path, include_initial: bool) -> None:
        self.path, self.include_initial = path, include_initial
        self.kind = detect_ns_format(path)
        self._h5 = None
        self._pid = None
        self._mat: dict[str, np.ndarray] | None = None
        if self.kind == "mat-v5":
            self._load_v5()
        try:
            self._inspect(self._file() if self.kind != "mat-v5" else None)
        except (OSError, KeyError) as err:
            raise StoreError(f"{self.path}: cannot read the metadata ({type(err).__name__}: {err})") from err
        finally:
            self.close()  # nothing stays open across a fork: each DataLoader worker opens its own handle

    # -- opening -----------------------------------------------------------------------------------------------
    def _file(self):
        import h5py

        if self._h5 is None or self._pid != os.getpid():  # a forked DataLoader worker opens its own handle
            try:
                self._h5 = h5py.File(self.path, "r")
            except OSError as err:
                raise StoreError(f"{self.path}: cannot open HDF5 file ({err})") from err
            self._pid = os.getpid()
        return self._h5

    def _load_v5(self) -> None:
        import scipy.io

        try:
            mat = scipy.io.loadmat(self.path, variable_names=["u", "a", "t"])
        except Exception as err:  # scipy raises several types for damaged files
            raise StoreError(f"{self.path}: cannot read MATLAB v5 file ({type(err).__name__}: {err})") from err
        self._mat = mat

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
        self._h5 = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_h5"] = None  # h5py handles do not pickle; workers reopen
        return state

    # -- metadata ----------------------------------------------------------------------------------------------
    def _keys(self, h5) -> list[str]:
        return sorted(h5.keys()) if h5 is not None else sorted(k for k in self._mat if not k.startswith("__"))

    def _get(self, h5, key: str, required: bool = True):
        container = h5 if h5 is not None else self._mat
        if key not in container:
            if required:
                raise StoreError(f"{self.path}: no key {key!r} (found {self._keys(h5)})")
            return None
        return container[key]

    def _inspect(self, h5) -> None:
        u = self._get(h5, "u")
        shape = tuple(u.shape)
        if self.kind == "store":
            if len(shape) != 4 or shape[2] != shape[3]:
                raise StoreError(f"{self.path}: 'u' has shape {shape}, expected (N, T+1, s, s)")
            done = self._get(h5, "done")
            if tuple(done.shape) != (shape[0],):
                raise StoreError(f"{self.path}: 'done' has shape {tuple(done.shape)}, expected ({shape[0]},)")
            n_done = int(np.count_nonzero(done[...]))
            if n_done != shape[0]:
                raise StoreError(
                    f"{self.path}: incomplete store, {n_done} of {shape[0]} samples done; rerun the generation "
                    "command to finish it"
                )
            self.n, frames, self.s = shape[0], shape[1], shape[2]
            self.n_frames = frames if self.include_initial else frames - 1
            t = np.asarray(self._get(h5, "t")[...], dtype=np.float64).reshape(-1)
            if t.size != frames:
                raise StoreError(f"{self.path}: 't' has {t.size} entries, 'u' has {frames} frames")
            self.times = t if self.include_initial else t[1:]
        else:
            if len(shape) != 4:
                raise StoreError(f"{self.path}: 'u' has shape {shape}, expected 4 axes (N, s, s, T)")
            if self.kind == "mat-v7.3":
                shape = shape[::-1]  # MATLAB order (N, s, s, T); on disk (T, s, s, N)
            if shape[1] != shape[2]:
                raise StoreError(f"{self.path}: 'u' has shape {shape} (MATLAB order), expected (N, s, s, T)")
            self.n, self.s, frames = shape[0], shape[1], shape[3]
            self.n_frames = frames + (1 if self.include_initial else 0)
            if self.include_initial:
                a = self._get(h5, "a")
                a_shape = tuple(a.shape)[::-1] if self.kind == "mat-v7.3" else tuple(a.shape)
                if a_shape != (self.n, self.s, self.s):
                    raise StoreError(f"{self.path}: 'a' has shape {a_shape}, expected ({self.n}, {self.s}, {self.s})")
            t = self._get(h5, "t", required=False)
            t = None if t is None else np.asarray(t[...], dtype=np.float64).reshape(-1)
            if t is not None and t.size == frames:
                self.times = np.concatenate([[0.0], t]) if self.include_initial else t
            else:
                self.times = np.arange(self.n_frames, dtype=np.float64) + (0.0 if self.include_initial else 1.0)
        axes = "(sample, frame, x, y)" if self.kind == "store" else "MATLAB (sample, x, y, frame)"
        first = "initial field" if self.include_initial else "first snapshot after the initial field"
        self.mapping = {"format": self.kind, "field": "u (vorticity)", "axes": axes, "first_frame": first}

    # -- data --------------------------------------------------------------------------------------------------
    def read(self, i: int, frames: slice = slice(None), sub: int = 1) -> np.ndarray:
        """Frames ``frames`` of sample ``i`` on every ``sub``-th grid point: ``(F, s', s')`` float32,
        ``[frame, x₁, x₂]`` (the whole sample is read, then cut: these files are small)."""
        return np.ascontiguousarray(self._read(i)[frames, ::sub, ::sub])

    def _read(self, i: int) -> np.ndarray:
        try:
            if self.kind == "store":
                u = self._file()["u"][i]  # (R+1, s, s)
                return np.asarray(u if self.include_initial else u[1:], dtype=np.float32)
            if self.kind == "mat-v7.3":
                h5 = self._file()
                u = np.asarray(h5["u"][:, :, :, i]).transpose(0, 2, 1)  # disk (T, x₂, x₁) -> (T, x₁, x₂)
                if self.include_initial:
                    a = np.asarray(h5["a"][:, :, i]).T[None]
                    u = np.concatenate([a, u])
                return u.astype(np.float32, copy=False)
            u = np.moveaxis(self._mat["u"][i], -1, 0)  # (s, s, T) -> (T, s, s)
            if self.include_initial:
                u = np.concatenate([self._mat["a"][i][None], u])
            return np.ascontiguousarray(u, dtype=np.float32)
        except (OSError, KeyError, ValueError) as err:
            raise StoreError(f"{self.path}: cannot read sample {i} ({type(err).__name__}: {err})") from err

    def read_many(
        self, indices: Sequence[int], block: int = 256, *, frames: slice = slice(None), sub: int = 1
    ) -> np.ndarray:
        """Frames of several samples ``(n, F, s', s')`` (``frames``, ``sub`` as in :meth:`read`); MATLAB v7.3 files
        are read in contiguous blocks of samples (their sample axis is the fastest on disk, so one read per sample
        would scan the whole file each time)."""
        idx = [int(i) for i in indices]
        if self.kind != "mat-v7.3":
            if not idx:
                return np.zeros((0, self.n_frames, self.s, self.s))[:, frames, ::sub, ::sub]
            return np.stack([self.read(i, frames, sub) for i in idx])
        wanted = sorted(set(idx))
        got: dict[int, np.ndarray] = {}
        try:
            h5 = self._file()
            k = 0
            while k < len(wanted):
                lo = wanted[k]
                hi = min(lo + block, self.n)
                u = np.asarray(h5["u"][:, :, :, lo:hi]).transpose(3, 0, 2, 1)  # (T, x₂, x₁, n) -> (n, T, x₁, x₂)
                if self.include_initial:
                    a = np.asarray(h5["a"][:, :, lo:hi]).transpose(2, 1, 0)[:, None]  # (n, 1, x₁, x₂)
                    u = np.concatenate([a, u], axis=1)
                while k < len(wanted) and wanted[k] < hi:
                    got[wanted[k]] = u[wanted[k] - lo].astype(np.float32)
                    k += 1
        except (OSError, KeyError, ValueError) as err:
            raise StoreError(f"{self.path}: cannot read samples {lo}..{hi - 1} ({type(err).__name__}: {err})") from err
        return np.ascontiguousarray(np.stack([got[i] for i in idx])[:, frames, ::sub, ::sub])


class NavierStokesDataset(Dataset):
    """Input/target windows of vorticity frames from a store or an FNO ``.mat`` file (see the module docstring).

    Item ``k`` is sample ``indices[k // W]``, window ``k % W`` (``W`` windows per sample): input frames
    ``start … start+t_in-1`` and target frames ``start+t_in … start+t_in+t_out-1`` with
    ``start = t_start + (k % W)·window_stride``.

    Parameters
    ----------
    path : str or Path
        Our store (``.h5``) or an FNO ``.mat`` (v7.3 or v5).
    t_in : int
        Input frames (FNO-2D: 10).
    t_out : int or None
        Target frames; ``None`` takes every frame after the input window (40 for ``T = 50``).
    t_start : int
        First input frame.
    window_stride : int or None
        ``None``: one window per sample; ``k``: windows at ``t_start, t_start + k, …`` while they fit.
    indices : sequence of int, range or None
        Samples of this split (e.g. ``range(1000)`` for training, ``range(1000, 1200)`` for testing); ``None``
        takes all.
    sub : int
        Spatial subsampling stride (FNO's ``::sub``): every ``sub``-th grid point on both axes.
    t_sub : int
        Temporal stride (PDEBench's ``reduced_resolution_t``): the frames are every ``t_sub``-th stored frame;
        ``t_in``, ``t_out``, ``t_start`` and ``window_stride`` count these. Only the frames the windows use are
        read (PDEBench and The Well files read them alone; store and ``.mat`` samples are read whole).
    include_initial : bool or None
        Whether frame 0 is the initial field (see the module docstring); ``None`` (default): each format's
        convention (store and ``.mat``: ``False``, the FNO convention; PDEBench and The Well: ``True``).
    layout : {"channels_last", "channels_first"}
        ``(s', s', t)`` (FNO-2D) or ``(t, s', s')``.
    format, field, channel
        The file's kind (``"auto"``: from its content; or ``"store"``, ``"mat"``, ``"pdebench"``,
        ``"the-well"``) and, for PDEBench and The Well files, the scalar field read (see :func:`open_frames`);
        :attr:`mapping` states what was read.

    Shape
    -----
    ``dataset[k]`` → ``(x, y)``: ``(s', s', t_in)`` and ``(s', s', t_out)`` float32 for ``channels_last``.

    Examples
    --------
    >>> train = NavierStokesDataset("data/ns_v1e-3_s64.h5", t_in=10, indices=range(300))  # doctest: +SKIP
    >>> x, y = train[0]; x.shape, y.shape  # doctest: +SKIP
    (torch.Size([64, 64, 10]), torch.Size([64, 64, 10]))
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        t_in: int = 10,
        t_out: int | None = None,
        t_start: int = 0,
        window_stride: int | None = None,
        indices: Sequence[int] | None = None,
        sub: int = 1,
        include_initial: bool | None = None,
        layout: Literal["channels_last", "channels_first"] = "channels_last",
        format: str = "auto",
        field: str | None = None,
        channel: int | None = None,
        t_sub: int = 1,
    ) -> None:
        self.path = Path(path)
        self.source = open_frames(
            self.path, format=format, field=field, channel=channel, include_initial=include_initial
        )
        if not isinstance(t_sub, int) or t_sub < 1:
            raise ValueError(f"NavierStokesDataset: expected t_sub >= 1, got t_sub={t_sub!r}")
        frames, n = len(range(0, self.source.n_frames, t_sub)), self.source.n
        if t_in < 1 or t_start < 0:
            raise ValueError(f"NavierStokesDataset: expected t_in >= 1 and t_start >= 0, got {t_in} and {t_start}")
        if t_out is None:
            t_out = frames - t_start - t_in
        if t_out < 1 or t_start + t_in + t_out > frames:
            raise ValueError(
                f"NavierStokesDataset: window t_start={t_start} + t_in={t_in} + t_out={t_out} does not fit the "
                f"{frames} frames per sample of {self.path} (include_initial={include_initial}, t_sub={t_sub})"
            )
        if window_stride is not None and window_stride < 1:
            raise ValueError(f"NavierStokesDataset: expected window_stride >= 1 or None, got {window_stride}")
        if sub < 1:
            raise ValueError(f"NavierStokesDataset: expected sub >= 1, got sub={sub}")
        if layout not in ("channels_last", "channels_first"):
            raise ValueError(f"NavierStokesDataset: expected layout channels_last/channels_first, got {layout!r}")
        idx = list(range(n)) if indices is None else [int(i) for i in indices]
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise IndexError(
                f"NavierStokesDataset: sample indices {bad[:5]} out of range for {n} samples in {self.path}"
            )
        self.indices = idx
        self.t_in, self.t_out, self.t_start, self.sub, self.layout = t_in, t_out, t_start, sub, layout
        span = t_in + t_out
        self.n_windows = 1 if window_stride is None else (frames - t_start - span) // window_stride + 1
        self.window_stride = window_stride or 0
        # the stored frames the windows use: every t_sub-th, up to the last window's end (only those are read)
        need = t_start + (self.n_windows - 1) * self.window_stride + span
        self.t_sub, self._span = t_sub, slice(0, (need - 1) * t_sub + 1, t_sub)

    @property
    def resolution(self) -> int:
        """Stored grid size ``s`` (before ``sub``)."""
        return self.source.s

    @property
    def mapping(self) -> dict:
        """What is read: format, field (and component), stored axes, first frame (for the run record)."""
        return dict(self.source.mapping)

    @property
    def times(self) -> np.ndarray:
        """Times of the frames ``(F,)`` (the frame axis the windows index, every ``t_sub``-th stored frame)."""
        return self.source.times[:: self.t_sub]

    def __len__(self) -> int:
        return len(self.indices) * self.n_windows

    def _frames(self, i: int) -> torch.Tensor:
        u = self.source.read(i, frames=self._span, sub=self.sub)  # (F, s', s')
        return torch.from_numpy(np.ascontiguousarray(u))

    def _window(self, u: torch.Tensor, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.t_start + w * self.window_stride
        x, y = u[a : a + self.t_in], u[a + self.t_in : a + self.t_in + self.t_out]
        if self.layout == "channels_last":
            x, y = x.permute(1, 2, 0), y.permute(1, 2, 0)  # (t, s', s') -> (s', s', t)
        return x.contiguous(), y.contiguous()

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= k < len(self):
            raise IndexError(f"NavierStokesDataset: index {k} out of range for {len(self)} items")
        k %= len(self)
        return self._window(self._frames(self.indices[k // self.n_windows]), k % self.n_windows)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All items stacked: ``x`` ``(len, s', s', t_in)``, ``y`` ``(len, s', s', t_out)`` (``channels_last``)."""
        u = torch.from_numpy(np.ascontiguousarray(self.source.read_many(self.indices, frames=self._span, sub=self.sub)))
        xs, ys = zip(*(self._window(u[k // self.n_windows], k % self.n_windows) for k in range(len(self))))
        return torch.stack(xs), torch.stack(ys)

    def close(self) -> None:
        """Close the file handle of this process (reopened on the next read)."""
        self.source.close()


def read_ns_frames(
    path: str | os.PathLike,
    *,
    indices: Sequence[int] | None = None,
    sub: int = 1,
    include_initial: bool = False,
) -> torch.Tensor:
    """Every frame of the chosen samples in the FNO ``.mat`` layout ``(N, s', s', F)`` float32.

    Frame conventions as in the module docstring (``include_initial=False``: ``F = R`` snapshots after the
    initial field, like FNO's ``u``).

    Examples
    --------
    >>> u = read_ns_frames("data/ns_v1e-3_s64.h5", indices=range(10))  # doctest: +SKIP
    >>> u.shape  # doctest: +SKIP
    torch.Size([10, 64, 64, 20])
    """
    src = _Source(Path(path), include_initial)
    idx = range(src.n) if indices is None else indices
    try:
        u = src.read_many(idx)[:, :, ::sub, ::sub]  # (N, F, s', s')
    finally:
        src.close()
    return torch.from_numpy(np.ascontiguousarray(u.transpose(0, 2, 3, 1)))  # (N, s', s', F)
