"""The SENSE forward model ``A = M F S``: the one SENSE physics of the toolkit, a registered linear operator.

.. math::

    (A x)_c = M \\, F (S_c x), \\qquad A^{\\mathsf H} y = \\sum_c \\overline{S_c}\\, F^{\\mathsf H} (M y_c),

with ``S`` the coil sensitivities, ``F`` the centred orthonormal 2-D Fourier transform
(:func:`~monarch_sci.fourier.fft2c`, the one MRI convention of the toolkit) and ``M`` the sampling mask.
``F`` is the swappable Fourier component of :mod:`monarch_sci.fourier`: ``fourier="fft"`` (``torch.fft``),
``fourier="monarch"`` (a learnable centred orthonormal :class:`~monarch_sci.dft.MonarchDFT2d`, equal to the
FFT at initialisation) or an injected module with ``forward``/``adjoint`` — mSENSE injects the adjoint of a
learned inverse transform, so that its ``Aᴴ`` is zero-filled SENSE with a learned ``F⁻¹``.

Maps and mask are given per call, as in deepinv's ``MultiCoilMRI`` (``A(x, maps=S, mask=M)``,
``A.H(y, maps=S, mask=M)``, ``A.normal(x, maps=S, mask=M)``): one physics object serves every slice of a
training batch. Maps and mask given to the constructor are stored (as buffers) and used by calls that do not
pass their own — the classical methods build one operator per volume that way. Maps ``(S, C, H, W)`` make the
operator batched over those slices; one map set ``(C, H, W)`` applies to any batch of images.

``learn`` says which factors of a Monarch ``F`` learn: ``"both"`` axes, only the ``"phase"``-encode axis (the
last one, along which line masks act), only the ``"readout"`` axis, or ``"none"`` (the same vocabulary for
:class:`~monarch_sci.operators.mri.msense.MSENSE`); the FFT has nothing to learn.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import nn

from monarch_sci.dft import MonarchDFT2d
from monarch_sci.fourier import FOURIERS, make_fourier
from monarch_sci.linop import AdjointOperator, LinearOperator, register_operator

__all__ = ["LEARN_CHOICES", "Learn", "SenseOperator", "resolve_learn"]

Learn = Literal["both", "phase", "readout", "none"]
LEARN_CHOICES = ("both", "phase", "readout", "none")


def resolve_learn(where: str, learn: Learn | None, old_name: str, old_value: object, mapping: dict) -> Learn:
    """``learn`` from the new keyword or a deprecated one (``mapping[old_value]``), with a DeprecationWarning.

    ``learn=None`` means "not given" (the default ``"both"``); both keywords at once is an error.
    """
    if old_value is not None:
        if learn is not None:
            raise TypeError(f"{where}: pass learn= only ({old_name}= is its deprecated spelling), not both")
        warnings.warn(
            f"{where}: {old_name}= is deprecated, use learn= ({LEARN_CHOICES}) instead",
            DeprecationWarning,
            stacklevel=3,
        )
        if old_value not in mapping:
            raise ValueError(f"{where}: {old_name} must be one of {tuple(mapping)}, got {old_value!r}")
        learn = mapping[old_value]
    learn = "both" if learn is None else learn
    if learn not in LEARN_CHOICES:
        raise ValueError(f"{where}: learn must be one of {LEARN_CHOICES}, got {learn!r}")
    return learn


def renamed_state_keys(old: str, new: str):
    """A ``load_state_dict`` pre-hook that reads keys ``old*`` as ``new*`` (checkpoints of learned models written
    before their Fourier transform moved into the SENSE physics object)."""

    def hook(state_dict, prefix, *args) -> None:
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)

    return hook


def _freeze(fourier: nn.Module, learn: Learn) -> None:
    """Freeze the Monarch factors ``learn`` leaves out (``f0``: readout axis −2, ``f1``: phase axis −1)."""
    monarch = fourier.op if isinstance(fourier, AdjointOperator) else fourier
    if isinstance(monarch, MonarchDFT2d):
        frozen = {"both": (), "phase": (monarch.f0,), "readout": (monarch.f1,), "none": (monarch,)}[learn]
    else:
        frozen = () if learn == "both" else (fourier,)
    for module in frozen:
        module.requires_grad_(False)


def _describe(t: object) -> str:
    return f"{tuple(t.shape)} {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__


class SenseOperator(LinearOperator):
    """Multi-coil Cartesian SENSE operator ``A = M F S`` with maps and mask per call (or stored defaults).

    Parameters
    ----------
    maps
        Stored coil sensitivities ``S``, complex ``(*batch, C, H, W)``, or ``None`` (then every call passes its
        own and ``shape`` is required).
    mask
        Stored sampling mask ``M`` (real or bool), broadcastable to ``(*batch, 1, H, W)``: a line mask ``(W,)``
        or ``(S, 1, 1, W)``, a 2-D mask ``(H, W)``; ``None`` means fully sampled.
    shape
        Image size ``(H, W)`` when no maps are stored.
    fourier
        ``"fft"``, ``"monarch"`` or a module with ``forward`` (image → k-space) and ``adjoint``.
    learn
        Which Monarch factors learn: ``"both"`` (default), ``"phase"``, ``"readout"`` or ``"none"``.
    learnable
        Deprecated spelling: ``True`` → ``learn="both"``, ``False`` → ``learn="none"``.
    dtype, device
        Of a Monarch ``F`` (default: the stored maps' dtype and device, else complex64).

    Shape
    -----
    forward ``(*batch, H, W) → (*batch, C, H, W)``; adjoint the reverse. ``batch`` must broadcast with the
    maps' leading dims. ``oshape`` is ``(C, H, W)`` with the stored maps' coil count, ``(-1, H, W)`` without.

    Examples
    --------
    >>> maps = torch.randn(2, 4, 16, 12, dtype=torch.complex128)
    >>> mask = (torch.rand(12) < 0.5).double()
    >>> A = SenseOperator(maps, mask)
    >>> x = torch.randn(2, 16, 12, dtype=torch.complex128)
    >>> A(x).shape, A.H(A(x)).shape
    (torch.Size([2, 4, 16, 12]), torch.Size([2, 16, 12]))
    >>> P = SenseOperator(shape=(16, 12))  # maps and mask per call
    >>> torch.allclose(P.H(P(x, maps=maps, mask=mask), maps=maps, mask=mask), A.normal(x))
    True
    """

    def __init__(
        self,
        maps: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        *,
        shape: tuple[int, int] | None = None,
        fourier: str | nn.Module = "fft",
        learn: Learn | None = None,
        learnable: bool | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        learn = resolve_learn("SenseOperator", learn, "learnable", learnable, {True: "both", False: "none"})
        if maps is not None:
            self._check_maps(maps)
            C, H, W = (int(d) for d in maps.shape[-3:])
            dtype, device = dtype or maps.dtype, device or maps.device
        elif shape is None or len(shape) != 2:
            raise ValueError(f"SenseOperator: without stored maps, shape must be (H, W), got {shape!r}")
        else:
            C, H, W = -1, int(shape[0]), int(shape[1])
        super().__init__((H, W), (C, H, W))
        self.register_buffer("maps", maps)
        if mask is not None:
            self._check_mask(mask, (*maps.shape[:-3], 1, H, W) if maps is not None else (1, H, W), maps)
            mask = mask.to(dtype=maps.real.dtype if maps is not None else torch.float32, device=device)
        self.register_buffer("mask", mask)
        if isinstance(fourier, str) and fourier not in FOURIERS:
            raise ValueError(f"SenseOperator: fourier must be one of {FOURIERS} or a module, got {fourier!r}")
        self.fourier_kind = fourier if isinstance(fourier, str) else type(fourier).__name__
        self.learn = learn
        self.fourier = make_fourier(fourier, (H, W), dtype=dtype or torch.complex64, device=device)
        _freeze(self.fourier, learn)

    # -- checks -------------------------------------------------------------------------------------------
    def _check_maps(self, maps: object) -> None:
        if not isinstance(maps, torch.Tensor) or maps.dim() < 3 or not maps.is_complex():
            raise ValueError(
                f"SenseOperator: maps must be a complex tensor (*batch, coils, H, W), got {_describe(maps)}"
            )
        if hasattr(self, "ishape") and tuple(maps.shape[-2:]) != self.ishape:
            raise ValueError(
                f"SenseOperator: built for {self.ishape[0]}×{self.ishape[1]} images, got maps {tuple(maps.shape)}"
            )

    @staticmethod
    def _check_mask(mask: object, target: tuple[int, ...], maps: torch.Tensor | None) -> None:
        if not isinstance(mask, torch.Tensor) or mask.is_complex():
            raise ValueError(f"SenseOperator: mask must be a real or bool tensor, got {_describe(mask)}")
        try:
            torch.broadcast_shapes(mask.shape, target)
        except RuntimeError:
            of = f" of maps {tuple(maps.shape)}" if maps is not None else ""
            raise ValueError(
                f"SenseOperator: mask of shape {tuple(mask.shape)} does not broadcast to (*batch, 1, H, W) = "
                f"{target}{of}"
            ) from None

    def _physics(self, maps: torch.Tensor | None, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The call's maps and mask: the arguments, else the stored ones (mask ``None``: fully sampled)."""
        if maps is None:
            if self.maps is None:
                raise ValueError("SenseOperator: no coil maps stored; pass maps=(*batch, coils, H, W)")
            maps = self.maps
        else:
            self._check_maps(maps)
        if mask is None:
            mask = self.mask
        elif mask is not self.mask:
            self._check_mask(mask, (*maps.shape[:-3], 1, *maps.shape[-2:]), maps)
        return maps, mask

    def check_acquisition(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor, where: str) -> None:
        """Raise a clear error (naming ``where``) unless ``kspace``/``maps`` are complex ``(B, C, H, W)`` of this
        operator's size and ``mask`` broadcasts to ``(B, 1, H, W)`` — the inputs of the learned models."""
        for name, t in (("kspace", kspace), ("maps", maps)):
            if not isinstance(t, torch.Tensor) or t.dim() != 4 or not t.is_complex():
                raise ValueError(f"{where}: expected {name} as a complex tensor (B, coils, H, W), got {_describe(t)}")
        if kspace.shape != maps.shape:
            raise ValueError(
                f"{where}: kspace {tuple(kspace.shape)} and maps {tuple(maps.shape)} must have the same shape "
                "(B, coils, H, W)"
            )
        if tuple(kspace.shape[-2:]) != self.ishape:
            raise ValueError(
                f"{where}: built for {self.ishape[0]}×{self.ishape[1]} k-space, got (B, C, H, W) = "
                f"{tuple(kspace.shape)}; train a model for this matrix size"
            )
        if not isinstance(mask, torch.Tensor) or mask.is_complex():
            raise ValueError(f"{where}: expected a real or bool mask tensor, got {_describe(mask)}")
        b, _, h, w = kspace.shape
        try:
            torch.broadcast_shapes(mask.shape, (b, 1, h, w))
        except RuntimeError:
            raise ValueError(
                f"{where}: mask of shape {tuple(mask.shape)} does not broadcast to (B, 1, H, W) = {(b, 1, h, w)}"
            ) from None

    # -- the algebra ----------------------------------------------------------------------------------------
    @staticmethod
    def _masked(k: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return k if mask is None else mask.to(dtype=k.real.dtype) * k

    def forward(
        self, x: torch.Tensor, maps: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``A x = M F (S x)``: image ``(*batch, H, W)`` → masked multi-coil k-space ``(*batch, C, H, W)``."""
        maps, mask = self._physics(maps, mask)
        self.check_input(x, self.ishape, "image")
        return self._masked(self.fourier(maps * x.unsqueeze(-3)), mask)

    def adjoint(
        self, y: torch.Tensor, maps: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``Aᴴ y = Σ_c conj(S_c) Fᴴ(M y_c)``: multi-coil k-space ``(*batch, C, H, W)`` → image ``(*batch, H, W)``."""
        maps, mask = self._physics(maps, mask)
        self.check_input(y, tuple(maps.shape[-3:]), "k-space")
        return (maps.conj() * self.fourier.adjoint(self._masked(y, mask))).sum(dim=-3)

    def normal(
        self, x: torch.Tensor, maps: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``AᴴA x``."""
        return self.adjoint(self.forward(x, maps, mask), maps, mask)

    @property
    def H(self) -> LinearOperator:
        """``Aᴴ``, taking the same per-call ``maps=``/``mask=`` keywords."""
        return _SenseAdjoint(self)

    def extra_repr(self) -> str:
        maps = "per call" if self.maps is None else tuple(self.maps.shape)
        mask = "per call" if self.mask is None else tuple(self.mask.shape)
        return f"shape={self.ishape}, maps={maps}, mask={mask}, fourier={self.fourier_kind!r}, learn={self.learn!r}"


class _SenseAdjoint(AdjointOperator):
    """``Aᴴ`` of a :class:`SenseOperator`, with its per-call ``maps``/``mask``."""

    def forward(self, y: torch.Tensor, maps: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        return self.op.adjoint(y, maps, mask)

    def adjoint(self, x: torch.Tensor, maps: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        return self.op.forward(x, maps, mask)


def _example(dtype: torch.dtype, device, seed: int, fourier: str) -> SenseOperator:
    g = torch.Generator().manual_seed(seed)
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    maps = torch.randn(2, 3, 8, 6, generator=g, dtype=real) + 1j * torch.randn(2, 3, 8, 6, generator=g, dtype=real)
    mask = (torch.rand(2, 1, 1, 6, generator=g) < 0.6).to(real)
    mask[..., 3] = 1
    op = SenseOperator(maps.to(dtype=dtype, device=device), mask.to(device), fourier=fourier)
    if fourier == "monarch":  # move away from the exact DFT so the suite checks a general learned state
        with torch.no_grad():
            for p in op.fourier.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return op


@register_operator("SenseOperator")
def _example_sense(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> SenseOperator:
    return _example(dtype, device, seed, "fft")


@register_operator("SenseOperator-monarch")
def _example_sense_monarch(dtype: torch.dtype, device: torch.device | str | None, seed: int) -> SenseOperator:
    return _example(dtype, device, seed, "monarch")
