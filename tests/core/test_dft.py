import pytest
import torch

from monarch_sci.dft import MonarchDFT, MonarchDFT2d, dft_monarch_factors

SIZES = [8, 15, 48, 64, 100, 128, 160, 256, 320, 368, 512, 640]
NORMS = ["backward", "ortho", "forward"]
fft, ifft = torch.fft.fft, torch.fft.ifft


def rel(a, b):
    return ((a - b).abs().norm() / b.abs().norm()).item()


def centred(fn, x, norm):
    return torch.fft.fftshift(fn(torch.fft.ifftshift(x, dim=-1), norm=norm), dim=-1)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("norm", NORMS)
def test_exact_at_init_complex128(n, norm):
    x = torch.randn(3, n, dtype=torch.complex128)
    cases = [
        (MonarchDFT(n, norm=norm, dtype=torch.complex128), fft(x, norm=norm)),
        (MonarchDFT(n, norm=norm, inverse=True, dtype=torch.complex128), ifft(x, norm=norm)),
        (MonarchDFT(n, norm=norm, centered=True, dtype=torch.complex128), centred(fft, x, norm)),
        (MonarchDFT(n, norm=norm, centered=True, inverse=True, dtype=torch.complex128), centred(ifft, x, norm)),
    ]
    for op, ref in cases:
        assert rel(op(x), ref) <= 1e-12, op


@pytest.mark.parametrize("n", SIZES)
def test_exact_at_init_complex64(n):
    x = torch.randn(4, n, dtype=torch.complex64)
    assert rel(MonarchDFT(n)(x), fft(x)) <= 1e-5
    assert rel(MonarchDFT(n, inverse=True, norm="ortho")(x), ifft(x, norm="ortho")) <= 1e-5


def test_real_input_is_promoted_exactly():
    x = torch.randn(5, 48, dtype=torch.float64)
    assert rel(MonarchDFT(48, dtype=torch.complex128)(x), fft(x)) <= 1e-12


@pytest.mark.parametrize("n,m", [(64, 8), (48, 5), (100, 12), (32, 6)])
def test_kept_modes_are_a_cheaper_rectangular_monarch(n, m):
    modes = list(range(m)) + list(range(n - m, n))
    x = torch.randn(2, n, dtype=torch.complex128)
    full = MonarchDFT(n, norm="ortho", dtype=torch.complex128)
    sub = MonarchDFT(n, norm="ortho", modes=modes, dtype=torch.complex128)
    assert rel(sub(x), fft(x, norm="ortho")[..., modes]) <= 1e-12
    assert sub.flops() < full.flops()
    inv = MonarchDFT(n, norm="ortho", modes=modes, inverse=True, dtype=torch.complex128)
    c = torch.randn(2, len(modes), dtype=torch.complex128)
    spec = torch.zeros(2, n, dtype=torch.complex128)
    spec[:, modes] = c
    assert rel(inv(c), ifft(spec, norm="ortho")) <= 1e-12
    assert inv.flops() < full.flops()


def test_half_spectrum_inverse_with_weights_is_irfft():
    n, m = 64, 9
    inv = MonarchDFT(n, modes=range(m), weights=[1] + [2] * (m - 1), inverse=True, norm="ortho", dtype=torch.complex128)
    c = torch.randn(3, m, dtype=torch.complex128)
    spec = torch.zeros(3, n // 2 + 1, dtype=torch.complex128)
    spec[:, :m] = c
    assert rel(inv(c).real, torch.fft.irfft(spec, n=n, norm="ortho")) <= 1e-12


def test_centered_modes_index_the_shifted_spectrum():
    n = 20
    modes = [8, 9, 10, 11, 12]  # the centre of the fftshift-ed spectrum
    x = torch.randn(2, n, dtype=torch.complex128)
    op = MonarchDFT(n, centered=True, modes=modes, norm="ortho", dtype=torch.complex128)
    assert rel(op(x), centred(fft, x, "ortho")[..., modes]) <= 1e-12


def test_dim_argument_and_2d():
    x = torch.randn(3, 48, 5, dtype=torch.complex128)
    assert rel(MonarchDFT(48, dim=1, dtype=torch.complex128)(x), fft(x, dim=1)) <= 1e-12
    F2 = MonarchDFT2d((16, 12), norm="ortho", centered=True, dtype=torch.complex128)
    x = torch.randn(2, 16, 12, dtype=torch.complex128)
    ref = torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))
    assert rel(F2(x), ref) <= 1e-12
    assert rel(F2.adjoint(F2(x)), x) <= 1e-12  # unitary


def test_gradients_flow_and_a_step_changes_the_transform():
    op = MonarchDFT(48, norm="ortho")
    x = torch.randn(8, 48, dtype=torch.complex64)
    target = torch.randn(8, 48, dtype=torch.complex64)
    before = op(x).detach()
    loss = (op(x) - target).abs().pow(2).mean()
    loss.backward()
    for p in (op.r_blocks, op.l_blocks):
        assert p.grad is not None and p.grad.abs().sum() > 0
    torch.optim.Adam(op.parameters(), lr=1e-2).step()
    assert rel(op(x).detach(), before) > 1e-3
    op.reset_parameters()
    assert rel(op(x).detach(), before) <= 1e-5


def test_fixed_transform_has_no_parameters():
    op = MonarchDFT(16, learnable=False)
    assert list(op.parameters()) == []
    assert set(op.state_dict()) == {"r_blocks", "l_blocks"}  # index tables are not saved


def test_factors_are_cached_per_configuration():
    a = dft_monarch_factors(64, norm="ortho")
    b = dft_monarch_factors(64, norm="ortho")
    assert a[0] is b[0]


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"n": 13}, ValueError, "prime"),
        ({"n": 16, "norm": "unitary"}, ValueError, "norm must be one of"),
        ({"n": 16, "modes": [0, 16]}, ValueError, r"indices in \[0, 16\)"),
        ({"n": 16, "modes": [1, 1]}, ValueError, "must not repeat"),
        ({"n": 16, "modes": [0, 1], "weights": [1.0]}, ValueError, "one entry per mode"),
        ({"n": 16, "dtype": torch.float32}, TypeError, "complex64 or torch.complex128"),
        ({"n": 16, "nblocks": 5}, ValueError, "must divide n=16"),
    ],
)
def test_bad_construction(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        MonarchDFT(**kwargs)


def test_bad_input_shape_names_the_operator():
    op = MonarchDFT(16)
    with pytest.raises(ValueError, match=r"MonarchDFT: expected input .*\(\*batch, 16\), got \(2, 15\)"):
        op(torch.randn(2, 15, dtype=torch.complex64))
    with pytest.raises(TypeError, match="complex64"):
        op(torch.randn(2, 16, dtype=torch.float64))  # float64 into complex64 factors would change precision
