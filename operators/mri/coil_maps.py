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

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ESPIRIT_DEFAULTS",
    "SIGPY_ESPIRIT",
    "CoilMapSpec",
    "calibration_width",
    "default_kernel_width",
    "espirit_maps",
    "espirit_settings",
    "map_coverage",
]

#: The settings every coil-map estimate of the toolkit uses (the defaults of :func:`espirit_maps`), recorded with
#: the slice banks of the learned models so that a run says how its maps were made.
ESPIRIT_DEFAULTS = {"thresh": 0.02, "crop": 0.8, "max_iter": 100, "min_coverage": 0.95}

#: Narrowest usable calibration region: a 3×3 ESPIRiT kernel needs at least 5 lines (2 shifts each way).
MIN_CALIB = 5


def calibration_width(mask: np.ndarray, *, max_calib: int = 24) -> int:
    """ACS width usable for calibration, capped at ``max_calib``: the fully sampled centre of a line mask
    ``(W,)`` (columns), or the side of the fully sampled centre square of a 2-D mask ``(H, W)``.

    Raises ``ValueError`` if the centre is narrower than :data:`MIN_CALIB`.

    Examples
    --------
    >>> m = np.zeros((64, 48), bool)
    >>> m[::3, ::2] = True
    >>> m[20:44, 12:36] = True  # a 24×24 fully sampled centre in a 2-D pattern
    >>> calibration_width(m)
    24
    """
    from monarch_sci.datasets.mri.masks import acs_width

    mask = np.asarray(mask)
    if mask.ndim not in (1, 2):
        raise ValueError(f"calibration_width: expected a (W,) line mask or an (H, W) mask, got shape {mask.shape}")
    width = acs_width(mask)
    if width < MIN_CALIB:
        what = "lines wide" if mask.ndim == 1 else "wide (side of the fully sampled centre square)"
        raise ValueError(
            f"calibration_width: the mask's fully sampled centre is {width} {what}; ESPIRiT needs at least "
            f"{MIN_CALIB} (use a larger centre fraction)"
        )
    return min(width, int(max_calib))


def espirit_maps(
    kspace: np.ndarray,
    calib: int,
    *,
    thresh: float = ESPIRIT_DEFAULTS["thresh"],
    kernel_width: int | None = None,
    crop: float = ESPIRIT_DEFAULTS["crop"],
    max_iter: int = ESPIRIT_DEFAULTS["max_iter"],
    min_coverage: float = ESPIRIT_DEFAULTS["min_coverage"],
) -> np.ndarray:
    """ESPIRiT coil maps of one slice (sigpy ``EspiritCalib``) from the central ``calib × calib`` k-space.

    The one coil-map estimate of the toolkit: classical methods, ``mri compare`` and the training data of the
    learned models all call it with these defaults, chosen so that small matrices (≤ 64², calibration regions
    of 5–12 lines) work:

    * ``kernel_width`` defaults to ``min(6, max(3, calib // 2))`` — sigpy's 6 for wide calibration regions,
      smaller for narrow ones, whose calibration matrix has too few rows for 6×6 kernels (the eigenvalues then
      fall below ``crop`` over much of the object and the maps vanish there);
    * ``crop = 0.8`` rather than sigpy's 0.95;
    * a coverage check: the object support is estimated from the low-resolution root-sum-of-squares image of the
      calibration block (pixels above 10 % of its maximum); if the maps are non-zero on less than
      ``min_coverage`` of it, ESPIRiT is rerun with ``crop = 0`` (maps of unit norm everywhere) instead of
      returning maps that cut away anatomy.

    Parameters
    ----------
    kspace
        ``(C, H, W)`` complex k-space (undersampled is fine as long as the centre block is fully sampled).
    calib
        Side of the calibration block (≤ the ACS width).
    thresh, kernel_width, crop, max_iter
        sigpy's ESPIRiT parameters (singular-value threshold, kernel size, eigenvalue crop, power iterations).
    min_coverage
        Fraction of the estimated object the maps must cover before the ``crop = 0`` fallback (0 disables it).

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
        kernel_width = default_kernel_width(calib)
    if not 1 <= kernel_width < calib:
        raise ValueError(
            f"espirit_maps: kernel_width must be in [1, {calib - 1}] for calib {calib}, got {kernel_width}"
        )
    k = k.astype(np.complex64)

    def run(crop_: float) -> np.ndarray:
        app = sigpy.mri.app.EspiritCalib(
            k,
            calib_width=int(calib),
            thresh=thresh,
            kernel_width=int(kernel_width),
            crop=crop_,
            max_iter=max_iter,
            show_pbar=False,
        )
        return np.asarray(app.run(), dtype=np.complex64)

    maps = run(crop)
    if crop > 0 and min_coverage > 0 and map_coverage(maps, k, calib) < min_coverage:
        maps = run(0.0)
    return maps


@dataclass(frozen=True)
class CoilMapSpec:
    """How coil maps are estimated wherever the toolkit computes them (``--calib``, ``--maps-kernel``,
    ``--maps-crop``, ``--maps-thresh``, ``--maps-min-coverage`` of ``mri recon``, ``mri compare``, ``mri train``).

    Parameters
    ----------
    calib
        Side of the central calibration block (sigpy's ``calib_width``). ``None``: the acquisition's own fully
        sampled centre, at most 24 (:func:`calibration_width`); a given side must fit inside that centre.
    kernel_width
        ESPIRiT kernel side (``None``: :func:`default_kernel_width`, sigpy's 6 for calibration blocks ≥ 12).
    crop
        Eigenvalue threshold below which the maps are zeroed (ours 0.8, sigpy's 0.95).
    thresh
        Singular-value threshold of the calibration matrix (sigpy's ``thresh``, 0.02).
    max_iter
        Power iterations (sigpy's 100).
    min_coverage
        Our fallback: maps covering less of the object than this are recomputed with ``crop = 0`` (0 disables it;
        sigpy has none).

    Examples
    --------
    >>> CoilMapSpec().settings(10)
    {'calib': 10, 'kernel_width': 5, 'thresh': 0.02, 'crop': 0.8, 'max_iter': 100, 'min_coverage': 0.95}
    >>> SIGPY_ESPIRIT.settings(24)["crop"]
    0.95
    """

    calib: int | None = None
    kernel_width: int | None = None
    crop: float = ESPIRIT_DEFAULTS["crop"]
    thresh: float = ESPIRIT_DEFAULTS["thresh"]
    max_iter: int = ESPIRIT_DEFAULTS["max_iter"]
    min_coverage: float = ESPIRIT_DEFAULTS["min_coverage"]

    def __post_init__(self) -> None:
        def bad(name: str, flag: str, expected: str) -> ValueError:
            return ValueError(f"CoilMapSpec: {name} ({flag}) must be {expected}, got {getattr(self, name)!r}")

        def integer(v) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        if self.calib is not None and not (integer(self.calib) and self.calib >= MIN_CALIB):
            raise bad("calib", "--calib", f"an integer >= {MIN_CALIB} (ESPIRiT's kernels need it) or None")
        if self.kernel_width is not None and not (integer(self.kernel_width) and self.kernel_width >= 1):
            raise bad("kernel_width", "--maps-kernel", "a positive integer or None")
        if self.calib is not None and self.kernel_width is not None and self.kernel_width >= self.calib:
            raise bad("kernel_width", "--maps-kernel", f"smaller than calib {self.calib}")
        if not 0 <= self.crop < 1:
            raise bad("crop", "--maps-crop", "in [0, 1)")
        if not 0 <= self.thresh < 1:
            raise bad("thresh", "--maps-thresh", "in [0, 1)")
        if not (integer(self.max_iter) and self.max_iter >= 1):
            raise bad("max_iter", "max_iter", "a positive integer")
        if not 0 <= self.min_coverage <= 1:
            raise bad("min_coverage", "--maps-min-coverage", "in [0, 1]")

    def block(self, mask: np.ndarray) -> int:
        """The calibration side for an acquisition with this ``(W,)`` line or ``(H, W)`` mask."""
        from monarch_sci.datasets.mri.masks import acs_width

        if self.calib is None:
            return calibration_width(mask)
        width = acs_width(np.asarray(mask))
        if self.calib > width:
            raise ValueError(
                f"--calib {self.calib}: the acquisition's fully sampled centre is only {width} wide; ESPIRiT would "
                f"calibrate on unacquired (zero) samples (use --calib {width} or less)"
            )
        return int(self.calib)

    def settings(self, calib: int) -> dict[str, float | int]:
        """Everything that defines the maps of a ``calib``-wide block, as records store it."""
        width = default_kernel_width(calib) if self.kernel_width is None else int(self.kernel_width)
        return {"calib": int(calib), "kernel_width": width, "thresh": self.thresh, "crop": self.crop,
                "max_iter": self.max_iter, "min_coverage": self.min_coverage}  # fmt: skip

    def estimate(self, kspace: np.ndarray, calib: int) -> np.ndarray:
        """:func:`espirit_maps` of one slice ``(C, H, W)`` with these settings and a ``calib``-wide block."""
        s = self.settings(calib)
        return espirit_maps(kspace, calib, thresh=s["thresh"], kernel_width=s["kernel_width"], crop=s["crop"],
                            max_iter=s["max_iter"], min_coverage=s["min_coverage"])  # fmt: skip


#: sigpy's own ESPIRiT (``sigpy.mri.app.EspiritCalib`` defaults: calibration width 24, kernel 6, crop 0.95,
#: threshold 0.02, 100 iterations) and no coverage fallback: the settings that reproduce sigpy's maps.
SIGPY_ESPIRIT = CoilMapSpec(calib=24, kernel_width=6, crop=0.95, thresh=0.02, max_iter=100, min_coverage=0.0)


def default_kernel_width(calib: int) -> int:
    """ESPIRiT kernel side for a ``calib``-wide calibration block: ``min(6, max(3, calib // 2))``."""
    return min(6, max(3, int(calib) // 2))


def espirit_settings(calib: int) -> dict[str, float | int]:
    """Everything that defines :func:`espirit_maps` with its defaults for a ``calib``-wide block (for records).

    Examples
    --------
    >>> espirit_settings(10)
    {'calib': 10, 'kernel_width': 5, 'thresh': 0.02, 'crop': 0.8, 'max_iter': 100, 'min_coverage': 0.95}
    """
    return CoilMapSpec().settings(calib)


def map_coverage(maps: np.ndarray, kspace: np.ndarray, calib: int) -> float:
    """Fraction of the object (estimated from the calibration block) where the maps are non-zero.

    The object is where the root-sum-of-squares image of the central ``calib × calib`` k-space (zero-filled to
    ``(H, W)``) exceeds 10 % of its maximum; the maps count as non-zero where ``Σ_c |S_c|² > 0.5``.

    Shape
    -----
    ``maps``, ``kspace`` ``(C, H, W)`` → a number in ``[0, 1]``.
    """
    from monarch_sci.fourier import ifft2c

    C, H, W = kspace.shape
    centre = np.zeros_like(kspace)
    rows = slice(H // 2 - calib // 2, H // 2 - calib // 2 + calib)
    cols = slice(W // 2 - calib // 2, W // 2 - calib // 2 + calib)
    centre[:, rows, cols] = kspace[:, rows, cols]
    low = np.sqrt((np.abs(ifft2c(centre)) ** 2).sum(0))
    obj = low > 0.1 * low.max()
    if not obj.any():
        return 1.0
    return float(((np.abs(maps) ** 2).sum(0) > 0.5)[obj].mean())
