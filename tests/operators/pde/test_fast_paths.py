"""Fast paths of the FNO step and their reference twins: values and gradients agree (float64).

Mode mixing (one mode-major bmm with its own backward) = einsum; the matmul FFT path = torch.fft; Monarch
matrices assembled from the factors = ``to_dense``; matrices reused over a rollout = rebuilt per step; the
channels-first lift, skips and projection = the FNO scripts' concatenate / 1×1 conv / channels-last formula;
the training grid does no resampling work.
"""

import pytest
import torch
import torch.nn.functional as F

from monarch_sci.operators.pde import fourier_modes, mode_matrices
from monarch_sci.operators.pde.fno import FNO2d, FNO3d
from monarch_sci.operators.pde.fourier_modes import FourierModes, MonarchModes
from monarch_sci.operators.pde.mode_matrices import _assemble_t
from monarch_sci.operators.pde.mode_mixing import mix_modes
from monarch_sci.operators.pde.spectral_conv import SpectralConv


def _perturb(module: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("modes", [(4, 3), (2, 2, 3)])
def test_mix_modes_equals_einsum_values_and_gradients(modes):
    g = torch.Generator().manual_seed(1)
    c = torch.randn(3, 4, *modes, dtype=torch.complex128, generator=g, requires_grad=True)
    w = torch.randn(4, 5, *modes, dtype=torch.complex128, generator=g, requires_grad=True)
    letters = "xyz"[: len(modes)]
    ref = torch.einsum(f"bi{letters},io{letters}->bo{letters}", c, w)
    out = mix_modes(c, w)
    torch.testing.assert_close(out, ref)
    # an incoming gradient in transposed strides (as the inverse transforms leave it)
    grad = torch.randn(*reversed(ref.shape), dtype=torch.complex128, generator=g).permute(*reversed(range(ref.dim())))
    gc, gw = torch.autograd.grad(out, (c, w), grad)
    rc, rw = torch.autograd.grad(ref, (c, w), grad)
    torch.testing.assert_close(gc, rc)
    torch.testing.assert_close(gw, rw)
    assert torch.autograd.gradcheck(mix_modes, (c[:2, :, :2], w[:, :3, :2]))


def test_mix_modes_refuses_mismatched_operands():
    c = torch.randn(2, 3, 4, 4, dtype=torch.complex64)
    with pytest.raises(ValueError, match=r"mix_modes: .*got c \(2, 3, 4, 4\) and weight \(4, 5, 4, 4\)"):
        mix_modes(c, torch.randn(4, 5, 4, 4, dtype=torch.complex64))
    with pytest.raises(TypeError, match="mix_modes: c and weight need one dtype"):
        mix_modes(c, torch.randn(3, 5, 4, 4, dtype=torch.complex128))


@pytest.mark.parametrize(
    ("grid", "modes"), [((16, 16), (8, 8)), ((32, 32), (8, 8)), ((24, 20), (5, 6)), ((8, 8, 10), (2, 2, 3))]
)
def test_fft_matmul_path_equals_torch_fft_values_and_gradients(grid, modes):
    fft, mm = FourierModes(None, modes), FourierModes(None, modes, path="matmul")
    x = torch.randn(2, 3, *grid, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 3, *fft.mode_shape, dtype=torch.complex128, requires_grad=True)  # imaginary DC included
    for f in (lambda t: t(x), lambda t: t.inverse(c, size=grid)):
        a, b = f(fft), f(mm)
        torch.testing.assert_close(b, a)
        g = torch.randn_like(a)
        for ga, gb in zip(
            torch.autograd.grad(a, (x, c), g, allow_unused=True), torch.autograd.grad(b, (x, c), g, allow_unused=True)
        ):
            if ga is not None:
                torch.testing.assert_close(gb, ga)
    with pytest.raises(ValueError, match="FourierModes: path must be one of"):
        FourierModes(None, modes, path="dft")


def test_monarch_matrices_assembled_from_factors_equal_to_dense_with_gradients():
    M = MonarchModes((16, 12), (4, 4), dtype=torch.complex128)
    _perturb(M)
    for op in (*M.fwd, *M.inv):
        ref = op.to_dense().T
        out = _assemble_t(op)
        torch.testing.assert_close(out, ref)
        g = torch.randn_like(ref)
        got = torch.autograd.grad(out, (op.r_blocks, op.l_blocks), g)
        want = torch.autograd.grad(ref, (op.r_blocks, op.l_blocks), g)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b)


def test_rollout_builds_monarch_matrices_once_and_equals_stepwise(monkeypatch):
    torch.manual_seed(0)
    model = FNO2d(3, 3, 6, t_in=4, size=(12, 12), fourier="monarch", dtype=torch.float64)
    _perturb(model, scale=0.02)
    x = torch.randn(2, 12, 12, 4, dtype=torch.float64)
    calls = []
    real = mode_matrices._assemble_t
    monkeypatch.setattr(mode_matrices, "_assemble_t", lambda op: calls.append(op) or real(op))
    out = model.rollout(x, 3)
    assert len(calls) == 4 * 4  # 4 layers × (forward, inverse) × 2 axes, once for all 3 steps
    grads = torch.autograd.grad(
        out.square().sum(), [p for p in model.parameters() if p.requires_grad], allow_unused=True
    )
    calls.clear()
    window, preds = x, []  # reference: one forward per step, matrices rebuilt every time
    for _ in range(3):
        y = model(window)
        preds.append(y)
        window = torch.cat((window[..., 1:], y), dim=-1)
    ref = torch.cat(preds, dim=-1)
    assert len(calls) == 3 * 4 * 4
    torch.testing.assert_close(out, ref)
    ref_grads = torch.autograd.grad(
        ref.square().sum(), [p for p in model.parameters() if p.requires_grad], allow_unused=True
    )
    for a, b in zip(grads, ref_grads):
        if b is not None:
            torch.testing.assert_close(a, b)
    assert "_scope_cache" not in model.convs[0].fourier.__dict__  # the scope is left clean


def test_training_on_the_training_grid_does_no_resampling_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("carry_dense_t called on the training grid")

    monkeypatch.setattr(fourier_modes, "carry_dense_t", refuse)
    model = FNO2d(4, 4, 8, t_in=2, size=(16, 16), fourier="monarch")
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(2, 16, 16, 2)
    for _ in range(2):  # the factors change between the steps: a cache keyed on them would rebuild
        loss = model.rollout(x, 2).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _reference_fno(model, x: torch.Tensor) -> torch.Tensor:
    """The FNO scripts' formula: concatenate the grid, lift channels-last, 1×1 convolutions, project."""
    d = x.dim() - 2
    axes = [torch.linspace(0, 1, n, dtype=x.dtype) for n in x.shape[1:-1]]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).expand(x.shape[0], *([-1] * (d + 1)))
    v = model.fc0(torch.cat((x, grid), dim=-1)).movedim(-1, 1)
    if d == 3:
        v = F.pad(v, (0, 6))
    for i, (k, w) in enumerate(zip(model.convs, model.ws)):
        v = k(v) + w(v)
        if i < len(model.convs) - 1:
            v = F.gelu(v)
    if d == 3:
        v = v[..., :-6]
    return model.fc2(F.gelu(model.fc1(v.movedim(1, -1))))


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_channels_first_lift_skips_and_projection_equal_the_original_formula(layout):
    torch.manual_seed(0)
    model = FNO2d(4, 4, 8, in_channels=3, out_channels=2, layout=layout, dtype=torch.float64)
    x = torch.randn(2, 16, 12, 3, dtype=torch.float64)
    ref = _reference_fno(model, x)
    out = model(x if layout == "channels_last" else x.movedim(-1, 1))
    torch.testing.assert_close(out if layout == "channels_last" else out.movedim(1, -1), ref)
    model3 = FNO3d(2, 2, 2, 4, dtype=torch.float64)
    x3 = torch.randn(1, 8, 8, 5, 10, dtype=torch.float64)
    torch.testing.assert_close(model3(x3), _reference_fno(model3, x3))


def test_spectral_conv_gradients_match_einsum_reference():
    conv = SpectralConv(3, 4, (3, 3), dtype=torch.float64)
    x = torch.randn(2, 3, 12, 10, dtype=torch.float64, requires_grad=True)
    t = conv.fourier
    ref = t.inverse(torch.einsum("bixy,ioxy->boxy", t(x), conv.weight), size=(12, 10))
    out = conv(x)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, (x, conv.weight), g), torch.autograd.grad(ref, (x, conv.weight), g)):
        torch.testing.assert_close(a, b)
