"""fastMRI test-style copies of fully sampled files: masked ``kspace`` plus ``mask``, no targets (``mri undersample``).

>>> spec = UndersampleSpec(source="data/knee_val", out="data/knee_val_4x", acceleration=4)
>>> files = undersample_files(spec)  # doctest: +SKIP

Line masks (fastMRI's families) are stored as fastMRI stores them: one ``(W,)`` mask when every slice shares it,
else ``(S, W)``; 2-D Poisson-disc masks (``mask_type="poisson"``, a fixed calibration square) as ``(H, W)`` or
``(S, H, W)``. The file attributes keep the source's (``max`` and ``norm`` dropped: they describe the targets)
plus ``acceleration`` and ``num_low_frequency``. Every input is checked before any output exists; each file
appears under its final name only when complete.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from monarch_sci.datasets.mri.fastmri import inspect_volume, list_volume_files, write_fastmri_volume
from monarch_sci.datasets.mri.masks import (
    LineMaskFunc,
    apply_line_mask,
    line_masks_for_volume,
    poisson_calib,
    poisson_masks_for_volume,
)
from monarch_sci.training.checkpoint import atomic_folder, atomic_output, write_json_atomic
from monarch_sci.training.outputs import check_no_alias
from monarch_sci.training.records import folder_record_path, job_record

__all__ = ["UndersampleSpec", "undersample_files"]


@dataclass(frozen=True)
class UndersampleSpec:
    """Which fully sampled files to undersample, how, and where to write the copies.

    Parameters
    ----------
    source
        A fully sampled fastMRI-layout file, or a folder of them.
    out
        The output folder (one file per input, same name); the record ``OUT.json`` goes beside it
        (:func:`~monarch_sci.training.records.folder_record_path`), never inside.
    acceleration
        The undersampling factor.
    mask_type
        fastMRI line masks (``"random"``, ``"equispaced"``, ``"equispaced_fraction"``) or 2-D ``"poisson"``-disc.
    mask_policy
        One mask for all (``"fixed"``), one per ``"volume"`` or one per ``"slice"`` (seeded by the file name).
    center_fraction
        The fully sampled centre of line masks (``None``: fastMRI's for the acceleration).
    progress
        Show a progress bar.
    overwrite
        Replace an existing ``out`` folder as a whole (only once every copy is written); without it the copies
        join the folder's other files.

    Examples
    --------
    >>> UndersampleSpec(source="full", out="test_4x").mask_type
    'equispaced_fraction'
    """

    source: str | os.PathLike
    out: str | os.PathLike
    acceleration: int = 4
    mask_type: Literal["random", "equispaced", "equispaced_fraction", "poisson"] = "equispaced_fraction"
    mask_policy: Literal["fixed", "volume", "slice"] = "volume"
    center_fraction: float | None = None
    progress: bool = True
    overwrite: bool = False


def undersample_files(
    spec: UndersampleSpec, *, command: str = "mri undersample", arguments: Mapping[str, Any] | None = None
) -> list[Path]:
    """Write a test-style copy of every file of ``spec.source`` into ``spec.out``; return the written files.

    Parameters
    ----------
    spec
        The files, the masks, the output folder.
    command, arguments
        What the record ``OUT.json`` names as the command and its arguments (default: the spec's fields).

    Raises
    ------
    ValueError
        A bad mask setting, an input that is already undersampled or unreadable
        (:class:`~monarch_sci.datasets.mri.fastmri.FastMRIFileError`), an output that is not a folder.
    FileNotFoundError
        No input files.
    """
    import h5py
    import numpy as np

    from monarch_sci.training.progress import progress_bar

    files = list_volume_files(spec.source, "--in")
    cf = None if spec.center_fraction is None else [spec.center_fraction]
    poisson = spec.mask_type == "poisson"
    try:
        func = None if poisson else LineMaskFunc(spec.mask_type, [spec.acceleration], cf)
    except ValueError as err:
        raise ValueError(f"--center-fraction / --acceleration: {err}") from None
    infos = []
    for f in files:  # every input checked before any output exists
        info = inspect_volume(f, check_data=True)
        if info.has_mask:
            raise ValueError(f"{f} already holds a 'mask' (it is undersampled); undersample needs fully sampled files")
        infos.append(info)
    out = Path(spec.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    if spec.overwrite:  # the old folder is removed: it must not hold the inputs
        check_no_alias({"--out": out}, {"--in": spec.source})
    written = []
    with atomic_folder(out, replace=spec.overwrite) as folder:  # out changes only once every copy is written
        for f, info in progress_bar(list(zip(files, infos)), desc="undersample", unit="file", enabled=spec.progress):
            H, W = info.kspace_shape[-2:]
            g = info.geometry
            with h5py.File(f, "r") as hf:
                kspace = np.asarray(hf["kspace"])
                header = hf["ismrmrd_header"][()]
            if poisson:  # a 2-D pattern in the (ky, kz) plane of a 3-D acquisition: one (H, W) mask per file
                calib = poisson_calib((H, W))
                masks = poisson_masks_for_volume(
                    (H, W), spec.acceleration, info.num_slices, calib=calib, policy=spec.mask_policy, fname=f.name
                )
                kspace = kspace * masks[:, None]
                low = calib
            else:
                masks = line_masks_for_volume(func, W, info.num_slices, policy=spec.mask_policy, fname=f.name)
                kspace, masks = apply_line_mask(kspace, masks, padding=(g.padding_left, g.padding_right))
                low = func(W, seed=0).num_low_frequencies
            keep = masks[0] if (masks == masks[0]).all() else masks
            attrs = {k: v for k, v in info.attrs.items() if k not in ("max", "norm")}
            attrs.update({"acceleration": spec.acceleration, "num_low_frequency": low})
            with atomic_output(folder / f.name) as tmp:
                write_fastmri_volume(
                    tmp,
                    kspace=kspace,
                    header_xml=header.decode() if isinstance(header, bytes) else str(header),
                    mask=keep,
                    attrs=attrs,
                )
            written.append(out / f.name)
    arguments = asdict(spec) if arguments is None else arguments
    record = job_record(command, arguments, "h5py", files=[f.name for f in files])
    write_json_atomic(folder_record_path(out), record)  # beside the folder: its readers open every file in it
    return written
