"""``monarch-sci mri``: simulate fastMRI-layout data, undersample it, reconstruct files, compare methods.

* ``mri simulate``    — simulated multi-coil volumes in the fastMRI layout (:mod:`monarch_sci.datasets.mri.simulate`).
* ``mri undersample`` — fastMRI test-style copies: masked ``kspace`` plus a ``mask`` dataset, no targets.
* ``mri recon``       — reconstruct every slice of one file with a method and write fastMRI ``reconstruction_*``.
* ``mri compare``     — NMSE / PSNR / SSIM (mean ± std over volumes) and seconds per slice for several methods
  and accelerations, a figure grid and a markdown + JSON table. Trained runs that differ only in their seed
  are pooled into one more row (mean ± std over volumes and over seeds).

Methods are looked up by name in :func:`recon_methods` (the classical ones of
:mod:`monarch_sci.operators.mri.classical` plus anything added with :func:`register_recon_method`); a run folder
is handed to the loaders in :data:`RUN_LOADERS`, the hook through which trained models plug in. Every method
has the signature ``method(problem: ReconProblem) -> images (slices, H', W)``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monarch_sci.cli import mri_learned
from monarch_sci.training.records import package_versions

#: The classical methods (kept here so that ``--help`` needs no heavy import; a test checks it matches).
CLASSICAL_METHOD_NAMES = ("zero_filled_rss", "zero_filled_sense", "cg_sense", "l1_wavelet")

#: Extra methods: name -> ``method(problem) -> images``; learned models register here.
EXTRA_METHODS: dict[str, Callable[..., Any]] = {}

#: Run-folder loaders: ``loader(path) -> (name, method)`` for a folder it recognises, else ``None``.
RUN_LOADERS: list[Callable[[Path], tuple[str, Callable[..., Any]] | None]] = [mri_learned.run_loader]


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


# ------------------------------------------------------------------------------------------------------------
# shared reading


def _load_volume(path: str | os.PathLike):
    """Validate a file, read its k-space and masks; returns ``(info, kspace (S,C,H,W), masks (S,W), masked?)``."""
    import h5py
    import numpy as np

    from monarch_sci.datasets.mri.fastmri import inspect_volume
    from monarch_sci.datasets.mri.masks import apply_line_mask

    info = inspect_volume(path, check_data=True)
    with h5py.File(info.path, "r") as hf:
        kspace = np.asarray(hf["kspace"])
        mask = np.asarray(hf["mask"]).astype(bool) if info.has_mask else None
    if not info.multicoil:  # single-coil: one "coil" with unit sensitivity
        kspace = kspace[:, None]
    S, W = kspace.shape[0], kspace.shape[-1]
    g = info.geometry
    masks = np.ones((S, W), bool) if mask is None else np.broadcast_to(mask, (S, W)).copy()
    kspace, masks = apply_line_mask(kspace, masks, padding=(g.padding_left, g.padding_right))
    return info, kspace.astype(np.complex64), masks, mask is not None


def _problem(info, kspace, masks, device: str):
    from monarch_sci.operators.mri.classical import ReconProblem

    return ReconProblem(kspace, masks, recon_height=info.geometry.recon_size[0], device=device)


def _reconstruct(method, info, problem):
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


def _set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(int(n))


# ------------------------------------------------------------------------------------------------------------
# commands


def cmd_simulate(args: argparse.Namespace) -> int:
    from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset

    cfg = SimulationConfig(
        recon_size=(args.size, args.width or args.size),
        num_coils=args.coils,
        num_slices=args.slices,
        oversampling=args.oversampling,
        fine_factor=args.fine_factor,
        noise_range=(args.noise_min, args.noise_max),
        seed=args.seed,
    )
    paths = simulate_dataset(args.out, cfg, args.volumes, prefix=args.prefix, progress=not args.quiet)
    H, W = cfg.encoding_size
    print(
        f"wrote {len(paths)} volumes to {args.out}: kspace ({args.slices}, {args.coils}, {H}, {W}), "
        f"recon {cfg.recon_size}"
    )
    return 0


def cmd_undersample(args: argparse.Namespace) -> int:
    import h5py
    import numpy as np

    from monarch_sci.datasets.mri.fastmri import inspect_volume, write_fastmri_volume
    from monarch_sci.datasets.mri.masks import LineMaskFunc, apply_line_mask, line_masks_for_volume

    src = Path(args.inp)
    files = sorted(src.glob("*.h5")) if src.is_dir() else [src]
    if not files:
        raise SystemExit(f"mri undersample: no *.h5 files in {src}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    func = LineMaskFunc(args.mask_type, [args.acceleration])
    for f in files:
        info = inspect_volume(f, check_data=True)
        if info.has_mask:
            raise SystemExit(f"mri undersample: {f} already holds a 'mask' (it is undersampled)")
        W = info.kspace_shape[-1]
        masks = line_masks_for_volume(func, W, info.num_slices, policy=args.policy, fname=f.name)
        g = info.geometry
        with h5py.File(f, "r") as hf:
            kspace = np.asarray(hf["kspace"])
            header = hf["ismrmrd_header"][()]
        kspace, masks = apply_line_mask(kspace, masks, padding=(g.padding_left, g.padding_right))
        keep = masks[0] if (masks == masks[0]).all() else masks
        attrs = {k: v for k, v in info.attrs.items() if k not in ("max", "norm")}
        attrs.update({"acceleration": args.acceleration, "num_low_frequency": func(W, seed=0).num_low_frequencies})
        write_fastmri_volume(
            out / f.name,
            kspace=kspace,
            header_xml=header.decode() if isinstance(header, bytes) else str(header),
            mask=keep,
            attrs=attrs,
        )
    print(f"wrote {len(files)} test-style files ({args.mask_type}, {args.acceleration}x) to {out}")
    return 0


def cmd_recon(args: argparse.Namespace) -> int:
    import h5py
    import numpy as np

    _set_threads(args.threads)
    name, method = resolve_method(args.model)
    info, kspace, masks, undersampled = _load_volume(args.inp)
    images, seconds, _ = _reconstruct(method, info, _problem(info, kspace, masks, args.device))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    key = f"reconstruction_{name}"
    with h5py.File(out, "w") as hf:
        hf.create_dataset(key, data=images)
        hf["reconstruction"] = hf[key]  # the key fastMRI's evaluation reads (a hard link, no copy)
        with h5py.File(info.path, "r") as src:
            hf.create_dataset("ismrmrd_header", data=src["ismrmrd_header"][()])
        hf.attrs["method"] = name
        hf.attrs["source"] = os.path.abspath(info.path)
        hf.attrs["undersampled"] = bool(undersampled)
        hf.attrs["sampled_fraction"] = float(masks.mean())
        hf.attrs["seconds_per_slice"] = seconds / info.num_slices
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        png_dir = Path(args.png)
        png_dir.mkdir(parents=True, exist_ok=True)
        vmax = float(np.percentile(images, 99.5)) or 1.0
        for s, img in enumerate(images):
            plt.imsave(png_dir / f"{Path(info.path).stem}_{name}_slice{s:03d}.png", img, cmap="gray", vmin=0, vmax=vmax)
    print(f"{info.name}: {name} on {info.num_slices} slices ({seconds / info.num_slices:.3f} s/slice) -> {out} [{key}]")
    return 0


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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_compare(args: argparse.Namespace) -> int:
    import h5py
    import numpy as np
    import torch

    from monarch_sci.datasets.mri.masks import LineMaskFunc, apply_line_mask, line_masks_for_volume
    from monarch_sci.metrics import nmse, psnr, ssim

    _set_threads(args.threads)
    data = Path(args.data)
    files = sorted(data.glob("*.h5")) if data.is_dir() else [data]
    files = files[: args.max_volumes or None]
    if not files:
        raise SystemExit(f"mri compare: no *.h5 files in {data}")
    methods = [resolve_method(m) for m in (args.methods or list(recon_methods()))]
    names = [n for n, _ in methods]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_volume: list[dict[str, Any]] = []
    figure_rows: dict[int, dict[str, np.ndarray]] = {}
    figure_truth = None
    progress = None
    if not args.quiet:
        from tqdm import tqdm

        progress = tqdm(total=len(files) * len(args.accelerations) * len(methods), desc="compare", unit="recon")
    for vi, f in enumerate(files):
        info, kspace_full, _, undersampled = _load_volume(f)
        if undersampled:
            raise SystemExit(f"mri compare: {f} is undersampled (has a 'mask'); compare needs fully sampled files")
        with h5py.File(f, "r") as hf:
            if "reconstruction_rss" not in hf:
                raise SystemExit(f"mri compare: {f} has no 'reconstruction_rss' target")
            truth = np.asarray(hf["reconstruction_rss"], dtype=np.float32)
        maxval = float(info.attrs["max"]) if args.maxval == "attr" else None
        g = info.geometry
        for acc in args.accelerations:
            func = LineMaskFunc(args.mask_type, [acc])
            masks = line_masks_for_volume(
                func, kspace_full.shape[-1], info.num_slices, policy=args.policy, fname=f.name
            )
            kspace, masks = apply_line_mask(kspace_full, masks, padding=(g.padding_left, g.padding_right))
            problem = _problem(info, kspace, masks, args.device)
            for name, method in methods:
                images, seconds, cpu_seconds = _reconstruct(method, info, problem)
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
                    }
                )
        if vi == 0:
            figure_truth = truth[info.num_slices // 2]
    if progress is not None:
        progress.close()
    groups = _seed_groups(methods)
    summary = _summarise(per_volume, names, args.accelerations, groups)
    if args.hide_seeds:
        members = {m for ms in groups.values() for m in ms}
        summary = [r for r in summary if r["method"] not in members]
    record = {
        "command": "monarch-sci mri " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["mri"] else None,
        "args": {k: v for k, v in vars(args).items() if k not in ("func", "group_parser")},
        "versions": package_versions("sigpy", "h5py"),
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "volumes": [f.name for f in files],
        "seed_groups": groups,
        "summary": summary,
        "per_volume": per_volume,
    }
    (out / "results.json").write_text(json.dumps(record, indent=2, default=str))
    table = _markdown(summary, names, args, len(files))
    (out / "results.md").write_text(table)
    # The figure shows one seed of each pooled group (the first), under the group's name.
    shown = {ms[0]: g for g, ms in groups.items()}
    hidden = {m for ms in groups.values() for m in ms[1:]}
    fig_names = [shown.get(n, n) for n in names if n not in hidden]
    fig_rows = {
        acc: {shown.get(n, n): img for n, img in row.items() if n not in hidden} for acc, row in figure_rows.items()
    }
    _compare_figure(
        out / "figure.png", figure_truth, fig_rows, fig_names, f"{files[0].name}, slice {info.num_slices // 2}"
    )
    print(table)
    print(f"wrote {out / 'results.md'}, {out / 'results.json'}, {out / 'figure.png'}")
    return 0


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


_METRICS = ("nmse", "psnr", "ssim", "seconds_per_slice", "cpu_seconds_per_slice")


def _summarise(
    per_volume: list[dict], names: list[str], accs: list[int], groups: dict[str, list[str]] | None = None
) -> list[dict]:
    """Per method and acceleration: mean ± std over volumes. For a pooled seed group, each volume's value is
    first averaged over the seeds (``*_std`` is then the std over volumes of those averages) and ``*_std_seeds``
    is the std over seeds of each seed's mean over volumes (:func:`~monarch_sci.metrics.pool_seeds`)."""
    from monarch_sci.metrics import pool_seeds

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


def _markdown(summary: list[dict], names: list[str], args: argparse.Namespace, nvol: int) -> str:
    rng = "the file's max attr" if args.maxval == "attr" else "the volume's max"
    lines = [
        f"Reconstructions, {nvol} volumes, {args.mask_type} line masks ({args.policy} policy), "
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


# ------------------------------------------------------------------------------------------------------------
# argument parsing


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("mri", help="MRI: simulate fastMRI-layout data, reconstruct, compare methods")
    p.set_defaults(group_parser=p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    methods_help = ", ".join(CLASSICAL_METHOD_NAMES)

    s = sub.add_parser("simulate", help="write simulated multi-coil volumes in the fastMRI layout")
    s.add_argument("--volumes", type=int, default=20, help="number of volumes (files)")
    s.add_argument("--slices", type=int, default=8, help="slices per volume")
    s.add_argument("--coils", type=int, default=8, help="receiver coils")
    s.add_argument("--size", type=int, default=320, help="recon height h (and width unless --width)")
    s.add_argument("--width", type=int, default=None, help="recon width w (default: --size)")
    s.add_argument("--oversampling", type=int, default=2, help="readout oversampling: k-space H = oversampling·h")
    s.add_argument("--fine-factor", type=int, default=2, help="simulation grid refinement (no inverse crime)")
    s.add_argument("--noise-min", type=float, default=0.01, help="min relative receiver noise")
    s.add_argument("--noise-max", type=float, default=0.04, help="max relative receiver noise")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--prefix", default="file_sim", help="file name prefix")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_simulate)

    u = sub.add_parser("undersample", help="make fastMRI test-style copies (masked kspace + 'mask')")
    u.add_argument("--in", dest="inp", required=True, help="a fully sampled file or folder")
    u.add_argument("--out", required=True, help="output folder")
    u.add_argument("--acceleration", type=int, default=4, choices=(2, 4, 8))
    u.add_argument(
        "--mask-type", default="equispaced_fraction", choices=("random", "equispaced", "equispaced_fraction")
    )
    u.add_argument("--policy", default="volume", choices=("fixed", "volume", "slice"), help="mask seeding")
    u.set_defaults(func=cmd_undersample)

    r = sub.add_parser(
        "recon",
        help="reconstruct every slice of a fastMRI file",
        description=f"Reconstruct every slice of a fastMRI file (fully sampled, or test-style with a 'mask'). "
        f"Methods: {methods_help}; or a trained run folder (once a run loader is registered).",
    )
    r.add_argument("--model", required=True, metavar="METHOD_OR_RUN", help=f"one of {methods_help}, or a run folder")
    r.add_argument("--in", dest="inp", required=True, help="input fastMRI .h5 file")
    r.add_argument("--out", required=True, help="output .h5 (reconstruction_<method> and reconstruction)")
    r.add_argument(
        "--png",
        nargs="?",
        const=None,
        default=False,
        metavar="DIR",
        help="also write one PNG per slice (default DIR: next to --out)",
    )
    r.add_argument("--device", default="cpu")
    r.add_argument("--threads", type=int, default=None, help="torch threads")
    r.set_defaults(func=_recon_entry)

    c = sub.add_parser("compare", help="compare reconstruction methods on fully sampled files")
    c.add_argument("--data", required=True, help="folder of fully sampled fastMRI files (with reconstruction_rss)")
    c.add_argument("--out", required=True, help="output folder: results.md, results.json, figure.png")
    c.add_argument("--methods", nargs="+", default=None, help=f"default: all registered ({methods_help})")
    c.add_argument("--accelerations", type=int, nargs="+", default=[2, 4])
    c.add_argument(
        "--mask-type", default="equispaced_fraction", choices=("random", "equispaced", "equispaced_fraction")
    )
    c.add_argument("--policy", default="volume", choices=("fixed", "volume", "slice"), help="mask seeding")
    c.add_argument("--max-volumes", type=int, default=None)
    c.add_argument("--maxval", default="volume", choices=("volume", "attr"), help="PSNR/SSIM data range")
    c.add_argument("--device", default="cpu")
    c.add_argument("--threads", type=int, default=None, help="torch threads")
    c.add_argument("--quiet", action="store_true")
    c.add_argument(
        "--hide-seeds",
        action="store_true",
        help="list only the pooled row of runs that differ just in their seed, not each run",
    )
    c.set_defaults(func=cmd_compare)

    # -- learned models (issue 6; added by its developer): `mri train`, run folders for recon/compare --------
    mri_learned.add_train_parser(sub)


def _recon_entry(args: argparse.Namespace) -> int:
    if args.png is None:  # --png without a folder
        args.png = str(Path(args.out).with_suffix("")) + "_png"
    elif args.png is False:
        args.png = None
    return cmd_recon(args)
