"""A spectral convolution that neuraloperator 2.0's ``FNO(..., conv_module=...)`` accepts: Monarch in one line.

neuraloperator's ``FNOBlocks`` builds each layer as ``conv_module(in_channels, out_channels, n_modes,
resolution_scaling_factor=…, max_n_modes=…, rank=…, fixed_rank_modes=…, implementation=…, separable=…,
factorization=…, fno_block_precision=…, decomposition_kwargs=…, complex_data=…)`` and calls
``conv(x, output_shape=None)`` and ``conv.transform(x, output_shape=None)`` (the skip path). This module takes
exactly those arguments. ``n_modes`` has neuraloperator's meaning (total modes per axis, both signs; the last,
real-FFT axis keeps ``n_modes[-1] // 2 + 1``). Options it does not implement are *refused* when set to anything
but their inactive value (``separable``, ``factorization``, a ``max_n_modes`` other than ``n_modes``,
``resolution_scaling_factor``, ``fno_block_precision`` other than ``"full"``, ``complex_data``); ``rank``,
``fixed_rank_modes``, ``implementation`` and ``decomposition_kwargs`` only configure a factorisation and are
inert without one, as in neuraloperator.

The Monarch factors are learned on a training grid, so the grid is bound first with :func:`monarch_conv`::

    from neuralop.models import FNO
    model = FNO(n_modes=(16, 16), in_channels=1, out_channels=1, hidden_channels=32,
                conv_module=monarch_conv(size=(64, 64)))

The layer is :class:`~monarch_sci.operators.pde.spectral_conv.SpectralConv` (``norm="ortho"`` transforms; at
initialisation the Monarch layer equals the FFT layer) plus neuraloperator's per-channel bias; it runs on any
grid (the learned transforms are carried there). neuraloperator itself is not imported by this module; it is an
optional extra (``pip install monarch-sci[neuralop]``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from monarch_sci.fourier import Fourier
from monarch_sci.operators.pde.fno import modes_from_n_modes
from monarch_sci.operators.pde.fourier_modes import Learn
from monarch_sci.operators.pde.spectral_conv import SpectralConv

__all__ = ["NeuralopSpectralConv", "monarch_conv"]


class NeuralopSpectralConv(SpectralConv):
    """:class:`SpectralConv` with neuraloperator's ``conv_module`` signature (see the module docstring).

    Shape
    -----
    ``(batch, in_channels, n_1, …, n_d) → (batch, out_channels, n_1, …, n_d)``.

    Examples
    --------
    >>> conv = NeuralopSpectralConv(4, 4, (8, 8), size=(16, 16), fourier="monarch")
    >>> conv.modes, conv(torch.randn(2, 4, 16, 16)).shape, conv(torch.randn(2, 4, 32, 32)).shape
    ((4, 5), torch.Size([2, 4, 16, 16]), torch.Size([2, 4, 32, 32]))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_modes: int | Sequence[int],
        *,
        resolution_scaling_factor: Any = None,
        max_n_modes: Any = None,
        rank: float = 1.0,
        fixed_rank_modes: Any = False,
        implementation: str = "factorized",
        separable: bool = False,
        factorization: str | None = None,
        fno_block_precision: str = "full",
        decomposition_kwargs: dict | None = None,
        complex_data: bool = False,
        bias: bool = True,
        fourier: Fourier | nn.Module = "monarch",
        size: Sequence[int] | None = None,
        learn: Learn = "both",
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        total = (int(n_modes),) if isinstance(n_modes, int) else tuple(int(m) for m in n_modes)
        refused = {
            "resolution_scaling_factor": resolution_scaling_factor is not None,
            "max_n_modes": max_n_modes is not None and tuple(max_n_modes) != total,
            "separable": bool(separable),
            "factorization": factorization is not None,
            "fno_block_precision": fno_block_precision != "full",
            "complex_data": bool(complex_data),
        }
        bad = [k for k, v in refused.items() if v]
        if bad:
            got = {
                "resolution_scaling_factor": resolution_scaling_factor,
                "max_n_modes": max_n_modes,
                "separable": separable,
                "factorization": factorization,
                "fno_block_precision": fno_block_precision,
                "complex_data": complex_data,
            }
            raise ValueError(
                "NeuralopSpectralConv: "
                + ", ".join(f"{k}={got[k]!r}" for k in bad)
                + " not supported (the Monarch spectral convolution is dense, full precision, real data, one grid)"
            )
        self.total_n_modes = total
        super().__init__(
            in_channels,
            out_channels,
            modes_from_n_modes(total, "NeuralopSpectralConv"),
            fourier=fourier,
            size=size,
            learn=learn,
            dtype=dtype,
            device=device,
        )
        shape = (self.out_channels,) + (1,) * len(total)
        self.bias = nn.Parameter(torch.zeros(shape, dtype=dtype, device=device)) if bias else None

    @property
    def modes(self) -> tuple[int, ...]:
        """Our modes per sign (``n_modes`` of :class:`SpectralConv`)."""
        return self.n_modes

    def transform(self, x: torch.Tensor, output_shape: Sequence[int] | None = None) -> torch.Tensor:
        """The skip path's resampling: the identity (this layer keeps the grid)."""
        _same_grid(x, output_shape)
        return x

    def forward(self, x: torch.Tensor, output_shape: Sequence[int] | None = None) -> torch.Tensor:
        _same_grid(x, output_shape)
        y = super().forward(x)
        return y if self.bias is None else y + self.bias


def _same_grid(x: torch.Tensor, output_shape: Sequence[int] | None) -> None:
    if output_shape is not None and tuple(output_shape) != tuple(x.shape[2:]):
        raise ValueError(
            f"NeuralopSpectralConv: output_shape {tuple(output_shape)} differs from the input grid "
            f"{tuple(x.shape[2:])}; call the model on the target grid instead (it runs on any grid)"
        )


def monarch_conv(
    size: Sequence[int], *, learn: Learn = "both", fourier: Fourier | nn.Module = "monarch"
) -> Callable[..., NeuralopSpectralConv]:
    """``conv_module`` for neuraloperator's ``FNO``: :class:`NeuralopSpectralConv` bound to the training grid.

    Examples
    --------
    >>> make = monarch_conv((16, 16))
    >>> make(8, 8, (8, 8), rank=1.0, implementation="factorized").kind
    'monarch'
    """
    return functools.partial(NeuralopSpectralConv, size=tuple(int(s) for s in size), learn=learn, fourier=fourier)
