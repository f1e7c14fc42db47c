"""Coil sensitivity maps from the auto-calibration (ACS) region: ESPIRiT through sigpy.

ESPIRiT (Uecker et al. 2014) finds the maps as the eigenvectors, with eigenvalue ≈ 1, of an operator built
from a calibration matrix of the fully sampled k-space centre. We call ``sigpy.mri.app.EspiritCalib`` on the
central ``calib × calib`` block; its eigenvalue threshold ``crop`` zeros the maps outside the object
support. The ACS width of an undersampled acquisition is read from its line mask
(:func:`~monarch_sci.datasets.mri.masks.acs_width`), so maps only use data the acquisition really has.
Maps are normalised so that ``Σ_c |S_c|² = 1`` on the support, hence the SENSE image of a fully sampled slice
equals its root-sum-of-squares image there.
"""

from __future__ import annotations

import numpy as np

__all__ = ["calibration_width", "espirit_maps"]

#: Narrowest usable calibration region: a 3×3 ESPIRiT kernel needs at least 5 lines (2 shifts each way).
MIN_CALIB = 5


def calibration_width(mask: np.ndarray, *, max_calib: int = 24) -> int:
    """ACS width usable for calibration: the fully sampled centre of a line mask, capped at ``max_calib``.

    Raises ``ValueError`` if the centre is narrower than :data:`MIN_CALIB` lines.
    """
    from monarch_sci.datasets.mri.masks import acs_width

    width = acs_width(np.asarray(mask).reshape(-1))
    if width < MIN_CALIB:
        raise ValueError(
            f"calibration_width: the mask's fully sampled centre is {width} lines wide; ESPIRiT needs at least "
            f"{MIN_CALIB} (use a larger centre fraction)"
        )
    return min(width, int(max_calib))


def espirit_maps(
    kspace: np.ndarray,
    calib: int,
    *,
    thresh: float = 0.02,
    kernel_width: int | None = None,
    crop: float = 0.95,
    max_iter: int = 100,
) -> np.ndarray:
    """ESPIRiT coil maps of one slice (sigpy ``EspiritCalib``) from the central ``calib × calib`` k-space.

    Parameters
    ----------
    kspace
        ``(C, H, W)`` complex k-space (undersampled is fine as long as the centre block is fully sampled).
    calib
        Side of the calibration block (≤ the ACS width).
    thresh, kernel_width, crop, max_iter
        sigpy's ESPIRiT parameters (singular-value threshold, kernel size, eigenvalue crop, power iterations);
        ``kernel_width`` defaults to ``min(6, calib − 2)`` (sigpy's 6 unless the ACS is narrower).

    Shape
    -----
    ``(C, H, W)`` → ``(C, H, W)`` complex64.
    """
    import sigpy.mri

    k = np.asarray(kspace)
    if k.ndim != 3 or not np.iscomplexobj(k):
        raise ValueError(f"espirit_maps: expected complex k-space (coils, H, W), got {k.shape} {k.dtype}")
    if not MIN_CALIB <= calib <= min(k.shape[-2:]):
        raise ValueError(
            f"espirit_maps: calib must be in [{MIN_CALIB}, {min(k.shape[-2:])}] for {k.shape}, got {calib}"
        )
    if kernel_width is None:
        kernel_width = min(6, calib - 2)
    maps = sigpy.mri.app.EspiritCalib(
        k.astype(np.complex64),
        calib_width=int(calib),
        thresh=thresh,
        kernel_width=kernel_width,
        crop=crop,
        max_iter=max_iter,
        show_pbar=False,
    ).run()
    return np.asarray(maps, dtype=np.complex64)
