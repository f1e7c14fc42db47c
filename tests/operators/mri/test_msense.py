"""mSENSE and its diagonal ablation: exact zero-filled SENSE at initialisation, they learn, clear errors."""

import pytest
import torch

from monarch_sci.operators.mri.msense import MSENSE, DiagonalSENSE
from monarch_sci.operators.mri.sense import SenseOperator


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
    ref = SenseOperator(maps, mask).adjoint(y)
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


@pytest.mark.parametrize("learn,n_learned", [("both", 4), ("phase", 2), ("readout", 2), ("none", 0)])
def test_learn_freezes_the_other_axis(learn, n_learned):
    model = MSENSE((16, 12), learn=learn)
    assert sum(p.requires_grad for p in model.parameters()) == n_learned
    y, mask, maps = batch(dtype=torch.complex64)
    out = model(y, mask.float(), maps)
    if n_learned:
        out.abs().sum().backward()
    G = model.inverse_fourier
    frozen = {"both": [], "phase": [G.f0], "readout": [G.f1], "none": [G]}[learn]
    for axis in frozen:
        assert all(p.grad is None for p in axis.parameters())


def test_learn_axes_is_a_deprecated_spelling_of_learn():
    with pytest.warns(DeprecationWarning, match="learn_axes= is deprecated"):
        old = MSENSE((16, 12), learn_axes="phase")
    assert old.learn == "phase" and sum(p.requires_grad for p in old.parameters()) == 2
    with pytest.raises(TypeError, match="not both"):
        MSENSE((16, 12), learn="both", learn_axes="both")


def test_checkpoints_written_before_the_physics_object_still_load():
    model = MSENSE((16, 12), dtype=torch.complex128)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    old_keys = {k.replace("physics.fourier.op.", "inverse_fourier."): v for k, v in model.state_dict().items()}
    assert any(k.startswith("inverse_fourier.") for k in old_keys)
    fresh = MSENSE((16, 12), dtype=torch.complex128)
    fresh.load_state_dict(old_keys)
    y, mask, maps = batch()
    assert rel(fresh(y, mask, maps), model(y, mask, maps)) == 0.0


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
        zf = SenseOperator(maps, mask).adjoint(y)
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
    with pytest.raises(ValueError, match="learn must be one of"):
        MSENSE((16, 12), learn="columns")
    with pytest.raises(ValueError, match="learn_axes"), pytest.warns(DeprecationWarning):
        MSENSE((16, 12), learn_axes="columns")
    with pytest.raises(ValueError, match="shape"):
        DiagonalSENSE((16,))
