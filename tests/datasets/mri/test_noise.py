"""The receiver-noise estimate: known σ recovered from the k-space periphery (white, per coil, correlated coils)."""

from __future__ import annotations

import numpy as np
import pytest

from monarch_sci.datasets.mri.masks import LineMaskFunc, poisson_mask
from monarch_sci.datasets.mri.noise import MIN_POINTS, estimate_noise, noise_from_scan


def cnoise(rng, shape, sigma):
    """Complex Gaussian of ``shape`` with E|n|² = σ² (``sigma`` broadcastable to ``shape``)."""
    return np.asarray(sigma) * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / 2**0.5


def smooth_signal(rng, S, C, H, W, amplitude):
    """k-space of a smooth object: energy only near the centre (a Gaussian spectrum of width 3 samples)."""
    ky, kx = np.meshgrid(np.arange(H) - H // 2, np.arange(W) - W // 2, indexing="ij")
    envelope = amplitude * np.exp(-(ky**2 + kx**2) / (2 * 3.0**2))
    return envelope * (rng.standard_normal((S, C, H, W)) + 1j * rng.standard_normal((S, C, H, W)))


@pytest.mark.parametrize("pattern", ["line", "2-D", "full"])
def test_known_sigma_per_coil_with_a_strong_central_signal(pattern):
    rng = np.random.default_rng(1)
    S, C, H, W = 2, 6, 96, 80
    sigma_c = np.linspace(0.5, 2.0, C)[:, None, None]  # per coil
    k = smooth_signal(rng, S, C, H, W, 1e4) + cnoise(rng, (S, C, H, W), sigma_c)
    if pattern == "line":
        mask = LineMaskFunc("random", [4], [0.08])(W, seed=2).mask
    elif pattern == "2-D":
        mask = poisson_mask((H, W), 4, calib=16, seed=2)
    else:
        mask = np.ones(W, bool)
    est = estimate_noise(k * mask, mask)
    # MAD of ~2·N Gaussian values: relative standard error ≈ 1.17/sqrt(2N) (a few % here)
    tol = 5 * 1.17 / np.sqrt(2 * est.samples)
    np.testing.assert_allclose(est.per_coil, sigma_c.ravel(), rtol=tol)
    assert est.sigma == pytest.approx(np.sqrt(np.mean(sigma_c.ravel() ** 2)), rel=tol)
    assert est.source == "periphery" and est.fraction == 0.05 and len(est.per_coil) == C
    # the signal alone: orders of magnitude above the noise at the centre, yet the estimate ignores it
    assert np.abs(k[..., H // 2, W // 2]).mean() > 1e3 * est.sigma


def test_correlated_coils_and_the_record():
    rng = np.random.default_rng(4)
    C, H, W = 8, 64, 64
    mix = np.eye(C) + 0.3 * rng.standard_normal((C, C)) * (1 - np.eye(C))
    white = cnoise(rng, (C, H * W), 1.0)
    k = (mix @ white).reshape(C, H, W)  # noise covariance Ψ = mix mixᴴ
    est = estimate_noise(k, np.ones((H, W)))
    np.testing.assert_allclose(est.per_coil, np.sqrt(np.diag(mix @ mix.T)), rtol=0.15)
    rec = est.as_record()
    assert set(rec) == {"sigma", "per_coil", "samples", "source", "fraction"} and isinstance(rec["per_coil"], list)


def test_noise_scan_and_scale():
    rng = np.random.default_rng(5)
    scan = cnoise(rng, (4, 4000), 3e-6)
    est = noise_from_scan(scan)
    assert est.source == "noise scan" and est.fraction is None and est.samples == 4000
    assert est.sigma == pytest.approx(3e-6, rel=0.08)
    # the estimate scales with the data
    k = cnoise(rng, (1, 2, 32, 32), 1.0)
    a, b = estimate_noise(k, np.ones(32)), estimate_noise(1e-5 * k, np.ones(32))
    assert b.sigma == pytest.approx(1e-5 * a.sigma, rel=1e-9)


@pytest.mark.parametrize(
    ("kspace", "mask", "kw", "message"),
    [
        (np.ones((2, 8, 8)), np.ones(8), {}, "must be complex"),
        (np.ones((2, 8, 8), complex), np.ones(8), {"fraction": 0.0}, "fraction must lie in (0, 1]"),
        (np.ones((2, 8, 8), complex), np.ones(5), {}, "does not broadcast"),
        (np.ones((1, 4, 4), complex), np.ones(4), {}, "at least 32 are needed"),
    ],
)
def test_bad_input_is_named(kspace, mask, kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        estimate_noise(kspace, mask, **kw)


def test_a_small_matrix_widens_the_periphery_to_the_fewest_points():
    # 24 x 16 fully sampled: the outer 5% is 20 points, widened to the MIN_POINTS outermost (ties included)
    rng = np.random.default_rng(11)
    k = cnoise(rng, (1, 4, 24, 16), 0.7)
    est = estimate_noise(k, np.ones(16))
    assert MIN_POINTS <= est.samples < 2 * MIN_POINTS
    assert est.sigma == pytest.approx(0.7, rel=0.25)
    # a larger matrix keeps exactly its outer fraction (ties aside): the floor does not move it
    big = cnoise(rng, (1, 4, 128, 96), 0.7)
    assert estimate_noise(big, np.ones(96)).samples <= 0.06 * 128 * 96
