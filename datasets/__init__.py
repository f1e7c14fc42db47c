"""Data, files and generators: PDE data (:mod:`.pde`) and MRI data (:mod:`.mri`); never imports the operators.

Every public name of both domains is importable from here, e.g.
``from monarch_sci.datasets import NavierStokesDataset, FastMRISliceDataset, LineMaskFunc``; each subpackage's
``__all__`` is the list.
"""

from monarch_sci.datasets import mri, pde

__all__ = sorted({*mri.__all__, *pde.__all__})
globals().update({name: getattr(mri if name in mri.__all__ else pde, name) for name in __all__})
