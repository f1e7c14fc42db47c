import pytest
import torch
from torch import nn

from monarch_sci.monarch_linear import MonarchLinear
from monarch_sci.multiply import monarch_to_dense
from monarch_sci.plan import plan_equal_blocks, plan_monarch
from monarch_sci.projection import project

SIZES = [(64, 64, {}), (48, 100, {}), (64, 64, {"nblocks": 2}), (13, 7, {"pad": True}), (30, 30, {"pad": True})]


@pytest.mark.parametrize("n_in,n_out,kw", SIZES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_forward_matches_dense(n_in, n_out, kw, dtype):
    layer = MonarchLinear(n_in, n_out, dtype=dtype, **kw)
    W = layer.to_dense()
    assert W.shape == (n_out, n_in)
    for batch in [(), (5,), (2, 3, 4)]:
        x = torch.randn(*batch, n_in, dtype=dtype)
        y = layer(x)
        assert y.shape == (*batch, n_out)
        torch.testing.assert_close(y, x @ W.T + layer.bias, rtol=1e-12, atol=1e-12)


def test_no_bias():
    layer = MonarchLinear(16, 16, bias=False, dtype=torch.float64)
    assert layer.bias is None and "bias" not in layer.state_dict()
    x = torch.randn(3, 16, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ layer.to_dense().T)


def test_padding_policy():
    with pytest.raises(ValueError, match=r"in_features=13 has no useful factorisation.*pad=True"):
        MonarchLinear(13, 13)
    layer = MonarchLinear(13, 13, pad=True, dtype=torch.float64)
    assert layer.plan.padded and "padded to" in repr(layer)
    x = torch.randn(4, 13, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ layer.to_dense().T + layer.bias)


def test_init_matches_nn_linear_scale():
    # Var(W_oi) = 1/(3·in_features), as for nn.Linear; the estimate from 8 layers of 256×256 is within a
    # few percent (entries in one sub-block share factors, so the effective sample count is ~1e4).
    n = 256
    for kw in ({}, {"plan": plan_equal_blocks(n, nblocks=4)}):
        W = torch.stack([MonarchLinear(n, n, dtype=torch.float64, **kw).to_dense() for _ in range(8)])
        target = 1.0 / (3 * n)
        assert abs(W.var().item() / target - 1) < 0.1, kw
        assert abs(W.mean().item()) < 0.1 * target**0.5
    layer = MonarchLinear(100, 30)
    assert layer.bias.abs().max() <= 1 / 100**0.5
    assert layer.bias.std() > 0.3 / 100**0.5  # uniform on ±1/√in has std 0.577/√in
    # same output scale as nn.Linear on unit-variance inputs
    x = torch.randn(4096, n)
    ratio = MonarchLinear(n, n, bias=False)(x).std() / nn.Linear(n, n, bias=False)(x).std()
    assert 0.85 < ratio < 1.15


def test_reset_parameters_redraws():
    layer = MonarchLinear(16, 16)
    before = [p.detach().clone() for p in layer.parameters()]
    layer.reset_parameters()
    assert all(not torch.equal(a, b) for a, b in zip(before, layer.parameters()))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_from_linear_is_the_projection(dtype):
    dense = nn.Linear(48, 100, dtype=dtype)
    layer = MonarchLinear.from_linear(dense)
    assert layer.r_blocks.dtype == dtype and layer.bias.dtype == dtype
    torch.testing.assert_close(layer.bias, dense.bias)
    r, l = project(dense.weight.detach(), layer.plan)
    torch.testing.assert_close(layer.to_dense(), monarch_to_dense(r, l))
    # a dense layer whose weight is already Monarch is reproduced exactly
    exact = nn.Linear(64, 64, bias=False, dtype=torch.float64)
    plan = plan_monarch(64, nblocks=4)
    with torch.no_grad():
        rr = torch.randn(plan.r_shape, dtype=torch.float64)
        ll = torch.randn(plan.l_shape, dtype=torch.float64)
        exact.weight.copy_(monarch_to_dense(rr, ll))
    copy = MonarchLinear.from_linear(exact, nblocks=4)
    assert copy.bias is None
    x = torch.randn(7, 64, dtype=torch.float64)
    torch.testing.assert_close(copy(x), exact(x), rtol=1e-10, atol=1e-10)


def test_from_linear_equal_blocks_plan_is_exact_on_monarch_weights():
    plan = plan_equal_blocks(32, nblocks=2)  # rank-8 sub-blocks
    rr = torch.randn(plan.r_shape, dtype=torch.float64)
    ll = torch.randn(plan.l_shape, dtype=torch.float64)
    dense = nn.Linear(32, 32, dtype=torch.float64)
    with torch.no_grad():
        dense.weight.copy_(monarch_to_dense(rr, ll))
    layer = MonarchLinear.from_linear(dense, plan=plan)
    torch.testing.assert_close(layer.to_dense(), dense.weight.detach(), rtol=1e-10, atol=1e-10)


def test_state_dict_round_trip():
    torch.manual_seed(1)
    a = MonarchLinear(48, 100, dtype=torch.float64)
    torch.manual_seed(2)
    b = MonarchLinear(48, 100, dtype=torch.float64)
    x = torch.randn(3, 48, dtype=torch.float64)
    assert not torch.allclose(a(x), b(x))
    assert set(a.state_dict()) == {"r_blocks", "l_blocks", "bias"}
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b(x), a(x), rtol=0, atol=0)


def test_gradients_reach_every_parameter():
    layer = MonarchLinear(30, 20, pad=True, dtype=torch.float64)
    x = torch.randn(6, 30, dtype=torch.float64, requires_grad=True)
    layer(x).pow(2).sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad is not None


def test_extra_repr_reports_parameter_count():
    layer = MonarchLinear(64, 64)
    text = repr(layer)
    assert "weight params=1024 (25.0% of dense)" in text
    assert "r_blocks=(8, 8, 8)" in text


def test_plan_argument():
    layer = MonarchLinear(64, 64, plan=plan_equal_blocks(64, nblocks=4), dtype=torch.float64)
    assert layer.r_blocks.shape == (4, 16, 16) and layer.l_blocks.shape == (4, 16, 16)
    with pytest.raises(ValueError, match=r"plan is for in_features=64, out_features=64 but the layer was asked"):
        MonarchLinear(64, 32, plan=plan_monarch(64))
    with pytest.raises(ValueError, match=r"either plan or nblocks/pad"):
        MonarchLinear(64, 64, nblocks=4, plan=plan_monarch(64))


def test_bad_input():
    layer = MonarchLinear(16, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"MonarchLinear: expected input of shape \(\*batch, 16\), got \(3, 15\)"):
        layer(torch.randn(3, 15, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"MonarchLinear: expected input of dtype torch.float64, got torch.float32"):
        layer(torch.randn(3, 16))
    with pytest.raises(TypeError, match=r"MonarchLinear: expected input of dtype torch.float64, got torch.int64"):
        layer(torch.ones(3, 16, dtype=torch.long))
    with pytest.raises(ValueError, match=r"MonarchLinear: input is on meta but the factors are on cpu"):
        layer(torch.empty(3, 16, dtype=torch.float64, device="meta"))
    with pytest.raises(TypeError, match=r"MonarchLinear: input must be a torch.Tensor, got list"):
        layer([1.0] * 16)
    with pytest.raises(
        TypeError, match=r"MonarchLinear: dtype must be a floating or complex torch.dtype, got torch.int32"
    ):
        MonarchLinear(16, 8, dtype=torch.int32)
    with pytest.raises(TypeError, match=r"from_linear: expected an nn.Linear, got Conv1d"):
        MonarchLinear.from_linear(nn.Conv1d(1, 1, 1))


def test_complex_layer_accepts_real_input():
    layer = MonarchLinear(16, 16, dtype=torch.complex128)
    x = torch.randn(2, 16, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x.to(torch.complex128) @ layer.to_dense().T + layer.bias)


def test_drop_in_for_nn_linear_in_a_model():
    model = nn.Sequential(MonarchLinear(36, 36), nn.GELU(), MonarchLinear(36, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, target = torch.randn(64, 36), torch.randn(64, 10)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = (model(x) - target).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_from_linear_padded():
    dense = nn.Linear(13, 7, dtype=torch.float64)
    layer = MonarchLinear.from_linear(dense, pad=True)
    assert layer.plan.padded
    W_pad = torch.zeros(layer.plan.n_out, layer.plan.n_in, dtype=torch.float64)
    W_pad[:7, :13] = dense.weight.detach()
    torch.testing.assert_close(layer.to_dense(), monarch_to_dense(*project(W_pad, layer.plan))[:7, :13])
    x = torch.randn(3, 13, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ layer.to_dense().T + dense.bias)
    with pytest.raises(ValueError, match=r"in_features=13 has no useful factorisation"):
        MonarchLinear.from_linear(dense)
