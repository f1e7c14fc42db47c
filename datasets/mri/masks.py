"""Undersampling masks for Cartesian MRI: fastMRI line masks and 2-D Poisson-disc masks.

Mask families (``mask_type`` in training and evaluation): the line masks ``"random"``, ``"equispaced"``,
``"equispaced_fraction"`` below, and ``"poisson"``: sigpy's variable-density Poisson-disc pattern in the
phase-encode plane of a 3-D acquisition with a fixed fully sampled calibration square
(:func:`poisson_mask`, :func:`poisson_masks_for_volume`).

Line masks sample whole phase-encode columns (the last k-space axis ``W``, as in fastMRI, whose masks act on
``shape[-2]`` of a ``(..., H, W, 2)`` real view). They follow fastMRI's ``fastmri/data/subsample.py``:

* ``num_low = round(W · center_fraction)`` fully sampled centre columns starting at
  ``pad = (W − num_low + 1) // 2``;
* ``"random"`` (``RandomMaskFunc``): each other column is kept with probability
  ``p = (W / R − num_low) / (W − num_low)``, so that ``E[#columns] = W / R``;
* ``"equispaced_fraction"`` (``EquispacedMaskFractionFunc``, the fastMRI multi-coil test masks): columns at
  ``round(offset + k·R')`` with the adjusted spacing ``R' = R (num_low − W) / (num_low·R − W)``, so that
  ``#columns ≈ W / R`` including the centre, and a random ``offset ∈ [0, round(R'))``;
* ``"equispaced"`` (``EquiSpacedMaskFunc``): every ``R``-th column from a random offset, plus the centre.

The random draws (``randint`` to choose among accelerations, then ``uniform`` / ``randint``) are made in
fastMRI's order on a ``numpy.random.RandomState`` re-seeded for the call, so a seed gives the same mask as
fastMRI's classes would; :func:`volume_seed` is fastMRI's per-volume seed ``tuple(map(ord, fname))``.

Which seed a slice uses decides the mask policy (:func:`line_masks_for_volume`): ``"fixed"`` (one mask per
acceleration everywhere), ``"volume"`` (fastMRI's: one per file) or ``"slice"`` (a new mask per slice).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "DEFAULT_CENTER_FRACTIONS",
    "MASK_TYPES",
    "POISSON_ATTEMPTS",
    "LineMask",
    "LineMaskFunc",
    "acs_width",
    "apply_line_mask",
    "as_line_mask",
    "infer_mask",
    "line_masks_for_volume",
    "poisson_calib",
    "poisson_mask",
    "poisson_masks_for_volume",
    "volume_seed",
]

LineMaskKind = Literal["random", "equispaced", "equispaced_fraction"]
_KINDS = ("random", "equispaced", "equispaced_fraction")
#: Every mask family: the line masks and the 2-D Poisson-disc masks.
MASK_TYPES = (*_KINDS, "poisson")
MaskPolicy = Literal["fixed", "volume", "slice"]

#: fastMRI's usual pairs (4× with 8 %, 8× with 4 %), extended to 2× with 16 %.
DEFAULT_CENTER_FRACTIONS: dict[int, float] = {2: 0.16, 4: 0.08, 8: 0.04}

Seed = int | tuple[int, ...] | None


@contextlib.contextmanager
def _temp_seed(rng: np.random.RandomState, seed: Seed):
    # fastMRI's semantics: a call with a seed leaves the generator's own stream untouched afterwards.
    if seed is None:
        yield
        return
    state = rng.get_state()
    rng.seed(seed)
    try:
        yield
    finally:
        rng.set_state(state)


def volume_seed(fname: str) -> tuple[int, ...]:
    """fastMRI's deterministic per-volume seed: the code points of the file name (no directory)."""
    name = str(fname).replace("\\", "/").rsplit("/", 1)[-1]
    if not name:
        raise ValueError(f"volume_seed: expected a file name, got {fname!r}")
    return tuple(map(ord, name))


@dataclass(frozen=True)
class LineMask:
    """One sampled line mask.

    Attributes
    ----------
    mask
        ``(W,)`` bool, ``True`` where a phase-encode column is acquired.
    num_low_frequencies
        Number of fully sampled centre columns (the auto-calibration region).
    acceleration, center_fraction
        The nominal pair that was drawn.
    """

    mask: np.ndarray
    num_low_frequencies: int
    acceleration: int
    center_fraction: float

    @property
    def effective_acceleration(self) -> float:
        """``W / #sampled columns``."""
        return self.mask.size / max(int(self.mask.sum()), 1)


class LineMaskFunc:
    """Random or equispaced Cartesian line masks with fastMRI semantics.

    Parameters
    ----------
    kind
        ``"random"``, ``"equispaced_fraction"`` (fastMRI multi-coil test masks) or ``"equispaced"``.
    accelerations
        Nominal accelerations ``R``; one pair ``(center_fraction, R)`` is drawn per call.
    center_fractions
        Fractions of fully sampled centre columns, one per acceleration (default:
        :data:`DEFAULT_CENTER_FRACTIONS`).
    seed
        Seed of the object's own generator, used by calls without a seed.

    Shape
    -----
    ``__call__(W) → LineMask`` with ``mask`` of shape ``(W,)``.

    Examples
    --------
    >>> f = LineMaskFunc("equispaced_fraction", [4])
    >>> m = f(320, seed=volume_seed("file1000001.h5"))
    >>> m.num_low_frequencies, int(m.mask.sum())
    (26, 80)
    """

    def __init__(
        self,
        kind: LineMaskKind,
        accelerations: Sequence[int],
        center_fractions: Sequence[float] | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        if kind not in _KINDS:
            raise ValueError(f"LineMaskFunc: kind must be one of {_KINDS}, got {kind!r}")
        accelerations = [int(a) for a in accelerations]
        if not accelerations or any(a < 1 for a in accelerations):
            raise ValueError(f"LineMaskFunc: accelerations must be integers >= 1, got {accelerations}")
        if center_fractions is None:
            missing = [a for a in accelerations if a not in DEFAULT_CENTER_FRACTIONS]
            if missing:
                raise ValueError(
                    f"LineMaskFunc: no default centre fraction for accelerations {missing}; "
                    f"pass center_fractions (defaults exist for {sorted(DEFAULT_CENTER_FRACTIONS)})"
                )
            center_fractions = [DEFAULT_CENTER_FRACTIONS[a] for a in accelerations]
        center_fractions = [float(c) for c in center_fractions]
        if len(center_fractions) != len(accelerations):
            raise ValueError(
                f"LineMaskFunc: need one centre fraction per acceleration, got {len(center_fractions)} "
                f"fractions for {len(accelerations)} accelerations"
            )
        if any(not 0.0 < c < 1.0 for c in center_fractions):
            raise ValueError(f"LineMaskFunc: centre fractions must lie in (0, 1), got {center_fractions}")
        if any(c * a > 1.0 for c, a in zip(center_fractions, accelerations)):
            raise ValueError(
                f"LineMaskFunc: centre fraction × acceleration must be <= 1 (the centre alone would exceed "
                f"W/R columns), got fractions {center_fractions} for accelerations {accelerations}"
            )
        self.kind = kind
        self.accelerations = accelerations
        self.center_fractions = center_fractions
        self.rng = np.random.RandomState(seed)

    def __call__(self, num_cols: int, *, seed: Seed = None, offset: int | None = None) -> LineMask:
        num_cols = int(num_cols)
        if num_cols < 2:
            raise ValueError(f"LineMaskFunc: num_cols must be >= 2, got {num_cols}")
        with _temp_seed(self.rng, seed):
            choice = self.rng.randint(len(self.center_fractions))
            frac, accel = self.center_fractions[choice], self.accelerations[choice]
            num_low = round(num_cols * frac)
            center = np.zeros(num_cols, dtype=bool)
            pad = (num_cols - num_low + 1) // 2
            center[pad : pad + num_low] = True
            outer = self._outer(num_cols, accel, num_low, offset)
        return LineMask(center | outer, num_low, accel, frac)

    def _outer(self, num_cols: int, accel: int, num_low: int, offset: int | None) -> np.ndarray:
        if self.kind == "random":
            prob = (num_cols / accel - num_low) / (num_cols - num_low)
            return self.rng.uniform(size=num_cols) < prob
        out = np.zeros(num_cols, dtype=bool)
        if self.kind == "equispaced":
            if offset is None:
                offset = self.rng.randint(0, high=accel)
            out[offset::accel] = True
            return out
        if accel == 1:
            return np.ones(num_cols, dtype=bool)
        spacing = accel * (num_low - num_cols) / (num_low * accel - num_cols)
        if offset is None:
            offset = self.rng.randint(0, high=round(spacing))
        cols = np.around(np.arange(offset, num_cols - 1, spacing)).astype(np.int64)
        out[cols] = True
        return out

    def __repr__(self) -> str:
        return (
            f"LineMaskFunc(kind={self.kind!r}, accelerations={self.accelerations}, "
            f"center_fractions={self.center_fractions})"
        )


def line_masks_for_volume(
    func: LineMaskFunc, num_cols: int, num_slices: int, *, policy: MaskPolicy = "volume", fname: str = ""
) -> np.ndarray:
    """Line masks for every slice of one volume under a seeding policy.

    ``"fixed"``: seed ``0`` for every slice of every volume (one mask per acceleration);
    ``"volume"``: fastMRI's ``volume_seed(fname)`` for all slices of the file;
    ``"slice"``: ``volume_seed(fname) + (slice,)``, a different mask per slice.

    Shape
    -----
    ``(num_slices, num_cols)`` bool.
    """
    if policy not in ("fixed", "volume", "slice"):
        raise ValueError(f"line_masks_for_volume: policy must be 'fixed', 'volume' or 'slice', got {policy!r}")
    if policy != "fixed" and not fname:
        raise ValueError(f"line_masks_for_volume: policy {policy!r} needs the volume's file name (fname)")
    if policy == "fixed":
        one = func(num_cols, seed=0).mask
        return np.repeat(one[None], num_slices, axis=0)
    base = volume_seed(fname)
    if policy == "volume":
        one = func(num_cols, seed=base).mask
        return np.repeat(one[None], num_slices, axis=0)
    return np.stack([func(num_cols, seed=(*base, s)).mask for s in range(num_slices)])


def apply_line_mask(
    kspace: np.ndarray, mask: np.ndarray, padding: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Zero the k-space columns a line mask does not sample (fastMRI's ``apply_mask``).

    Columns outside ``[padding[0], padding[1])`` (the header's phase-encode limits) are never sampled.

    Shape
    -----
    ``kspace`` ``(..., H, W)``; ``mask`` ``(W,)`` or ``(S, W)`` matching the leading slice axis of ``kspace``
    → masked k-space of the same shape and the effective mask (same shape as ``mask``).
    """
    mask = np.asarray(mask).astype(bool)
    width = kspace.shape[-1]
    if mask.shape[-1] != width:
        raise ValueError(f"apply_line_mask: mask has {mask.shape[-1]} columns but k-space width is {width}")
    if padding is not None:
        mask = mask.copy()
        mask[..., : padding[0]] = False
        mask[..., padding[1] :] = False
    if mask.ndim == 1:
        view = mask
    elif mask.ndim == 2 and mask.shape[0] == kspace.shape[0]:
        view = mask.reshape(mask.shape[0], *([1] * (kspace.ndim - 2)), width)
    else:
        raise ValueError(
            f"apply_line_mask: mask must be (W,) or (slices, W) = ({kspace.shape[0]}, {width}), got {mask.shape}"
        )
    return kspace * view, mask


def acs_width(mask: np.ndarray) -> int:
    """Width of the fully sampled centre of a mask (the auto-calibration signal region).

    Line mask ``(W,)``: the contiguous sampled columns around ``W // 2`` (counted outward until the first gap on
    each side). 2-D mask ``(H, W)``: the side of the largest fully sampled square centred as ESPIRiT's
    calibration block is (rows ``H//2 − s//2 …``, columns ``W//2 − s//2 …``).

    Examples
    --------
    >>> m = np.zeros((64, 48), bool)
    >>> m[20:44, 12:36] = True  # a 24×24 fully sampled centre
    >>> acs_width(m), acs_width(m[32])
    (24, 24)
    """
    mask = np.asarray(mask).astype(bool)
    if mask.ndim == 2:
        H, W = mask.shape
        side = 0
        while side < min(H, W):
            s = side + 1
            r0, c0 = H // 2 - s // 2, W // 2 - s // 2
            if not mask[r0 : r0 + s, c0 : c0 + s].all():
                break
            side = s
        return side
    if mask.ndim != 1:
        raise ValueError(f"acs_width: expected a (W,) line mask or an (H, W) mask, got shape {mask.shape}")
    c = mask.size // 2
    if not mask[c]:
        return 0
    lo = c
    while lo > 0 and mask[lo - 1]:
        lo -= 1
    hi = c
    while hi < mask.size - 1 and mask[hi + 1]:
        hi += 1
    return hi - lo + 1


def infer_mask(kspace: np.ndarray) -> np.ndarray:
    """The sampling pattern of zero-filled multi-coil k-space: sampled where any coil is non-zero (sigpy's rule).

    Shape
    -----
    ``(..., coils, H, W)`` → ``(..., H, W)`` bool.

    Examples
    --------
    >>> k = np.ones((2, 4, 6), np.complex64)
    >>> k[:, :, 1::2] = 0
    >>> infer_mask(k)[0].astype(int)
    array([1, 0, 1, 0, 1, 0])
    """
    k = np.asarray(kspace)
    if k.ndim < 3:
        raise ValueError(f"infer_mask: expected multi-coil k-space (..., coils, H, W), got shape {k.shape}")
    return (k != 0).any(axis=-3)


def as_line_mask(mask: np.ndarray) -> np.ndarray | None:
    """A 2-D pattern ``(..., H, W)`` as line masks ``(..., W)`` if it samples whole columns only, else ``None``.

    Examples
    --------
    >>> m = np.zeros((4, 6), bool); m[:, 2] = True
    >>> as_line_mask(m).astype(int), as_line_mask(np.eye(4, dtype=bool))
    (array([0, 0, 1, 0, 0, 0]), None)
    """
    m = np.asarray(mask).astype(bool)
    cols = m.any(axis=-2)
    return cols if (m == cols[..., None, :]).all() else None


def poisson_mask(
    shape: tuple[int, int],
    acceleration: float,
    *,
    calib: int | tuple[int, int] = 0,
    seed: Seed = 0,
    attempts: int = 1,
) -> np.ndarray:
    """2-D variable-density Poisson-disc mask (sigpy's ``sigpy.mri.poisson``) for two phase-encode axes.

    Parameters
    ----------
    shape
        ``(H, W)`` of the sampled plane.
    acceleration
        Target ``H·W / #samples``.
    calib
        Side(s) of the fully sampled centre square.
    seed
        Seed of the sampling pattern (the same seed gives the same mask); a tuple (e.g. :func:`volume_seed`) is
        reduced to one integer by ``numpy.random.SeedSequence``.
    attempts
        sigpy's binary search on the density slope misses its 0.1 tolerance on ``acceleration`` for some seeds;
        with ``attempts > 1`` the next of ``attempts − 1`` seeds derived from ``seed`` is tried (deterministic)
        before the error.

    Shape
    -----
    ``(H, W)`` bool.

    Examples
    --------
    >>> m = poisson_mask((32, 24), 2, calib=8, seed=1)
    >>> m.shape, bool(m[12:20, 8:16].all()), round(m.size / m.sum())
    ((32, 24), True, 2)
    """
    import sigpy.mri

    if len(shape) != 2 or min(shape) < 2:
        raise ValueError(f"poisson_mask: shape must be (H, W) with H, W >= 2, got {shape}")
    if acceleration < 1:
        raise ValueError(f"poisson_mask: acceleration must be >= 1, got {acceleration}")
    cal = (calib, calib) if isinstance(calib, int) else tuple(calib)
    base = _int_seed(seed)
    for attempt in range(max(1, int(attempts))):
        sd = base if attempt == 0 else _int_seed((base, attempt))
        try:
            m = sigpy.mri.poisson(tuple(shape), float(acceleration), calib=cal, dtype=np.complex64, seed=sd)
            break
        except ValueError as err:
            if attempt + 1 < attempts:
                continue
            raise ValueError(
                f"poisson_mask: sigpy could not draw a {shape} Poisson-disc mask at acceleration {acceleration} with "
                f"calibration {cal} ({err}; {max(1, int(attempts))} seed(s) tried); try a larger shape or another "
                "acceleration"
            ) from err
    return np.abs(m) > 0


#: Seeds tried per Poisson-disc mask by the training data and ``mri undersample`` (see ``poisson_mask``).
POISSON_ATTEMPTS = 20


def _int_seed(seed: Seed) -> int:
    """An integer seed in ``[0, 2**32)`` (what sigpy's sampler takes) from an integer or a tuple of integers."""
    if isinstance(seed, (tuple, list)):
        return int(np.random.SeedSequence([int(v) for v in seed]).generate_state(1)[0])
    return int(seed or 0) % 2**32


def poisson_calib(shape: tuple[int, int]) -> int:
    """Default side of the fully sampled calibration square of a 2-D Poisson-disc mask on an ``(H, W)`` plane:
    a quarter of the shorter side, at least 6 (ESPIRiT needs a few kernel shifts), at most 24 (BART's and
    sigpy's usual calibration size).

    Examples
    --------
    >>> poisson_calib((64, 48)), poisson_calib((320, 256))
    (12, 24)
    """
    return int(min(24, max(6, round(min(int(shape[0]), int(shape[1])) / 4))))


def poisson_masks_for_volume(
    shape: tuple[int, int],
    acceleration: float,
    num_slices: int,
    *,
    calib: int | None = None,
    policy: MaskPolicy = "volume",
    fname: str = "",
) -> np.ndarray:
    """2-D Poisson-disc masks for every slice of one volume under a seeding policy (as
    :func:`line_masks_for_volume`): ``"fixed"`` seed 0 everywhere, ``"volume"`` one mask per file (seeded by
    :func:`volume_seed`; a 3-D acquisition's phase-encode pattern, shared by every readout position), ``"slice"``
    one per slice. ``calib`` defaults to :func:`poisson_calib`; up to :data:`POISSON_ATTEMPTS` seeds are tried per
    mask.

    Shape
    -----
    ``(num_slices, H, W)`` bool.
    """
    if policy not in ("fixed", "volume", "slice"):
        raise ValueError(f"poisson_masks_for_volume: policy must be 'fixed', 'volume' or 'slice', got {policy!r}")
    if policy != "fixed" and not fname:
        raise ValueError(f"poisson_masks_for_volume: policy {policy!r} needs the volume's file name (fname)")
    cal = poisson_calib(shape) if calib is None else int(calib)
    if policy == "slice":
        base = volume_seed(fname)
        kw = {"calib": cal, "attempts": POISSON_ATTEMPTS}
        return np.stack([poisson_mask(shape, acceleration, seed=(*base, s), **kw) for s in range(num_slices)])
    seed = 0 if policy == "fixed" else volume_seed(fname)
    one = poisson_mask(shape, acceleration, calib=cal, seed=seed, attempts=POISSON_ATTEMPTS)
    return np.repeat(one[None], num_slices, axis=0)
