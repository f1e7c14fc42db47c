"""Fourier neural operators for Navier–Stokes: FNO-2D (autoregressive in time) and FNO-3D (space–time).

Both follow the benchmark scripts of Li et al. (``fourier_2d_time.py`` and ``fourier_3d.py`` of
zongyi-li/fourier_neural_operator): a pointwise lift ``P`` to ``width`` channels, four Fourier layers
``v ← σ(K_ℓ v + W_ℓ v)`` (``K_ℓ`` a :class:`~monarch_sci.operators.pde.spectral_conv.SpectralConv`, ``W_ℓ`` a 1×1
convolution, ``σ`` = GELU, none after the last layer) and a pointwise projection ``Q`` (``width → 128 → 1``).

* :class:`FNO2d` maps the last ``t_in`` vorticity snapshots plus the grid ``(x, y)`` to the next snapshot;
  :meth:`FNO2d.rollout` applies it autoregressively.
* :class:`FNO3d` maps the first ``t_in`` snapshots (repeated along time) plus ``(x, y, t)`` to the whole
  trajectory at once, padding the time axis by 6 (the time direction is not periodic).

The original scripts declare four batch-norm layers that their ``forward`` never uses; they are counted in
the published parameter counts (414,517 for FNO-2D and 6,558,537 for FNO-3D with modes 8, width 20, complex
weights counting two reals each — :func:`count_parameters`). They are kept here, frozen, so that the counts
match; they take no part in the computation (frozen so that DistributedDataParallel sees no unused trainable
parameters; Adam never updated them in the original either, since they never receive a gradient).

``transform=`` passes through to every Fourier layer; ``share_transform=True`` builds one Monarch transform
used by all four layers instead of one per layer. Default for ``"monarch"``: per layer, forward and inverse
transforms along both axes learn (four complex Monarch matrices restricted to the kept modes, initialised to
the DFT); the ablation over learnable parts, sharing and factor learning rate is in
``benchmarks/results/pde_compare.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from monarch_sci.operators.pde.fourier_modes import Learn
from monarch_sci.operators.pde.spectral_conv import SpectralConv, TransformKind, make_transform

__all__ = ["FNO2d", "FNO3d", "count_parameters"]

N_LAYERS = 4
PROJ_WIDTH = 128
TIME_PAD = 6  # fourier_3d.py pads the (non-periodic) time axis by 6 samples


def count_parameters(module: nn.Module) -> int:
    """Parameter count as the FNO benchmark computes it: a complex entry counts as two real numbers.

    Examples
    --------
    >>> count_parameters(FNO2d(8, 8, 20))
    414517
    """
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters())


def _grid(shape: Sequence[int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Coordinates ``linspace(0, 1, n)`` per axis, as channels: ``(1, n_1, …, n_d, d)``."""
    axes = [torch.linspace(0, 1, n, dtype=dtype, device=device) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).unsqueeze(0)


class _FNOBase(nn.Module):
    """Lift, four Fourier layers with 1×1 skips, projection; ``d`` spatial(-temporal) axes."""

    def __init__(
        self,
        modes: tuple[int, ...],
        width: int,
        in_features: int,
        *,
        size: tuple[int, ...] | None,
        transform: TransformKind | nn.Module,
        learn: Learn,
        share_transform: bool,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> None:
        super().__init__()
        d = len(modes)
        self.modes, self.width = modes, int(width)
        factory = {"dtype": dtype, "device": device}
        self.fc0 = nn.Linear(in_features, self.width, **factory)
        if share_transform:
            if transform != "monarch":
                raise ValueError(f"share_transform=True needs transform='monarch', got transform={transform!r}")
            transform = make_transform("monarch", size, modes, learn=learn, dtype=dtype, device=device)
        self.convs = nn.ModuleList(
            SpectralConv(
                self.width, self.width, modes, transform=transform, size=size, learn=learn, dtype=dtype, device=device
            )
            for _ in range(N_LAYERS)
        )
        conv = nn.Conv2d if d == 2 else nn.Conv3d
        self.ws = nn.ModuleList(conv(self.width, self.width, 1, **factory) for _ in range(N_LAYERS))
        norm = nn.BatchNorm2d if d == 2 else nn.BatchNorm3d
        self.bns = nn.ModuleList(norm(self.width, **factory) for _ in range(N_LAYERS))
        self.bns.requires_grad_(False)  # declared, never used: see the module docstring
        self.fc1 = nn.Linear(self.width, PROJ_WIDTH, **factory)
        self.fc2 = nn.Linear(PROJ_WIDTH, 1, **factory)

    #: Names of the grid axes in error messages (FNO-3D's last one is time).
    GRID_AXES: tuple[str, ...] = ("s1", "s2")

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ``ValueError`` restating ``x``'s shape if it does not fit this model."""
        nd = len(self.GRID_AXES)
        ok = isinstance(x, torch.Tensor) and x.dim() == nd + 2 and x.shape[-1] == self.t_in
        if ok and self.size is not None:
            ok = tuple(x.shape[1 : 1 + nd]) == self.size
        if not ok:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            grid = ", ".join(self.GRID_AXES if self.size is None else map(str, self.size))
            raise ValueError(f"{type(self).__name__}: expected input (batch, {grid}, t_in={self.t_in}), got {got}")

    def _layers(self, v: torch.Tensor) -> torch.Tensor:
        for i, (k, w) in enumerate(zip(self.convs, self.ws)):
            v = k(v) + w(v)
            if i < N_LAYERS - 1:
                v = F.gelu(v)
        return v

    def _project(self, v: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(v)))


class FNO2d(_FNOBase):
    """FNO-2D: next vorticity snapshot from the last ``t_in`` snapshots and the grid.

    ``u_{t+1} = Q ∘ L_4 ∘ … ∘ L_1 ∘ P([u_{t−t_in+1}, …, u_t, x, y])`` with the Fourier layers ``L_ℓ``.

    Parameters
    ----------
    modes1, modes2
        Modes kept per sign along ``x`` and on the half-spectrum axis ``y``.
    width
        Channels of the Fourier layers.
    t_in
        Snapshots in the input window (10 in the benchmark).
    size
        Grid ``(s1, s2)``; required for ``transform="monarch"`` (the FFT model accepts any grid).
    transform, learn, share_transform
        The spectral transform of every layer (see the module docstring).

    Shape
    -----
    ``(batch, s1, s2, t_in) → (batch, s1, s2, 1)`` (channels last, as in the original).

    Examples
    --------
    >>> model = FNO2d(4, 4, 8, size=(16, 16), transform="monarch")
    >>> model(torch.randn(2, 16, 16, 10)).shape
    torch.Size([2, 16, 16, 1])
    >>> model.rollout(torch.randn(2, 16, 16, 10), steps=3).shape
    torch.Size([2, 16, 16, 3])
    """

    def __init__(
        self,
        modes1: int,
        modes2: int,
        width: int,
        *,
        t_in: int = 10,
        size: tuple[int, int] | None = None,
        transform: TransformKind | nn.Module = "fft",
        learn: Learn = "both",
        share_transform: bool = False,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        size = None if size is None else (int(size[0]), int(size[1]))
        super().__init__(
            (int(modes1), int(modes2)),
            width,
            t_in + 2,
            size=size,
            transform=transform,
            learn=learn,
            share_transform=share_transform,
            dtype=dtype,
            device=device,
        )
        self.t_in, self.size = int(t_in), size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        grid = _grid(x.shape[1:3], x.dtype, x.device).expand(x.shape[0], -1, -1, -1)
        v = self.fc0(torch.cat((x, grid), dim=-1))
        v = rearrange(v, "b x y c -> b c x y")
        v = self._layers(v)
        return self._project(rearrange(v, "b c x y -> b x y c"))

    def rollout(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Predict ``steps`` snapshots autoregressively, feeding each prediction back into the window.

        Shape
        -----
        ``(batch, s1, s2, t_in) → (batch, s1, s2, steps)``
        """
        preds = []
        for _ in range(int(steps)):
            y = self(x)
            preds.append(y)
            x = torch.cat((x[..., 1:], y), dim=-1)
        return torch.cat(preds, dim=-1)


class FNO3d(_FNOBase):
    """FNO-3D: the whole trajectory ``u(x, y, t)`` from the first ``t_in`` snapshots, as one space–time map.

    The input holds the ``t_in`` snapshots repeated at every output time, plus the coordinates ``(x, y, t)``
    (``t = linspace(0, 1, T)``); the time axis is padded by 6 samples before the Fourier layers and cropped
    after them, as in ``fourier_3d.py``.

    Parameters
    ----------
    modes1, modes2, modes3
        Modes kept per sign along ``x`` and ``y``, and on the half-spectrum time axis.
    width
        Channels of the Fourier layers.
    t_in
        Snapshots in the input (10 in the benchmark).
    size
        ``(s1, s2, T)`` (``T`` output times); required for ``transform="monarch"``, whose transforms act on
        ``(s1, s2, T + 6)``.

    Shape
    -----
    ``(batch, s1, s2, T, t_in) → (batch, s1, s2, T, 1)``.

    Examples
    --------
    >>> model = FNO3d(2, 2, 2, 4, size=(8, 8, 10), transform="monarch")
    >>> model(torch.randn(1, 8, 8, 10, 10)).shape
    torch.Size([1, 8, 8, 10, 1])
    """

    GRID_AXES = ("s1", "s2", "T")

    def __init__(
        self,
        modes1: int,
        modes2: int,
        modes3: int,
        width: int,
        *,
        t_in: int = 10,
        size: tuple[int, int, int] | None = None,
        transform: TransformKind | nn.Module = "fft",
        learn: Learn = "both",
        share_transform: bool = False,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        size = None if size is None else tuple(int(s) for s in size)
        padded = None if size is None else (size[0], size[1], size[2] + TIME_PAD)
        super().__init__(
            (int(modes1), int(modes2), int(modes3)),
            width,
            t_in + 3,
            size=padded,
            transform=transform,
            learn=learn,
            share_transform=share_transform,
            dtype=dtype,
            device=device,
        )
        self.t_in, self.size = int(t_in), size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        grid = _grid(x.shape[1:4], x.dtype, x.device).expand(x.shape[0], -1, -1, -1, -1)
        v = self.fc0(torch.cat((x, grid), dim=-1))
        v = rearrange(v, "b x y t c -> b c x y t")
        v = F.pad(v, (0, TIME_PAD))
        v = self._layers(v)[..., :-TIME_PAD]
        return self._project(rearrange(v, "b c x y t -> b x y t c"))
