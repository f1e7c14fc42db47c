"""SENSE operator: the algebra by hand, adjointness, Monarch exact at initialisation, batching, errors."""

import pytest
import torch

from monarch_sci.linop import OPERATOR_REGISTRY
from monarch_sci.operators.mri.sense import SenseOperator

C128 = torch.complex128


def rel(a, b):
    return ((a - b).abs().norm() / b.abs().norm()).item()


def fft2c(x):
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def ifft2c(y):
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(y, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def problem(S=2, C=3, H=16, W=12, dtype=C128):
    maps = torch.randn(S, C, H, W, dtype=dtype)
    mask = (torch.rand(S, 1, 1, W) < 0.5).to(maps.real.dtype)
    mask[..., W // 2] = 1
    x = torch.randn(S, H, W, dtype=dtype)
    y = torch.randn(S, C, H, W, dtype=dtype)
    return maps, mask, x, y


@pytest.mark.parametrize("shape", [(16, 12), (20, 15), (32, 32)])
def test_matches_hand_written_sense(shape):
    maps, mask, x, y = problem(H=shape[0], W=shape[1])
    A = SenseOperator(maps, mask)
    assert rel(A(x), mask * fft2c(maps * x[:, None])) <= 1e-14
    assert rel(A.adjoint(y), (maps.conj() * ifft2c(mask * y)).sum(1)) <= 1e-14


@pytest.mark.parametrize("fourier", ["fft", "monarch"])
def test_adjoint_dot_product(fourier):
    maps, mask, x, y = problem()
    A = SenseOperator(maps, mask, fourier=fourier)
    lhs = torch.vdot(A(x).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), A.adjoint(y).flatten())
    assert abs(lhs - rhs) / abs(lhs) <= 1e-12
    assert rel(A.H.H(x), A(x)) == 0.0


@pytest.mark.parametrize("shape", [(16, 12), (20, 15), (64, 48)])
def test_monarch_exact_at_init_complex128(shape):
    maps, mask, x, y = problem(H=shape[0], W=shape[1])
    fft_op, mon_op = SenseOperator(maps, mask), SenseOperator(maps, mask, fourier="monarch")
    assert sum(p.numel() for p in mon_op.parameters()) > 0
    assert rel(mon_op(x), fft_op(x)) <= 1e-12
    assert rel(mon_op.adjoint(y), fft_op.adjoint(y)) <= 1e-12
    assert rel(mon_op.normal(x), fft_op.normal(x)) <= 1e-12


def test_monarch_learns_fixed_when_asked():
    maps, mask, x, _ = problem()
    A = SenseOperator(maps, mask, fourier="monarch")
    A(x).abs().square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in A.parameters())
    frozen = SenseOperator(maps, mask, fourier="monarch", learn="none")
    assert not any(p.requires_grad for p in frozen.parameters())
    phase = SenseOperator(maps, mask, fourier="monarch", learn="phase")
    assert not any(p.requires_grad for p in phase.fourier.f0.parameters())
    assert all(p.requires_grad for p in phase.fourier.f1.parameters())


def test_learnable_is_a_deprecated_spelling_of_learn():
    maps, mask, _, _ = problem()
    with pytest.warns(DeprecationWarning, match="learnable= is deprecated"):
        frozen = SenseOperator(maps, mask, fourier="monarch", learnable=False)
    assert frozen.learn == "none" and not any(p.requires_grad for p in frozen.parameters())
    with pytest.warns(DeprecationWarning):
        assert SenseOperator(maps, mask, fourier="monarch", learnable=True).learn == "both"
    with pytest.raises(ValueError, match="learn must be one of"):
        SenseOperator(maps, mask, learn="all")


@pytest.mark.parametrize("fourier", ["fft", "monarch"])
def test_maps_and_mask_per_call_equal_stored_ones(fourier):
    maps, mask, x, y = problem()
    stored = SenseOperator(maps, mask, fourier=fourier)
    per_call = SenseOperator(shape=(16, 12), fourier=fourier, dtype=C128)
    assert per_call.oshape == (-1, 16, 12)
    assert rel(per_call(x, maps=maps, mask=mask), stored(x)) <= 1e-14
    assert rel(per_call.H(y, maps=maps, mask=mask), stored.H(y)) <= 1e-14
    assert rel(per_call.normal(x, maps=maps, mask=mask), stored.normal(x)) <= 1e-14
    # per-call values override stored ones; a missing mask means fully sampled
    assert rel(stored(x, maps=2 * maps), 2 * stored(x)) <= 1e-14
    full = SenseOperator(maps, torch.ones(12, dtype=torch.float64))
    assert rel(per_call(x, maps=maps), full(x)) <= 1e-14
    with pytest.raises(ValueError, match="no coil maps stored; pass maps="):
        per_call(x)
    with pytest.raises(ValueError, match=r"mask of shape \(11,\) does not broadcast"):
        per_call(x, maps=maps, mask=torch.ones(11))
    with pytest.raises(ValueError, match=r"built for 16×12 images, got maps \(2, 3, 8, 12\)"):
        per_call(x, maps=maps[..., :8, :])


def test_single_map_set_broadcasts_over_images():
    maps, mask, x, _ = problem(S=1)
    A = SenseOperator(maps[0], mask[0, 0, 0])  # maps (C, H, W), line mask (W,)
    batch = torch.randn(5, 16, 12, dtype=C128)
    out = A(batch)
    assert out.shape == (5, 3, 16, 12)
    assert rel(out[2], SenseOperator(maps[0], mask[0, 0, 0])(batch[2])) <= 1e-15


def test_float32_and_fully_sampled():
    maps, _, x, _ = problem(dtype=torch.complex64)
    # mask None: fully sampled; with Σ|S_c|² = 1 the fully sampled normal operator is the identity
    maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
    A = SenseOperator(maps)
    assert rel(A.normal(x), x) <= 1e-5
    assert A(x).dtype == torch.complex64


def test_registered_for_the_property_suite():
    for name in ("SenseOperator", "SenseOperator-monarch"):
        op = OPERATOR_REGISTRY[name].factory(C128, "cpu", 0)
        assert isinstance(op, SenseOperator)


def test_errors_restate_the_input():
    maps, mask, x, y = problem()
    with pytest.raises(
        ValueError, match=r"maps must be a complex tensor \(\*batch, coils, H, W\), got \(2, 3, 16, 12\)"
    ):
        SenseOperator(maps.real)
    with pytest.raises(ValueError, match=r"mask of shape \(11,\) does not broadcast"):
        SenseOperator(maps, torch.ones(11))
    with pytest.raises(ValueError, match="fourier must be one of"):
        SenseOperator(maps, mask, fourier="dct")
    A = SenseOperator(maps, mask)
    with pytest.raises(ValueError, match=r"expected image of shape \(\*batch, 16, 12\), got \(2, 12, 16\)"):
        A(x.transpose(-1, -2))
    with pytest.raises(ValueError, match=r"expected k-space of shape \(\*batch, 3, 16, 12\)"):
        A.adjoint(y[:, :2])


def test_two_dimensional_poisson_mask():
    from monarch_sci.datasets.mri.masks import poisson_mask

    maps, _, x, y = problem(C=2, H=64, W=48)
    mask = torch.from_numpy(poisson_mask((64, 48), 4, calib=8, seed=0)).double()
    A = SenseOperator(maps, mask)
    assert (A(x)[..., mask == 0] == 0).all() and (A(x)[..., mask == 1] != 0).all()
    lhs, rhs = torch.vdot(A(x).flatten(), y.flatten()), torch.vdot(x.flatten(), A.adjoint(y).flatten())
    assert abs(lhs - rhs) / abs(lhs) <= 1e-12
