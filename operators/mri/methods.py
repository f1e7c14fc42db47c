"""Reconstruction methods by name, and reading a fastMRI file into a reconstruction problem.

What ``mri recon`` / ``mri compare`` run (:func:`~monarch_sci.operators.mri.recon_file.reconstruct_file`,
:func:`~monarch_sci.operators.mri.compare.compare_methods`). Methods are looked up by name in :func:`recon_methods`
(the classical ones of :mod:`monarch_sci.operators.mri.classical` plus anything added with
:func:`register_recon_method`); a run folder is handed to the loaders in :data:`RUN_LOADERS`, the hook through which
trained models plug in. Every method has the signature ``method(problem: ReconProblem) -> images (slices, H', W)``.

>>> name, method = resolve_method("zero_filled_rss")
>>> name, "zero_filled_rss" in recon_methods()
('zero_filled_rss', True)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "EXTRA_METHODS",
    "RUN_LOADERS",
    "UnknownMethodError",
    "load_volume",
    "make_problem",
    "mask_pattern",
    "recon_methods",
    "reconstruct",
    "register_recon_method",
    "resolve_method",
]

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
    from monarch_sci.operators.mri.classical import CLASSICAL_METHODS

    if name in CLASSICAL_METHODS or name in EXTRA_METHODS:
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


def load_volume(path: str | os.PathLike):
    """Validate a file and read it: ``(info, kspace (S,C,H,W), masks, sampling)``.

    ``masks`` are line masks ``(S, W)`` or 2-D patterns ``(S, H, W)`` (bool,
    :func:`~monarch_sci.datasets.mri.fastmri.volume_mask`), the never-acquired columns outside the header's
    phase-encode limits marked unsampled; ``kspace`` is zero where they are. ``sampling`` says where they came
    from: ``"mask"`` (the file's), ``"inferred"`` (no 'mask', but exactly-zero samples: the pattern, lines or
    2-D, is inferred by :func:`~monarch_sci.datasets.mri.masks.infer_mask` — never taken as fully sampled) or
    ``"full"``.
    """
    import h5py
    import numpy as np

    from monarch_sci.datasets.mri.fastmri import inspect_volume, volume_mask
    from monarch_sci.datasets.mri.masks import apply_line_mask, as_line_mask, infer_mask

    info = inspect_volume(path, check_data=True)  # also refuses an unusable header recon size
    with h5py.File(info.path, "r") as hf:
        kspace = np.asarray(hf["kspace"])
        mask = np.asarray(hf["mask"]) if info.has_mask else None
    if not info.multicoil:  # single-coil: one "coil" with unit sensitivity
        kspace = kspace[:, None]
    g = info.geometry
    sampling = "mask"
    if mask is None:
        sampled = infer_mask(kspace)  # (S, H, W)
        sampled[..., : g.padding_left] = True  # outside the acquired columns: zero padding, not undersampling
        sampled[..., g.padding_right :] = True
        sampling = "full" if sampled.all() else "inferred"
        lines = as_line_mask(sampled)
        mask = sampled if lines is None else lines
    masks = volume_mask(mask, kspace.shape).copy()
    if masks.ndim == 2:
        kspace, masks = apply_line_mask(kspace, masks, padding=(g.padding_left, g.padding_right))
    else:  # a 2-D pattern: the same rule, point by point
        masks[..., : g.padding_left] = False
        masks[..., g.padding_right :] = False
        kspace = kspace * masks[:, None]
    return info, kspace.astype(np.complex64), masks, sampling


def mask_pattern(masks) -> str:
    """``"line"`` for line masks ``(S, W)``, ``"2-D"`` for sampling patterns ``(S, H, W)`` (what records say)."""
    return "line" if masks.ndim == 2 else "2-D"


def make_problem(info, kspace, masks, device: str, coil_maps=None):
    """The :class:`~monarch_sci.operators.mri.classical.ReconProblem` of one volume (readout cropped), its maps
    estimated with ``coil_maps`` (a :class:`~monarch_sci.operators.mri.coil_maps.CoilMapSpec`; ``None``: the
    defaults)."""
    from monarch_sci.operators.mri.classical import ReconProblem

    return ReconProblem(kspace, masks, recon_height=info.geometry.recon_size[0], device=device, coil_map_spec=coil_maps)


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
