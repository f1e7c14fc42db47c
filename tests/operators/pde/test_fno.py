"""FNO-2D / FNO-3D: published parameter counts, Monarch = FFT at initialisation, rollout, bad input."""

import pytest
import torch

from monarch_sci.operators.pde.fno import FNO2d, FNO3d, count_parameters


def test_parameter_counts_match_the_original_benchmark():
    # fourier_2d_time.py / fourier_3d.py with modes 8, width 20 (their count_params: complex = 2 reals).
    assert count_parameters(FNO2d(8, 8, 20)) == 414_517
    assert count_parameters(FNO3d(8, 8, 8, 20)) == 6_558_537
    # Counting complex entries once would not give the published numbers.
    assert sum(p.numel() for p in FNO2d(8, 8, 20).parameters()) == 414_517 - 409_600 // 2


def test_monarch_adds_only_the_factors():
    fft = count_parameters(FNO2d(8, 8, 20, size=(32, 32)))
    mon = FNO2d(8, 8, 20, size=(32, 32), fourier="monarch")
    factors = sum(2 * p.numel() for n, p in mon.named_parameters() if n.endswith("_blocks"))
    assert count_parameters(mon) == fft + factors
    shared = FNO2d(8, 8, 20, size=(32, 32), fourier="monarch", share_transform=True)
    assert count_parameters(shared) == fft + factors // 4


def _copy_fft_weights(fft: torch.nn.Module, mon: torch.nn.Module) -> None:
    missing, unexpected = mon.load_state_dict(fft.state_dict(), strict=False)
    assert not unexpected and missing and all(k.endswith("_blocks") for k in missing)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_fno2d_monarch_equals_fft_at_init(dtype, tol):
    fft = FNO2d(3, 3, 6, t_in=4, size=(12, 12), dtype=dtype)
    mon = FNO2d(3, 3, 6, t_in=4, size=(12, 12), fourier="monarch", dtype=dtype)
    _copy_fft_weights(fft, mon)
    x = torch.randn(2, 12, 12, 4, dtype=dtype)
    with torch.no_grad():
        a, b = fft.rollout(x, 3), mon.rollout(x, 3)
    assert float((a - b).norm() / a.norm()) <= tol


def test_fno3d_monarch_equals_fft_at_init():
    fft = FNO3d(2, 2, 2, 4, t_in=3, size=(8, 8, 6), dtype=torch.float64)
    mon = FNO3d(2, 2, 2, 4, t_in=3, size=(8, 8, 6), fourier="monarch", dtype=torch.float64)
    _copy_fft_weights(fft, mon)
    x = torch.randn(2, 8, 8, 6, 3, dtype=torch.float64)
    with torch.no_grad():
        a, b = fft(x), mon(x)
    assert a.shape == (2, 8, 8, 6, 1)
    assert float((a - b).norm() / a.norm()) <= 1e-12


def test_rollout_feeds_predictions_back():
    model = FNO2d(2, 2, 4, t_in=3, dtype=torch.float64)
    x = torch.randn(2, 8, 8, 3, dtype=torch.float64)
    out = model.rollout(x, 2)
    first = model(x)
    second = model(torch.cat((x[..., 1:], first), dim=-1))
    assert torch.allclose(out, torch.cat((first, second), dim=-1), rtol=0, atol=1e-14)


def test_unused_batchnorm_layers_are_frozen_and_outside_the_computation():
    model = FNO2d(2, 2, 4, t_in=3)
    assert not any(p.requires_grad for p in model.bns.parameters())
    before = model(torch.ones(1, 8, 8, 3))
    with torch.no_grad():
        for p in model.bns.parameters():
            p.add_(1.0)
    assert torch.equal(before, model(torch.ones(1, 8, 8, 3)))


def test_bad_input_restates_the_shape():
    model = FNO2d(2, 2, 4, t_in=3, size=(8, 8), fourier="monarch")
    with pytest.raises(
        ValueError, match=r"expected input \(batch, s1, s2, t_in=3\) \(channels_last\), got \(1, 8, 8, 4\)"
    ):
        model(torch.randn(1, 8, 8, 4))
    # Any grid that holds the modes runs (resolution transfer); one that does not is refused with the numbers.
    with pytest.raises(ValueError, match=r"need a grid of at least \(4, 2\), got an input of shape \(1, 3, 8, 3\)"):
        model(torch.randn(1, 3, 8, 3))
    with pytest.raises(ValueError, match="share_transform=True needs fourier='monarch'"):
        FNO2d(2, 2, 4, share_transform=True)
    with pytest.raises(ValueError, match="FNO3d: expected input"):
        FNO3d(2, 2, 2, 4, t_in=3, size=(8, 8, 6))(torch.randn(1, 8, 8, 6, 4))
