"""``monarch-sci mri``: simulate fastMRI-layout data, import k-space, undersample it, reconstruct, compare, train.

* ``mri simulate``    — simulated multi-coil volumes in the fastMRI layout (:mod:`monarch_sci.datasets.mri.simulate`).
* ``mri import``      — NumPy, BART ``.cfl`` or ISMRMRD k-space as a fastMRI file (:mod:`.kspace_import`).
* ``mri undersample`` — fastMRI test-style copies: masked ``kspace`` plus a ``mask`` dataset, no targets.
* ``mri recon``       — reconstruct every slice of one file with a method and write fastMRI ``reconstruction_*``.
* ``mri compare``     — metrics of several methods and accelerations (:mod:`monarch_sci.cli.mri.compare`).
* ``mri train``       — a learned reconstruction (:mod:`monarch_sci.cli.mri.train`).

This package is the ``mri`` command group; methods and run folders are resolved in
:mod:`monarch_sci.cli.mri.methods`. Every job checks its inputs before
creating any output, writes each file under a temporary name and renames it into place when complete, and
writes a JSON record (arguments, versions) beside its outputs.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from monarch_sci.cli.common import UserError, add_command, add_flags, set_threads
from monarch_sci.cli.mri import compare, kspace_import, train
from monarch_sci.cli.mri.methods import (
    CLASSICAL_METHOD_NAMES,
    EXTRA_METHODS,
    MASK_TYPES,
    RUN_LOADERS,
    UnknownMethodError,
    h5_files,
    load_volume,
    make_problem,
    mask_pattern,
    recon_methods,
    reconstruct,
    register_recon_method,
    resolve_method,
)
from monarch_sci.cli.mri.methods import job_record as _record

__all__ = [
    "CLASSICAL_METHOD_NAMES",
    "EXTRA_METHODS",
    "RUN_LOADERS",
    "UnknownMethodError",
    "recon_methods",
    "register",
    "register_recon_method",
    "resolve_method",
]

_LINE_MASK_TYPES = tuple(t for t in MASK_TYPES if t != "poisson")  # `mri compare` scores line masks


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled)


# ------------------------------------------------------------------------------------------------------------
# commands


def cmd_simulate(args: argparse.Namespace) -> int:
    from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset
    from monarch_sci.training.checkpoint import write_json_atomic

    if args.volumes < 1:
        raise UserError(f"--volumes: expected a positive count, got {args.volumes}")
    cfg = SimulationConfig(
        recon_size=(args.size, args.width or args.size),
        num_coils=args.coils,
        num_slices=args.slices,
        oversampling=args.oversampling if args.oversampling is not None else (2 if args.acquisition == "2d" else 1),
        fine_factor=args.fine_factor,
        noise_range=(args.noise_min, args.noise_max),
        seed=args.seed,
        acquisition=args.acquisition,
    )  # validates before anything is written
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    # Written into a hidden staging folder, then renamed into place file by file: a killed run never leaves
    # a partial .h5 under a final name (nor replaces a previous good one).
    stage = out / f".staging-{os.getpid()}"
    try:
        paths = simulate_dataset(stage, cfg, args.volumes, prefix=args.prefix, progress=not args.no_progress)
        final = [out / p.name for p in paths]
        for p, f in zip(paths, final):
            os.replace(p, f)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    write_json_atomic(out / "simulate.json", _record(args, files=[f.name for f in final]))
    H, W = cfg.encoding_size
    print(
        f"wrote {len(final)} volumes to {out}: kspace ({args.slices}, {args.coils}, {H}, {W}), "
        f"recon {cfg.recon_size}; record {out / 'simulate.json'}"
    )
    return 0


def cmd_undersample(args: argparse.Namespace) -> int:
    import h5py
    import numpy as np

    from monarch_sci.datasets.mri.fastmri import inspect_volume, write_fastmri_volume
    from monarch_sci.datasets.mri.masks import (
        LineMaskFunc,
        apply_line_mask,
        line_masks_for_volume,
        poisson_calib,
        poisson_masks_for_volume,
    )
    from monarch_sci.training.checkpoint import atomic_output, write_json_atomic

    files = h5_files(args.inp, "--in")
    cf = None if args.center_fraction is None else [args.center_fraction]
    poisson = args.mask_type == "poisson"
    try:
        func = None if poisson else LineMaskFunc(args.mask_type, [args.acceleration], cf)
    except ValueError as err:
        raise UserError(f"--center-fraction / --acceleration: {err}") from None
    infos = []
    for f in files:  # every input checked before any output exists
        info = inspect_volume(f, check_data=True)
        if info.has_mask:
            raise UserError(f"{f} already holds a 'mask' (it is undersampled); undersample needs fully sampled files")
        infos.append(info)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    for f, info in _bar(list(zip(files, infos)), "undersample", not args.no_progress):
        H, W = info.kspace_shape[-2:]
        g = info.geometry
        with h5py.File(f, "r") as hf:
            kspace = np.asarray(hf["kspace"])
            header = hf["ismrmrd_header"][()]
        if poisson:  # a 2-D pattern in the (ky, kz) plane of a 3-D acquisition: one (H, W) mask per file
            calib = poisson_calib((H, W))
            masks = poisson_masks_for_volume(
                (H, W), args.acceleration, info.num_slices, calib=calib, policy=args.mask_policy, fname=f.name
            )
            kspace = kspace * masks[:, None]
            low = calib
        else:
            masks = line_masks_for_volume(func, W, info.num_slices, policy=args.mask_policy, fname=f.name)
            kspace, masks = apply_line_mask(kspace, masks, padding=(g.padding_left, g.padding_right))
            low = func(W, seed=0).num_low_frequencies
        keep = masks[0] if (masks == masks[0]).all() else masks
        attrs = {k: v for k, v in info.attrs.items() if k not in ("max", "norm")}
        attrs.update({"acceleration": args.acceleration, "num_low_frequency": low})
        with atomic_output(out / f.name) as tmp:
            write_fastmri_volume(
                tmp,
                kspace=kspace,
                header_xml=header.decode() if isinstance(header, bytes) else str(header),
                mask=keep,
                attrs=attrs,
            )
    write_json_atomic(out / "undersample.json", _record(args, files=[f.name for f in files]))
    print(f"wrote {len(files)} test-style files ({args.mask_type}, {args.acceleration}x) to {out}")
    return 0


def _bar(items, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="file", disable=not enabled)


def _with_controls(name: str, method, args: argparse.Namespace):
    """``method`` with ``--lam/--lam-rel/--max-iter/--tol`` applied; ``(method, settings, convergence)``.

    ``settings`` are the controls in force (given, or the defaults of ``cg_sense`` / ``l1_wavelet_recon`` of
    :mod:`monarch_sci.operators.mri.classical`, read from their signatures); ``convergence`` is filled by the
    run: iterations actually run, final residual or step.
    For ``l1_wavelet``, ``--lam`` is sigpy's ``lamda`` and ``--lam-rel`` the weight relative to ``max|Aᴴy|``.
    """
    import inspect

    given = {k: getattr(args, k) for k in ("lam", "lam_rel", "max_iter", "tol") if getattr(args, k) is not None}
    if name not in ("cg_sense", "l1_wavelet"):
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UserError(f"{flags}: method {name} is not iterative (use cg_sense or l1_wavelet)")
        return method, {}, {}
    from monarch_sci.operators.mri.classical import L1_LAM_REL, cg_sense, l1_wavelet_recon

    if name == "cg_sense":
        if "lam_rel" in given:
            raise UserError("--lam-rel: only for l1_wavelet (cg_sense's --lam is already relative to ‖AᴴA‖ ≤ 1)")
        solver, controls = cg_sense, ("lam", "max_iter", "tol")
    else:
        if "lam" in given and "lam_rel" in given:
            raise UserError(f"--lam {args.lam} and --lam-rel {args.lam_rel}: give one ℓ1 weight, not both")
        weight = "lam" if "lam" in given else "lam_rel"
        solver, controls = l1_wavelet_recon, (weight, "max_iter", "tol")
    params = inspect.signature(solver).parameters
    settings = {k: params[k].default for k in controls} | given
    if name == "l1_wavelet" and settings.get("lam_rel", 0) is None:
        settings["lam_rel"] = L1_LAM_REL
    convergence: dict = {}

    def controlled(problem):
        if solver is cg_sense:
            k, maps, mask = problem.tensors()
            x, res = cg_sense(k, maps, mask, **settings)
            convergence.update(iterations=res.iterations, residual=float(res.residual.max()),
                               converged=bool(res.converged.all()))  # fmt: skip
            return x.cpu().numpy()
        x, res = l1_wavelet_recon(problem.kspace, problem.coil_maps(), problem.sampling(), **settings)
        convergence.update(iterations=res.iterations, lam_used=res.lam, step=res.step)
        if settings["tol"] > 0:
            convergence["converged"] = all(s <= settings["tol"] for s in res.step)
        return x

    return controlled, settings, convergence


def cmd_recon(args: argparse.Namespace) -> int:
    import h5py
    import numpy as np

    from monarch_sci.training.checkpoint import atomic_output, write_json_atomic

    set_threads(args.threads)
    for key, low in (("lam", 0.0), ("lam_rel", 0.0), ("tol", 0.0)):
        if getattr(args, key) is not None and not getattr(args, key) >= low:
            raise UserError(f"--{key}: expected a number >= {low}, got {getattr(args, key)}")
    if args.max_iter is not None and args.max_iter < 1:
        raise UserError(f"--max-iter: expected a positive count, got {args.max_iter}")
    from monarch_sci.cli.common import resolve_device

    device = str(resolve_device(args.device))
    name, method = resolve_method(args.model)
    method, settings, convergence = _with_controls(name, method, args)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; expected an .h5 file name")
    bar = _progress(3, "recon", not args.no_progress)
    info, kspace, masks, sampling = load_volume(args.inp)
    pattern = mask_pattern(masks)
    bar.update(1)
    images, seconds, _ = reconstruct(method, info, make_problem(info, kspace, masks, device))
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
    record = _record(
        args,
        method=name,
        settings=settings,
        convergence=convergence,
        sampling=sampling,
        mask_pattern=pattern,
        mask_shape=list(masks.shape),
        sampled_fraction=float(masks.mean()),
    )
    record["seconds_per_slice"] = seconds / info.num_slices
    write_json_atomic(out.with_suffix(".json"), record)
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        png_dir = Path(args.png)
        vmax = float(np.percentile(images, 99.5)) or 1.0
        for s, img in enumerate(images):
            with atomic_output(png_dir / f"{Path(info.path).stem}_{name}_slice{s:03d}.png") as tmp:
                plt.imsave(tmp, img, cmap="gray", vmin=0, vmax=vmax, format="png")
    bar.update(1)
    bar.close()
    if sampling == "inferred":
        print(f"{info.name}: no 'mask'; {pattern} sampling inferred from zero samples ({masks.mean():.1%} sampled)")
    print(f"{info.name}: {name} on {info.num_slices} slices ({seconds / info.num_slices:.3f} s/slice) -> {out} [{key}]")
    return 0


# ------------------------------------------------------------------------------------------------------------
# argument parsing


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("mri", help="MRI: simulate fastMRI-layout data, reconstruct, compare methods")
    p.set_defaults(group_parser=p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    methods_help = ", ".join(CLASSICAL_METHOD_NAMES)

    s = add_command(sub, "simulate", cmd_simulate, help="write simulated multi-coil volumes in the fastMRI layout")
    s.add_argument("--volumes", type=int, default=20, help="number of volumes (files)")
    s.add_argument("--slices", type=int, default=8, help="slices per volume")
    s.add_argument("--coils", type=int, default=8, help="receiver coils")
    s.add_argument("--size", type=int, default=320, help="recon height h (and width unless --width)")
    s.add_argument("--width", type=int, default=None, help="recon width w (default: --size)")
    s.add_argument(
        "--oversampling",
        type=int,
        default=None,
        help="readout oversampling: k-space H = oversampling·h (default 2; 3d: 1, the only value)",
    )
    s.add_argument(
        "--acquisition",
        choices=("2d", "3d"),
        default="2d",
        help="2d: slices of a multi-slice scan (readout H); 3d: phase-encode planes (ky, kz) of a 3-D Cartesian "
        "scan, readout transformed, one slice per readout position (--size ky, --width kz, --slices readout)",
    )
    s.add_argument("--fine-factor", type=int, default=2, help="simulation grid refinement (no inverse crime)")
    s.add_argument("--noise-min", type=float, default=0.01, help="min relative receiver noise")
    s.add_argument("--noise-max", type=float, default=0.04, help="max relative receiver noise")
    s.add_argument("--prefix", default="file_sim", help="file name prefix")
    add_flags(s, "seed", "out", "no_progress")

    i = add_command(
        sub,
        "import",
        kspace_import.cmd_import,
        help="write a NumPy array, BART .cfl or ISMRMRD raw file as a fastMRI-layout file",
        description="Import multi-coil k-space: .npy/.npz (axes named by --layout: S slices, C coils, H readout, "
        "W phase encode; default CHW or SCHW), BART .cfl/.hdr (READ, PHS1, PHS2, COIL, ..., SLICE) or ISMRMRD raw "
        "HDF5 (Cartesian; lines placed by their encoding counters, noise and navigator scans skipped, the mask is "
        "the acquired lines; 3-D scans become phase-encode planes with the readout transformed; needs the "
        "'ismrmrd' extra). The mask may be (W,), (H, W), (S, W) or (S, H, W); without one, zero samples are read "
        "as unsampled (the pattern is inferred and recorded) - never as fully sampled.",
    )
    i.add_argument("input", metavar="INPUT", help="k-space: .npy, .npz, BART .cfl/.hdr, or ISMRMRD .h5")
    i.add_argument("--format", default="auto", choices=("auto", "numpy", "bart", "ismrmrd"),
                   help="input format (auto: by suffix; an HDF5 file with an ISMRMRD group is ismrmrd)")  # fmt: skip
    i.add_argument("--group", default=None, help="ISMRMRD: the dataset group (default: the only one, e.g. dataset)")
    i.add_argument("--out", required=True, help="output .h5 file (a JSON record is written beside it)")
    i.add_argument("--mask", default=None, help="sampling mask: .npy/.npz or BART .cfl (zeros and ones)")
    i.add_argument("--layout", default=None, help="NumPy axis letters, e.g. CHW, SCHW, HWC (default CHW / SCHW)")
    i.add_argument("--key", default=None, help=".npz: the array holding the k-space (default: the only one)")
    i.add_argument("--recon-size", type=int, nargs=2, default=None, metavar=("h", "w"), help="default: (H, W)")

    u = add_command(sub, "undersample", cmd_undersample, help="make fastMRI test-style copies (masked kspace + 'mask')")
    u.add_argument("--in", dest="inp", required=True, help="a fully sampled file or folder")
    add_flags(u, "out", "acceleration", "mask_policy", "mask_type", "no_progress", mask_policy="volume",
              mask_types=MASK_TYPES, mask_type="equispaced_fraction", mask_type_help="mask family: fastMRI line "
              "masks, or 2-D Poisson-disc (sigpy; a fixed calibration square, stored as one (H, W) mask per file "
              "with --mask-policy volume)")  # fmt: skip
    u.add_argument("--center-fraction", type=float, default=None, help="centre fraction (default: fastMRI's)")

    r = add_command(
        sub,
        "recon",
        cmd_recon,
        help="reconstruct every slice of a fastMRI file",
        description=f"Reconstruct every slice of a fastMRI file (fully sampled, or test-style with a 'mask': line "
        "(W,) / (S, W) or 2-D (H, W) / (S, H, W)). Without a 'mask', exactly-zero samples are read as unsampled: the "
        f"pattern (line or 2-D) is inferred and recorded, never taken as fully sampled. Methods: {methods_help}; "
        "or a trained run folder.",
    )
    r.add_argument("--model", required=True, metavar="METHOD_OR_RUN", help=f"one of {methods_help}, or a run folder")
    r.add_argument("--in", dest="inp", required=True, help="input fastMRI .h5 file")
    add_flags(r, "out", out_help="output .h5 (reconstruction_<method> and reconstruction); record: same name .json")
    r.add_argument("--png", nargs="?", const=None, default=False, metavar="DIR",
                   help="also write one PNG per slice (default DIR: next to --out)")  # fmt: skip
    r.add_argument("--lam", type=float, default=None,
                   help="cg_sense: Tikhonov weight λ of ‖Ax−y‖² + λ‖x‖² (None: 1e-3); l1_wavelet: λ of "
                   "½‖Ax−y‖² + λ‖Ψx‖₁, exactly sigpy's L1WaveletRecon lamda (absolute; None: --lam-rel)")  # fmt: skip
    r.add_argument("--lam-rel", type=float, default=None,
                   help="l1_wavelet: λ = lam_rel·max|Aᴴy| per slice, a weight independent of the data scale "
                   "(None: 3e-4 unless --lam is given)")  # fmt: skip
    r.add_argument("--max-iter", type=int, default=None, help="iteration cap (None: 500)")
    r.add_argument("--tol", type=float, default=None,
                   help="stop at relative residual ‖r‖/‖Aᴴy‖ ≤ tol (cg_sense; None: 1e-5) or relative step "
                   "‖Δx‖/(α‖Aᴴy‖) ≤ tol (l1_wavelet; None: 1e-4); 0: run all --max-iter iterations")  # fmt: skip
    add_flags(r, "device", "threads", "no_progress", device="cpu")
    r.set_defaults(func=_recon_entry)

    c = add_command(sub, "compare", compare.cmd_compare, help="compare reconstruction methods on fully sampled files")
    c.add_argument("--data", required=True, help="folder of fully sampled fastMRI files (with reconstruction_rss)")
    add_flags(c, "out", "accelerations", "mask_policy", "mask_type", "device", "threads", "no_progress",
              device="cpu", mask_policy="volume", out_help="output folder: results.md, results.json, figure.png",
              mask_types=_LINE_MASK_TYPES, mask_type="random", mask_type_help="line mask family (random: the "
              "family `mri train` trains with by default)")  # fmt: skip
    c.add_argument("--methods", nargs="+", default=None, help=f"default: all registered ({methods_help})")
    c.add_argument("--center-fraction", type=float, default=None, help="centre fraction (default: fastMRI's)")
    c.add_argument("--max-volumes", type=int, default=None, help="use only the first N files (default: all)")
    c.add_argument("--maxval", default="volume", choices=("volume", "attr"), help="PSNR/SSIM data range")
    c.add_argument("--hide-seeds", action="store_true", help="list only the pooled row of runs differing in seed")

    train.add_train_parser(sub)


def _recon_entry(args: argparse.Namespace) -> int:
    if args.png is None:  # --png without a folder
        args.png = str(Path(args.out).with_suffix("")) + "_png"
    elif args.png is False:
        args.png = None
    return cmd_recon(args)
