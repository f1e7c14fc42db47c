"""FNO-2D / FNO-3D: published parameter counts, Monarch = FFT at initialisation, rollout, bad input."""

import pytest
import torch

from monarch_sci.operators.pde.fno import FNO2d, FNO3d, count_parameters
from monarch_sci.operators.pde.spectral_conv import SpectralConv2d


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


def test_transform_keyword_is_a_deprecated_alias_of_fourier():
    from monarch_sci.operators.pde.spectral_conv import make_mode_transform, make_transform

    with pytest.warns(DeprecationWarning, match="transform= is deprecated"):
        old = FNO2d(2, 2, 4, t_in=3, size=(8, 8), transform="monarch")
    assert old.convs[0].kind == "monarch"
    with pytest.warns(DeprecationWarning, match="transform= is deprecated"):
        assert SpectralConv2d(2, 2, 2, 2, size=(8, 8), transform="monarch").kind == "monarch"
    with pytest.warns(DeprecationWarning, match="transform= is deprecated"):
        assert FNO3d(2, 2, 2, 4, t_in=3, size=(8, 8, 6), transform="monarch").convs[0].kind == "monarch"
    with pytest.warns(DeprecationWarning, match="make_transform is deprecated"):
        t = make_transform("monarch", (8, 8), (2, 2))
    assert type(t) is type(make_mode_transform("monarch", (8, 8), (2, 2)))
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="either fourier= or the deprecated"):
        FNO2d(2, 2, 4, fourier="monarch", transform="fft", size=(8, 8))


def test_n_modes_has_neuraloperators_meaning():
    # neuraloperator 2.0: n_modes = total modes per axis incl. both signs; the last (rfft) axis keeps M//2 + 1.
    assert FNO2d(n_modes=(16, 16), width=4).modes == (8, 9)
    assert FNO2d(n_modes=(16, 16), width=4).n_modes == (16, 16)
    assert FNO3d(n_modes=(8, 6, 4), width=4).modes == (4, 3, 3)
    x = torch.randn(1, 16, 16, 10, dtype=torch.float64)
    a = FNO2d(8, 9, 4, dtype=torch.float64)
    b = FNO2d(n_modes=(16, 16), width=4, dtype=torch.float64)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(x), b(x))
    with pytest.raises(ValueError, match="must be even"):
        FNO2d(n_modes=(15, 16), width=4)
    with pytest.raises(ValueError, match="either the modes per sign"):
        FNO2d(8, 8, 4, n_modes=(16, 16))
    with pytest.raises(ValueError, match="got neither"):
        FNO2d(width=4)


def test_mode_counts_that_do_not_fit_are_refused_early():
    # At construction when the training grid is known ...
    with pytest.raises(ValueError, match=r"FourierModes: modes \(16, 16\).*at least \(32, 30\), got size=\(16, 16\)"):
        FNO2d(16, 16, 4, size=(16, 16))
    with pytest.raises(ValueError, match=r"MonarchModes: modes \(16, 16\)"):
        FNO2d(16, 16, 4, size=(16, 16), fourier="monarch")
    # ... else at the first call, before any transform runs.
    with pytest.raises(ValueError, match=r"FNO2d: modes \(16, 16\) .*at least \(32, 30\), got an input of shape"):
        FNO2d(16, 16, 4)(torch.randn(1, 16, 16, 10))


def test_steady_options_channels_layers_and_layout():
    torch.manual_seed(0)
    last = FNO2d(3, 3, 6, in_channels=2, out_channels=3, n_layers=2, proj_width=16, dtype=torch.float64)
    torch.manual_seed(0)
    first = FNO2d(
        3, 3, 6, in_channels=2, out_channels=3, n_layers=2, proj_width=16, layout="channels_first", dtype=torch.float64
    )
    assert len(last.convs) == 2 and last.fc1.out_features == 16
    x = torch.randn(2, 12, 10, 2, dtype=torch.float64)
    y = last(x)
    assert y.shape == (2, 12, 10, 3)
    assert torch.equal(first(x.movedim(-1, 1)), y.movedim(-1, 1))
    with pytest.raises(
        ValueError, match=r"expected input \(batch, t_in=2, s1, s2\) \(channels_first\), got \(2, 12, 10, 2\)"
    ):
        first(x)  # a channels-last tensor given to a channels-first model
    with pytest.raises(TypeError, match="convert it explicitly"):
        last(torch.ones(2, 12, 10, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="rollout: needs out_channels=1"):
        last.rollout(x, 2)
    with pytest.raises(ValueError, match="in_channels=2 and t_in=3 name the same count"):
        FNO2d(3, 3, 6, in_channels=2, t_in=3)
