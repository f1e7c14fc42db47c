"""monarch-sci: Monarch matrices in place of Fourier transforms for scientific machine learning.

The core (this package) holds the Monarch multiply, shape plans, linear operators and metrics. PDE and MRI
models live in :mod:`monarch_sci.operators`, data in :mod:`monarch_sci.datasets`.
"""

from monarch_sci.linear import MonarchLinear
from monarch_sci.linop import LinearOperator, register_operator
from monarch_sci.monarch_op import MonarchMatrix
from monarch_sci.multiply import monarch_adjoint, monarch_multiply, monarch_to_dense
from monarch_sci.plan import MonarchPlan, plan_equal_blocks, plan_monarch
from monarch_sci.projection import project

__version__ = "0.1.0"

__all__ = [
    "LinearOperator",
    "MonarchLinear",
    "MonarchMatrix",
    "MonarchPlan",
    "__version__",
    "monarch_adjoint",
    "monarch_multiply",
    "monarch_to_dense",
    "plan_equal_blocks",
    "plan_monarch",
    "project",
    "register_operator",
]
