"""Reconstruction methods by name for ``mri recon`` / ``mri compare``, and reading a file into a problem.

Methods are looked up by name in :func:`recon_methods` (the classical ones of
:mod:`monarch_sci.operators.mri.classical` plus anything added with :func:`register_recon_method`); a run folder
is handed to the loaders in :data:`RUN_LOADERS`, the hook through which trained models plug in. Every method
has the signature ``method(problem: ReconProblem) -> images (slices, H', W)``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monarch_sci.cli.common import UserError

__all__ = [
    "CLASSICAL_METHOD_NAMES",
    "EXTRA_METHODS",
    "RUN_LOADERS",
    "UnknownMethodError",
    "h5_files",
    "load_volume",
    "make_problem",
    "recon_methods",
    "reconstruct",
    "register_recon_method",
    "resolve_method",
]

#: The classical methods (kept here so that ``--help`` needs no heavy import; a test checks it matches).
CLASSICAL_METHOD_NAMES = ("zero_filled_rss", "zero_filled_sense", "cg_sense", "l1_wavelet")

#: Extra methods: name -> ``method(problem) -> images``; learned models register here.
EXTRA_METHODS: dict[str, Callable[..., Any]] = {}


def _run_folder(path: Path):
    from monarch_sci.operators.mri.runs import run_method

    return run_method(path)


#: Run-folder loaders: ``loader(path) -> (name, method)`` for a folder it recognises, else ``None``.
RUN_LOADERS: list[Callable[[Path], tuple[str, Callable[..., Any]] | None]] = [_run_folder]


class UnknownMethodError(ValueError):
    """``--model`` / ``--methods`` names neither a registered method nor a loadable run folder."""


def register_recon_method(name: str, method: Callable[..., Any]) -> None:
    """Add a reconstruction method usable by ``mri recon --model NAME`` and ``mri compare --methods NAME``."""
    if name in CLASSICAL_METHOD_NAMES or name in EXTRA_METHODS:
        raise ValueError(f"register_recon_method: a method named {name!r} already exists")
    EXTRA_METHODS[name] = method


def recon_methods() -> dict[str, Callable[..., Any]]:
    """All methods by name: the classical ones, then the registered extras."""
    from monarch_sci.operators.mri.classical import CLASSICAL_METHODS

    return {**CLASSICAL_METHODS, **EXTRA_METHODS}


def resolve_method(spec: str) -> tuple[str, Callable[..., Any]]:
    """``(name, method)`` for a method name or a run folder (via :data:`RUN_LOADERS`)."""
    methods = recon_methods()
    if spec in methods:
        return spec, methods[spec]
    path = Path(spec)
    if path.is_dir():
        for loader in RUN_LOADERS:
            found = loader(path)
            if found is not None:
                return found
        raise UnknownMethodError(
            f"mri: {spec} is a folder, but no registered run loader recognises it "
            f"({len(RUN_LOADERS)} loaders registered); known methods: {', '.join(methods)}"
        )
    raise UnknownMethodError(f"mri: unknown method {spec!r}; choose one of {', '.join(methods)} or a run folder")


def h5_files(path: str | os.PathLike, flag: str) -> list[Path]:
    """The ``*.h5`` files of a folder (sorted), or the one file ``path``; a user error naming ``flag`` if none."""
    src = Path(path)
    if not src.exists():
        raise UserError(f"{flag} {src}: no such file or folder")
    files = sorted(src.glob("*.h5")) if src.is_dir() else [src]
    if not files:
        raise UserError(f"{flag} {src}: no *.h5 files in the folder")
    return files


def check_recon_size(info) -> None:
    """Refuse a header recon size that is empty or absurd for the k-space (it sizes every image allocated).

    A minimal CLI-side check; the file reader (:func:`~monarch_sci.datasets.mri.fastmri.inspect_volume`) is
    the natural home for it.
    """
    h, w = info.geometry.recon_size[:2]
    H, W = info.kspace_shape[-2:]
    if not (1 <= h <= 2 * H and 1 <= w <= 2 * W):
        raise UserError(
            f"{info.path}: header reconSpace matrixSize (x, y) = ({h}, {w}) is not a usable image size for k-space "
            f"(H, W) = ({H}, {W}); expected 1..{2 * H} by 1..{2 * W}; fix the header's reconSpace"
        )


def load_volume(path: str | os.PathLike):
    """Validate a file and read it: ``(info, kspace (S,C,H,W), masks (S,W), sampling)``.

    ``sampling`` says where the masks came from: ``"mask"`` (the file's), ``"inferred"`` (no 'mask', but whole
    columns are exactly zero on every coil: those are unsampled, sigpy's rule) or ``"full"`` (fully sampled).
    A file without 'mask' whose zeros form a 2-D pattern (points, not whole columns) is refused: it is not
    fully sampled, and the line-mask reconstruction cannot represent it.
    """
    import h5py
    import numpy as np

    from monarch_sci.datasets.mri.fastmri import inspect_volume
    from monarch_sci.datasets.mri.masks import apply_line_mask

    info = inspect_volume(path, check_data=True)
    check_recon_size(info)
    with h5py.File(info.path, "r") as hf:
        kspace = np.asarray(hf["kspace"])
        mask = np.asarray(hf["mask"]).astype(bool) if info.has_mask else None
    if not info.multicoil:  # single-coil: one "coil" with unit sensitivity
        kspace = kspace[:, None]
    S, W = kspace.shape[0], kspace.shape[-1]
    g = info.geometry
    sampling = "mask"
    if mask is None:
        # seam: the maskless-sampling inference may move into the reader / ReconProblem (MRI-physics work)
        sampled = (kspace != 0).any(axis=1)  # (S, H, W): sampled where any coil is non-zero
        acquired = slice(g.padding_left, g.padding_right)  # outside it: zero padding, not undersampling
        columns = sampled.any(axis=1)  # (S, W)
        holes = int((~sampled[..., acquired] & columns[:, None, acquired]).sum())
        if holes:
            raise UserError(
                f"{info.path}: 'kspace' has {holes} exactly-zero points inside sampled columns and no 'mask': a 2-D "
                "sampling pattern, which these reconstructions cannot take yet; it is not fully sampled either "
                "(give the file a 'mask' with `monarch-sci mri import`)"
            )
        columns[:, : g.padding_left] = True
        columns[:, g.padding_right :] = True
        sampling = "full" if columns.all() else "inferred"
        mask = None if sampling == "full" else columns
    masks = np.ones((S, W), bool) if mask is None else np.broadcast_to(mask, (S, W)).copy()
    kspace, masks = apply_line_mask(kspace, masks, padding=(g.padding_left, g.padding_right))
    return info, kspace.astype(np.complex64), masks, sampling


def make_problem(info, kspace, masks, device: str):
    """The :class:`~monarch_sci.operators.mri.classical.ReconProblem` of one volume (readout cropped)."""
    from monarch_sci.operators.mri.classical import ReconProblem

    return ReconProblem(kspace, masks, recon_height=info.geometry.recon_size[0], device=device)


def reconstruct(method, info, problem):
    """Run one method on one volume: magnitude images cropped to the recon size, wall and CPU seconds.

    Coil maps are estimated by the first method that asks for them and reused by the next ones on the same
    ``problem``; their time is not counted in the method's seconds. CPU time (``time.process_time``, all
    threads of this process) is recorded next to wall time because a shared machine inflates the latter.
    """
    import numpy as np

    from monarch_sci.datasets.mri.fastmri import FastMRIFileError, center_crop

    before, before_cpu = problem.maps_seconds, problem.maps_cpu_seconds
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        images = method(problem)
    except ValueError as err:
        raise FastMRIFileError(info.path, f"cannot be reconstructed: {err}") from err
    seconds = time.perf_counter() - t0 - (problem.maps_seconds - before)
    cpu_seconds = time.process_time() - c0 - (problem.maps_cpu_seconds - before_cpu)
    images = np.abs(np.asarray(images))
    if images.ndim != 3 or images.shape[0] != problem.num_slices:
        raise ValueError(f"mri: method returned images of shape {images.shape}, expected (slices, H, W)")
    return center_crop(images, info.geometry.recon_size[:2]).astype(np.float32), seconds, cpu_seconds
