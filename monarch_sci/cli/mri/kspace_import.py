"""``monarch-sci mri import``: NumPy, BART ``.cfl`` or ISMRMRD raw k-space as our fastMRI-layout file.

The format comes from ``--format`` or, with ``auto``, from the suffix (``.npy``/``.npz``, ``.cfl``/``.hdr``) or,
for anything else, from the content (an HDF5 file with an ISMRMRD group). The readers are
:mod:`monarch_sci.datasets.mri.importers` and :mod:`monarch_sci.datasets.mri.ismrmrd_raw`; the writer is
:func:`~monarch_sci.datasets.mri.importers.import_kspace`. Everything is checked before the output exists.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from monarch_sci.cli.common import UserError, cpu_device
from monarch_sci.cli.mri.methods import job_record

__all__ = ["cmd_import"]


def _import_format(src: Path, fmt: str) -> str:
    """``numpy``, ``bart`` or ``ismrmrd`` for ``--format auto``: by suffix, and an HDF5 file by its content."""
    if fmt != "auto":
        return fmt
    if src.suffix in (".cfl", ".hdr"):
        return "bart"
    if src.suffix in (".npy", ".npz"):
        return "numpy"
    from monarch_sci.datasets.mri.ismrmrd_raw import is_ismrmrd_path

    if is_ismrmrd_path(src):
        return "ismrmrd"
    if not src.exists():
        raise UserError(f"INPUT {src}: no such file")
    raise UserError(
        f"INPUT {src}: expected a .npy, .npz, BART .cfl/.hdr or ISMRMRD raw HDF5 file (a group with 'xml' and "
        f"'data'), got {'suffix ' + repr(src.suffix) if src.suffix else 'no suffix'} and no ISMRMRD content"
    )


def _read_ismrmrd(src: Path, args: argparse.Namespace):
    given = [f for f, v in (("--mask", args.mask), ("--layout", args.layout), ("--key", args.key),
                            ("--recon-size", args.recon_size)) if v is not None]  # fmt: skip
    if given:
        raise UserError(
            f"{', '.join(given)}: an ISMRMRD file brings its own sampling (the acquired lines), axes and recon size"
        )
    try:
        from monarch_sci.datasets.mri.ismrmrd_raw import read_ismrmrd_kspace

        return read_ismrmrd_kspace(src, group=args.ismrmrd_group, prewhiten=args.prewhiten, average=args.average)
    except ModuleNotFoundError as err:
        raise UserError(
            f"INPUT {src}: reading ISMRMRD files needs the 'ismrmrd' package ({err}); "
            "install it with pip install 'monarch-sci[ismrmrd]'"
        ) from None


def cmd_import(args: argparse.Namespace) -> int:
    cpu_device(args.device, "the import (file conversion)")
    src = Path(args.input)
    fmt = _import_format(src, args.format)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; expected an .h5 file name")
    only = [f for f, v in (("--group", args.ismrmrd_group is not None), ("--no-prewhiten", not args.prewhiten),
                           ("--average", args.average)) if v]  # fmt: skip
    if only and fmt != "ismrmrd":
        raise UserError(f"{', '.join(only)}: only for ISMRMRD files; {src} is read as {fmt}")
    try:
        written, note = _convert(src, fmt, out, args)
    except (ValueError, FileNotFoundError) as err:  # the messages name INPUT; say that --out is untouched
        raise UserError(f"{err} (nothing written to {out})") from None
    print(
        f"wrote {out}: kspace {tuple(written['kspace'])}, mask {written['mask']}{note}, "
        f"{written['sampled_fraction']:.1%} sampled"
    )
    return 0


def _convert(src: Path, fmt: str, out: Path, args: argparse.Namespace) -> tuple[dict, str]:
    """Read ``src`` as ``fmt`` and write ``out``; ``(what was written, a note for the summary line)``."""
    import numpy as np

    from monarch_sci.datasets.mri import importers

    mask, header, recon_size, attrs = None, None, args.recon_size, {"source": os.path.abspath(src)}
    extra: dict = {"format": fmt}
    if fmt == "ismrmrd":
        if not src.is_file():
            raise UserError(f"INPUT {src}: no such file")
        scan = _read_ismrmrd(src, args)
        kspace, mask, header, recon_size = scan.kspace, scan.sampled, scan.header_xml, scan.recon_size
        attrs |= {
            "source_format": "ismrmrd",
            "readout_transformed": scan.acquisition == "3d",
            "prewhitened": bool(scan.noise and scan.noise["prewhitened"]),
            "averaged": scan.averaged is not None,
        }
        if scan.noise_covariance is not None:  # the Ψ the coils were whitened with, in the file
            attrs["noise_covariance"] = scan.noise_covariance
        extra |= {"acquisition": scan.acquisition, "acquisitions": scan.counts, "noise": scan.noise,
                  "averaged": scan.averaged}  # fmt: skip
    elif fmt == "bart":
        if args.layout is not None and args.layout not in importers.BART_LAYOUTS:
            raise UserError(
                f"--layout {args.layout}: INPUT {src} is a BART array, read as {' | '.join(importers.BART_LAYOUTS)} "
                "(default: by which of READ, PHS1, PHS2 are 1)"
            )
        kspace, layout = importers.bart_to_fastmri_layout(importers.read_cfl(src), str(src), args.layout)
        attrs |= {"source_format": "bart", "bart_layout": layout, "readout_transformed": layout in ("3d", "hybrid")}
        extra["bart_layout"] = layout
    else:
        if not src.is_file():
            raise UserError(f"INPUT {src}: no such file")
        kspace = importers.to_fastmri_layout(
            importers.read_numpy_kspace(src, key=args.key), args.layout, source=str(src)
        )
    if args.mask is not None:
        m = Path(args.mask)
        if m.suffix in (".cfl", ".hdr") and fmt == "bart":  # BART's dimensions, mapped as the k-space's are
            mask = importers.bart_mask_to_fastmri_layout(importers.read_cfl(m), layout, kspace.shape, str(m))
        elif m.suffix in (".cfl", ".hdr"):  # with NumPy k-space: the singleton dimensions dropped
            mask = np.squeeze(importers.read_cfl(m).real)
        else:
            mask = importers.read_numpy_kspace(m)
            mask = np.squeeze(mask) if mask.ndim > 3 else mask
    written = importers.import_kspace(
        kspace, out, mask=mask, recon_size=recon_size, attrs=attrs, header_xml=header, source=str(src),
        record=job_record(args, **extra),
    )  # fmt: skip
    note = " (mask inferred from zero samples)" if written["mask_inferred"] else ""
    if fmt == "ismrmrd":
        skipped = {k: v for k, v in scan.counts.items() if k != "used"}
        note = f" from {scan.counts['used']} {scan.acquisition.upper()} acquisitions" + (
            f" (skipped: {', '.join(f'{v} {k}' for k, v in skipped.items())})" if skipped else ""
        )
        if scan.noise and scan.noise["prewhitened"]:
            note += f"; prewhitened with {scan.noise['noise_acquisitions']} noise acquisitions"
        if scan.averaged:
            note += f"; {scan.averaged['locations']} points averaged (up to {scan.averaged['max_count']} each)"
    return written, note
