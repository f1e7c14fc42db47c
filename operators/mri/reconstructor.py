"""What the learned MRI reconstructions share: one call contract on one SENSE physics.

Every learned model (:class:`~monarch_sci.operators.mri.msense.MSENSE`,
:class:`~monarch_sci.operators.mri.msense.DiagonalSENSE`, :class:`~monarch_sci.operators.mri.unrolled.UnrolledSENSE`,
:class:`~monarch_sci.operators.mri.unet.UNetRecon`) is a :class:`SenseReconstructor`: it is built for one matrix
size ``(H, W)``, holds its :class:`~monarch_sci.operators.mri.sense.SenseOperator` as ``physics`` and is called as
``image = model(kspace, mask, maps)``, checking the acquisition with ``physics.check_acquisition`` first.
:func:`peak_scale` is the per-slice normalisation of the models whose CNNs see images of unit peak.
"""

from __future__ import annotations

import torch
from torch import nn

from monarch_sci.dtypes import REAL_OF

__all__ = ["SenseReconstructor", "peak_scale"]


class SenseReconstructor(nn.Module):
    """Base of the learned reconstructions: ``image = model(kspace, mask, maps)`` for one matrix size.

    Checks and stores ``shape`` (and the data dtype, when the subclass has one to check); the subclass builds
    ``physics`` and its learned parts and writes ``forward``.

    Parameters
    ----------
    shape
        Image / k-space matrix ``(H, W)``, each side at least ``min_side``.
    dtype
        Complex dtype of the data, refused unless ``torch.complex64`` or ``torch.complex128``; ``None``: not
        checked here (the subclass's Fourier transform checks it).
    min_side
        Smallest side the model supports.

    Shape
    -----
    ``kspace`` ``(B, C, H, W)`` complex, ``mask`` broadcastable to ``(B, 1, H, W)``, ``maps`` ``(B, C, H, W)``
    complex → image ``(B, H, W)`` complex.

    Examples
    --------
    >>> class ZeroFilled(SenseReconstructor):
    ...     def forward(self, kspace, mask, maps):
    ...         return (maps.conj() * kspace).sum(dim=1)
    >>> ZeroFilled((16, 12), dtype=torch.complex64)
    ZeroFilled(shape=(16, 12))
    >>> ZeroFilled((16,), dtype=torch.complex64)
    Traceback (most recent call last):
    ...
    ValueError: ZeroFilled: shape must be the image size (H, W) with H, W >= 1, got (16,)
    """

    def __init__(self, shape: tuple[int, int], *, dtype: torch.dtype | None, min_side: int = 1) -> None:
        super().__init__()
        where = type(self).__name__
        if len(shape) != 2 or any(int(n) < min_side for n in shape):
            raise ValueError(f"{where}: shape must be the image size (H, W) with H, W >= {min_side}, got {shape!r}")
        if dtype is not None and dtype not in REAL_OF:
            raise TypeError(f"{where}: dtype must be torch.complex64 or torch.complex128, got {dtype}")
        self.shape = (int(shape[0]), int(shape[1]))

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def peak_scale(x: torch.Tensor) -> torch.Tensor:
    """``s = max |x|`` per image of a batch ``(B, H, W)``, shaped ``(B, 1, 1)`` and never zero.

    Dividing by it gives images of unit peak, which makes a model equivariant to the k-space scale.

    Examples
    --------
    >>> x = torch.zeros(2, 4, 4, dtype=torch.complex64)
    >>> x[0, 1, 2] = 3j
    >>> s = peak_scale(x)
    >>> s.shape, s[0].item(), s[1].item() > 0
    (torch.Size([2, 1, 1]), 3.0, True)
    """
    return x.abs().flatten(1).amax(dim=1).clamp_min(torch.finfo(x.real.dtype).tiny)[:, None, None]
