"""Receiver-noise level of multi-coil k-space: a robust estimate from the k-space periphery, or a noise scan.

Thermal receiver noise is white complex Gaussian in k-space, ``n_c ~ CN(0, σ_c²)`` per coil (``E|n_c|² = σ_c²``,
real and imaginary parts each of standard deviation ``σ_c/√2``). The outermost sampled points of k-space hold
almost no signal (an image's spectrum decays fast away from the centre), so their real and imaginary parts are,
per coil, a sample of that Gaussian contaminated by a minority of small signal values; the median absolute
deviation is insensitive to such a minority:

.. math:: \\hat σ_c = \\sqrt{2} · 1.4826 · \\operatorname{median}_i |v_i − \\operatorname{median}(v)|,

with ``v`` the real and imaginary parts of coil ``c`` at the chosen points (1.4826 = 1/Φ⁻¹(3/4) makes the MAD
of a Gaussian its standard deviation). The points are the sampled positions whose normalised radius
``(k_y/(H/2))² + (k_x/(W/2))²`` is in the top ``fraction`` of all sampled positions (the corners first). Where
a noise scan is at hand (samples acquired with the RF off), :func:`noise_from_scan` gives the same record from
it. The volume's level is ``σ = sqrt(mean_c σ_c²)``: with coil maps normalised to ``Σ_c |S_c|² = 1`` it is the
noise level of the coil-combined image for uncorrelated coils of equal noise.

>>> rng = np.random.default_rng(0)
>>> k = 0.3 * (rng.standard_normal((2, 4, 64, 48)) + 1j * rng.standard_normal((2, 4, 64, 48))) / np.sqrt(2)
>>> est = estimate_noise(k, np.ones(48, bool))
>>> round(est.sigma, 2), est.source
(0.3, 'periphery')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["NoiseEstimate", "estimate_noise", "noise_from_scan"]

#: 1 / Φ⁻¹(3/4): the median absolute deviation of a Gaussian times this is its standard deviation.
MAD_TO_STD = 1.482602218505602

#: Share of the sampled positions (the outermost) that :func:`estimate_noise` uses by default.
PERIPHERY_FRACTION = 0.05
#: Fewest points the periphery estimate uses: on a small matrix the outer ``fraction`` is widened to this many.
MIN_POINTS = 32


@dataclass(frozen=True)
class NoiseEstimate:
    """A receiver-noise estimate, as records store it (:meth:`as_record`).

    Attributes
    ----------
    sigma
        ``σ = sqrt(mean_c σ_c²)``, in the units of the k-space (``E|n|² = σ²`` per complex sample).
    per_coil
        ``σ_c`` per coil.
    samples
        Complex samples per coil the estimate used.
    source
        ``"periphery"`` (outermost sampled k-space) or ``"noise scan"``.
    fraction
        The share of sampled positions used (periphery; ``None`` for a noise scan).
    """

    sigma: float
    per_coil: tuple[float, ...]
    samples: int
    source: str
    fraction: float | None = None

    def as_record(self) -> dict:
        """A JSON-ready dict of the estimate."""
        return {**asdict(self), "per_coil": list(self.per_coil)}


def _mad_sigma(values: np.ndarray) -> np.ndarray:
    """Per row of complex ``values`` ``(C, N)``: ``√2 · 1.4826 · MAD`` of the real and imaginary parts pooled."""
    parts = np.concatenate([values.real, values.imag], axis=-1).astype(np.float64)
    med = np.median(parts, axis=-1, keepdims=True)
    return np.sqrt(2.0) * MAD_TO_STD * np.median(np.abs(parts - med), axis=-1)


def _record(sigma_c: np.ndarray, samples: int, source: str, fraction: float | None) -> NoiseEstimate:
    sigma = float(np.sqrt(np.mean(np.square(sigma_c))))
    return NoiseEstimate(sigma, tuple(float(s) for s in sigma_c), int(samples), source, fraction)


def estimate_noise(kspace: np.ndarray, mask: np.ndarray, *, fraction: float = PERIPHERY_FRACTION) -> NoiseEstimate:
    """Receiver noise from the outermost sampled k-space points (median absolute deviation, per coil).

    Parameters
    ----------
    kspace
        Multi-coil k-space ``(S, C, H, W)`` or ``(C, H, W)`` (zeros where not sampled).
    mask
        The sampled positions, broadcastable to ``(S, 1, H, W)``: a line mask ``(W,)``, per-slice line masks
        ``(S, 1, 1, W)``, a 2-D pattern ``(H, W)`` or ``(S, 1, H, W)`` (nonzero = sampled).
    fraction
        Share of the sampled positions used: those of largest normalised radius (ties at the cut included),
        widened to the :data:`MIN_POINTS` outermost positions where the share holds fewer.

    Shape
    -----
    ``kspace`` ``(S, C, H, W)`` or ``(C, H, W)``; ``mask`` broadcastable to ``(S, 1, H, W)``.

    Raises
    ------
    ValueError
        A bad ``fraction``, a mask that does not broadcast, or fewer than :data:`MIN_POINTS` sampled points.
    """
    k = np.asarray(kspace)
    if k.ndim == 3:
        k = k[None]
    if k.ndim != 4 or not np.iscomplexobj(k):
        raise ValueError(f"estimate_noise: kspace must be complex (S, C, H, W) or (C, H, W), got {k.shape} {k.dtype}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"estimate_noise: fraction must lie in (0, 1], got {fraction}")
    S, C, H, W = k.shape
    m = np.asarray(mask)
    try:
        sampled = np.broadcast_to(m != 0, (S, 1, H, W))[:, 0]
    except ValueError:
        raise ValueError(
            f"estimate_noise: mask {m.shape} does not broadcast to (S, 1, H, W) = ({S}, 1, {H}, {W})"
        ) from None
    ky = (np.arange(H) - H // 2) / (H / 2)
    kx = (np.arange(W) - W // 2) / (W / 2)
    radius = np.broadcast_to(ky[:, None] ** 2 + kx[None, :] ** 2, (S, H, W))
    r = radius[sampled]
    if r.size < MIN_POINTS:
        raise ValueError(
            f"estimate_noise: only {r.size} sampled points; at least {MIN_POINTS} are needed to estimate noise"
        )
    # the outer `fraction`, but never fewer than the MIN_POINTS outermost points (small matrices)
    cut = min(np.quantile(r, 1.0 - fraction), np.partition(r, r.size - MIN_POINTS)[r.size - MIN_POINTS])
    chosen = sampled & (radius >= cut)
    s, h, w = np.nonzero(chosen)
    values = np.moveaxis(k[s, :, h, w], 0, 1)  # (C, N)
    return _record(_mad_sigma(values), values.shape[1], "periphery", float(fraction))


def noise_from_scan(noise: np.ndarray) -> NoiseEstimate:
    """Receiver noise from a noise scan (samples acquired without excitation), by the same robust rule.

    Shape
    -----
    ``noise`` ``(C, N)`` complex (coils × samples; any further axes are flattened into the samples).
    """
    n = np.asarray(noise)
    if n.ndim < 2 or not np.iscomplexobj(n) or n[0].size < 16:
        raise ValueError(f"noise_from_scan: expected complex (coils, samples) with >= 16 samples, got {n.shape}")
    n = n.reshape(n.shape[0], -1)
    return _record(_mad_sigma(n), n.shape[1], "noise scan", None)
