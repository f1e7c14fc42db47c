"""monarch-sci: Monarch matrices in place of Fourier transforms for scientific machine learning.

The core (this package) holds the Monarch multiply, shape plans, the DFT as a Monarch matrix, projection,
Monarch layers, the Fourier conventions, linear operators and metrics; shared training infrastructure lives in
:mod:`monarch_sci.training`. PDE and MRI models live in :mod:`monarch_sci.operators`, data in
:mod:`monarch_sci.datasets`, the command line in :mod:`monarch_sci.cli`.

Examples
--------
>>> import torch
>>> from monarch_sci import MonarchDFT
>>> x = torch.randn(3, 12, dtype=torch.complex128)
>>> torch.allclose(MonarchDFT(12, dtype=torch.complex128)(x), torch.fft.fft(x))
True
"""

from monarch_sci.dft import MonarchDFT, MonarchDFT2d, dft_monarch_factors
from monarch_sci.fourier import CenteredFFT2, fft2c, ifft2c, make_fourier
from monarch_sci.linop import LinearOperator, register_operator
from monarch_sci.metrics import nmse, psnr, relative_l2, relative_l2_per_sample, ssim
from monarch_sci.monarch_linear import MonarchLinear
from monarch_sci.monarch_matrix import MonarchMatrix
from monarch_sci.multiply import monarch_adjoint, monarch_multiply, monarch_to_dense
from monarch_sci.plan import MonarchPlan, plan_equal_blocks, plan_monarch
from monarch_sci.projection import project

__version__ = "0.1.0"

__all__ = [
    "CenteredFFT2",
    "LinearOperator",
    "MonarchDFT",
    "MonarchDFT2d",
    "MonarchLinear",
    "MonarchMatrix",
    "MonarchPlan",
    "__version__",
    "dft_monarch_factors",
    "fft2c",
    "ifft2c",
    "make_fourier",
    "monarch_adjoint",
    "monarch_multiply",
    "monarch_to_dense",
    "nmse",
    "plan_equal_blocks",
    "plan_monarch",
    "project",
    "psnr",
    "register_operator",
    "relative_l2",
    "relative_l2_per_sample",
    "ssim",
]
