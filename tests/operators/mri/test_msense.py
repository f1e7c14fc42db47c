"""mSENSE and its diagonal ablation: exact zero-filled SENSE at initialisation, they learn, clear errors."""

import pytest
import torch

from monarch_sci.fourier import CenteredFFT2
from monarch_sci.operators.mri.msense import MSENSE, DiagonalSENSE
from monarch_sci.operators.mri.sense import sense_adjoint


def rel(a, b):
    return ((a - b).abs().norm() / b.abs().norm()).item()


def batch(b=2, c=3, h=16, w=12, dtype=torch.complex128, accel=2):
    y = torch.randn(b, c, h, w, dtype=dtype)
    maps = torch.randn(b, c, h, w, dtype=dtype)
    maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
    mask = (torch.rand(b, 1, 1, w) < 1 / accel).to(y.real.dtype)
    mask[..., w // 2 - 1 : w // 2 + 1] = 1
    return y * mask, mask, maps


@pytest.mark.parametrize("shape", [(16, 12), (32, 32), (20, 15)])
@pytest.mark.parametrize("model_cls", [MSENSE, DiagonalSENSE])
def test_equals_zero_filled_sense_at_init_complex128(shape, model_cls):
    y, mask, maps = batch(h=shape[0], w=shape[1])
    model = model_cls(shape, dtype=torch.complex128)
    ref = sense_adjoint(y, maps, mask, CenteredFFT2(shape))
    # zero-filled SENSE by hand, without any of our helpers
    by_hand = (
        maps.conj()
        * torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(mask * y, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))
    ).sum(1)
    assert rel(ref, by_hand) <= 1e-14
    assert rel(model(y, mask, maps), by_hand) <= 1e-12


def test_reset_parameters_restores_zero_filled():
    y, mask, maps = batch()
    model = MSENSE((16, 12), dtype=torch.complex128)
    before = model(y, mask, maps)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert rel(model(y, mask, maps), before) > 1e-3
    model.reset_parameters()
    assert rel(model(y, mask, maps), before) <= 1e-12


@pytest.mark.parametrize("learn_axes,n_learned", [("both", 4), ("phase", 2), ("readout", 2)])
def test_learn_axes_freezes_the_other_axis(learn_axes, n_learned):
    model = MSENSE((16, 12), learn_axes=learn_axes)
    assert sum(p.requires_grad for p in model.parameters()) == n_learned
    y, mask, maps = batch(dtype=torch.complex64)
    model(y, mask.float(), maps).abs().sum().backward()
    frozen = {"both": [], "phase": [model.inverse_fourier.f0], "readout": [model.inverse_fourier.f1]}[learn_axes]
    for axis in frozen:
        assert all(p.grad is None for p in axis.parameters())


@pytest.mark.parametrize("model_cls", [MSENSE, DiagonalSENSE])
def test_a_few_steps_reduce_the_error_to_a_linear_target(model_cls):
    # Target: a fixed linear map of the k-space (a blurred zero-filled image) that both models can approach.
    torch.manual_seed(0)
    shape = (16, 12)
    model = model_cls(shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    y, mask, maps = batch(b=4, dtype=torch.complex64)
    mask = mask.float()
    with torch.no_grad():
        zf = sense_adjoint(y, maps, mask, CenteredFFT2(shape))
        target = 0.7 * zf + 0.3 * torch.roll(zf, 1, dims=-1)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = (model(y, mask, maps) - target).abs().square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_errors_restate_the_input():
    model = MSENSE((16, 12))
    y, mask, maps = batch(dtype=torch.complex64)
    with pytest.raises(ValueError, match=r"built for 16×12"):
        big = torch.zeros(2, 3, 16, 16, dtype=torch.complex64)
        model(big, torch.ones(1, 1, 1, 16), big)
    with pytest.raises(ValueError, match="kspace"):
        model(y.real, mask, maps)
    with pytest.raises(ValueError, match="does not broadcast"):
        model(y, torch.ones(1, 1, 1, 7), maps)
    with pytest.raises(ValueError, match="learn_axes"):
        MSENSE((16, 12), learn_axes="columns")
    with pytest.raises(ValueError, match="shape"):
        DiagonalSENSE((16,))
