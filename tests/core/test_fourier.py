"""The one Fourier convention module: centred orthonormal FFT functions (torch and NumPy), the operator, the factory."""

import numpy as np
import pytest
import torch

from monarch_sci.dft import MonarchDFT2d
from monarch_sci.fourier import CenteredFFT2, centered_fft, fft2c, ifft2c, make_fourier
from monarch_sci.linop import OPERATOR_REGISTRY


def np_fft2c(x, axes=(-2, -1), inverse=False):  # the convention written out with NumPy, as fastMRI does
    f = np.fft.ifftn if inverse else np.fft.fftn
    return np.fft.fftshift(f(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


@pytest.mark.parametrize("shape", [(8, 6), (7, 5), (3, 16, 12)])
def test_torch_functions_match_the_numpy_convention_complex128(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    t = torch.from_numpy(x)
    np.testing.assert_allclose(fft2c(t).numpy(), np_fft2c(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(ifft2c(t).numpy(), np_fft2c(x, inverse=True), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ifft2c(fft2c(t)), t, rtol=1e-13, atol=1e-13)


def test_numpy_in_numpy_out_with_the_matching_precision():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 8, 6)) + 1j * rng.standard_normal((2, 8, 6))).astype(np.complex64)
    k = fft2c(x)
    assert isinstance(k, np.ndarray) and k.dtype == np.complex64
    np.testing.assert_allclose(k, np_fft2c(x.astype(np.complex128)), rtol=1e-5, atol=1e-5)
    assert fft2c(np.ones((4, 4))).dtype == np.complex128  # real input, complex output
    # non-contiguous and read-only views are fine
    view = np.broadcast_to(x[0], (3, 8, 6))
    np.testing.assert_allclose(ifft2c(view)[1], ifft2c(x[0]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fft2c(x[..., ::2]), np_fft2c(x[..., ::2].astype(np.complex128)), atol=1e-5)


def test_one_axis_transform_is_the_readout_transform():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 10, 6)) + 1j * rng.standard_normal((3, 10, 6))
    np.testing.assert_allclose(centered_fft(x, (-2,)), np_fft2c(x, axes=(-2,)), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(
        centered_fft(x, (-2,), inverse=True), np_fft2c(x, axes=(-2,), inverse=True), rtol=1e-13, atol=1e-13
    )
    with pytest.raises(TypeError, match=r"centered_fft: x must be a torch.Tensor or numpy.ndarray, got list"):
        centered_fft([1.0, 2.0])


def test_operator_and_factory():
    assert "CenteredFFT2" in OPERATOR_REGISTRY
    F = CenteredFFT2((8, 6))
    x = torch.randn(2, 8, 6, dtype=torch.complex128)
    torch.testing.assert_close(F(x), fft2c(x), rtol=0, atol=0)
    torch.testing.assert_close(F.H(x), ifft2c(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"CenteredFFT2: expected image of shape \(\*batch, 8, 6\), got \(2, 6, 8\)"):
        F(x.transpose(-1, -2))
    torch.testing.assert_close(make_fourier("fft", (8, 6), inverse=True)(x), ifft2c(x), rtol=0, atol=0)
    mon = make_fourier("monarch", (8, 6), inverse=True, dtype=torch.complex128)
    assert isinstance(mon, MonarchDFT2d)
    torch.testing.assert_close(mon(x), ifft2c(x), rtol=1e-12, atol=1e-12)
    assert make_fourier(F, (8, 6)) is F
    with pytest.raises(TypeError, match="needs forward and adjoint"):
        make_fourier(torch.nn.Identity(), (8, 6))
    with pytest.raises(ValueError, match="fourier must be one of"):
        make_fourier("dct", (8, 6))
