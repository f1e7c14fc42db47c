"""Gaussian random field: the original generator's spectrum, zero mean, per-sample determinism."""

import math

import pytest
import torch

from monarch_sci.datasets.pde.grf import GaussianRandomField, grf_amplitude, grf_spectrum, sample_seed


def test_default_sigma_is_tau_to_the_alpha_minus_one():
    grf = GaussianRandomField(alpha=2.5, tau=7.0)
    assert grf.sigma == pytest.approx(7.0**1.5, rel=1e-15)
    # Covariance 7³(-Δ + 49)^(-2.5): the spectrum at k = (1, 0) by hand.
    assert grf_spectrum(8)[1, 0].item() == pytest.approx(7.0**3 * (4 * math.pi**2 + 49) ** -2.5, rel=1e-14)
    assert grf_amplitude(8)[0, 0].item() == 0.0


def test_power_spectrum_matches_covariance_within_sampling_error():
    s, m = 16, 400
    grf = GaussianRandomField(alpha=2.5, tau=7.0)
    w = grf.sample(s, seed=1234, indices=range(m))  # (m, s, s) float64
    power = torch.fft.fft2(w).abs().pow(2) / s**4  # (m, s, s)
    expected = grf_spectrum(s)
    k = torch.fft.fftfreq(s, d=1.0 / s, dtype=torch.float64)
    kk = (k[:, None] ** 2 + k[None, :] ** 2).round()
    # Pool shells of equal |k|² (distinct modes there are exchangeable); each real-field mode power is a
    # (scaled) χ² variable, so the shell mean has relative std ≤ 1/√(m·modes/2) (conjugate pairs are equal).
    for shell in torch.unique(kk)[1:]:
        sel = kk == shell
        ratio = (power[:, sel].mean(dim=0) / expected[sel]).mean().item()
        std = 1.0 / math.sqrt(m * max(1, int(sel.sum()) // 2))
        assert abs(ratio - 1.0) < 5 * std, f"|k|²={int(shell)}: power ratio {ratio:.4f}, allowed ±{5 * std:.4f}"
    # The mean mode is exactly removed: every field has zero mean.
    assert w.mean(dim=(-2, -1)).abs().max().item() < 1e-13 * w.abs().max().item()


def test_sample_depends_only_on_seed_and_index():
    grf = GaussianRandomField()
    batch = grf.sample(32, seed=7, indices=[3, 4, 5, 6])
    alone = grf.sample(32, seed=7, indices=[5])
    assert torch.equal(batch[2], alone[0])  # bit for bit, whatever else is in the batch
    other_seed = grf.sample(32, seed=8, indices=[5])
    assert (alone - other_seed).abs().max() > 0.1 * alone.abs().max()
    f32 = grf.sample(32, seed=7, indices=[5], dtype=torch.float32)
    assert torch.equal(f32, alone.float())
    assert sample_seed(7, 5) != sample_seed(5, 7)


def test_errors_restate_the_input():
    with pytest.raises(ValueError, match="alpha > 0"):
        GaussianRandomField(alpha=-1.0)
    with pytest.raises(ValueError, match="tau > 0"):
        GaussianRandomField(tau=0.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        GaussianRandomField().sample(8, seed=0, indices=[0], dtype=torch.float16)
    with pytest.raises(ValueError, match="index >= 0"):
        sample_seed(0, -1)
