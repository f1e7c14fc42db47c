"""Unrolled SENSE network: Landweber at init, Monarch == FFT at init, gradients reach every part, errors."""

import pytest
import torch

from monarch_sci.operators.mri.networks import ConvRegulariser
from monarch_sci.operators.mri.sense import SenseOperator
from monarch_sci.operators.mri.unrolled import UnrolledSENSE


def rel(a, b):
    return ((a - b).abs().norm() / b.abs().norm()).item()


def batch(b=2, c=3, h=16, w=12, dtype=torch.complex128):
    x = torch.randn(b, h, w, dtype=dtype)
    maps = torch.randn(b, c, h, w, dtype=dtype)
    maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
    mask = (torch.rand(b, 1, 1, w) < 0.4).to(x.real.dtype)
    mask[..., w // 2 - 1 : w // 2 + 1] = 1
    y = SenseOperator(maps, mask)(x)
    return x, y, mask, maps


def test_sense_helpers_are_adjoint_complex128():
    x, y, mask, maps = batch()
    for kind in ("fft", "monarch"):  # the physics object of the learned models: maps and mask per call
        A = SenseOperator(shape=(16, 12), fourier=kind, dtype=torch.complex128)
        u = torch.randn_like(y)
        lhs = torch.vdot(A(x, maps=maps, mask=mask).flatten(), u.flatten())
        rhs = torch.vdot(x.flatten(), A.H(u, maps=maps, mask=mask).flatten())
        assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


@pytest.mark.parametrize("regulariser", ["cnn", "unet"])
def test_at_init_it_is_landweber_on_sense(regulariser):
    x, y, mask, maps = batch()
    kw = {"cascades": 3, "channels": 4, "layers": 3, "init": "adjoint", "regulariser": regulariser}
    net = UnrolledSENSE((16, 12), **kw, dtype=torch.complex128)
    A = SenseOperator(maps, mask)
    ref = A.adjoint(y)
    for _ in range(3):
        ref = ref - A.adjoint(A(ref) - y)
    assert rel(net(y, mask, maps), ref) <= 1e-12


@pytest.mark.parametrize("shared", [True, False])
def test_monarch_equals_fft_at_init_with_a_trained_regulariser(shared):
    x, y, mask, maps = batch()
    kw = {"cascades": 2, "channels": 4, "layers": 3, "shared": shared, "dtype": torch.complex128}
    a = UnrolledSENSE((16, 12), fourier="fft", **kw)
    b = UnrolledSENSE((16, 12), fourier="monarch", **kw)
    with torch.no_grad():  # a non-zero regulariser so the CNN path is exercised too
        for p in a.regularisers.parameters():
            p.copy_(0.1 * torch.randn_like(p))
        a.step.copy_(torch.tensor([0.7, 1.2]))
    b.load_state_dict({**b.state_dict(), **a.state_dict()})
    assert rel(b(y, mask, maps), a(y, mask, maps)) <= 1e-12
    assert len(a.regularisers) == (1 if shared else 2)


def test_scale_equivariance():
    x, y, mask, maps = batch()
    net = UnrolledSENSE((16, 12), cascades=2, channels=4, layers=3, dtype=torch.complex128)
    with torch.no_grad():
        for p in net.regularisers.parameters():
            p.copy_(0.1 * torch.randn_like(p))
    assert rel(net(1e3 * y, mask, maps), 1e3 * net(y, mask, maps)) <= 1e-10


def test_gradients_reach_cnn_steps_and_monarch():
    x, y, mask, maps = batch(dtype=torch.complex64)
    net = UnrolledSENSE((16, 12), fourier="monarch", cascades=2, channels=4, layers=3)
    for _ in range(2):  # the first step only moves the zero-initialised last layer
        net.zero_grad()
        (net(y, mask, maps) - x).abs().square().mean().backward()
        with torch.no_grad():
            for p in net.parameters():
                p.sub_(1e-2 * p.grad)
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_training_improves_on_landweber():
    torch.manual_seed(1)
    x, y, mask, maps = batch(b=4, h=16, w=16, dtype=torch.complex64)
    net = UnrolledSENSE((16, 16), cascades=2, channels=8, layers=3)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = (net(y, mask, maps) - x).abs().square().mean()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.9 * first


def test_errors():
    with pytest.raises(ValueError, match="fourier"):
        UnrolledSENSE((16, 16), fourier="nufft")
    with pytest.raises(ValueError, match="cascades"):
        UnrolledSENSE((16, 16), cascades=0)
    with pytest.raises(ValueError, match="layers"):
        ConvRegulariser(layers=1)
    net = UnrolledSENSE((16, 16), cascades=1, channels=2, layers=2)
    y = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
    with pytest.raises(ValueError, match="built for 16×16"):
        net(y, torch.ones(1, 1, 1, 8), y)


def test_cg_warm_start_solves_the_tikhonov_problem_and_reset_restores_it():
    x, y, mask, maps = batch()
    net = UnrolledSENSE(
        (16, 12), cascades=1, channels=4, layers=2, init_iters=40, init_lam=1e-2, dtype=torch.complex128
    )
    with torch.no_grad():
        net.step.zero_()  # no gradient step: the output is the (rescaled) warm start
    A = SenseOperator(maps, mask)
    out = net(y, mask, maps)
    normal = A.normal(out) + 1e-2 * out
    assert rel(normal, A.adjoint(y)) <= 1e-8
    net.reset_parameters()
    assert torch.equal(net.step, torch.ones(1, dtype=torch.float64))


def test_bf16_autocast_runs_the_cnn_in_bfloat16_and_the_physics_in_complex64():
    torch.manual_seed(0)
    model = UnrolledSENSE((16, 16), fourier="monarch", cascades=2, channels=4, layers=2)
    for reg in model.regularisers:  # nonzero corrections, so the CNN output enters the result
        torch.nn.init.normal_(reg.net[-1].weight, std=0.1)
    seen = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    k = torch.randn(2, 3, 16, 16, dtype=torch.complex64)
    mask, maps = torch.ones(2, 1, 1, 16), torch.randn(2, 3, 16, 16, dtype=torch.complex64)
    reference = model(k, mask, maps)
    seen.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(k, mask, maps)
    assert set(seen) == {torch.bfloat16} and y.dtype == torch.complex64
    assert torch.allclose(y, reference, rtol=0, atol=0.05 * reference.abs().max().item())
