"""Training checkpoints: atomic writes, ``weights_only`` loads, and every random state needed to resume exactly.

A checkpoint is a plain dictionary of tensors and Python scalars/lists/dicts, so it loads with
``torch.load(..., weights_only=True)`` (no pickled objects). Random states are converted to that form:

* torch: the CPU generator state (a ``uint8`` tensor);
* NumPy: the legacy global ``MT19937`` state (key as an ``int64`` tensor, position, cached Gaussian);
* Python ``random``: version, the 625-word state as an ``int64`` tensor, ``gauss_next``;
* the DataLoader's ``torch.Generator`` (it seeds workers and any sampler that draws from it).

Writes go to a temporary file in the same folder followed by ``os.replace``, so a run killed mid-write
leaves the previous checkpoint intact. :func:`atomic_output` is that mechanism for any writer (HDF5 files, PNGs,
JSON): every file a job writes goes through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CheckpointError",
    "atomic_folder",
    "atomic_output",
    "get_rng_state",
    "load_checkpoint",
    "load_model_state",
    "partial_path",
    "replacing_run",
    "save_checkpoint",
    "save_figure",
    "set_rng_state",
    "write_json_atomic",
    "write_text_atomic",
]


def get_rng_state(loader_generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random state of this process as tensors and plain types (``weights_only``-loadable)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    if kind != "MT19937":  # pragma: no cover - NumPy's legacy generator is always MT19937
        raise RuntimeError(f"unexpected NumPy global generator {kind!r}")
    version, words, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "words": torch.tensor(words, dtype=torch.int64), "gauss_next": gauss_next},
    }
    if loader_generator is not None:
        state["loader"] = loader_generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], loader_generator: torch.Generator | None = None) -> None:
    """Restore what :func:`get_rng_state` captured (the loader generator too, when both are given)."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, npst["pos"], npst["has_gauss"], npst["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(int(w) for w in py["words"].tolist()), py["gauss_next"]))
    if loader_generator is not None:
        if "loader" not in state:
            raise KeyError("checkpoint has no DataLoader generator state, but a loader generator was given")
        loader_generator.set_state(state["loader"])


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary name of a resumable output (:func:`atomic_output` with ``resumable=True``): ``PATH.partial``.

    Examples
    --------
    >>> partial_path("data/darcy.h5").name
    'darcy.h5.partial'
    """
    path = Path(path)
    return path.with_name(path.name + ".partial")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, resumable: bool = False) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success ``os.replace`` it onto ``path``.

    A reader sees the old file or the new one, never half of one: a writer killed (or failing) inside the
    ``with`` block leaves ``path`` as it was. The one way every job writes a file. The temporaries
    ``.NAME.PID.tmp`` that killed writers left beside ``path`` are removed first
    (:func:`~monarch_sci.training.outputs.clean_stale_temporaries`).

    Parameters
    ----------
    path
        The final name.
    resumable
        ``False``: a per-process temporary file, removed when the block fails. ``True``: the temporary file is
        :func:`partial_path` (``PATH.partial``, the same for every process) and is kept when the block fails, so
        that a rerun can open it and continue where the last one stopped (the writer decides how).

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "result.txt"
    >>> with atomic_output(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    >>> try:
    ...     with atomic_output(out, resumable=True) as tmp:
    ...         _ = tmp.write_text("half")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> out.read_text(), partial_path(out).read_text()
    ('done', 'half')
    """
    from monarch_sci.training.outputs import clean_stale_temporaries

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)  # what a writer killed before its rename left behind
    tmp = partial_path(path) if resumable else path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if not resumable and tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, *, replace: bool = False, shared: bool = False) -> Iterator[Path]:
    """Yield a new empty folder beside ``path`` (``.NAME.PID.tmp``) to write into; on success its files join
    ``path``.

    The folder counterpart of :func:`atomic_output`: a writer killed (or failing) inside the block leaves
    ``path`` as it was. Then ``replace=True`` puts the new folder in ``path``'s place (the previous folder is
    removed only once the new one is in place: a whole data set replaced by a whole data set); ``replace=False``
    moves the new files into ``path`` one rename each, leaving its other files alone. ``shared=True`` (the
    ranks of one ``torchrun`` job writing into one folder) writes into ``path`` itself, each file still
    atomically.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "data"
    >>> with atomic_folder(out) as tmp:
    ...     _ = (tmp / "a.h5").write_text("one")
    ...     out.exists()
    False
    >>> with atomic_folder(out, replace=True) as tmp:
    ...     _ = (tmp / "b.h5").write_text("two")
    >>> sorted(p.name for p in out.iterdir())
    ['b.h5']
    """
    from monarch_sci.training.outputs import clean_stale_temporaries

    path = Path(path)
    if shared:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    new = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    new.mkdir()
    try:
        yield new
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    if not path.exists():
        os.replace(new, path)
    elif replace:
        old = path.with_name(f".{path.name}.{os.getpid()}.old")  # put back by the next run if killed right here
        os.replace(path, old)
        os.replace(new, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        for f in sorted(new.iterdir()):
            os.replace(f, path / f.name)
        new.rmdir()


@contextlib.contextmanager
def replacing_run(out: str | os.PathLike, *, overwrite: bool, run_files: tuple[str, ...]) -> Iterator[Path]:
    """The folder a training run writes into: ``out`` itself, or, where ``overwrite`` replaces a run that ``out``
    holds (any of ``run_files``), a new folder beside it that takes ``out``'s place only once the job ends well.

    A job killed or failing inside the block leaves the previous run whole (its checkpoints, record and plots);
    the new folder it left is cleaned by the next job writing ``out``. Under ``torchrun`` (``WORLD_SIZE`` > 1)
    the ranks share ``out``, so the previous run's ``run_files`` are removed at the start instead.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> out.mkdir(); _ = (out / "record.json").write_text("old")
    >>> with replacing_run(out, overwrite=True, run_files=("record.json",)) as work:
    ...     _ = (work / "record.json").write_text("new")
    ...     (out / "record.json").read_text(), work == out
    ('old', False)
    >>> (out / "record.json").read_text()
    'new'
    """
    from monarch_sci.training.ranks import rank_env

    out = Path(out)
    if not overwrite or not any((out / name).exists() for name in run_files):
        yield out
        return
    if rank_env("replacing_run")[1] > 1:
        for name in run_files:
            (out / name).unlink(missing_ok=True)
        yield out
        return
    with atomic_folder(out, replace=True) as work:
        yield work


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Write a matplotlib figure to ``path`` atomically (format from the suffix, PNG by default) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def _write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    with atomic_output(path) as tmp:
        write(tmp)
    return Path(path)


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file in the same folder, then ``os.replace``)."""
    return _write_atomically(path, lambda tmp: torch.save(payload, tmp))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, like :func:`save_checkpoint` (for records read back on resume)."""
    return _write_atomically(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as standard JSON (``NaN``/``Infinity`` refused: a non-finite metric is an error) atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=1, allow_nan=False, default=str) + "\n")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (truncated, corrupt, not a checkpoint) or that holds another model."""


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True`` onto the CPU.

    A file that is not a readable checkpoint (truncated by a full disk, overwritten by something else) raises
    :class:`CheckpointError` naming it, never the unpickler's own error.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, PermissionError, IsADirectoryError, MemoryError):
        raise
    except Exception as err:  # the unpickler's and zip reader's (EOFError, RuntimeError, UnpicklingError, EINVAL)
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({_first_line(err)}); it is truncated or corrupt: delete it, or start "
            "the run anew (--overwrite)"
        ) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not a checkpoint of this toolkit (a {type(ckpt).__name__}, not a dict)")
    return ckpt


def load_model_state(model: torch.nn.Module, path: str | os.PathLike, *, key: str = "model") -> dict[str, Any]:
    """Load the weights of the checkpoint ``path`` into ``model``; returns the checkpoint.

    A checkpoint of another model (a record edited, or a file from another run) raises :class:`CheckpointError`
    naming the file and the first mismatch.
    """
    ckpt = load_checkpoint(path)
    if key not in ckpt:
        raise CheckpointError(f"{path}: holds no {key!r} weights (keys {sorted(ckpt)[:6]})")
    try:
        model.load_state_dict(ckpt[key])
    except (RuntimeError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{path}: holds another model than its run record describes ({_first_line(err)}); was the record "
            "edited? Restore it, or train the run anew"
        ) from None
    return ckpt


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
