"""Gaussian random fields on the periodic unit square, as in the original FNO data generator.

The initial vorticity of the Navier–Stokes benchmark is a zero-mean Gaussian random field with covariance

.. math::

    C = \\sigma^2 (-\\Delta + \\tau^2 I)^{-\\alpha}, \\qquad \\sigma = \\tau^{\\frac{1}{2}(2\\alpha - d)},

on the periodic unit square (``d = 2``; the benchmark uses ``α = 2.5, τ = 7``, so ``σ = 7^1.5``). Its
eigenfunctions are the Fourier modes ``exp(2πi k·x)`` with eigenvalues ``λ_k = 4π²|k|² + τ²``; the mean
(``k = 0``) mode is removed. Sampling follows the original generator exactly: draw a complex standard normal
``ξ_k`` (``E|ξ_k|² = 1``) for every mode of the full ``s × s`` FFT grid (wavenumbers ``0 … s/2-1, -s/2 … -1``
on both axes), multiply by ``a_k = s²·√2·σ·λ_k^{-α/2}`` (``a_0 = 0``) and keep the real part of the inverse
FFT. Taking the real part halves the variance of each mode's conjugate-symmetric pair, so the sampled field
``w`` has, for every mode (Nyquist modes included),

.. math::

    E\\,|\\hat w_k|^2 / s^4 = \\sigma^2 \\lambda_k^{-\\alpha}, \\qquad \\hat w = \\mathrm{fft2}(w),

which :func:`grf_spectrum` returns and the tests check.

Per-sample determinism: :func:`sample_generator` seeds a CPU ``torch.Generator`` from a hash of
``(seed, index)``; the noise of sample ``i`` is drawn from its own generator in complex128 on the CPU, so the
field of sample ``i`` does not depend on the batch it is drawn in, on the device, or on the dtype (up to the
final cast).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch

__all__ = ["GaussianRandomField", "grf_amplitude", "grf_spectrum", "sample_generator", "sample_seed"]


def _check_params(alpha: float, tau: float, sigma: float | None, dim: int = 2) -> float:
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"GaussianRandomField: expected alpha > 0, got alpha={alpha}")
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"GaussianRandomField: expected tau > 0, got tau={tau}")
    if sigma is None:
        sigma = tau ** (0.5 * (2 * alpha - dim))
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"GaussianRandomField: expected sigma > 0 (or None for tau^(alpha-1)), got sigma={sigma}")
    return float(sigma)


def _wavenumbers(s: int) -> torch.Tensor:
    # Integer wavenumbers of the full FFT grid: 0, 1, …, s/2-1, -s/2, …, -1 (float64).
    return torch.fft.fftfreq(s, d=1.0 / s, dtype=torch.float64)


def grf_spectrum(s: int, *, alpha: float = 2.5, tau: float = 7.0, sigma: float | None = None) -> torch.Tensor:
    """Expected power ``E|fft2(w)_k|² / s⁴ = σ² (4π²|k|² + τ²)^{-α}`` of a sampled field (0 at ``k = 0``).

    Shape
    -----
    returns ``(s, s)`` float64, indexed like ``torch.fft.fft2`` output.

    Examples
    --------
    >>> grf_spectrum(8)[0, 1] > grf_spectrum(8)[0, 2]
    tensor(True)
    """
    sigma = _check_params(alpha, tau, sigma)
    k = _wavenumbers(s)
    lam = 4 * math.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + tau**2
    spec = sigma**2 * lam ** (-alpha)
    spec[0, 0] = 0.0
    return spec


def grf_amplitude(s: int, *, alpha: float = 2.5, tau: float = 7.0, sigma: float | None = None) -> torch.Tensor:
    """Mode amplitudes ``a_k = s²·√2·σ·λ_k^{-α/2}`` (``a_0 = 0``) applied to complex white noise.

    Shape
    -----
    returns ``(s, s)`` float64, indexed like ``torch.fft.fft2`` output.
    """
    return s**2 * math.sqrt(2.0) * grf_spectrum(s, alpha=alpha, tau=tau, sigma=sigma).sqrt()


def sample_seed(seed: int, index: int) -> int:
    """A 63-bit seed for sample ``index`` of a data set with master seed ``seed`` (BLAKE2b of both).

    Hashing (rather than ``seed + index``) keeps streams of neighbouring seeds unrelated.

    Examples
    --------
    >>> sample_seed(0, 1) == sample_seed(0, 1) != sample_seed(1, 0)
    True
    """
    if int(index) < 0:
        raise ValueError(f"sample_seed: expected a sample index >= 0, got {index}")
    digest = hashlib.blake2b(f"monarch-sci/grf/{int(seed)}/{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def sample_generator(seed: int, index: int) -> torch.Generator:
    """CPU ``torch.Generator`` of sample ``index`` (see :func:`sample_seed`)."""
    return torch.Generator(device="cpu").manual_seed(sample_seed(seed, index))


class GaussianRandomField:
    """Zero-mean GRF with covariance ``σ²(-Δ + τ²)^{-α}`` on the periodic unit square (2-D).

    Parameters
    ----------
    alpha : float
        Smoothness exponent ``α`` (benchmark: 2.5).
    tau : float
        Inverse length scale ``τ`` (benchmark: 7).
    sigma : float or None
        Amplitude ``σ``; ``None`` gives the original default ``τ^{(2α-d)/2}`` (``7^1.5`` for the benchmark).

    Shape
    -----
    :meth:`sample` returns ``(len(indices), s, s)``; axis ``-2`` is ``x₁`` and axis ``-1`` is ``x₂``, grid
    points ``x = (i/s, j/s)``.

    Examples
    --------
    >>> grf = GaussianRandomField()
    >>> w0 = grf.sample(32, seed=0, indices=range(4))
    >>> w0.shape, abs(float(w0.mean())) < 1e-12
    (torch.Size([4, 32, 32]), True)
    """

    def __init__(self, *, alpha: float = 2.5, tau: float = 7.0, sigma: float | None = None) -> None:
        self.alpha = float(alpha)
        self.tau = float(tau)
        self.sigma = _check_params(self.alpha, self.tau, sigma)

    def __repr__(self) -> str:
        return f"GaussianRandomField(alpha={self.alpha}, tau={self.tau}, sigma={self.sigma:.6g})"

    def sample(
        self,
        s: int,
        *,
        seed: int,
        indices: Sequence[int],
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Fields of samples ``indices`` on an ``s × s`` grid; sample ``i`` depends only on ``(seed, i)``."""
        if int(s) < 2:
            raise ValueError(f"GaussianRandomField.sample: expected a grid size s >= 2, got s={s}")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"GaussianRandomField.sample: expected dtype float32 or float64, got {dtype}")
        indices = [int(i) for i in indices]
        if not indices:
            raise ValueError("GaussianRandomField.sample: expected at least one sample index, got none")
        xi = torch.stack(
            [torch.randn(s, s, dtype=torch.complex128, generator=sample_generator(seed, i)) for i in indices]
        )  # (n, s, s), E|ξ|² = 1
        amp = grf_amplitude(s, alpha=self.alpha, tau=self.tau, sigma=self.sigma)
        w = torch.fft.ifft2(amp * xi).real  # (n, s, s) float64
        return w.to(dtype=dtype, device=device)
