"""Reconstruct every slice of one fastMRI file with a method or a trained run (what ``mri recon`` runs).

>>> spec = ReconFileSpec(model="cg_sense", source="knee.h5", out="knee_cg.h5", max_iter=50)
>>> record = reconstruct_file(spec)  # doctest: +SKIP

The input is fully sampled, or test-style with a ``mask`` (line ``(W,)`` / ``(S, W)`` or 2-D ``(H, W)`` /
``(S, H, W)``); without a ``mask`` exactly-zero samples are read as unsampled (the pattern, line or 2-D, is inferred
and recorded, never taken as fully sampled). The output holds ``reconstruction_<method>`` and ``reconstruction``
(the key fastMRI's evaluation reads), the header and the settings as attributes; the JSON record (same name,
``.json``) holds the arguments, versions, settings and convergence. Every file appears under its final name only
when complete.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from monarch_sci.operators.mri.coil_maps import CoilMapSpec
from monarch_sci.operators.mri.methods import load_volume, make_problem, mask_pattern, reconstruct, resolve_method
from monarch_sci.training.checkpoint import atomic_output, write_json_atomic
from monarch_sci.training.records import job_record

__all__ = ["ReconFileSpec", "reconstruct_file"]

#: The methods that take the controls ``lam``, ``lam_rel``, ``max_iter``, ``tol``.
ITERATIVE = ("cg_sense", "l1_wavelet")


@dataclass(frozen=True)
class ReconFileSpec:
    """One file to reconstruct (``monarch-sci mri recon``).

    Parameters
    ----------
    model
        A method of :func:`~monarch_sci.operators.mri.methods.recon_methods` (``"zero_filled_rss"``,
        ``"zero_filled_sense"``, ``"cg_sense"``, ``"l1_wavelet"``, registered extras) or a trained run folder.
    source
        The input fastMRI ``.h5`` file.
    out
        The output ``.h5`` file; the record is written beside it with the suffix ``.json``.
    png
        A folder for one PNG per slice (``None``: no PNGs).
    lam, lam_rel, max_iter, tol
        Controls of the iterative methods (``None``: the solver's default): ``cg_sense`` minimises
        ``‖Ax−y‖² + λ‖x‖²`` (``lam``), ``l1_wavelet`` ``½‖Ax−y‖² + λ‖Ψx‖₁`` with ``lam`` sigpy's absolute ``lamda``
        or ``lam_rel`` the weight relative to ``max|Aᴴy|``; ``lam="auto"`` (the default of both, unless ``lam_rel``
        is given) sets λ from the data's noise level
        (:func:`~monarch_sci.operators.mri.regularisation.auto_lam`), recorded as ``convergence["lam_auto"]``;
        ``tol`` the stopping tolerance (0: all ``max_iter``).
    coil_maps
        How the coil maps are estimated (:class:`~monarch_sci.operators.mri.coil_maps.CoilMapSpec`: ``--calib``,
        ``--maps-kernel``, ``--maps-crop``, ``--maps-thresh``, ``--maps-min-coverage``).
    device
        Where the SENSE methods run (``"cpu"``, ``"cuda:0"``, ...).
    progress
        Show a progress bar.

    Examples
    --------
    >>> ReconFileSpec(model="zero_filled_rss", source="a.h5", out="b.h5").device
    'cpu'
    """

    model: str
    source: str | os.PathLike
    out: str | os.PathLike
    png: str | os.PathLike | None = None
    lam: float | Literal["auto"] | None = None
    lam_rel: float | None = None
    max_iter: int | None = None
    tol: float | None = None
    coil_maps: CoilMapSpec = field(default_factory=CoilMapSpec)
    device: str = "cpu"
    progress: bool = True


def _with_controls(name: str, method: Callable[..., Any], spec: ReconFileSpec):
    """``method`` with ``lam/lam_rel/max_iter/tol`` applied; ``(method, settings, convergence)``.

    ``settings`` are the controls in force (given, or the defaults of ``cg_sense`` / ``l1_wavelet_recon`` of
    :mod:`monarch_sci.operators.mri.classical`, read from their signatures); ``convergence`` is filled by the
    run: iterations actually run, final residual or step.
    """
    given = {k: getattr(spec, k) for k in ("lam", "lam_rel", "max_iter", "tol") if getattr(spec, k) is not None}
    if given.get("lam") == "auto" and (name not in ITERATIVE or "lam_rel" in given):
        del given["lam"]  # the default said out loud: nothing to control, or --lam-rel chooses the ℓ1 weight
    if name not in ITERATIVE:
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(f"{flags}: method {name} is not iterative (use cg_sense or l1_wavelet)")
        return method, {}, {}
    from monarch_sci.operators.mri.classical import cg_sense, l1_wavelet_recon

    if name == "cg_sense":
        if "lam_rel" in given:
            raise ValueError("--lam-rel: only for l1_wavelet (cg_sense's --lam is already relative to ‖AᴴA‖ ≤ 1)")
        solver, controls = cg_sense, ("lam", "max_iter", "tol")
    else:
        if "lam" in given and "lam_rel" in given:
            raise ValueError(f"--lam {spec.lam} and --lam-rel {spec.lam_rel}: give one ℓ1 weight, not both")
        weight = "lam" if "lam" in given else "lam_rel"
        solver, controls = l1_wavelet_recon, (weight, "max_iter", "tol")
    params = inspect.signature(solver).parameters
    settings = {k: params[k].default for k in controls} | given
    if name == "l1_wavelet" and settings.get("lam_rel", 0) is None:  # neither weight given
        settings = {"lam": "auto", **{k: v for k, v in settings.items() if k != "lam_rel"}}
    convergence: dict = {}

    def controlled(problem):
        if solver is cg_sense:
            k, maps, mask = problem.tensors()
            x, res = cg_sense(k, maps, mask, **settings)
            convergence.update(iterations=res.iterations, residual=float(res.residual.max()),
                               converged=bool(res.converged.all()), lam_used=res.lam)  # fmt: skip
            if res.lam_choice is not None:
                convergence["lam_auto"] = res.lam_choice.as_record()
            return x.cpu().numpy()
        x, res = l1_wavelet_recon(problem.kspace, problem.coil_maps(), problem.sampling(), **settings)
        convergence.update(iterations=res.iterations, lam_used=res.lam, step=res.step)
        if res.lam_choice is not None:
            convergence["lam_auto"] = res.lam_choice.as_record()
        if settings["tol"] > 0:
            convergence["converged"] = all(s <= settings["tol"] for s in res.step)
        return x

    return controlled, settings, convergence


def _check(spec: ReconFileSpec) -> None:
    if isinstance(spec.lam, str) and spec.lam != "auto":
        raise ValueError(f"--lam: expected a number >= 0 or 'auto', got {spec.lam!r}")
    for key, low in (("lam", 0.0), ("lam_rel", 0.0), ("tol", 0.0)):
        value = getattr(spec, key)
        if value is not None and value != "auto" and not value >= low:
            raise ValueError(f"--{key}: expected a number >= {low}, got {getattr(spec, key)}")
    if spec.max_iter is not None and spec.max_iter < 1:
        raise ValueError(f"--max-iter: expected a positive count, got {spec.max_iter}")


def reconstruct_file(
    spec: ReconFileSpec, *, command: str = "mri recon", arguments: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Reconstruct every slice of ``spec.source``, write ``spec.out`` (and PNGs), and return the JSON record.

    Every argument is checked (controls, method, output name) before anything is read or written; errors are
    ``ValueError``\\ s whose message names the culprit (an unknown method:
    :class:`~monarch_sci.operators.mri.methods.UnknownMethodError`; an unreadable file:
    :class:`~monarch_sci.datasets.mri.fastmri.FastMRIFileError`).

    Parameters
    ----------
    spec
        What to reconstruct, how, and where to write it.
    command, arguments
        What the record names as the command and its arguments (default: the spec's fields).

    Returns
    -------
    dict
        The record written to ``spec.out`` with suffix ``.json``: ``method``, ``settings``, ``convergence``,
        ``sampling`` (``"mask"``, ``"inferred"`` or ``"full"``), ``mask_pattern``, ``mask_shape``,
        ``sampled_fraction``, ``seconds_per_slice``, ``coil_maps`` (the ESPIRiT settings used, ``None`` for a
        method without maps), the arguments and versions.
    """
    import h5py
    import numpy as np

    _check(spec)
    name, method = resolve_method(spec.model)
    method, settings, convergence = _with_controls(name, method, spec)
    out = Path(spec.out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; expected an .h5 file name")
    from monarch_sci.training.progress import progress_bar

    bar = progress_bar(total=3, desc="recon", unit="step", enabled=spec.progress)
    info, kspace, masks, sampling = load_volume(spec.source)
    pattern = mask_pattern(masks)
    bar.update(1)
    problem = make_problem(info, kspace, masks, spec.device, spec.coil_maps)
    images, seconds, _ = reconstruct(method, info, problem)
    maps = problem.maps_settings()  # the ESPIRiT settings used (None: the method needed no maps)
    bar.update(1)
    key = f"reconstruction_{name}"
    with h5py.File(info.path, "r") as src:
        header = src["ismrmrd_header"][()]
    with atomic_output(out) as tmp:
        with h5py.File(tmp, "w") as hf:
            hf.create_dataset(key, data=images)
            hf["reconstruction"] = hf[key]  # the key fastMRI's evaluation reads (a hard link, no copy)
            hf.create_dataset("ismrmrd_header", data=header)
            hf.attrs["method"] = name
            hf.attrs["source"] = os.path.abspath(info.path)
            hf.attrs["undersampled"] = sampling != "full"
            hf.attrs["sampling"] = sampling
            hf.attrs["mask_pattern"] = pattern
            hf.attrs["sampled_fraction"] = float(masks.mean())
            hf.attrs["seconds_per_slice"] = seconds / info.num_slices
            for k, v in settings.items():
                hf.attrs[k] = v
            if "iterations" in convergence:
                hf.attrs["iterations"] = convergence["iterations"]
            if maps is not None:
                hf.attrs["coil_maps"] = json.dumps(maps)
            if "lam_auto" in convergence:  # the weights used and the rule that chose them
                hf.attrs["lam_used"] = convergence["lam_used"]
                hf.attrs["lam_rule"] = convergence["lam_auto"]["rule"]["formula"]
                hf.attrs["noise_sigma"] = convergence["lam_auto"]["noise"]["sigma"]
    record = job_record(
        command,
        asdict(spec) if arguments is None else arguments,
        "h5py",
        method=name,
        settings=settings,
        convergence=convergence,
        sampling=sampling,
        mask_pattern=pattern,
        mask_shape=list(masks.shape),
        sampled_fraction=float(masks.mean()),
        coil_maps=maps,
    )
    record["seconds_per_slice"] = seconds / info.num_slices
    write_json_atomic(out.with_suffix(".json"), record)
    if spec.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        png_dir = Path(spec.png)
        vmax = float(np.percentile(images, 99.5)) or 1.0
        for s, img in enumerate(images):
            with atomic_output(png_dir / f"{Path(info.path).stem}_{name}_slice{s:03d}.png") as tmp:
                plt.imsave(tmp, img, cmap="gray", vmin=0, vmax=vmax, format="png")
    bar.update(1)
    bar.close()
    return record
