"""Slice data for the learned MRI models: every slice of some fully sampled volumes with coil maps and targets.

From fully sampled fastMRI files (``kspace`` ``(slices, coils, H, W)``) every slice gives

* coil maps ``S`` from :func:`~monarch_sci.operators.mri.coil_maps.espirit_maps` — the same function and
  settings as the classical methods and ``mri compare`` use (recorded in :attr:`SliceBank.maps_settings`) — on
  the central ``calib × calib`` block of the fully sampled k-space, by default the auto-calibration width of
  the 2× mask (``round(0.16·W)``, at least 8). One set per slice, shared by the target, every method and both
  accelerations; at 4× (ACS ``0.08·W``) these maps are therefore slightly better than a 4× acquisition alone
  could estimate — the same advantage for every SENSE-based method, classical or learned, and the usual
  precomputed-maps protocol of MoDL-type studies (``mri compare`` estimates the maps from the test scan's own
  ACS, as it must);
* the target ``x = Sᴴ F⁻¹ y_full``: the fully sampled SENSE image (complex, on the full ``(H, W)`` matrix);
* an undersampled acquisition ``M y_full`` with a fastMRI random line mask (centre fraction 0.16 at 2×,
  0.08 at 4×). Mask policy ``"fixed"``: one mask per acceleration (seed 0) for every slice, in training and
  test; ``"slice"``: a fresh random mask for every training sample and fastMRI's per-slice seed
  ``volume_seed(fname) + (slice,)`` in evaluation.

:class:`SliceBank` holds the slices in memory (:func:`load_slice_bank` builds it, with a cache);
:class:`ReconSlices` turns it into undersampled training/evaluation samples. The loss and the metrics are
:mod:`monarch_sci.operators.mri.recon_task`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from monarch_sci.operators.mri.coil_maps import espirit_maps, espirit_settings
from monarch_sci.operators.mri.sense import SenseOperator
from monarch_sci.training.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["ReconSlices", "SliceBank", "load_slice_bank", "slice_bank_cache"]

MaskPolicy = Literal["fixed", "slice"]
CALIB_FRACTION = 0.16  # the 2× auto-calibration fraction (see the module docstring)


@dataclass
class SliceBank:
    """All slices of some volumes, in memory, with maps and fully sampled SENSE targets.

    Attributes
    ----------
    kspace, maps
        ``(N, C, H, W)`` complex64: fully sampled k-space and coil maps.
    target
        ``(N, H, W)`` complex64: ``Sᴴ F⁻¹ y_full``.
    volume, slice
        ``(N,)`` long: volume index (into ``names``) and slice index of each row.
    names
        File name of every volume.
    recon_size
        ``(h, w)`` the metrics crop to.
    maps_settings
        How the maps were made (:func:`~monarch_sci.operators.mri.coil_maps.espirit_settings`).
    """

    kspace: torch.Tensor
    maps: torch.Tensor
    target: torch.Tensor
    volume: torch.Tensor
    slice: torch.Tensor
    names: list[str]
    recon_size: tuple[int, int]
    maps_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.kspace.shape[-2]), int(self.kspace.shape[-1])

    def subset(self, volumes: Sequence[int]) -> SliceBank:
        """Only the slices of the given volume indices (renumbered ``0…``)."""
        keep = [int(v) for v in volumes]
        rows = torch.cat([torch.nonzero(self.volume == v).flatten() for v in keep])
        remap = torch.full((len(self.names),), -1, dtype=torch.long)
        remap[keep] = torch.arange(len(keep))
        return SliceBank(
            self.kspace[rows],
            self.maps[rows],
            self.target[rows],
            remap[self.volume[rows]],
            self.slice[rows],
            [self.names[v] for v in keep],
            self.recon_size,
            self.maps_settings,
        )


def load_slice_bank(
    root: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    calib: int | None = None,
    cache: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    max_volumes: int | None = None,
    progress: bool = False,
) -> SliceBank:
    """Read fully sampled fastMRI files and compute coil maps and SENSE targets for every slice.

    K-space is cropped to the header's recon height along the readout (removing fastMRI's 2× readout
    oversampling), exactly as :class:`~monarch_sci.operators.mri.classical.ReconProblem` does for reconstruction.

    Parameters
    ----------
    root
        A folder of ``*.h5`` files (sorted by name) or a list of files.
    calib
        Side of the ESPIRiT calibration block (default ``max(8, round(0.16·W))``, the 2× ACS width).
    cache
        Optional ``.pt`` file: loaded if it exists and was made from the same files (content) and settings (its
        stored :func:`~monarch_sci.datasets.mri.cache.cache_key`: ``calib``, the ESPIRiT settings, the readout
        rows), else written.
    cache_dir
        Or a cache folder: the file is :func:`slice_bank_cache` (named by that key) in it.
    max_volumes
        Use only the first ``max_volumes`` files.
    """
    from monarch_sci.datasets.mri.cache import cache_file, cache_key
    from monarch_sci.datasets.mri.fastmri import remove_readout_oversampling

    infos, settings = _inspect(root, calib, max_volumes)
    calib, height = settings["calib"], settings["readout_rows"]
    key = cache_key([i.path for i in infos], settings)  # the one key: files' content and settings
    if cache is None and cache_dir is not None:
        cache = cache_file("slices", [i.path for i in infos], settings, cache_dir=cache_dir)
    if cache is not None and Path(cache).is_file():
        data = load_checkpoint(cache)
        if data.get("key") == key:
            return SliceBank(**{k: v for k, v in data.items() if k != "key"})
    import h5py

    ks, maps, vol, sl = [], [], [], []
    it = list(enumerate(infos))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="coil maps", unit="vol")
    for v, info in it:
        with h5py.File(info.path, "r") as hf:
            k = np.asarray(hf["kspace"])
        if not np.isfinite(k).all():
            raise ValueError(f"{info.path}: 'kspace' holds NaN or Inf")
        top = (k.shape[-2] - height) // 2
        k_cropped = remove_readout_oversampling(k, height)
        for s in range(k.shape[0]):
            ks.append(k_cropped[s])
            # ESPIRiT on the acquired grid (a cropped, wrapped field of view breaks its model), then crop.
            maps.append(espirit_maps(k[s], calib)[..., top : top + height, :])  # the one map estimate
            vol.append(v)
            sl.append(s)
    kspace = torch.from_numpy(np.stack(ks)).to(torch.complex64)
    smaps = torch.from_numpy(np.stack(maps))
    target = SenseOperator(smaps).adjoint(kspace)  # fully sampled SENSE images
    rs = infos[0].geometry.recon_size[:2]
    names = [os.path.basename(i.path) for i in infos]
    bank = SliceBank(kspace, smaps, target, torch.tensor(vol), torch.tensor(sl), names, rs, settings["espirit"])
    if cache is not None:  # atomic, with a per-process temporary file: two jobs may build the same cache
        save_checkpoint(cache, {"key": key, **bank.__dict__})
    return bank


def _inspect(root, calib: int | None, max_volumes: int | None = None) -> tuple[list, dict[str, Any]]:
    """The files' :class:`~monarch_sci.datasets.mri.fastmri.VolumeInfo` (checked) and the bank's settings."""
    from monarch_sci.datasets.mri.fastmri import inspect_volume, list_volume_files

    files = list_volume_files(root, "load_slice_bank")[: max_volumes or None]
    infos = [inspect_volume(f) for f in files]
    for info in infos:
        if not info.multicoil:
            raise ValueError(f"{info.path}: expected multi-coil k-space (slices, coils, H, W), got {info.kspace_shape}")
        if info.has_mask:
            raise ValueError(f"{info.path}: holds a 'mask' (undersampled test file); training needs fully sampled data")
        if info.kspace_shape[1:] != infos[0].kspace_shape[1:]:
            raise ValueError(
                f"{info.path}: k-space (coils, H, W) = {info.kspace_shape[1:]} differs from {infos[0].path}'s "
                f"{infos[0].kspace_shape[1:]}; a learned model needs one matrix size and coil count"
            )
    width = infos[0].kspace_shape[-1]
    calib = max(8, round(CALIB_FRACTION * width)) if calib is None else int(calib)
    if calib < 8:
        raise ValueError(f"load_slice_bank: calib must be >= 8 (for ESPIRiT's kernels), got {calib}")
    # Train on the readout-cropped grid that reconstruction uses (ReconProblem): a model built for the files'
    # (H, W) k-space then reconstructs the same files through `mri recon` / `mri compare`.
    height = min(infos[0].geometry.recon_size[0], infos[0].kspace_shape[-2])
    return infos, {"calib": calib, "espirit": espirit_settings(calib), "readout_rows": height}


def slice_bank_cache(
    root: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    calib: int | None = None,
    cache_dir: str | os.PathLike,
    max_volumes: int | None = None,
) -> Path:
    """The cache file :func:`load_slice_bank` uses under ``cache_dir`` for these files and settings.

    Named by :func:`~monarch_sci.datasets.mri.cache.cache_file` over the files' content and the settings
    (``calib``, :func:`~monarch_sci.operators.mri.coil_maps.espirit_settings`, the readout rows): changing a
    file or an ESPIRiT setting gives another file.
    """
    from monarch_sci.datasets.mri.cache import cache_file

    infos, settings = _inspect(root, calib, max_volumes)
    return cache_file("slices", [i.path for i in infos], settings, cache_dir=cache_dir)


def _line_mask(width: int, accel: int, seed: Any) -> np.ndarray:
    from monarch_sci.datasets.mri.masks import LineMaskFunc

    return LineMaskFunc("random", [accel])(width, seed=seed).mask


class ReconSlices(Dataset):
    """Undersampled slices of a :class:`SliceBank` as training/evaluation samples.

    Parameters
    ----------
    bank
        The slices.
    accel
        Nominal acceleration (2, 4 or 8; fastMRI random line masks).
    mask_policy
        ``"fixed"`` or ``"slice"`` (see the module docstring).
    train
        With ``"slice"``: draw a fresh mask per sample from torch's global generator (so a resumed run
        draws the same ones) instead of the deterministic per-slice evaluation masks.

    A sample is a dict: ``kspace`` ``(C, H, W)`` undersampled, ``mask`` ``(1, 1, W)`` float32, ``maps``
    ``(C, H, W)``, ``target`` ``(H, W)``.
    """

    def __init__(self, bank: SliceBank, *, accel: int, mask_policy: MaskPolicy = "fixed", train: bool = False) -> None:
        if mask_policy not in ("fixed", "slice"):
            raise ValueError(f"ReconSlices: mask_policy must be 'fixed' or 'slice', got {mask_policy!r}")
        self.bank, self.accel, self.mask_policy, self.train = bank, int(accel), mask_policy, train
        width = bank.shape[1]
        if mask_policy == "fixed":
            self.masks = torch.from_numpy(_line_mask(width, self.accel, 0)).expand(len(bank.volume), width)
        else:
            from monarch_sci.datasets.mri.masks import volume_seed

            seeds = [(*volume_seed(bank.names[int(v)]), int(s)) for v, s in zip(bank.volume, bank.slice)]
            self.masks = torch.from_numpy(np.stack([_line_mask(width, self.accel, sd) for sd in seeds]))

    def __len__(self) -> int:
        return int(self.bank.volume.shape[0])

    def mask(self, i: int) -> torch.Tensor:
        if self.train and self.mask_policy == "slice":
            seed = int(torch.randint(0, 2**31 - 1, ()).item())
            return torch.from_numpy(_line_mask(self.bank.shape[1], self.accel, seed))
        return self.masks[i]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        m = self.mask(i).to(torch.float32).reshape(1, 1, -1)
        return {
            "kspace": self.bank.kspace[i] * m,
            "mask": m,
            "maps": self.bank.maps[i],
            "target": self.bank.target[i],
        }
