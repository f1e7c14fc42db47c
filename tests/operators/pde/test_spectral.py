"""Spectral convolution: FFT layer = original FNO layer; Monarch layer = FFT layer at initialisation."""

import pytest
import torch

from monarch_sci.dft import MonarchDFT
from monarch_sci.fourier import half_axis_weights, kept_modes
from monarch_sci.operators.pde.fourier_modes import MonarchModes
from monarch_sci.operators.pde.spectral_conv import SpectralConv, SpectralConv2d, SpectralConv3d

# (grid, modes): even/odd sizes, the Nyquist index kept on the half axis (m2 = n2/2 + 1), non-square.
CASES_2D = [((32, 32), (8, 8)), ((16, 12), (4, 7)), ((12, 15), (6, 8)), ((20, 18), (3, 10))]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


def _original_fno_2d(x, w1, w2, m1, m2):
    """The FNO's SpectralConv2d forward (two weight blocks, slice assignment, default-norm FFTs)."""
    x_ft = torch.fft.rfft2(x)
    out = torch.zeros(x.shape[0], w1.shape[1], x.size(-2), x.size(-1) // 2 + 1, dtype=x_ft.dtype)
    out[:, :, :m1, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, :m1, :m2], w1)
    out[:, :, -m1:, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, -m1:, :m2], w2)
    return torch.fft.irfft2(out, s=(x.size(-2), x.size(-1)))


def test_fft_layer_equals_original_fno_layer():
    conv = SpectralConv2d(3, 4, 5, 6, dtype=torch.float64)
    x = torch.randn(2, 3, 16, 20, dtype=torch.float64)
    w = conv.weight.detach()
    ref = _original_fno_2d(x, w[:, :, :5], w[:, :, 5:], 5, 6)
    assert _rel(conv(x), ref) < 1e-13


def test_fft_layer_3d_equals_original_block_layout():
    conv = SpectralConv3d(2, 3, 2, 3, 2, dtype=torch.float64)
    x = torch.randn(2, 2, 8, 10, 12, dtype=torch.float64)
    w = conv.weight.detach()
    x_ft = torch.fft.rfftn(x, dim=(-3, -2, -1))
    out = torch.zeros(2, 3, 8, 10, 7, dtype=x_ft.dtype)
    for sx, wx in ((slice(0, 2), slice(0, 2)), (slice(-2, None), slice(2, 4))):
        for sy, wy in ((slice(0, 3), slice(0, 3)), (slice(-3, None), slice(3, 6))):
            out[:, :, sx, sy, :2] = torch.einsum("bixyz,ioxyz->boxyz", x_ft[:, :, sx, sy, :2], w[:, :, wx, wy])
    ref = torch.fft.irfftn(out, s=(8, 10, 12), dim=(-3, -2, -1))
    assert _rel(conv(x), ref) < 1e-13


@pytest.mark.parametrize(("size", "modes"), CASES_2D)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_monarch_layer_equals_fft_layer_at_init(size, modes, dtype, tol):
    fft = SpectralConv2d(3, 4, *modes, size=size, dtype=dtype)
    mon = SpectralConv2d(3, 4, *modes, size=size, fourier="monarch", dtype=dtype)
    mon.weight.data.copy_(fft.weight.data)
    x = torch.randn(2, 3, *size, dtype=dtype)
    assert _rel(mon(x), fft(x)) <= tol


@pytest.mark.parametrize("path", ["dense", "factored"])
def test_monarch_layer_3d_equals_fft_layer_at_init(path):
    size, modes = (8, 12, 10), (2, 3, 4)
    fft = SpectralConv3d(2, 3, *modes, size=size, dtype=torch.float64)
    transform = MonarchModes(size, modes, dtype=torch.complex128, path=path)
    mon = SpectralConv3d(2, 3, *modes, size=size, fourier=transform, dtype=torch.float64)
    mon.weight.data.copy_(fft.weight.data)
    x = torch.randn(2, 2, *size, dtype=torch.float64)
    assert _rel(mon(x), fft(x)) <= 1e-12


def test_half_axis_inverse_reproduces_irfft_with_complex_dc_and_nyquist():
    # irfft ignores the imaginary parts of the DC and Nyquist coefficients; Re(weighted inverse) must too.
    n, m = 12, 7  # m - 1 = 6 = n/2: the Nyquist index is kept
    c = torch.randn(5, m, dtype=torch.complex128)
    assert c[:, 0].imag.abs().min() > 0 and c[:, -1].imag.abs().min() > 0
    inv = MonarchDFT(n, inverse=True, norm="ortho", modes=range(m), weights=half_axis_weights(n, m), dtype=c.dtype)
    ref = torch.fft.irfft(c, n=n, norm="ortho")
    assert _rel(inv(c).real, ref) < 1e-13
    assert half_axis_weights(n, m) == (1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0)


def test_dense_path_equals_factored_path_values_and_gradients():
    size, modes = (16, 12), (4, 5)
    a = MonarchModes(size, modes, dtype=torch.complex128, path="factored")
    b = MonarchModes(size, modes, dtype=torch.complex128, path="dense")
    with torch.no_grad():  # away from the DFT: a general learned state
        for p in a.parameters():
            p.add_(0.1 * torch.randn_like(p))
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 2, *size, dtype=torch.float64)
    ya, yb = a.inverse(a(x) * 1.5), b.inverse(b(x) * 1.5)
    assert _rel(yb, ya) < 1e-12
    ya.square().sum().backward()
    yb.square().sum().backward()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert p.grad.abs().max() > 0, name
        assert _rel(q.grad, p.grad) < 1e-10, name


@pytest.mark.parametrize(("learn", "n_params"), [("both", 4), ("forward", 2), ("inverse", 2), ("none", 0)])
def test_learn_option_selects_learnable_factors(learn, n_params):
    t = MonarchModes((16, 16), (4, 4), learn=learn)
    assert sum(1 for _ in t.parameters()) == 2 * n_params  # r_blocks and l_blocks per Monarch matrix


def test_factors_learn_and_stay_real_output():
    conv = SpectralConv2d(2, 2, 3, 3, size=(12, 12), fourier="monarch", dtype=torch.float64)
    x = torch.randn(2, 2, 12, 12, dtype=torch.float64)
    y = conv(x)
    assert not y.is_complex()
    y.square().sum().backward()
    grads = [p.grad for n, p in conv.named_parameters() if n.endswith("_blocks")]
    assert len(grads) == 8 and all(g is not None and g.abs().max() > 0 for g in grads)


def test_shared_injected_transform_is_used_by_every_layer():
    shared = MonarchModes((12, 12), (3, 3))
    layers = [SpectralConv2d(2, 2, 3, 3, size=(12, 12), fourier=shared) for _ in range(3)]
    assert all(layer.fourier is shared for layer in layers)
    model = torch.nn.ModuleList(layers)
    factor_params = [n for n, _ in model.named_parameters() if n.endswith("_blocks")]
    assert len(factor_params) == 8  # registered once despite three users


def test_kept_modes_order():
    assert kept_modes(8, 2, half=False) == (0, 1, 6, 7)
    assert kept_modes(8, 5, half=True) == (0, 1, 2, 3, 4)


def test_bad_inputs_are_refused_with_the_numbers():
    with pytest.raises(ValueError, match="at most n//2=4"):
        SpectralConv2d(2, 2, 5, 3, size=(8, 8))
    with pytest.raises(ValueError, match="needs the grid size"):
        SpectralConv2d(2, 2, 2, 2, fourier="monarch")
    with pytest.raises(ValueError, match="mode_shape"):
        SpectralConv2d(2, 2, 2, 2, fourier=MonarchModes((8, 8), (3, 3)))
    with pytest.raises(TypeError, match="lacks 'inverse'"):
        SpectralConv2d(2, 2, 2, 2, fourier=torch.nn.Identity())
    with pytest.raises(ValueError, match=r"fourier must be one of \('fft', 'monarch'\)"):
        SpectralConv2d(2, 2, 2, 2, fourier="wavelet")
    conv = SpectralConv2d(2, 2, 2, 2, size=(8, 8), fourier="monarch")
    with pytest.raises(ValueError, match=r"need a grid of at least \(4, 2\), got an input of shape \(1, 2, 3, 9\)"):
        conv(torch.randn(1, 2, 3, 9))
    with pytest.raises(ValueError, match="expected input"):
        conv(torch.randn(1, 3, 8, 8))
    with pytest.raises(TypeError, match="float32 field"):
        conv(torch.randn(1, 2, 8, 8, dtype=torch.float64))


def test_generic_layer_matches_named_2d_layer():
    torch.manual_seed(3)
    a = SpectralConv(2, 3, (2, 3), size=(8, 8))
    torch.manual_seed(3)
    b = SpectralConv2d(2, 3, 2, 3, size=(8, 8))
    x = torch.randn(1, 2, 8, 8)
    assert torch.equal(a(x), b(x))


def test_checkpoints_with_the_old_transform_keys_still_load():
    a = SpectralConv2d(2, 2, 3, 3, size=(12, 12), fourier="monarch", dtype=torch.float64)
    with torch.no_grad():
        a.fourier.fwd[0].l_blocks.mul_(1.1)
    old = {k.replace("fourier.", "transform."): v for k, v in a.state_dict().items()}
    assert any(k.startswith("transform.") for k in old)
    b = SpectralConv2d(2, 2, 3, 3, size=(12, 12), fourier="monarch", dtype=torch.float64)
    b.load_state_dict(old)
    x = torch.randn(1, 2, 12, 12, dtype=torch.float64)
    assert torch.equal(a(x), b(x))
    with pytest.warns(DeprecationWarning, match=r"\.transform is deprecated; use \.fourier"):
        assert b.transform is b.fourier
