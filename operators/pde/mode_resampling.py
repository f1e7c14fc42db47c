"""Carrying a learned kept-modes transform from its training grid to another grid (resolution transfer).

A learned analysis map ``A`` (``n_m × n``: kept modes × grid points of one axis) holds, in every row, a function
sampled on the training grid ``t/n``; a synthesis map ``B`` (``n × n_m``) holds one in every column. To use the
model on a grid of ``n'`` points the map must exist there. With ``D_n`` the exact truncated DFT of the
``norm="ortho"`` convention (:func:`truncated_dft`) and ``R`` the band-limited (trigonometric) interpolation
from ``n`` to ``n'`` samples (:func:`trig_resample_matrix`),

.. math::

    A' = D_{n'} + \\sqrt{n/n'}\\,(A - D_n)\\,R^{\\mathsf T}, \\qquad
    B' = D_{n'} + \\sqrt{n/n'}\\,R\\,(B - D_n).

The factor ``√(n/n')`` is the ``norm="ortho"`` convention: a DFT row is ``e^{∓2πi f t/n}/√n``, so the same
function on ``n'`` points carries ``1/√n'``. Only the *learned deviation* from the DFT is interpolated; the
exact part is known at every size. For rows that are band-limited below the Nyquist frequency of both grids
this equals interpolating the whole row, and it is exact in the other cases: at initialisation (``A = D_n``)
the carried map is exactly the DFT of the new grid, also for a kept Nyquist mode (whose row is ``(−1)^t``,
which trigonometric interpolation would turn into a cosine) and for the half-spectrum weights ``1, 2, …, 1``
(the Nyquist weight is ``1`` on ``n`` but ``2`` on a grid where that index is no longer Nyquist).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch

__all__ = ["carry_dense_t", "trig_resample_matrix", "truncated_dft"]


@lru_cache(maxsize=128)
def trig_resample_matrix(n: int, n_new: int) -> torch.Tensor:
    """``(n_new, n)`` complex128 matrix of band-limited (trigonometric) interpolation from ``n`` to ``n_new`` samples.

    ``R v`` samples at ``t/n_new`` the trigonometric polynomial of lowest degree through the samples ``v`` at
    ``t/n`` (frequencies above the smaller grid's Nyquist frequency are dropped; an even grid's Nyquist
    component is split evenly between ``±n/2`` when upsampling and folded when downsampling, as
    ``scipy.signal.resample`` does).

    Examples
    --------
    >>> t = torch.arange(8) / 8
    >>> v = torch.exp(2j * torch.pi * 3 * t).to(torch.complex128)
    >>> t2 = torch.arange(16) / 16
    >>> torch.allclose(trig_resample_matrix(8, 16) @ v, torch.exp(2j * torch.pi * 3 * t2).to(torch.complex128))
    True
    """
    if n < 1 or n_new < 1:
        raise ValueError(f"trig_resample_matrix: expected grid sizes >= 1, got n={n}, n_new={n_new}")
    if n == n_new:
        return torch.eye(n, dtype=torch.complex128)
    X = torch.fft.fft(torch.eye(n, dtype=torch.complex128), dim=0)  # column i: spectrum of unit vector e_i
    Y = X.new_zeros(n_new, n)
    N = min(n, n_new)
    nyq = N // 2 + 1  # bins 0 … N//2 (Nyquist included when N is even)
    Y[:nyq] = X[:nyq]
    if N > 2:
        Y[nyq - N :] = X[nyq - N :]  # negative frequencies −(N − nyq) … −1
    if N % 2 == 0:
        if n_new < n:  # fold −N/2 onto the new Nyquist bin
            Y[N // 2] += X[n - N // 2]
        else:  # split +N/2 evenly between ±N/2
            Y[N // 2] *= 0.5
            Y[n_new - N // 2] = Y[N // 2]
    return torch.fft.ifft(Y, dim=0) * (n_new / n)


@lru_cache(maxsize=256)
def truncated_dft(
    n: int, freqs: tuple[int, ...], *, inverse: bool, weights: tuple[float, ...] | None = None
) -> torch.Tensor:
    """The exact ``norm="ortho"`` DFT restricted to frequencies ``freqs`` (indices in ``[0, n)``), complex128.

    forward ``(len(freqs), n)``: ``D[i, t] = w_i e^{−2πi f_i t/n}/√n``; inverse ``(n, len(freqs))``:
    ``D[t, i] = w_i e^{+2πi f_i t/n}/√n`` (``w = 1`` unless ``weights`` are given).

    Examples
    --------
    >>> D = truncated_dft(8, (0, 1, 7), inverse=False)
    >>> x = torch.randn(8, dtype=torch.complex128)
    >>> torch.allclose(D @ x, torch.fft.fft(x, norm="ortho")[[0, 1, 7]])
    True
    """
    f = torch.tensor(freqs, dtype=torch.float64)
    t = torch.arange(n, dtype=torch.float64)
    w = torch.ones(len(freqs), dtype=torch.float64) if weights is None else torch.tensor(weights, dtype=torch.float64)
    sign = 1.0 if inverse else -1.0
    phase = sign * 2 * math.pi * torch.remainder(f[:, None] * t[None, :], n) / n  # (n_m, n), reduced mod n
    d = torch.polar(w[:, None] / math.sqrt(n) * torch.ones_like(phase), phase)
    return d.T.contiguous() if inverse else d


def carry_dense_t(
    matrix_t: torch.Tensor,
    n: int,
    n_new: int,
    *,
    freqs: Sequence[int],
    freqs_new: Sequence[int],
    inverse: bool,
    weights: Sequence[float] | None = None,
    weights_new: Sequence[float] | None = None,
) -> torch.Tensor:
    """A learned one-axis kept-modes map, transposed, carried from ``n`` to ``n_new`` grid points.

    ``matrix_t`` is ``Aᵀ`` ``(n, n_m)`` for an analysis map (``inverse=False``) or ``Bᵀ`` ``(n_m, n)`` for a
    synthesis map; the result is ``A'ᵀ`` ``(n_new, n_m)`` or ``B'ᵀ`` ``(n_m, n_new)`` (module docstring).
    ``freqs``/``freqs_new`` are the kept frequency indices of the same mode slots on each grid (a negative
    frequency ``−k`` is index ``n − k``), ``weights``/``weights_new`` the exact maps' per-mode weights.
    Differentiable in ``matrix_t``; keeps its dtype and device.

    Examples
    --------
    >>> D8 = truncated_dft(8, (0, 1, 7), inverse=False)
    >>> carried = carry_dense_t(D8.T, 8, 12, freqs=(0, 1, 7), freqs_new=(0, 1, 11), inverse=False)
    >>> torch.allclose(carried, truncated_dft(12, (0, 1, 11), inverse=False).T)
    True
    """
    kw = {"dtype": matrix_t.dtype, "device": matrix_t.device}
    w_old = None if weights is None else tuple(float(v) for v in weights)
    w_new = None if weights_new is None else tuple(float(v) for v in weights_new)
    d_old = truncated_dft(n, tuple(int(f) for f in freqs), inverse=inverse, weights=w_old).T.to(**kw)
    d_new = truncated_dft(n_new, tuple(int(f) for f in freqs_new), inverse=inverse, weights=w_new).T.to(**kw)
    r = trig_resample_matrix(n, n_new).to(**kw)  # (n_new, n)
    scale = math.sqrt(n / n_new)
    if inverse:  # Bᵀ (n_m, n): B'ᵀ = D'ᵀ + √(n/n') (B − D)ᵀ Rᵀ
        return d_new + scale * (matrix_t - d_old) @ r.T
    return d_new + scale * r @ (matrix_t - d_old)  # Aᵀ (n, n_m): A'ᵀ = D'ᵀ + √(n/n') R (A − D)ᵀ
