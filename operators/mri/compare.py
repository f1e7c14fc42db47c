"""Compare reconstruction methods on fully sampled files (what ``mri compare`` runs).

NMSE / PSNR / SSIM (mean ± std over volumes) and seconds per slice for several methods and accelerations, a
figure grid and a markdown + JSON table. Trained runs that differ only in their seed are pooled into one more row
(mean ± std over volumes and over seeds).

>>> spec = CompareSpec(data="data/knee_val", out="results/compare", accelerations=(4, 8))
>>> record = compare_methods(spec)  # doctest: +SKIP

Every input is checked before the output folder is created; a non-finite metric is an error naming the volumes;
``results.json`` is standard JSON; every file appears under its final name only when complete.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from monarch_sci.operators.mri.coil_maps import CoilMapSpec
from monarch_sci.operators.mri.methods import load_volume, make_problem, recon_methods, reconstruct, resolve_method
from monarch_sci.training.checkpoint import atomic_folder, save_figure, write_json_atomic, write_text_atomic
from monarch_sci.training.fingerprint import data_fingerprints
from monarch_sci.training.records import job_record

__all__ = ["CompareSpec", "compare_methods"]

#: What each row of the summary reports (mean ± std over volumes; pooled seed groups also ± std over seeds).
_METRICS = ("nmse", "psnr", "ssim", "seconds_per_slice", "cpu_seconds_per_slice")


@dataclass(frozen=True)
class CompareSpec:
    """A comparison of reconstruction methods (``monarch-sci mri compare``).

    Parameters
    ----------
    data
        A folder of fully sampled fastMRI-layout files, each with a ``reconstruction_rss`` target.
    out
        The output folder: ``results.md`` (the table), ``results.json`` (the record), ``figure.png``; written as a
        whole into a new folder beside it that takes its place only once complete
        (:func:`~monarch_sci.training.checkpoint.atomic_folder`: a kill leaves the previous outputs as they were).
    accelerations
        Undersampling factors (each retrospectively applied with line masks of ``mask_type``).
    mask_type, mask_policy, center_fraction
        The line-mask family (``"random"``, ``"equispaced"``, ``"equispaced_fraction"``), the seeding (one mask
        for all: ``"fixed"``, per ``"volume"``, per ``"slice"``) and the centre fraction (``None``: fastMRI's).
    methods
        Method names or trained run folders (:func:`~monarch_sci.operators.mri.methods.resolve_method`;
        ``None``: every registered method).
    max_volumes
        Use only the first N files (``None``: all).
    maxval
        PSNR/SSIM data range: the ``"volume"``'s max, or the file's ``max`` ``"attr"``.
    hide_seeds
        List only the pooled row of runs that differ only in their seed.
    coil_maps
        How the coil maps of every method (classical and learned) are estimated
        (:class:`~monarch_sci.operators.mri.coil_maps.CoilMapSpec`); the settings used are in the record.
    device, progress
        Where the SENSE methods run; show a progress bar.

    Examples
    --------
    >>> CompareSpec(data="val", out="cmp").accelerations
    (2, 4)
    """

    data: str | os.PathLike
    out: str | os.PathLike
    accelerations: Sequence[int] = (2, 4)
    mask_type: Literal["random", "equispaced", "equispaced_fraction"] = "random"
    mask_policy: Literal["fixed", "volume", "slice"] = "volume"
    methods: Sequence[str] | None = None
    center_fraction: float | None = None
    max_volumes: int | None = None
    maxval: Literal["volume", "attr"] = "volume"
    hide_seeds: bool = False
    coil_maps: CoilMapSpec = field(default_factory=CoilMapSpec)
    device: str = "cpu"
    progress: bool = True


def _check_inputs(spec: CompareSpec) -> list[Path]:
    """The files to compare, each checked (layout, header sizes, fully sampled, finite target)."""
    import h5py
    import numpy as np

    from monarch_sci.datasets.mri.fastmri import inspect_volume, list_volume_files
    from monarch_sci.datasets.mri.masks import LineMaskFunc

    if spec.max_volumes is not None and spec.max_volumes < 1:
        raise ValueError(f"--max-volumes: expected a positive count (or leave it out for all), got {spec.max_volumes}")
    files = list_volume_files(spec.data, "--data")[: spec.max_volumes]
    for acc in spec.accelerations:
        try:
            LineMaskFunc(spec.mask_type, [acc], None if spec.center_fraction is None else [spec.center_fraction])
        except ValueError as err:
            raise ValueError(f"--center-fraction / --accelerations: {err}") from None
    for f in files:
        info = inspect_volume(f)  # also refuses an unusable header recon size
        if info.has_mask:
            raise ValueError(f"{f} is undersampled (has a 'mask'); compare needs fully sampled files")
        if "reconstruction_rss" not in info.recon_keys:
            raise ValueError(f"{f} has no 'reconstruction_rss' target; compare needs one per file")
        with h5py.File(f, "r") as hf:
            bad = int((~np.isfinite(np.asarray(hf["reconstruction_rss"]))).sum())
        if bad:
            raise ValueError(f"{f}: 'reconstruction_rss' holds {bad} NaN/Inf values; the metrics would be meaningless")
    return files


def compare_methods(
    spec: CompareSpec, *, command: str | None = None, arguments: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Reconstruct every file at every acceleration with every method; write the table, record and figure.

    Parameters
    ----------
    spec
        The files, methods, accelerations and output folder.
    command, arguments
        What the record names as the command line and its arguments (default: ``None`` and the spec's fields).

    Returns
    -------
    dict
        The record written to ``results.json``: ``summary`` (one row per acceleration and method, pooled seed
        groups and the ESPIRiT maps' time included), ``per_volume`` metrics, ``seed_groups``, ``volumes``,
        ``data_fingerprint`` (each file read, by content), versions and threads. ``results.md`` holds the markdown
        table.

    Raises
    ------
    ValueError
        A bad argument or input file (checked before the output folder is created), or non-finite metrics.
    """
    import torch

    files = _check_inputs(spec)
    methods = [resolve_method(m) for m in (spec.methods or list(recon_methods()))]
    names = [n for n, _ in methods]
    out = Path(spec.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    per_volume, figure_rows, figure_truth, info = _score(spec, files, methods)
    bad = sorted(
        {f"{r['volume']} ({r['method']}, {r['acceleration']}x)" for r in per_volume
         if any(k in r and not math.isfinite(r[k]) for k in ("nmse", "psnr", "ssim"))}
    )  # fmt: skip
    if bad:
        raise ValueError(
            f"non-finite metrics (NaN/Inf) for {len(bad)} reconstructions: {', '.join(bad[:6])}"
            f"{' ...' if len(bad) > 6 else ''}; check those volumes (a constant target, or a method that diverged)"
        )
    groups = _seed_groups(methods)
    summary = _summarise(per_volume, names, list(spec.accelerations), groups)
    if spec.hide_seeds:
        members = {m for ms in groups.values() for m in ms}
        summary = [r for r in summary if r["method"] not in members]
    record = job_record(
        command,
        asdict(spec) if arguments is None else arguments,
        "sigpy",
        "h5py",
        threads=torch.get_num_threads(),
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        volumes=[f.name for f in files],
        data_fingerprint=data_fingerprints({f.name: f for f in files}),  # the files read, by content
        seed_groups=groups,
        coil_maps=asdict(spec.coil_maps),
        summary=summary,
        per_volume=per_volume,
    )
    # the set of outputs is written into a folder beside ``out`` that takes its place once complete
    with atomic_folder(out, replace=True) as folder:
        write_json_atomic(folder / "results.json", record)
        write_text_atomic(folder / "results.md", _markdown(summary, names, spec, len(files)))
        # The figure shows one seed of each pooled group (the first), under the group's name.
        shown = {ms[0]: g for g, ms in groups.items()}
        hidden = {m for ms in groups.values() for m in ms[1:]}
        fig_names = [shown.get(n, n) for n in names if n not in hidden]
        fig_rows = {
            acc: {shown.get(n, n): img for n, img in row.items() if n not in hidden} for acc, row in figure_rows.items()
        }
        title = f"{files[0].name}, slice {info.num_slices // 2}"
        _compare_figure(folder / "figure.png", figure_truth, fig_rows, fig_names, title)
    return record


def _score(spec: CompareSpec, files: list[Path], methods: list[tuple[str, Callable[..., Any]]]):
    """Per-volume metrics of every method at every acceleration, and the first volume's middle slices."""
    import h5py
    import numpy as np

    from monarch_sci.datasets.mri.masks import LineMaskFunc, apply_line_mask, line_masks_for_volume
    from monarch_sci.metrics import nmse, psnr, ssim

    per_volume: list[dict[str, Any]] = []
    figure_rows: dict[int, dict[str, np.ndarray]] = {}
    figure_truth = None
    progress = None
    if spec.progress:
        from monarch_sci.training.progress import progress_bar

        progress = progress_bar(total=len(files) * len(spec.accelerations) * len(methods), desc="compare", unit="recon")
    cf = None if spec.center_fraction is None else [spec.center_fraction]
    for vi, f in enumerate(files):
        info, kspace_full, _, sampling = load_volume(f)
        if sampling != "full":
            raise ValueError(f"{f} is undersampled (zero k-space columns); compare needs fully sampled files")
        with h5py.File(f, "r") as hf:
            truth = np.asarray(hf["reconstruction_rss"], dtype=np.float32)
        maxval = float(info.attrs["max"]) if spec.maxval == "attr" else None
        g = info.geometry
        for acc in spec.accelerations:
            func = LineMaskFunc(spec.mask_type, [acc], cf)
            masks = line_masks_for_volume(
                func, kspace_full.shape[-1], info.num_slices, policy=spec.mask_policy, fname=f.name
            )
            kspace, masks = apply_line_mask(kspace_full, masks, padding=(g.padding_left, g.padding_right))
            problem = make_problem(info, kspace, masks, spec.device, spec.coil_maps)
            for name, method in methods:
                images, seconds, cpu_seconds = reconstruct(method, info, problem)
                per_volume.append(
                    {
                        "volume": f.name,
                        "acceleration": acc,
                        "method": name,
                        "nmse": nmse(truth, images),
                        "psnr": psnr(truth, images, maxval),
                        "ssim": ssim(truth, images, maxval),
                        "seconds_per_slice": seconds / info.num_slices,
                        "cpu_seconds_per_slice": cpu_seconds / info.num_slices,
                        "sampled_fraction": float(masks.mean()),
                        **problem.chosen.get(name, {}),  # e.g. the adaptive λ and its noise estimate
                    }
                )
                if vi == 0:
                    figure_rows.setdefault(acc, {})[name] = images[info.num_slices // 2]
                if progress is not None:
                    progress.update(1)
            if problem.maps_seconds:
                per_volume.append(
                    {
                        "volume": f.name,
                        "acceleration": acc,
                        "method": "espirit_maps",
                        "seconds_per_slice": problem.maps_seconds / info.num_slices,
                        "cpu_seconds_per_slice": problem.maps_cpu_seconds / info.num_slices,
                        "settings": problem.maps_settings(),
                    }
                )
        if vi == 0:
            figure_truth = truth[info.num_slices // 2]
    if progress is not None:
        progress.close()
    return per_volume, figure_rows, figure_truth, info


def _compare_figure(path: Path, truth, rows: dict, methods: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    accs = sorted(rows)
    ncol = 1 + len(methods)
    fig, axes = plt.subplots(2 * len(accs), ncol, figsize=(2.2 * ncol, 2.3 * 2 * len(accs)), squeeze=False)
    vmax = float(truth.max())
    for i, acc in enumerate(accs):
        top, bottom = axes[2 * i], axes[2 * i + 1]
        top[0].imshow(truth, cmap="gray", vmin=0, vmax=vmax)
        top[0].set_title("truth (RSS)", fontsize=8)
        bottom[0].axis("off")
        bottom[0].text(0.5, 0.5, f"{acc}×\n|error| × 5", ha="center", va="center", fontsize=9)
        for j, m in enumerate(methods, start=1):
            img = rows[acc][m]
            top[j].imshow(img, cmap="gray", vmin=0, vmax=vmax)
            psnr_v = 10 * np.log10(vmax**2 / np.mean((img - truth) ** 2))
            top[j].set_title(f"{m} {acc}×\n{psnr_v:.1f} dB", fontsize=8)
            bottom[j].imshow(np.abs(img - truth) * 5, cmap="magma", vmin=0, vmax=vmax)
        for a in (*top, *bottom):
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _seed_groups(methods: list[tuple[str, Callable[..., Any]]]) -> dict[str, list[str]]:
    """Pool methods that differ only in their training seed: ``{"LABEL (N seeds)": [member names]}``.

    A method joins a group through its ``seed_group`` attribute ``(label, key)`` (set by run loaders; runs
    with equal keys trained the same thing from different seeds). Groups of one are not pooled.
    """
    by_key: dict[tuple[str, str], list[str]] = {}
    for name, method in methods:
        key = getattr(method, "seed_group", None)
        if key is not None:
            by_key.setdefault(tuple(key), []).append(name)
    groups: dict[str, list[str]] = {}
    for (label, _), members in by_key.items():
        if len(members) < 2:
            continue
        name = f"{label} ({len(members)} seeds)"
        n = 2
        while name in groups:  # two different configurations with the same label
            name = f"{label} ({len(members)} seeds, #{n})"
            n += 1
        groups[name] = members
    return groups


def _summarise(
    per_volume: list[dict], names: list[str], accs: list[int], groups: dict[str, list[str]] | None = None
) -> list[dict]:
    """Per method and acceleration: mean ± std over volumes. For a pooled seed group, each volume's value is
    first averaged over the seeds (``*_std`` is then the std over volumes of those averages) and ``*_std_seeds``
    is the std over seeds of each seed's mean over volumes (:func:`~monarch_sci.training.records.pool_seeds`)."""
    from monarch_sci.training.records import pool_seeds

    groups = groups or {}
    rows = []
    for acc in accs:
        for name in [*names, *groups, "espirit_maps"]:
            members = groups.get(name, [name])
            recs = [r for r in per_volume if r["acceleration"] == acc and r["method"] in members]
            if not recs:
                continue
            volumes = sorted({r["volume"] for r in recs})
            row: dict[str, Any] = {"acceleration": acc, "method": name, "volumes": len(volumes)}
            if name in groups:
                row["seeds"] = len(members)
                row["members"] = list(members)
            for key in _METRICS:
                if not any(key in r for r in recs):
                    continue
                value = {(r["method"], r["volume"]): r[key] for r in recs if key in r}
                # (seeds, volumes); a member missing a volume would be a bug upstream, so let it raise
                pooled = pool_seeds([[value[m, v] for v in volumes] for m in members])
                row[key] = pooled["mean"]
                row[key + "_std"] = pooled["std_volumes"]
                if name in groups:
                    row[key + "_std_seeds"] = pooled["std_seeds"]
            rows.append(row)
    return rows


def _markdown(summary: list[dict], names: list[str], spec: CompareSpec, nvol: int) -> str:
    rng = "the file's max attr" if spec.maxval == "attr" else "the volume's max"
    lines = [
        f"Reconstructions, {nvol} volumes, {spec.mask_type} line masks ({spec.mask_policy} policy), "
        f"metrics per volume (fastMRI definitions, data range = {rng}), "
        "mean ± std over volumes; wall and CPU seconds per slice exclude the ESPIRiT maps (listed separately, "
        "shared by the SENSE-based methods). Runs that differ only in their training seed are pooled in a row "
        "`LABEL (N seeds)`: mean over seeds and volumes, ± std over volumes of the seed-averaged values, "
        "and in brackets ± std over seeds of each seed's mean.",
        "",
        "| accel | method | NMSE | PSNR (dB) | SSIM | wall s / slice | CPU s / slice |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(r: dict, key: str, fmt: str) -> str:
        text = f"{r[key]:{fmt}} ± {r[key + '_std']:{fmt}}"
        if key + "_std_seeds" in r:
            text += f" [± {r[key + '_std_seeds']:{fmt}}]"
        return text

    for r in summary:
        if r["method"] == "espirit_maps":
            lines.append(
                f"| {r['acceleration']}× | ESPIRiT maps | | | | {r['seconds_per_slice']:.3f} | "
                f"{r['cpu_seconds_per_slice']:.3f} |"
            )
            continue
        lines.append(
            f"| {r['acceleration']}× | {r['method']} | {cell(r, 'nmse', '.4f')} | {cell(r, 'psnr', '.2f')} | "
            f"{cell(r, 'ssim', '.4f')} | "
            f"{r['seconds_per_slice']:.3f} | {r['cpu_seconds_per_slice']:.3f} |"
        )
    return "\n".join(lines) + "\n"
