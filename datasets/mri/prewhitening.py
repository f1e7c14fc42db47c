"""Noise prewhitening of multi-coil k-space from a noise scan: coils decorrelated and brought to unit noise.

Receiver noise is complex Gaussian and correlated across coils, ``n ~ CN(0, Ψ)`` with ``Ψ`` the ``C × C`` noise
covariance. From a noise scan (samples acquired with the RF off), ``Ψ̂ = N⁻¹ Σ_i n_i n_iᴴ`` over its ``N``
samples per coil (the noise has zero mean, so nothing is subtracted). With the Cholesky factor ``Ψ̂ = L Lᴴ``,
the whitening matrix ``W = L⁻¹`` maps the data to ``W y``, whose noise has covariance ``W Ψ Wᴴ = I``: every
coil unit variance and no correlation, which is what SENSE and ESPIRiT assume (Pruessmann et al. 1999; Hansen &
Kellman 2015). The noise scan may use another dwell time than the imaging data; noise power grows with
bandwidth, i.e. with ``1/dwell``, so ``Ψ`` is rescaled by ``dwell_noise / dwell_data`` first (what the ISMRMRD
tools and Gadgetron do, without their receiver-bandwidth correction).

>>> rng = np.random.default_rng(0)
>>> mix = np.array([[1.0, 0.0], [0.8, 0.6]])
>>> noise = mix @ (rng.standard_normal((2, 20000)) + 1j * rng.standard_normal((2, 20000))) / np.sqrt(2)
>>> W = whitening_matrix(noise_covariance(noise))
>>> np.round(np.abs(noise_covariance(W @ noise)), 2).tolist()
[[1.0, 0.0], [0.0, 1.0]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["noise_covariance", "prewhiten", "whitening_matrix"]


def noise_covariance(noise: np.ndarray, *, dwell_ratio: float = 1.0) -> np.ndarray:
    """``Ψ̂ = dwell_ratio · N⁻¹ n nᴴ`` of noise samples ``(C, N)`` (complex128).

    ``dwell_ratio`` = noise dwell time / data dwell time (the noise of the data is that much stronger).

    Shape
    -----
    ``(C, N)`` → ``(C, C)``.
    """
    n = np.asarray(noise)
    if n.ndim != 2 or not np.iscomplexobj(n):
        raise ValueError(f"noise_covariance: expected complex noise samples (coils, samples), got {n.shape} {n.dtype}")
    C, N = n.shape
    if N < C:
        raise ValueError(f"noise_covariance: {N} noise samples per coil cannot estimate the covariance of {C} coils")
    if not np.isfinite(n).all():
        raise ValueError("noise_covariance: the noise samples hold NaN/Inf")
    if not dwell_ratio > 0:
        raise ValueError(f"noise_covariance: dwell_ratio must be positive, got {dwell_ratio}")
    n = n.astype(np.complex128)
    return float(dwell_ratio) * (n @ n.conj().T) / N


def whitening_matrix(covariance: np.ndarray) -> np.ndarray:
    """``W = L⁻¹`` with ``Ψ = L Lᴴ`` (Cholesky); ``W Ψ Wᴴ = I``. Refuses a covariance that is not positive
    definite (a dead or duplicated channel), naming its smallest eigenvalue.

    Shape
    -----
    ``(C, C)`` → ``(C, C)`` complex128 (lower triangular).
    """
    psi = np.asarray(covariance, dtype=np.complex128)
    if psi.ndim != 2 or psi.shape[0] != psi.shape[1]:
        raise ValueError(f"whitening_matrix: expected a square (coils, coils) covariance, got {psi.shape}")
    psi = (psi + psi.conj().T) / 2  # Hermitian to rounding
    try:
        L = np.linalg.cholesky(psi)
    except np.linalg.LinAlgError:
        low = float(np.linalg.eigvalsh(psi).min())
        raise ValueError(
            f"whitening_matrix: the noise covariance is not positive definite (smallest eigenvalue {low:.3g}); "
            "a channel without noise or two identical channels"
        ) from None
    return np.linalg.solve(L, np.eye(len(psi), dtype=np.complex128))


def prewhiten(data: np.ndarray, whitening: np.ndarray, *, coil_axis: int) -> np.ndarray:
    """``W y`` along ``coil_axis`` (same shape and dtype as ``data``).

    Examples
    --------
    >>> y = np.ones((2, 3, 4), np.complex64)
    >>> prewhiten(y, np.diag([2.0, 0.5]).astype(complex), coil_axis=0)[:, 0, 0].real.tolist()
    [2.0, 0.5]
    """
    y = np.moveaxis(np.asarray(data), coil_axis, 0)
    W = np.asarray(whitening)
    if W.shape != (y.shape[0], y.shape[0]):
        raise ValueError(f"prewhiten: whitening {W.shape} does not match {y.shape[0]} coils")
    out = np.tensordot(W, y, axes=(1, 0)).astype(np.asarray(data).dtype)
    return np.moveaxis(out, 0, coil_axis)
