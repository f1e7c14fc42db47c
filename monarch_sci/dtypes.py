"""The real/complex dtype pairs, defined once for the whole toolkit.

``REAL_OF[complex dtype]`` is the dtype of its real and imaginary parts; ``COMPLEX_OF[real dtype]`` the complex
dtype built from it.

Examples
--------
>>> import torch
>>> REAL_OF[torch.complex64], COMPLEX_OF[torch.float64]
(torch.float32, torch.complex128)
"""

from __future__ import annotations

import torch

__all__ = ["COMPLEX_OF", "REAL_OF"]

REAL_OF = {torch.complex64: torch.float32, torch.complex128: torch.float64}
COMPLEX_OF = {real: cplx for cplx, real in REAL_OF.items()}
