"""What the one-field frame readers of foreign rollout files share (PDEBench, The Well).

:class:`FrameFile` opens the file once to inspect it (the subclass's ``_inspect`` sets ``n``, ``n_frames``,
``s``, ``times``, ``mapping`` and what ``read`` needs), keeps no handle across a fork (each DataLoader worker
opens its own), and reads several samples one at a time. :func:`choose_component` turns ``field``/``channel``
into a choice, or refuses an ambiguous or impossible one naming the file, what it holds and the flag to pass.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["FrameFile", "choose_component"]


def choose_component(
    where: str,
    fields: dict[str, tuple[str, ...]],
    field: str | None,
    channel: int | None,
    *,
    listing: str,
    note: str = "",
) -> tuple[str, int]:
    """``(field, channel)`` chosen among ``fields`` (name → component labels), or a ``ValueError``.

    ``None`` is accepted only where there is nothing to choose (one field; one component). ``where`` starts
    every message (the file and its kind), ``listing`` describes the fields, ``note`` is appended when the named
    field is absent (e.g. that it is constant in time).
    """
    if field is None:
        if len(fields) != 1 or len(next(iter(fields.values()))) != 1:
            raise ValueError(
                f"{where}: holds the time-varying fields {listing}; choose one with --field NAME (and --channel K "
                "for a field with several components)"
            )
        field = next(iter(fields))
    if field not in fields:
        raise ValueError(f"{where}: no time-varying field {field!r}{note}; it holds {listing}")
    labels = fields[field]
    if channel is None and len(labels) > 1:
        raise ValueError(
            f"{where}: field {field!r} has {len(labels)} components ({', '.join(labels)}); choose one with "
            f"--channel 0..{len(labels) - 1}"
        )
    channel = 0 if channel is None else int(channel)
    if not 0 <= channel < len(labels):
        raise ValueError(f"{where}: --channel {channel} out of range for {field!r} ({', '.join(labels)})")
    return field, channel


class FrameFile:
    """Base of the frame readers ``read(i) -> (F, s, s)`` float32 over one HDF5 file of another tool's schema.

    Parameters
    ----------
    path, field, channel, include_initial
        The file, the field and component read (see :func:`choose_component`), whether frame 0 (the first
        stored state) is kept.
    """

    kind = ""  # the --format name
    what = ""  # the kind of file, for messages

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        field: str | None = None,
        channel: int | None = None,
        include_initial: bool = True,
    ) -> None:
        import h5py

        self.path, self.include_initial = Path(path), bool(include_initial)
        self._h5, self._pid = None, None
        try:
            with h5py.File(self.path, "r") as h5:
                self._inspect(h5, field, channel)
        except (OSError, KeyError) as err:
            raise ValueError(f"{self.path}: unreadable {self.what} ({type(err).__name__}: {err})") from err

    def _inspect(self, h5, field: str | None, channel: int | None) -> None:
        raise NotImplementedError

    def read(self, i: int, frames: slice = slice(None), sub: int = 1) -> np.ndarray:
        """Frames ``frames`` (of the ``n_frames``) of sample ``i`` on every ``sub``-th grid point: ``(F, s', s')``
        float32; only those are read from the file."""
        raise NotImplementedError

    def _stored(self, frames: slice) -> slice:
        """The stored time steps of the frames ``frames`` (frame 0 is stored step 1 without the initial state)."""
        start, stop, step = frames.indices(self.n_frames)
        off = 0 if self.include_initial else 1
        return slice(start + off, stop + off, step)

    def _file(self):
        import h5py

        if self._h5 is None or self._pid != os.getpid():  # a forked DataLoader worker opens its own handle
            self._h5, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._h5

    def read_many(self, indices: Sequence[int], *, frames: slice = slice(None), sub: int = 1) -> np.ndarray:
        """Frames of several samples ``(n, F, s', s')``, read one sample at a time (each touches its own chunks)."""
        idx = [int(i) for i in indices]
        if not idx:
            return np.zeros((0, self.n_frames, self.s, self.s), np.float32)[:, frames, ::sub, ::sub]
        return np.stack([self.read(i, frames, sub) for i in idx])

    def close(self) -> None:
        """Close this process's handle (reopened on the next read)."""
        if self._h5 is not None:
            self._h5.close()
        self._h5 = None

    def __getstate__(self):
        return {**self.__dict__, "_h5": None}  # h5py handles do not pickle; workers reopen
