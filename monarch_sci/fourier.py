"""The Fourier conventions of the toolkit, defined once: the centred 2-D transform of MRI, the FNO's kept modes.

MRI images and k-space use the centred orthonormal DFT over the last two axes,

.. math::

    F x = \\mathrm{fftshift}\\big(\\mathrm{fft2}(\\mathrm{ifftshift}(x))\\big) \\text{ (orthonormal)},
    \\qquad F^{\\mathsf H} = F^{-1},

as fastMRI's ``fft2c``/``ifft2c``. :func:`fft2c` / :func:`ifft2c` are that pair as functions (torch tensors,
or NumPy arrays computed through ``torch.fft``), :func:`centered_fft` the same transform over any axes (the
readout axis alone, for instance); :class:`CenteredFFT2` is the pair as a registered
:class:`~monarch_sci.linop.LinearOperator` (``forward`` and ``adjoint``), and :func:`make_fourier` the
swappable Fourier of the architecture, ``fourier="fft"`` (this module), ``fourier="monarch"`` (a learnable
:class:`~monarch_sci.dft.MonarchDFT2d` equal to it at initialisation) or a module of one's own.

The FNO's truncated-rfft convention is here too: :func:`kept_modes` (which frequencies an axis keeps, in the
order the FNO stores its weights) and :func:`half_axis_weights` (the weights that make the inverse over the kept
half-spectrum modes equal ``irfft``); the spectral layers of :mod:`monarch_sci.operators.pde` use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

import numpy as np
import torch
from torch import nn

from monarch_sci.dft import MonarchDFT2d
from monarch_sci.linop import LinearOperator, register_operator

__all__ = [
    "FOURIERS",
    "CenteredFFT2",
    "Fourier",
    "centered_fft",
    "fft2c",
    "half_axis_weights",
    "ifft2c",
    "kept_modes",
    "make_fourier",
]

Fourier = Literal["fft", "monarch"]
FOURIERS = ("fft", "monarch")
ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


def centered_fft(x: ArrayT, dims: Sequence[int] = (-2, -1), *, inverse: bool = False) -> ArrayT:
    """``fftshift(fftn(ifftshift(x), norm="ortho"))`` over ``dims`` (``ifftn`` with ``inverse=True``).

    Parameters
    ----------
    x
        A torch tensor, or a NumPy array (converted with ``torch.from_numpy``, transformed by ``torch.fft`` and
        returned as a NumPy array of the matching complex dtype).
    dims
        Axes to transform (default the last two).
    inverse
        The inverse (= adjoint) transform.

    Examples
    --------
    >>> k = centered_fft(np.ones((4, 4)))
    >>> k.dtype, float(k[2, 2].real)  # the centre of k-space holds the mean times sqrt(H·W)
    (dtype('complex128'), 4.0)
    """
    if isinstance(x, np.ndarray):
        arr = x if x.flags.writeable and x.flags.c_contiguous else np.ascontiguousarray(x).copy()
        return centered_fft(torch.from_numpy(arr), dims, inverse=inverse).numpy()
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"centered_fft: x must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    dims = tuple(int(d) for d in dims)
    transform = torch.fft.ifftn if inverse else torch.fft.fftn
    sizes = [x.shape[d] for d in dims]
    if all(n % 2 == 0 for n in sizes):
        # Even sizes: the shifts are a (+-1) checkerboard c on both sides, F_c x = s * c (F (c x)) with the sign
        # s = prod (-1)^(n/2): two multiplications instead of two copying rolls (exact, and faster).
        c = _checkerboard(sizes, dims, x.ndim, x.real.dtype if x.is_complex() else x.dtype, x.device)
        sign = -1.0 if sum(n // 2 for n in sizes) % 2 else 1.0
        return transform(x * c, dim=dims, norm="ortho") * (c if sign > 0 else -c)
    return torch.fft.fftshift(transform(torch.fft.ifftshift(x, dim=dims), dim=dims, norm="ortho"), dim=dims)


def _checkerboard(sizes: list[int], dims: tuple[int, ...], ndim: int, dtype: torch.dtype, device) -> torch.Tensor:
    """``prod_d (-1)^(n_d)`` over ``dims``, shaped to broadcast against an ``ndim``-dimensional tensor."""
    c = torch.ones((1,) * ndim, dtype=dtype, device=device)
    for n, d in zip(sizes, dims):
        shape = [1] * ndim
        shape[d] = n
        c = c * (1 - 2 * (torch.arange(n, device=device) % 2)).to(dtype).reshape(shape)
    return c


def fft2c(x: ArrayT) -> ArrayT:
    """Centred orthonormal 2-D FFT over the last two axes: image → k-space (torch or NumPy).

    Examples
    --------
    >>> x = torch.randn(3, 8, 6, dtype=torch.complex128)
    >>> torch.allclose(ifft2c(fft2c(x)), x)
    True
    """
    return centered_fft(x, (-2, -1))


def ifft2c(y: ArrayT) -> ArrayT:
    """Centred orthonormal 2-D inverse FFT over the last two axes: k-space → image (torch or NumPy)."""
    return centered_fft(y, (-2, -1), inverse=True)


class CenteredFFT2(LinearOperator):
    """The MRI Fourier convention as an operator: ``F x = fft2c(x)``, ``Fᴴ y = ifft2c(y)`` (``Fᴴ = F⁻¹``).

    It has the same interface as a centred orthonormal :class:`~monarch_sci.dft.MonarchDFT2d`, which equals it
    at initialisation; its inverse is its adjoint, ``CenteredFFT2(shape).H``.

    Shape
    -----
    ``(..., H, W) → (..., H, W)``.

    Examples
    --------
    >>> F = CenteredFFT2((8, 6))
    >>> x = torch.randn(2, 8, 6, dtype=torch.complex128)
    >>> torch.allclose(F.adjoint(F(x)), x), torch.allclose(F.H(F(x)), x)
    (True, True)
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        if len(shape) != 2 or any(int(n) < 1 for n in shape):
            raise ValueError(f"CenteredFFT2: shape must be (H, W) with H, W >= 1, got {shape!r}")
        super().__init__(shape, shape)
        self.shape = (int(shape[0]), int(shape[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, self.ishape, "image")
        return fft2c(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self.check_input(y, self.oshape, "k-space")
        return ifft2c(y)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def make_fourier(
    fourier: Fourier | nn.Module,
    shape: tuple[int, int],
    *,
    inverse: bool = False,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> nn.Module:
    """The swappable 2-D centred orthonormal Fourier transform of an ``(H, W)`` image.

    ``"fft"``: :class:`CenteredFFT2` (for ``inverse=True`` its adjoint ``CenteredFFT2(shape).H``);
    ``"monarch"``: a learnable ``MonarchDFT2d(shape, inverse=inverse, norm="ortho", centered=True)``, equal to the
    FFT version at initialisation; a module with ``forward`` and ``adjoint`` is returned as it is.

    Examples
    --------
    >>> x = torch.randn(8, 6, dtype=torch.complex128)
    >>> G = make_fourier("monarch", (8, 6), inverse=True, dtype=torch.complex128)
    >>> torch.allclose(G(x), make_fourier("fft", (8, 6), inverse=True)(x))
    True
    """
    if isinstance(fourier, nn.Module):
        if not callable(getattr(fourier, "adjoint", None)):
            raise TypeError(
                f"make_fourier: a fourier module needs forward and adjoint methods, got {type(fourier).__name__}"
            )
        return fourier
    if fourier not in FOURIERS:
        raise ValueError(f"make_fourier: fourier must be one of {FOURIERS} or a module, got {fourier!r}")
    if fourier == "monarch":
        return MonarchDFT2d(shape, inverse=inverse, norm="ortho", centered=True, dtype=dtype, device=device)
    op = CenteredFFT2(shape)
    return op.H if inverse else op


@register_operator("CenteredFFT2")
def _example_fft2c(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> CenteredFFT2:
    return CenteredFFT2((8, 6))


# -- the FNO convention: truncated rfft modes ---------------------------------------------------------------
def kept_modes(n: int, m: int, *, half: bool) -> tuple[int, ...]:
    """Indices of the kept frequencies along one axis of size ``n``.

    Full axis: ``0…m−1`` then ``n−m…n−1`` (the order in which the FNO stores its weights); half axis
    (``rfft`` output): ``0…m−1``.

    Examples
    --------
    >>> kept_modes(8, 2, half=False), kept_modes(8, 3, half=True)
    ((0, 1, 6, 7), (0, 1, 2))
    """
    if half:
        if not 1 <= m <= n // 2 + 1:
            raise ValueError(f"kept_modes: the half-spectrum axis of size n={n} has {n // 2 + 1} modes, asked m={m}")
        return tuple(range(m))
    if not 1 <= m or 2 * m > n:
        raise ValueError(
            f"kept_modes: a full axis of size n={n} can keep at most n//2={n // 2} modes per sign, asked m={m}"
        )
    return tuple(range(m)) + tuple(range(n - m, n))


def half_axis_weights(n: int, m: int) -> tuple[float, ...]:
    """Weights ``1, 2, 2, …`` (``1`` again at the Nyquist index ``n/2``) so that ``Re`` of the weighted
    inverse DFT over modes ``0…m−1`` equals ``irfft`` of those modes."""
    return tuple(1.0 if (k == 0 or 2 * k == n) else 2.0 for k in range(m))
