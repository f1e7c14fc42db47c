"""Which kernel runs a Monarch multiply: chosen by device behind :func:`monarch_sci.multiply.monarch_multiply`.

Three implementations of one product (same values, same gradients; each tested against the dense twin):
the chunked, cache-resident CPU passes of :mod:`monarch_sci.multiply`, fly's two-``bmm`` structure
(:mod:`monarch_sci.multiply_bmm`) and fused Triton kernels (:mod:`monarch_sci.multiply_triton`, optional).
"""

from __future__ import annotations

import functools
import importlib.util

import torch

__all__ = ["MULTIPLY_PATHS", "multiply_path"]

#: Kernels behind :func:`monarch_multiply` (``path=``); ``"auto"`` picks one by device (:func:`multiply_path`).
MULTIPLY_PATHS = ("auto", "chunked", "bmm", "triton")


@functools.cache
def _has_triton() -> bool:
    return importlib.util.find_spec("triton") is not None


def multiply_path(x: torch.Tensor, r_blocks: torch.Tensor, l_blocks: torch.Tensor, path: str = "auto") -> str:
    """The kernel :func:`monarch_multiply` runs for these operands: ``"chunked"``, ``"bmm"`` or ``"triton"``.

    ``"auto"``: on a CPU the chunked, cache-resident kernels of this module; on CUDA the fused Triton kernels
    (:mod:`monarch_sci.multiply_triton`) when Triton is installed and the plan is fully mixing
    (:func:`~monarch_sci.multiply_triton.fused_supported`), else the two-``bmm`` kernels of fly's structure
    (:mod:`monarch_sci.multiply_bmm`). An explicit path is returned as given (``"triton"`` on CPU tensors needs
    Triton's interpreter, ``TRITON_INTERPRET=1``); unknown names are a ``ValueError``.

    Examples
    --------
    >>> multiply_path(torch.randn(2, 16), torch.randn(4, 4, 4), torch.randn(4, 4, 4))
    'chunked'
    """
    if path not in MULTIPLY_PATHS:
        raise ValueError(f"monarch_multiply: path must be one of {MULTIPLY_PATHS}, got {path!r}")
    if path != "auto":
        if path == "triton":
            if not _has_triton():
                raise ValueError("monarch_multiply: path='triton' needs Triton (pip install 'monarch-sci[triton]')")
            k, q, _ = r_blocks.shape
            l, _, r = l_blocks.shape
            if not (q == l and r == k):
                raise ValueError(
                    f"monarch_multiply: path='triton' needs a fully mixing plan (q = l, r = k), got r_blocks "
                    f"{tuple(r_blocks.shape)} and l_blocks {tuple(l_blocks.shape)}; use path='bmm' or 'auto'"
                )
        return path
    if x.device.type != "cuda":
        return "chunked"
    if _has_triton():
        from monarch_sci.multiply_triton import fused_supported

        if fused_supported(r_blocks, l_blocks):
            return "triton"
    return "bmm"
