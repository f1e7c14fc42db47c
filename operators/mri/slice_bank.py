"""Slice data for the learned MRI models: every slice of some fully sampled volumes with coil maps and targets.

The protocol (issue 15, item 6) is the realistic one by default, for training and evaluation alike:

* **maps from the acquisition's own calibration region.** Coil maps ``S`` come from
  :func:`~monarch_sci.operators.mri.coil_maps.espirit_maps` — the same function and settings as the classical
  methods and ``mri compare`` use (recorded in :attr:`SliceBank.maps_settings`) — on the central
  ``calib × calib`` block, with ``calib`` the calibration region the undersampled acquisition itself holds
  (:func:`acquisition_calib`): the fully sampled centre columns of a fastMRI line mask at that acceleration
  (``round(0.16·W)`` at 2×, ``round(0.08·W)`` at 4×), or the fixed calibration square of a 2-D Poisson-disc
  mask. ESPIRiT reads only that block, which every acquisition of the family contains, so maps computed once
  per slice from the fully sampled file equal those of each undersampled acquisition. ``maps="oracle"`` (a
  labelled ablation only) uses the wider block ``max(8, round(0.16·W))`` of the fully sampled data at every
  acceleration (the protocol of the first learned tables);
* **a target independent of every method's maps**: fastMRI's root-sum-of-squares image of the fully sampled
  k-space (``target="rss"``, magnitude); ``target="sense"`` (the fully sampled SENSE image ``Sᴴ F⁻¹ y_full``
  with the bank's maps, complex) only as an ablation;
* **one mask family for training and evaluation** (``mask_type``): fastMRI line masks (``"random"``,
  ``"equispaced"``, ``"equispaced_fraction"``; centre fraction 0.16 at 2×, 0.08 at 4×) or 2-D Poisson-disc
  masks (``"poisson"``, sigpy's generator, fixed calibration square). Mask policy ``"fixed"``: one mask (seed
  0) everywhere; ``"slice"``: a fresh mask for every training sample and the per-slice seed
  ``volume_seed(fname) + (slice,)`` in evaluation; ``"volume"``: fresh per training sample, one mask per
  evaluation volume (seed ``volume_seed(fname)``: a 3-D scan's phase-encode pattern is shared by its readout
  positions).

:class:`SliceBank` holds the slices in memory (:func:`load_slice_bank` builds it, with a cache);
:class:`ReconSlices` turns it into undersampled training/evaluation samples. The loss and the metrics are
:mod:`monarch_sci.operators.mri.recon_task` (against a magnitude target the loss compares magnitudes).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from monarch_sci.operators.mri.coil_maps import CoilMapSpec
from monarch_sci.operators.mri.sense import SenseOperator
from monarch_sci.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["ReconSlices", "SliceBank", "acquisition_calib", "load_slice_bank", "slice_bank_cache"]

MaskPolicy = Literal["fixed", "volume", "slice"]
MASK_POLICIES = ("fixed", "volume", "slice")
CALIB_FRACTION = 0.16  # the 2× auto-calibration fraction: the "oracle" block (see the module docstring)
TARGETS = ("rss", "sense")
MAPS = ("acs", "oracle")


def acquisition_calib(
    shape: tuple[int, int], accel: int, mask_type: str = "random", *, calib: int | None = None, maps: str = "acs"
) -> int:
    """Side of the ESPIRiT calibration block for an acquisition of this mask family and acceleration.

    ``maps="acs"`` (the realistic protocol): a line mask's fully sampled centre, ``round(cf·W)`` with fastMRI's
    centre fraction ``cf`` for ``accel`` (an explicit ``calib`` may be smaller, never larger); a Poisson-disc
    mask's calibration square (``calib``, default :func:`~monarch_sci.datasets.mri.masks.poisson_calib`).
    ``maps="oracle"``: ``calib`` or ``max(8, round(0.16·W))`` of the fully sampled data (ablation).

    Examples
    --------
    >>> acquisition_calib((64, 64), 4), acquisition_calib((64, 64), 2), acquisition_calib((64, 48), 4, "poisson")
    (5, 10, 12)
    """
    from monarch_sci.datasets.mri.masks import DEFAULT_CENTER_FRACTIONS, MASK_TYPES, poisson_calib
    from monarch_sci.operators.mri.coil_maps import MIN_CALIB

    if mask_type not in MASK_TYPES:
        raise ValueError(f"acquisition_calib: mask_type must be one of {MASK_TYPES}, got {mask_type!r}")
    if maps not in MAPS:
        raise ValueError(f"acquisition_calib: maps must be one of {MAPS}, got {maps!r}")
    H, W = (int(v) for v in shape)
    if maps == "oracle":
        out = max(8, round(CALIB_FRACTION * W)) if calib is None else int(calib)
    elif mask_type == "poisson":
        out = poisson_calib((H, W)) if calib is None else int(calib)
    else:
        if accel not in DEFAULT_CENTER_FRACTIONS:
            raise ValueError(f"acquisition_calib: accel must be one of {sorted(DEFAULT_CENTER_FRACTIONS)}, got {accel}")
        acs = round(W * DEFAULT_CENTER_FRACTIONS[accel])
        if calib is not None and int(calib) > acs:
            raise ValueError(
                f"acquisition_calib: calib {calib} exceeds the {acs} fully sampled centre columns of a {accel}× "
                f"{mask_type} line mask on {W} columns (maps may use only acquired data; maps='oracle' for the "
                "ablation)"
            )
        out = acs if calib is None else int(calib)
    if not MIN_CALIB <= out <= min(H, W):
        raise ValueError(
            f"acquisition_calib: the calibration block must be {MIN_CALIB}..{min(H, W)} wide for ESPIRiT, got {out} "
            f"({mask_type}, {accel}×, {H}×{W}); use a larger matrix or a smaller acceleration"
        )
    return out


@dataclass
class SliceBank:
    """All slices of some volumes, in memory, with maps and fully sampled SENSE targets.

    Attributes
    ----------
    kspace, maps
        ``(N, C, H, W)`` complex64: fully sampled k-space and coil maps.
    target
        ``(N, H, W)``: float32 RSS of the fully sampled k-space (``target_kind="rss"``) or complex64
        ``Sᴴ F⁻¹ y_full`` (``"sense"``).
    volume, slice
        ``(N,)`` long: volume index (into ``names``) and slice index of each row.
    names
        File name of every volume.
    recon_size
        ``(h, w)`` the metrics crop to.
    maps_settings
        How the maps were made (:meth:`~monarch_sci.operators.mri.coil_maps.CoilMapSpec.settings`).
    target_kind
        ``"rss"`` or ``"sense"``.
    """

    kspace: torch.Tensor
    maps: torch.Tensor
    target: torch.Tensor
    volume: torch.Tensor
    slice: torch.Tensor
    names: list[str]
    recon_size: tuple[int, int]
    maps_settings: dict[str, Any] = field(default_factory=dict)
    target_kind: str = "rss"

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
            self.target_kind,
        )


def load_slice_bank(
    root: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    calib: int | None = None,
    coil_maps: CoilMapSpec | None = None,
    target: str = "rss",
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
        Side of the ESPIRiT calibration block (default ``max(8, round(0.16·W))``, the 2× ACS width; the training
        and benchmark code pass :func:`acquisition_calib`, the acquisition's own calibration region).
    coil_maps
        The other ESPIRiT settings (:class:`~monarch_sci.operators.mri.coil_maps.CoilMapSpec`; ``None``: its
        defaults); its ``calib``, if set, must agree with ``calib``.
    target
        ``"rss"`` (fastMRI's root-sum-of-squares of the fully sampled k-space) or ``"sense"`` (``Sᴴ F⁻¹ y``).
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

    if target not in TARGETS:
        raise ValueError(f"load_slice_bank: target must be one of {TARGETS}, got {target!r}")
    infos, settings = _inspect(root, calib, max_volumes, target, coil_maps)
    calib, height = settings["calib"], settings["readout_rows"]
    spec = coil_maps or CoilMapSpec()
    key = cache_key([i.path for i in infos], settings)  # the one key: files' content and settings
    if cache is None and cache_dir is not None:
        cache = cache_file("slices", [i.path for i in infos], settings, cache_dir=cache_dir)
    if cache is not None and Path(cache).is_file():
        try:
            data = load_checkpoint(cache)
        except CheckpointError as err:  # a cache truncated by a kill or a full disk: computed again
            print(f"slice cache: {err}; rebuilding it", file=sys.stderr)
            data = {}
        if data.get("key") == key:
            fields = {k: v for k, v in data.items() if k != "key"}
            fields.setdefault("target_kind", "sense")  # caches written before RSS targets hold SENSE targets
            return SliceBank(**fields)
    import h5py

    ks, maps, vol, sl = [], [], [], []
    it = list(enumerate(infos))
    if progress:
        from monarch_sci.training.progress import progress_bar

        it = progress_bar(it, desc="coil maps", unit="vol")
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
            maps.append(spec.estimate(k[s], calib)[..., top : top + height, :])  # the one map estimate
            vol.append(v)
            sl.append(s)
    kspace = torch.from_numpy(np.stack(ks)).to(torch.complex64)
    smaps = torch.from_numpy(np.stack(maps))
    if target == "sense":
        tgt = SenseOperator(smaps).adjoint(kspace)  # fully sampled SENSE images (depend on the maps)
    else:  # fastMRI's target: independent of any method's maps
        tgt = torch.fft.ifftshift(kspace, dim=(-2, -1))
        tgt = torch.fft.fftshift(torch.fft.ifft2(tgt, norm="ortho"), dim=(-2, -1)).abs().square().sum(1).sqrt()
    rs = infos[0].geometry.recon_size[:2]
    names = [os.path.basename(i.path) for i in infos]
    bank = SliceBank(kspace, smaps, tgt, torch.tensor(vol), torch.tensor(sl), names, rs, settings["espirit"], target)
    if cache is not None:  # atomic, with a per-process temporary file: two jobs may build the same cache
        save_checkpoint(cache, {"key": key, **bank.__dict__})
    return bank


def _inspect(
    root, calib: int | None, max_volumes: int | None = None, target: str = "rss", coil_maps: CoilMapSpec | None = None
) -> tuple[list, dict]:
    """The files' :class:`~monarch_sci.datasets.mri.fastmri.VolumeInfo` (checked) and the bank's settings."""
    if coil_maps is not None and coil_maps.calib is not None:
        if calib is not None and int(calib) != coil_maps.calib:
            raise ValueError(f"load_slice_bank: calib {calib} and coil_maps.calib {coil_maps.calib} differ; give one")
        calib = coil_maps.calib
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
    from monarch_sci.operators.mri.coil_maps import MIN_CALIB

    if not MIN_CALIB <= calib <= min(infos[0].kspace_shape[-2:]):
        raise ValueError(
            f"load_slice_bank: calib must be in [{MIN_CALIB}, {min(infos[0].kspace_shape[-2:])}] (ESPIRiT's "
            f"kernels, the k-space size), got {calib}"
        )
    # Train on the readout-cropped grid that reconstruction uses (ReconProblem): a model built for the files'
    # (H, W) k-space then reconstructs the same files through `mri recon` / `mri compare`.
    height = min(infos[0].geometry.recon_size[0], infos[0].kspace_shape[-2])
    settings = {"calib": calib, "espirit": (coil_maps or CoilMapSpec()).settings(calib), "readout_rows": height}
    if target != "sense":  # (the key of SENSE-target caches stays what it was)
        settings["target"] = target
    return infos, settings


def slice_bank_cache(
    root: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    calib: int | None = None,
    cache_dir: str | os.PathLike,
    max_volumes: int | None = None,
    target: str = "rss",
    coil_maps: CoilMapSpec | None = None,
) -> Path:
    """The cache file :func:`load_slice_bank` uses under ``cache_dir`` for these files and settings.

    Named by :func:`~monarch_sci.datasets.mri.cache.cache_file` over the files' content and the settings
    (``calib``, the ESPIRiT settings of ``coil_maps``, the readout rows): changing a
    file or an ESPIRiT setting gives another file.
    """
    from monarch_sci.datasets.mri.cache import cache_file

    if target not in TARGETS:
        raise ValueError(f"load_slice_bank: target must be one of {TARGETS}, got {target!r}")
    infos, settings = _inspect(root, calib, max_volumes, target, coil_maps)
    return cache_file("slices", [i.path for i in infos], settings, cache_dir=cache_dir)


#: Training draws Poisson-disc masks from this many seeded patterns (sigpy's generator takes ~0.1 s per mask at
#: 64×48, more than a training step of mSENSE; each pattern is generated once per process and kept).
POISSON_TRAIN_POOL = 256


@functools.lru_cache(maxsize=4 * POISSON_TRAIN_POOL)
def _poisson(shape: tuple[int, int], accel: int, seed: Any, calib: int | None) -> np.ndarray:
    from monarch_sci.datasets.mri.masks import POISSON_ATTEMPTS, poisson_mask

    m = poisson_mask(shape, accel, calib=calib, seed=seed, attempts=POISSON_ATTEMPTS)
    m.setflags(write=False)
    return m


def _mask(shape: tuple[int, int], accel: int, seed: Any, mask_type: str, calib: int | None) -> np.ndarray:
    """One mask: a line mask ``(W,)`` or a 2-D Poisson-disc mask ``(H, W)``."""
    from monarch_sci.datasets.mri.masks import LineMaskFunc

    if mask_type == "poisson":
        return _poisson(tuple(shape), accel, seed, calib).copy()
    return LineMaskFunc(mask_type, [accel])(shape[1], seed=seed).mask


class ReconSlices(Dataset):
    """Undersampled slices of a :class:`SliceBank` as training/evaluation samples.

    Parameters
    ----------
    bank
        The slices.
    accel
        Nominal acceleration (2, 4 or 8).
    mask_policy
        ``"fixed"``, ``"volume"`` or ``"slice"`` (see the module docstring).
    train
        With ``"slice"`` or ``"volume"``: draw a fresh mask per sample from torch's global generator (so a
        resumed run draws the same ones) instead of the deterministic evaluation masks (Poisson-disc masks: one
        of :data:`POISSON_TRAIN_POOL` seeded patterns, seeds ``0…``; evaluation seeds are file-name tuples).
    mask_type
        ``"random"`` (fastMRI random line masks), ``"equispaced"``, ``"equispaced_fraction"`` or ``"poisson"``
        (2-D Poisson-disc masks with a fixed ``calib × calib`` calibration square; ``calib`` defaults to
        :func:`~monarch_sci.datasets.mri.masks.poisson_calib`).

    A sample is a dict: ``kspace`` ``(C, H, W)`` undersampled, ``mask`` ``(1, 1, W)`` (lines) or ``(1, H, W)``
    (Poisson) float32, ``maps`` ``(C, H, W)``, ``target`` ``(H, W)``.
    """

    def __init__(
        self,
        bank: SliceBank,
        *,
        accel: int,
        mask_policy: MaskPolicy = "fixed",
        train: bool = False,
        mask_type: str = "random",
        calib: int | None = None,
    ) -> None:
        from monarch_sci.datasets.mri.masks import MASK_TYPES, poisson_calib, volume_seed

        if mask_policy not in MASK_POLICIES:
            raise ValueError(f"ReconSlices: mask_policy must be one of {MASK_POLICIES}, got {mask_policy!r}")
        if mask_type not in MASK_TYPES:
            raise ValueError(f"ReconSlices: mask_type must be one of {MASK_TYPES}, got {mask_type!r}")
        self.bank, self.accel, self.mask_policy, self.train = bank, int(accel), mask_policy, train
        self.mask_type = mask_type
        self.calib = (calib or poisson_calib(bank.shape)) if mask_type == "poisson" else None
        n = len(bank.volume)
        if mask_policy == "fixed":
            one = torch.from_numpy(self._draw(0))
            self.masks = one.expand(n, *one.shape)
        elif mask_policy == "volume":
            per_volume = [torch.from_numpy(self._draw(volume_seed(name))) for name in bank.names]
            self.masks = torch.stack([per_volume[int(v)] for v in bank.volume])
        else:
            seeds = [(*volume_seed(bank.names[int(v)]), int(s)) for v, s in zip(bank.volume, bank.slice)]
            self.masks = torch.from_numpy(np.stack([self._draw(sd) for sd in seeds]))

    def _draw(self, seed: Any) -> np.ndarray:
        return _mask(self.bank.shape, self.accel, seed, self.mask_type, self.calib)

    def __len__(self) -> int:
        return int(self.bank.volume.shape[0])

    def mask(self, i: int) -> torch.Tensor:
        if self.train and self.mask_policy != "fixed":
            high = POISSON_TRAIN_POOL if self.mask_type == "poisson" else 2**31 - 1
            seed = int(torch.randint(0, high, ()).item())
            return torch.from_numpy(self._draw(seed))
        return self.masks[i]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        m = self.mask(i).to(torch.float32)
        m = m.reshape(1, 1, -1) if m.dim() == 1 else m[None]
        return {
            "kspace": self.bank.kspace[i] * m,
            "mask": m,
            "maps": self.bank.maps[i],
            "target": self.bank.target[i],
        }
