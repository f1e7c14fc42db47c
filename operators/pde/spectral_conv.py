"""Spectral convolution (the FNO's Fourier layer) with a swappable Fourier transform: FFT, Monarch or injected.

.. math::

    y = \\mathcal T^{-1}\\big( W \\cdot \\mathcal T x \\big), \\qquad
    (W\\cdot c)_{b,o,k} = \\sum_i c_{b,i,k}\\, W_{i,o,k},

where ``𝓣`` maps a real field to its kept Fourier modes ``k`` (lowest ``m_j`` of both signs on every full
axis, ``0…m_d−1`` on the half-spectrum axis; see :mod:`monarch_sci.operators.pde.fourier_modes`) and ``W``
mixes channels independently per mode with complex weights.

``fourier="fft"`` is the FNO (``rfftn``/``irfftn`` with ``norm="ortho"``) and works on any grid;
``fourier="monarch"`` uses learnable Monarch DFTs restricted to the kept modes, equal to the FFT layer at
initialisation, learned on the grid ``size`` and carried to any other grid it is called on
(:class:`~monarch_sci.operators.pde.fourier_modes.MonarchModes`); a module with ``forward(x)``,
``inverse(c, size=None)`` and the attributes ``size``/``mode_shape`` (for example one :class:`MonarchModes`
shared by all layers) can be injected instead. ``transform=`` is the deprecated spelling of ``fourier=``.

The weights are one complex tensor ``(in, out, 2m_1, …, 2m_{d−1}, m_d)``; its blocks are exactly the original
FNO's ``weights1 … weights{2^{d−1}}`` (same count, same uniform ``[0, 1/(in·out))`` initialisation of real and
imaginary parts), laid out in the order the kept-mode indices are listed.

neuraloperator: neuraloperator's ``FNO(..., conv_module=...)`` passes a dozen keyword options (``rank``,
``factorization``, …); :class:`~monarch_sci.operators.pde.neuralop_conv.NeuralopSpectralConv` is this layer with
that signature (unsupported options refused, not ignored).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from monarch_sci.fourier import FOURIERS, Fourier
from monarch_sci.operators.pde.fourier_modes import (
    FourierModes,
    Learn,
    MonarchModes,
    check_grid,
    complex_dtype_for,
)
from monarch_sci.operators.pde.mode_mixing import mix_modes

__all__ = [
    "SpectralConv",
    "SpectralConv2d",
    "SpectralConv3d",
    "make_mode_transform",
    "make_transform",
    "resolve_fourier",
]

#: Deprecated alias of :data:`monarch_sci.fourier.Fourier` (the ``"fft"``/``"monarch"`` choice).
TransformKind = Fourier
_LETTERS = "xyzuvw"


def resolve_fourier(
    fourier: Fourier | nn.Module, transform: Fourier | nn.Module | None, where: str
) -> Fourier | nn.Module:
    """The Fourier choice from ``fourier=`` and the deprecated ``transform=`` (which warns once per call).

    Examples
    --------
    >>> resolve_fourier("monarch", None, "FNO2d")
    'monarch'
    """
    if transform is None:
        return fourier
    warnings.warn(
        f"{where}: transform= is deprecated and will be removed in the next release; use fourier=",
        DeprecationWarning,
        stacklevel=3,
    )
    if not (isinstance(fourier, str) and fourier == "fft"):
        raise ValueError(
            f"{where}: pass either fourier= or the deprecated transform=, got both ({fourier!r}, {transform!r})"
        )
    return transform


def make_mode_transform(
    fourier: Fourier | nn.Module,
    size: Sequence[int] | None,
    modes: Sequence[int],
    *,
    learn: Learn = "both",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Build the kept-modes transform pair named by ``fourier`` (or validate an injected module).

    ``"fft"``: :class:`FourierModes` (any grid; ``size`` optional, it only checks the modes fit);
    ``"monarch"``: :class:`MonarchModes` on the training grid ``size`` (required: the factors depend on it).
    ``dtype`` is the real dtype of the fields.

    Examples
    --------
    >>> type(make_mode_transform("monarch", (16, 16), (4, 4))).__name__, make_mode_transform("fft", None, (4, 4)).size
    ('MonarchModes', None)
    """
    modes = tuple(int(m) for m in modes)
    if isinstance(fourier, nn.Module):
        for attr in ("inverse", "size", "mode_shape"):
            if not hasattr(fourier, attr):
                raise TypeError(
                    f"injected transform {type(fourier).__name__} lacks {attr!r}: a transform module needs "
                    "forward(x) -> modes, inverse(modes, size=None) -> x, and the attributes size and mode_shape"
                )
        expected = (*(2 * m for m in modes[:-1]), modes[-1])
        if tuple(fourier.mode_shape) != expected:
            raise ValueError(
                f"injected transform {type(fourier).__name__} has mode_shape {tuple(fourier.mode_shape)}, but modes "
                f"{modes} need {expected}"
            )
        if size is not None and fourier.size is not None and tuple(fourier.size) != tuple(size):
            raise ValueError(
                f"injected transform {type(fourier).__name__} has size {tuple(fourier.size)}, expected {size}"
            )
        return fourier
    if fourier == "fft":
        return FourierModes(size, modes)
    if fourier == "monarch":
        if size is None:
            raise ValueError(
                "fourier='monarch' needs the grid size of training (size=(n1, n2, ...)): its factors depend on it"
            )
        return MonarchModes(size, modes, learn=learn, dtype=complex_dtype_for(dtype), device=device)
    raise ValueError(f"fourier must be one of {FOURIERS} or a transform module, got {fourier!r}")


@functools.wraps(make_mode_transform)
def make_transform(*args, **kwargs) -> nn.Module:
    """Deprecated name of :func:`make_mode_transform` (warns)."""
    warnings.warn(
        "make_transform is deprecated and will be removed in the next release; use make_mode_transform",
        DeprecationWarning,
        stacklevel=2,
    )
    return make_mode_transform(*args, **kwargs)


class SpectralConv(nn.Module):
    """``d``-dimensional spectral convolution over the last ``d`` axes (see the module docstring).

    Parameters
    ----------
    in_channels, out_channels
        Channels ``i`` and ``o`` of ``W``.
    n_modes
        ``(m_1, …, m_d)``: modes kept per sign on each full axis, and on the last (half-spectrum) axis.
    fourier
        ``"fft"``, ``"monarch"`` or an injected transform module (shared modules are allowed).
        ``transform=`` is its deprecated spelling.
    size
        Training grid ``(n_1, …, n_d)``; required for ``"monarch"`` (its factors live there), optional for
        ``"fft"``. Either way the layer runs on any grid whose axes hold the kept modes.
    learn
        For ``"monarch"``: which Monarch factors learn (``"both"``, ``"forward"``, ``"inverse"``, ``"none"``).
    dtype
        Real dtype of the fields (``float32`` or ``float64``); the weights are the matching complex dtype.

    Shape
    -----
    ``(batch, in_channels, n_1, …, n_d) → (batch, out_channels, n_1, …, n_d)``, real.

    Examples
    --------
    >>> conv = SpectralConv(4, 5, (3, 3), fourier="monarch", size=(12, 12))
    >>> conv(torch.randn(2, 4, 12, 12)).shape, conv(torch.randn(2, 4, 24, 20)).shape
    (torch.Size([2, 5, 12, 12]), torch.Size([2, 5, 24, 20]))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_modes: Sequence[int],
        *,
        fourier: Fourier | nn.Module = "fft",
        size: Sequence[int] | None = None,
        learn: Learn = "both",
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        transform: Fourier | nn.Module | None = None,
    ) -> None:
        super().__init__()
        fourier = resolve_fourier(fourier, transform, type(self).__name__)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.n_modes = tuple(int(m) for m in n_modes)
        d = len(self.n_modes)
        if not 1 <= d <= len(_LETTERS):
            raise ValueError(f"{type(self).__name__}: expected 1 to {len(_LETTERS)} mode counts, got {self.n_modes}")
        if size is not None and len(tuple(size)) != d:
            raise ValueError(f"{type(self).__name__}: size {tuple(size)} must have one entry per mode count {d}")
        self.size = None if size is None else tuple(int(s) for s in size)
        self.kind = fourier if isinstance(fourier, str) else "injected"
        self.fourier = make_mode_transform(fourier, self.size, self.n_modes, learn=learn, dtype=dtype, device=device)
        mode_shape = (*(2 * m for m in self.n_modes[:-1]), self.n_modes[-1])
        self.weight = nn.Parameter(
            torch.empty(self.in_channels, self.out_channels, *mode_shape, dtype=complex_dtype_for(dtype), device=device)
        )
        self.reset_parameters()

    @property
    def transform(self) -> nn.Module:
        """Deprecated name of :attr:`fourier` (the kept-modes transform module); warns."""
        warnings.warn(f"{type(self).__name__}.transform is deprecated; use .fourier", DeprecationWarning, stacklevel=2)
        return self.fourier

    def reset_parameters(self) -> None:
        """FNO initialisation of ``W`` (real and imaginary parts uniform in ``[0, 1/(in·out))``)."""
        scale = 1.0 / (self.in_channels * self.out_channels)
        with torch.no_grad():
            self.weight.copy_(scale * torch.rand(self.weight.shape, dtype=self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = len(self.n_modes)
        if not isinstance(x, torch.Tensor) or x.dim() != d + 2 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{type(self).__name__}: expected input (batch, {self.in_channels}, {d} spatial dims), got {got}"
            )
        real = self.weight.real.dtype
        if torch.is_autocast_enabled(x.device.type) and x.dtype in (torch.bfloat16, torch.float16):
            # Mixed precision: the spectral path (FFTs, complex weights and Monarch factors) stays in the
            # weights' precision; bfloat16 has no complex type and CPU FFTs do not take it.
            x = x.to(real)
        if x.is_complex() or x.dtype != real:
            raise TypeError(f"{type(self).__name__}: expected a real {real} field, got {x.dtype}")
        grid = tuple(x.shape[2:])
        check_grid(grid, self.n_modes, type(self).__name__, what=f"an input of shape {tuple(x.shape)}, grid")
        with torch.autocast(x.device.type, enabled=False):
            c = self.fourier(x)  # (b, i, *mode_shape) complex
            c = mix_modes(c, self.weight)  # (b, o, *mode_shape)
            return self.fourier.inverse(c, size=grid)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # Checkpoints written before the rename hold the transform under "transform."; read them as "fourier.".
        old = prefix + "transform."
        for key in [k for k in state_dict if k.startswith(old)]:
            state_dict[prefix + "fourier." + key[len(old) :]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, n_modes={self.n_modes}, "
            f"size={self.size}, fourier={self.kind!r}"
        )


class SpectralConv2d(SpectralConv):
    """2-D spectral convolution: :class:`SpectralConv` with ``n_modes = (modes1, modes2)``.

    Shape
    -----
    ``(batch, in_channels, n1, n2) → (batch, out_channels, n1, n2)``.

    Examples
    --------
    >>> SpectralConv2d(3, 3, 4, 4)(torch.randn(1, 3, 16, 16)).shape
    torch.Size([1, 3, 16, 16])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes1: int,
        modes2: int,
        *,
        fourier: Fourier | nn.Module = "fft",
        size: tuple[int, int] | None = None,
        learn: Learn = "both",
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        transform: Fourier | nn.Module | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            (modes1, modes2),
            fourier=resolve_fourier(fourier, transform, type(self).__name__),
            size=size,
            learn=learn,
            dtype=dtype,
            device=device,
        )


class SpectralConv3d(SpectralConv):
    """3-D spectral convolution (space–time FNO): :class:`SpectralConv` with ``(modes1, modes2, modes3)``.

    Shape
    -----
    ``(batch, in_channels, n1, n2, n3) → (batch, out_channels, n1, n2, n3)``.

    Examples
    --------
    >>> SpectralConv3d(2, 2, 2, 2, 2)(torch.randn(1, 2, 8, 8, 6)).shape
    torch.Size([1, 2, 8, 8, 6])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes1: int,
        modes2: int,
        modes3: int,
        *,
        fourier: Fourier | nn.Module = "fft",
        size: tuple[int, int, int] | None = None,
        learn: Learn = "both",
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        transform: Fourier | nn.Module | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            (modes1, modes2, modes3),
            fourier=resolve_fourier(fourier, transform, type(self).__name__),
            size=size,
            learn=learn,
            dtype=dtype,
            device=device,
        )
