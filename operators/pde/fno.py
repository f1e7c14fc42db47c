"""Fourier neural operators: FNO-2D (steady maps, autoregressive in time) and FNO-3D (space–time).

Both follow the benchmark scripts of Li et al. (``fourier_2d_time.py`` and ``fourier_3d.py`` of
zongyi-li/fourier_neural_operator): a pointwise lift ``P`` to ``width`` channels, four Fourier layers
``v ← σ(K_ℓ v + W_ℓ v)`` (``K_ℓ`` a :class:`~monarch_sci.operators.pde.spectral_conv.SpectralConv`, ``W_ℓ`` a 1×1
convolution, ``σ`` = GELU, none after the last layer) and a pointwise projection ``Q`` (``width → 128 → 1``).
The defaults are that benchmark; ``n_layers``, ``in_channels``/``out_channels`` (fields in and out, the grid
coordinates are appended to the input), ``proj_width`` and ``layout`` (``"channels_last"``: ``(b, x, y, c)`` as
the FNO scripts, or ``"channels_first"``: ``(b, c, x, y)``) make the same model for any steady map.

* :class:`FNO2d` maps the last ``t_in`` vorticity snapshots plus the grid ``(x, y)`` to the next snapshot;
  :meth:`FNO2d.rollout` applies it autoregressively.
* :class:`FNO3d` maps the first ``t_in`` snapshots (repeated along time) plus ``(x, y, t)`` to the whole
  trajectory at once, padding the time axis by 6 (the time direction is not periodic).

The original scripts declare four batch-norm layers that their ``forward`` never uses; they are counted in
the published parameter counts (414,517 for FNO-2D and 6,558,537 for FNO-3D with modes 8, width 20, complex
weights counting two reals each — :func:`count_parameters`). They are kept here, frozen, so that the counts
match; they take no part in the computation (frozen so that DistributedDataParallel sees no unused trainable
parameters; Adam never updated them in the original either, since they never receive a gradient).

Modes: ``modes1, modes2(, modes3)`` are the FNO paper's modes *per sign* (full axes keep frequencies
``−m … m−1``, the last, half-spectrum axis ``0 … m−1``); ``n_modes=(M1, M2(, M3))`` is neuraloperator 2.0's
meaning, the *total* number of modes per axis including both signs: full axis ``m = M/2`` (``M`` even), last
axis ``m = M//2 + 1`` — neuraloperator's ``n_modes=(16, 16)`` is ``FNO2d(8, 9)``. Mode counts that do not fit
``size`` are refused at construction; any other grid is checked at the call.

Any grid: the model runs on any grid that holds its modes. ``fourier="fft"`` needs no ``size``;
``fourier="monarch"`` learns its transforms on ``size`` and carries them to other grids (see
:class:`~monarch_sci.operators.pde.fourier_modes.MonarchModes`), so a state dict trained at 16² loads into the
same constructor call and evaluates at 32².

``fourier=`` passes through to every Fourier layer (``transform=`` is its deprecated spelling);
``share_transform=True`` builds one Monarch transform
used by all four layers instead of one per layer. Default for ``"monarch"``: per layer, forward and inverse
transforms along both axes learn (four complex Monarch matrices restricted to the kept modes, initialised to
the DFT); the ablation over learnable parts, sharing and factor learning rate is in
``benchmarks/results/pde_compare.md``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from monarch_sci.fourier import Fourier
from monarch_sci.operators.pde.fourier_modes import Learn, MonarchModes, check_grid
from monarch_sci.operators.pde.spectral_conv import SpectralConv, make_mode_transform, resolve_fourier

__all__ = ["FNO2d", "FNO3d", "count_parameters", "modes_from_n_modes"]

N_LAYERS = 4
PROJ_WIDTH = 128
TIME_PAD = 6  # fourier_3d.py pads the (non-periodic) time axis by 6 samples
Layout = Literal["channels_last", "channels_first"]
_LAYOUTS = ("channels_last", "channels_first")


def count_parameters(module: nn.Module) -> int:
    """Parameter count as the FNO benchmark computes it: a complex entry counts as two real numbers.

    Examples
    --------
    >>> count_parameters(FNO2d(8, 8, 20))
    414517
    """
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters())


def modes_from_n_modes(n_modes: Sequence[int], where: str = "modes_from_n_modes") -> tuple[int, ...]:
    """Modes per sign (ours) from neuraloperator's total modes per axis ``n_modes`` (see the module docstring).

    Examples
    --------
    >>> modes_from_n_modes((16, 16))
    (8, 9)
    """
    n_modes = tuple(int(m) for m in n_modes)
    bad = [m for m in n_modes[:-1] if m < 2 or m % 2] + ([n_modes[-1]] if n_modes and n_modes[-1] < 1 else [])
    if not n_modes or bad:
        raise ValueError(
            f"{where}: n_modes (total modes per axis, both signs) must be even and >= 2 on every axis but the last "
            f"and >= 1 on the last, got n_modes={n_modes}"
        )
    return (*(m // 2 for m in n_modes[:-1]), n_modes[-1] // 2 + 1)


def _resolve_modes(modes: Sequence[int | None], n_modes: Sequence[int] | None, where: str) -> tuple[int, ...]:
    given = [m is not None for m in modes]
    if n_modes is not None:
        if any(given):
            raise ValueError(f"{where}: pass either the modes per sign (modes1, …) or n_modes, got both")
        if len(tuple(n_modes)) != len(modes):
            raise ValueError(f"{where}: n_modes needs {len(modes)} entries, got {tuple(n_modes)}")
        return modes_from_n_modes(n_modes, where)
    if not all(given):
        raise ValueError(f"{where}: pass the modes per sign (modes1, …) or n_modes=(M1, …), got neither")
    out = tuple(int(m) for m in modes)
    if min(out) < 1:
        raise ValueError(f"{where}: modes per sign must be >= 1, got {out}")
    return out


@functools.lru_cache(maxsize=32)
def _coords(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Coordinates ``linspace(0, 1, n)`` per axis, as ``d`` channels over the flattened grid: ``(d, n_1⋯n_d)``
    (a constant, built once per grid)."""
    axes = [torch.linspace(0, 1, n, dtype=dtype, device=device) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0).reshape(len(shape), -1)


def _bmm_linear(weight: torch.Tensor, bias: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
    """``W v_b + bias`` per sample of ``v`` ``(b, c_in, N)`` → ``(b, c_out, N)``: a pointwise linear map on
    channels-first fields as one broadcast batched product (no transposition of ``v``)."""
    w = weight.expand(v.shape[0], -1, -1)
    if bias is None:
        return torch.bmm(w, v)
    return torch.baddbmm(bias.reshape(1, -1, 1), w, v)


def _pointwise(conv: nn.Conv2d | nn.Conv3d, v: torch.Tensor) -> torch.Tensor:
    """The 1×1(×1) convolution ``conv`` of ``v`` ``(b, c, *grid)`` as one batched product ``W v_b + bias``.

    The same function as ``conv(v)``; on a CPU the oneDNN convolution takes several times longer for this
    shape (forward and backward), the weight is broadcast over the batch instead.
    """
    b, c = v.shape[:2]
    out = _bmm_linear(conv.weight.reshape(conv.out_channels, c), conv.bias, v.reshape(b, c, -1))  # (b, o, n_grid)
    return out.reshape(b, conv.out_channels, *v.shape[2:])


class _FNOBase(nn.Module):
    """Lift, ``n_layers`` Fourier layers with 1×1 skips, projection; ``d`` spatial(-temporal) axes."""

    #: Names of the grid axes in error messages (FNO-3D's last one is time).
    GRID_AXES: tuple[str, ...] = ("s1", "s2")

    def __init__(
        self,
        modes: tuple[int, ...],
        width: int,
        *,
        in_channels: int,
        out_channels: int,
        n_layers: int,
        proj_width: int,
        layout: Layout,
        size: tuple[int, ...] | None,
        fourier: Fourier | nn.Module,
        learn: Learn,
        share_transform: bool,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        d = len(modes)
        for name, v in (("width", width), ("in_channels", in_channels), ("out_channels", out_channels)):
            if int(v) < 1:
                raise ValueError(f"{where}: {name} must be >= 1, got {v}")
        if int(n_layers) < 1 or int(proj_width) < 1:
            raise ValueError(f"{where}: n_layers and proj_width must be >= 1, got {n_layers}, {proj_width}")
        if layout not in _LAYOUTS:
            raise ValueError(f"{where}: layout must be one of {_LAYOUTS}, got {layout!r}")
        self.modes, self.width = modes, int(width)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.n_layers, self.layout = int(n_layers), layout
        factory = {"dtype": dtype, "device": device}
        self.fc0 = nn.Linear(self.in_channels + d, self.width, **factory)
        if share_transform:
            if fourier != "monarch":
                raise ValueError(f"share_transform=True needs fourier='monarch', got fourier={fourier!r}")
            fourier = make_mode_transform("monarch", size, modes, learn=learn, dtype=dtype, device=device)
        self.convs = nn.ModuleList(
            SpectralConv(
                self.width, self.width, modes, fourier=fourier, size=size, learn=learn, dtype=dtype, device=device
            )
            for _ in range(self.n_layers)
        )
        conv = nn.Conv2d if d == 2 else nn.Conv3d
        self.ws = nn.ModuleList(conv(self.width, self.width, 1, **factory) for _ in range(self.n_layers))
        norm = nn.BatchNorm2d if d == 2 else nn.BatchNorm3d
        self.bns = nn.ModuleList(norm(self.width, **factory) for _ in range(self.n_layers))
        self.bns.requires_grad_(False)  # declared, never used: see the module docstring
        self.fc1 = nn.Linear(self.width, int(proj_width), **factory)
        self.fc2 = nn.Linear(int(proj_width), self.out_channels, **factory)

    @property
    def n_modes(self) -> tuple[int, ...]:
        """neuraloperator's total modes per axis (``2m`` on full axes, ``2(m − 1)`` on the last)."""
        return (*(2 * m for m in self.modes[:-1]), 2 * (self.modes[-1] - 1))

    def _channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """Check ``x`` and return it channels-last ``(b, *grid, c)``."""
        nd = len(self.GRID_AXES)
        where = type(self).__name__
        if self.layout == "channels_first" and isinstance(x, torch.Tensor) and x.dim() == nd + 2:
            x = x.movedim(1, -1)
        ok = isinstance(x, torch.Tensor) and x.dim() == nd + 2 and x.shape[-1] == self.in_channels
        if not ok:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            if self.layout == "channels_first" and isinstance(x, torch.Tensor) and x.dim() == nd + 2:
                got = tuple(x.movedim(-1, 1).shape)
            grid = ", ".join(self.GRID_AXES)
            c = f"{self.channel_name}={self.in_channels}"
            want = f"(batch, {c}, {grid})" if self.layout == "channels_first" else f"(batch, {grid}, {c})"
            raise ValueError(f"{where}: expected input {want} ({self.layout}), got {got}")
        if not x.is_floating_point():
            raise TypeError(
                f"{where}: expected a floating-point input ({self.fc0.weight.dtype}), got {x.dtype}; "
                "convert it explicitly (for a boolean or integer field: x.to(torch.float32))"
            )
        grid = tuple(x.shape[1 : 1 + nd])
        check_grid(self._transform_grid(grid), self.modes, where, what=f"an input of shape {tuple(x.shape)}, grid")
        return x

    def _transform_grid(self, grid: tuple[int, ...]) -> tuple[int, ...]:
        return grid

    def _lift(self, x: torch.Tensor) -> torch.Tensor:
        """``P([x, coordinates])`` channels-first ``(b, width, *grid)`` from the checked channels-last input.

        ``P`` splits into its field and coordinate columns: the coordinate part plus the bias is one constant
        field per call, so the batch is never concatenated with the coordinates nor transposed.
        """
        b, grid, c = x.shape[0], tuple(x.shape[1:-1]), self.in_channels
        weight = self.fc0.weight
        const = torch.addmm(self.fc0.bias.unsqueeze(1), weight[:, c:], _coords(grid, x.dtype, x.device))  # (w, N)
        fields = x.movedim(-1, 1).reshape(b, c, -1)  # (b, c, N): a view for either layout
        v = torch.baddbmm(const.unsqueeze(0), weight[:, :c].expand(b, -1, -1), fields)
        return v.reshape(b, self.width, *grid)

    def _project_out(self, v: torch.Tensor) -> torch.Tensor:
        """``Q(v)`` of channels-first ``v`` ``(b, width, *grid)`` in the model's layout.

        ``fc1`` reads ``v`` through a transposed view (no copy) and the hidden layer is channels-last: its
        ``fc2`` backward is one GEMM, where channels-first it is a batched outer product plus a copy (measured
        1.5× slower for the projection at 32², batch 20).
        """
        b, grid = v.shape[0], v.shape[2:]
        y = self.fc2(F.gelu(self.fc1(v.reshape(b, self.width, -1).transpose(1, 2))))  # (b, N, out)
        y = y.reshape(b, *grid, self.out_channels)
        return y.movedim(-1, 1) if self.layout == "channels_first" else y

    def _layers(self, v: torch.Tensor) -> torch.Tensor:
        for i, (k, w) in enumerate(zip(self.convs, self.ws)):
            v = k(v) + _pointwise(w, v)
            if i < self.n_layers - 1:
                v = F.gelu(v)
        return v

    #: How the input channels are called in messages.
    channel_name = "in_channels"


def _channels(in_channels: int | None, t_in: int | None, where: str) -> int:
    if in_channels is not None and t_in is not None and int(in_channels) != int(t_in):
        raise ValueError(f"{where}: in_channels={in_channels} and t_in={t_in} name the same count; pass one")
    return int(in_channels if in_channels is not None else (t_in if t_in is not None else 10))


class FNO2d(_FNOBase):
    """FNO-2D: a field map ``(in_channels fields + grid) → out_channels fields``; by default the next vorticity
    snapshot from the last ``t_in`` snapshots, as in ``fourier_2d_time.py``.

    ``u_out = Q ∘ L_n ∘ … ∘ L_1 ∘ P([u_1, …, u_{in_channels}, x, y])`` with the Fourier layers ``L_ℓ``.

    Parameters
    ----------
    modes1, modes2
        Modes kept per sign along ``x`` and on the half-spectrum axis ``y`` (or ``n_modes``).
    width
        Channels of the Fourier layers.
    n_modes
        ``(M1, M2)``: neuraloperator's total modes per axis, instead of ``modes1, modes2``.
    in_channels, out_channels
        Input fields (``t_in``, 10, for the rollout; ``t_in`` is its older name) and output fields (1).
    n_layers, proj_width
        Fourier layers (4) and width of the projection's hidden layer (128).
    layout
        ``"channels_last"`` ``(batch, s1, s2, c)`` (default, as the FNO scripts) or ``"channels_first"``
        ``(batch, c, s1, s2)``; input and output alike.
    size
        Training grid ``(s1, s2)``; required for ``fourier="monarch"``; the model runs on any grid.
    fourier, learn, share_transform
        The spectral transform of every layer (see the module docstring); ``transform=`` is deprecated.

    Shape
    -----
    ``(batch, s1, s2, in_channels) → (batch, s1, s2, out_channels)`` (channels last).

    Examples
    --------
    >>> model = FNO2d(4, 4, 8, size=(16, 16), fourier="monarch")
    >>> model(torch.randn(2, 16, 16, 10)).shape, model(torch.randn(2, 32, 32, 10)).shape
    (torch.Size([2, 16, 16, 1]), torch.Size([2, 32, 32, 1]))
    >>> model.rollout(torch.randn(2, 16, 16, 10), steps=3).shape
    torch.Size([2, 16, 16, 3])
    >>> darcy = FNO2d(n_modes=(12, 12), width=16, in_channels=1, out_channels=2, layout="channels_first")
    >>> darcy.modes, darcy(torch.randn(2, 1, 24, 24)).shape
    ((6, 7), torch.Size([2, 2, 24, 24]))
    """

    def __init__(
        self,
        modes1: int | None = None,
        modes2: int | None = None,
        width: int = 20,
        *,
        n_modes: Sequence[int] | None = None,
        in_channels: int | None = None,
        out_channels: int = 1,
        t_in: int | None = None,
        n_layers: int = N_LAYERS,
        proj_width: int = PROJ_WIDTH,
        layout: Layout = "channels_last",
        size: tuple[int, int] | None = None,
        fourier: Fourier | nn.Module = "fft",
        learn: Learn = "both",
        share_transform: bool = False,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        transform: Fourier | nn.Module | None = None,
    ) -> None:
        fourier = resolve_fourier(fourier, transform, "FNO2d")
        size = None if size is None else (int(size[0]), int(size[1]))
        super().__init__(
            _resolve_modes((modes1, modes2), n_modes, "FNO2d"),
            width,
            in_channels=_channels(in_channels, t_in, "FNO2d"),
            out_channels=out_channels,
            n_layers=n_layers,
            proj_width=proj_width,
            layout=layout,
            size=size,
            fourier=fourier,
            learn=learn,
            share_transform=share_transform,
            dtype=dtype,
            device=device,
        )
        self.size = size

    channel_name = "t_in"

    @property
    def t_in(self) -> int:
        """Input snapshots of the rollout (= ``in_channels``)."""
        return self.in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._channels_last(x)
        return self._project_out(self._layers(self._lift(x)))

    def rollout(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Predict ``steps`` snapshots autoregressively, feeding each prediction back into the window.

        Shape
        -----
        ``(batch, s1, s2, t_in) → (batch, s1, s2, steps)`` (channels on axis 1 for ``"channels_first"``).
        """
        if self.out_channels != 1:
            raise ValueError(f"FNO2d.rollout: needs out_channels=1 (one snapshot per step), got {self.out_channels}")
        axis = 1 if self.layout == "channels_first" else -1
        preds = []
        with contextlib.ExitStack() as scope:  # Monarch transforms: matrices built once for all steps
            for t in {id(m): m for m in self.modules() if isinstance(m, MonarchModes)}.values():
                scope.enter_context(t.reuse_matrices())
            for _ in range(int(steps)):
                y = self(x)
                preds.append(y)
                x = torch.cat((x.narrow(axis, 1, x.shape[axis] - 1), y), dim=axis)
        return torch.cat(preds, dim=axis)


class FNO3d(_FNOBase):
    """FNO-3D: the whole trajectory ``u(x, y, t)`` from the first ``t_in`` snapshots, as one space–time map.

    The input holds the ``t_in`` snapshots repeated at every output time, plus the coordinates ``(x, y, t)``
    (``t = linspace(0, 1, T)``); the time axis is padded by 6 samples before the Fourier layers and cropped
    after them, as in ``fourier_3d.py``.

    Parameters
    ----------
    modes1, modes2, modes3
        Modes kept per sign along ``x`` and ``y``, and on the half-spectrum time axis (or ``n_modes``).
    width
        Channels of the Fourier layers.
    n_modes, in_channels, out_channels, n_layers, proj_width, layout, fourier, learn, share_transform
        As for :class:`FNO2d` (``in_channels`` defaults to ``t_in`` = 10).
    size
        ``(s1, s2, T)`` (``T`` output times) of training; required for ``fourier="monarch"``, whose transforms
        act on ``(s1, s2, T + 6)``.

    Shape
    -----
    ``(batch, s1, s2, T, in_channels) → (batch, s1, s2, T, out_channels)``.

    Examples
    --------
    >>> model = FNO3d(2, 2, 2, 4, size=(8, 8, 10), fourier="monarch")
    >>> model(torch.randn(1, 8, 8, 10, 10)).shape
    torch.Size([1, 8, 8, 10, 1])
    """

    GRID_AXES = ("s1", "s2", "T")
    channel_name = "t_in"

    def __init__(
        self,
        modes1: int | None = None,
        modes2: int | None = None,
        modes3: int | None = None,
        width: int = 20,
        *,
        n_modes: Sequence[int] | None = None,
        in_channels: int | None = None,
        out_channels: int = 1,
        t_in: int | None = None,
        n_layers: int = N_LAYERS,
        proj_width: int = PROJ_WIDTH,
        layout: Layout = "channels_last",
        size: tuple[int, int, int] | None = None,
        fourier: Fourier | nn.Module = "fft",
        learn: Learn = "both",
        share_transform: bool = False,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        transform: Fourier | nn.Module | None = None,
    ) -> None:
        fourier = resolve_fourier(fourier, transform, "FNO3d")
        size = None if size is None else tuple(int(s) for s in size)
        padded = None if size is None else (size[0], size[1], size[2] + TIME_PAD)
        super().__init__(
            _resolve_modes((modes1, modes2, modes3), n_modes, "FNO3d"),
            width,
            in_channels=_channels(in_channels, t_in, "FNO3d"),
            out_channels=out_channels,
            n_layers=n_layers,
            proj_width=proj_width,
            layout=layout,
            size=padded,
            fourier=fourier,
            learn=learn,
            share_transform=share_transform,
            dtype=dtype,
            device=device,
        )
        self.size = size

    @property
    def t_in(self) -> int:
        """Input snapshots (= ``in_channels``)."""
        return self.in_channels

    def _transform_grid(self, grid: tuple[int, ...]) -> tuple[int, ...]:
        return (grid[0], grid[1], grid[2] + TIME_PAD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._channels_last(x)
        v = F.pad(self._lift(x), (0, TIME_PAD))
        return self._project_out(self._layers(v)[..., :-TIME_PAD])
