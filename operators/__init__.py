"""Models and physics: neural PDE solvers (:mod:`.pde`) and MRI reconstruction (:mod:`.mri`).

Every public name of both domains is importable from here, e.g.
``from monarch_sci.operators import FNO2d, SenseOperator, cg_sense``; each subpackage's ``__all__`` is the list.
"""

from monarch_sci.operators import mri, pde

__all__ = sorted({*mri.__all__, *pde.__all__})
globals().update({name: getattr(mri if name in mri.__all__ else pde, name) for name in __all__})
