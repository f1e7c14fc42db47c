"""``monarch-sci mri``: simulate fastMRI-layout data, import k-space, undersample it, reconstruct, compare, train.

* ``mri simulate``    — simulated multi-coil volumes in the fastMRI layout (:mod:`monarch_sci.datasets.mri.simulate`).
* ``mri import``      — NumPy, BART ``.cfl`` or ISMRMRD k-space as a fastMRI file (:mod:`.kspace_import`).
* ``mri undersample`` — fastMRI test-style copies: masked ``kspace`` plus a ``mask`` dataset, no targets.
* ``mri recon``       — reconstruct every slice of one file with a method and write fastMRI ``reconstruction_*``.
* ``mri compare``     — metrics of several methods and accelerations.
* ``mri train``       — a learned reconstruction (:mod:`monarch_sci.cli.mri.train`).

This package is the ``mri`` command group: each command turns its flags into a typed spec and calls the Python
API, :func:`~monarch_sci.datasets.mri.undersample.undersample_files`,
:func:`~monarch_sci.operators.mri.recon_file.reconstruct_file`,
:func:`~monarch_sci.operators.mri.compare.compare_methods`, ...; methods and run folders are resolved in
:mod:`monarch_sci.operators.mri.methods`. Every job checks its inputs before creating any output, writes each file
under a temporary name and renames it into place when complete, and writes a JSON record (arguments, versions)
beside its outputs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from monarch_sci.cli import common
from monarch_sci.cli.common import UserError, add_command, add_flags, from_flags, resolve_device, set_threads
from monarch_sci.cli.mri import kspace_import, methods, train
from monarch_sci.cli.mri.methods import CLASSICAL_METHOD_NAMES, MASK_TYPES, cli_arguments, coil_map_spec
from monarch_sci.cli.mri.methods import job_record as _record

__all__ = ["CLASSICAL_METHOD_NAMES", "register"]

_LINE_MASK_TYPES = tuple(t for t in MASK_TYPES if t != "poisson")  # `mri compare` scores line masks


def __getattr__(name: str) -> Any:
    # EXTRA_METHODS, RUN_LOADERS, UnknownMethodError, recon_methods, register_recon_method, resolve_method, ...:
    # moved to monarch_sci.operators.mri.methods (forwarded for one release, with a DeprecationWarning)
    if methods.moved(name):
        return methods.forward(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------------------------
# commands


def cmd_simulate(args: argparse.Namespace) -> int:
    from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset
    from monarch_sci.training.checkpoint import write_json_atomic
    from monarch_sci.training.records import folder_record_path

    common.cpu_device(args.device, "the simulation (NumPy/SciPy)")
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
    # each file is written under a temporary name and renamed into place when complete: a killed run never
    # leaves a partial .h5 under a final name (nor replaces a previous good one); under torchrun the ranks share
    # the volumes and rank 0 writes the record once all are written
    final = simulate_dataset(
        out, cfg, args.volumes, prefix=args.prefix, progress=not args.no_progress, overwrite=args.overwrite
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    record = folder_record_path(out)  # beside the folder: readers of the folder open every file in it
    write_json_atomic(record, _record(args, files=[f.name for f in final]))
    H, W = cfg.encoding_size
    print(
        f"wrote {len(final)} volumes to {out}: kspace ({args.slices}, {args.coils}, {H}, {W}), "
        f"recon {cfg.recon_size}; record {record}"
    )
    return 0


def cmd_undersample(args: argparse.Namespace) -> int:
    from monarch_sci.datasets.mri.undersample import UndersampleSpec, undersample_files
    from monarch_sci.training.records import folder_record_path

    common.cpu_device(args.device, "undersampling (NumPy)")
    spec = from_flags(UndersampleSpec, args, source=args.inp, progress=not args.no_progress)
    files = undersample_files(spec, command="mri undersample", arguments=cli_arguments(args))
    print(
        f"wrote {len(files)} test-style files ({args.mask_type}, {args.acceleration}x) to {Path(args.out)}; "
        f"record {folder_record_path(args.out)}"
    )
    return 0


def _recon_spec(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """The spec of a reconstructing command (``mri recon``, ``mri compare``) from its flags, torch's threads set:
    the device resolved, progress and coil maps from their flags, ``overrides`` as :func:`from_flags`'s."""
    set_threads(args.threads)
    device, coil_maps = str(resolve_device(args.device)), coil_map_spec(args)
    return from_flags(cls, args, device=device, progress=not args.no_progress, coil_maps=coil_maps, **overrides)


def cmd_recon(args: argparse.Namespace) -> int:
    from monarch_sci.operators.mri.recon_file import ReconFileSpec, reconstruct_file

    if args.png is None:  # --png without a folder
        args.png = str(Path(args.out).with_suffix("")) + "_png"
    elif args.png is False:
        args.png = None
    spec = _recon_spec(ReconFileSpec, args, source=args.inp)
    record = reconstruct_file(spec, command="mri recon", arguments=cli_arguments(args))
    name, s = Path(args.inp).name, record["mask_shape"][0]
    if record["sampling"] == "inferred":
        print(
            f"{name}: no 'mask'; {record['mask_pattern']} sampling inferred from zero samples "
            f"({record['sampled_fraction']:.1%} sampled)"
        )
    print(
        f"{name}: {record['method']} on {s} slices ({record['seconds_per_slice']:.3f} s/slice) -> {Path(args.out)} "
        f"[reconstruction_{record['method']}]"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from monarch_sci.operators.mri.compare import CompareSpec, compare_methods

    spec = _recon_spec(CompareSpec, args)
    command = "monarch-sci mri " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["mri"] else None
    compare_methods(spec, command=command, arguments=cli_arguments(args))
    out = Path(args.out)
    print((out / "results.md").read_text())
    print(f"wrote {out / 'results.md'}, {out / 'results.json'}, {out / 'figure.png'}")
    return 0


# ------------------------------------------------------------------------------------------------------------
# argument parsing


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser("mri", help="MRI: simulate fastMRI-layout data, reconstruct, compare methods")
    p.set_defaults(group_parser=p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    methods_help = ", ".join(CLASSICAL_METHOD_NAMES)

    s = add_command(
        sub,
        "simulate",
        cmd_simulate,
        help="write simulated multi-coil volumes (torchrun: shared by rank); record: OUT.json beside the folder",
    )
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
    add_flags(s, "seed", "out", "no_progress", "cpu_device")

    i = add_command(
        sub,
        "import",
        kspace_import.cmd_import,
        help="write a NumPy array, BART .cfl or ISMRMRD raw file as a fastMRI-layout file",
        description="Import multi-coil k-space: .npy/.npz (axes named by --layout: S slices, C coils, H readout, "
        "W phase encode; default CHW or SCHW), BART .cfl/.hdr (READ, PHS1, PHS2, COIL, ..., SLICE: a 2-D scan, a "
        "phase-encode plane or a 3-D volume, by which of READ, PHS1, PHS2 are 1; see --layout) or ISMRMRD raw "
        "HDF5 (Cartesian; lines placed by their encoding counters, noise and navigator scans skipped, the mask is "
        "the acquired lines; 3-D scans become phase-encode planes with the readout transformed; needs the "
        "'ismrmrd' extra). The mask may be (W,), (H, W), (S, W) or (S, H, W); without one, zero samples are read "
        "as unsampled (the pattern is inferred and recorded) - never as fully sampled.",
    )
    i.add_argument("input", metavar="INPUT", help="k-space: .npy, .npz, BART .cfl/.hdr, or ISMRMRD .h5")
    i.add_argument("--format", default="auto", choices=("auto", "numpy", "bart", "ismrmrd"),
                   help="input format (auto: by suffix; an HDF5 file with an ISMRMRD group is ismrmrd)")  # fmt: skip
    i.add_argument("--group", dest="ismrmrd_group", default=None,
                   help="ISMRMRD: the dataset group (default: the only one, e.g. dataset)")  # fmt: skip
    i.add_argument("--no-prewhiten", dest="prewhiten", action="store_false",
                   help="ISMRMRD: keep the coils as acquired (default: whitened with the file's noise scan, if any: "
                   "noise covariance, Cholesky, recorded)")  # fmt: skip
    i.add_argument("--average", action="store_true",
                   help="ISMRMRD: average repeated acquisitions of a k-space location (averages, repetitions) "
                   "instead of refusing them")  # fmt: skip
    add_flags(i, "out", out_help="output .h5 file (the JSON record is its attribute 'record')")
    i.add_argument("--mask", default=None, help="sampling mask: .npy/.npz or BART .cfl (zeros and ones)")
    i.add_argument("--layout", default=None,
                   help="NumPy: axis letters, e.g. CHW, SCHW, HWC (default CHW / SCHW); BART: 2d (READ×PHS1×1×COIL), "
                   "plane (1×PHS1×PHS2×COIL), 3d (a k-space volume; readout inverse transformed) or hybrid (readout "
                   "already transformed) - default by which of READ, PHS1, PHS2 are 1")  # fmt: skip
    i.add_argument("--key", default=None, help=".npz: the array holding the k-space (default: the only one)")
    i.add_argument("--recon-size", type=int, nargs=2, default=None, metavar=("h", "w"), help="default: (H, W)")
    add_flags(i, "cpu_device")

    u = add_command(sub, "undersample", cmd_undersample, help="make fastMRI test-style copies (masked kspace + 'mask')")
    u.add_argument("--in", dest="inp", required=True, help="a fully sampled file or folder")
    add_flags(u, "out", "acceleration", "mask_policy", "mask_type", "no_progress", mask_policy="volume",
              mask_types=MASK_TYPES, mask_type="equispaced_fraction", mask_type_help="mask family: fastMRI line "
              "masks, or 2-D Poisson-disc (sigpy; a fixed calibration square, stored as one (H, W) mask per file "
              "with --mask-policy volume)")  # fmt: skip
    u.add_argument("--center-fraction", type=float, default=None, help="centre fraction (default: fastMRI's)")
    add_flags(u, "cpu_device")

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
    r.add_argument("--lam", type=common.number_or("auto"), default=None, metavar="LAM|auto",
                   help="cg_sense: Tikhonov weight λ of ‖Ax−y‖² + λ‖x‖²; l1_wavelet: λ of ½‖Ax−y‖² + λ‖Ψx‖₁, exactly "
                   "sigpy's L1WaveletRecon lamda (absolute); auto: from the data's noise level (outermost "
                   "k-space) and the scale of Aᴴy, recorded (None: auto)")  # fmt: skip
    r.add_argument("--lam-rel", type=float, default=None,
                   help="l1_wavelet: λ = lam_rel·max|Aᴴy| per slice, a weight independent of the data scale "
                   "(None: --lam auto)")  # fmt: skip
    r.add_argument("--max-iter", type=int, default=None, help="iteration cap (None: 500)")
    r.add_argument("--tol", type=float, default=None,
                   help="stop at relative residual ‖r‖/‖Aᴴy‖ ≤ tol (cg_sense; None: 1e-5) or relative step "
                   "‖Δx‖/(α‖Aᴴy‖) ≤ tol (l1_wavelet; None: 1e-4); 0: run all --max-iter iterations")  # fmt: skip
    add_flags(r, "coil_maps", "device", "threads", "no_progress", device="cpu")

    c = add_command(sub, "compare", cmd_compare, help="compare reconstruction methods on fully sampled files")
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
    add_flags(c, "coil_maps")

    train.add_train_parser(sub)
