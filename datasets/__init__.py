"""Data, files and generators: Navier–Stokes (:mod:`.pde`) and MRI (:mod:`.mri`); never imports the operators.

``from monarch_sci.datasets import NavierStokesDataset, FastMRISliceDataset, LineMaskFunc``.
"""

from monarch_sci.datasets.mri import (
    FastMRIFileError,
    FastMRISliceDataset,
    LineMaskFunc,
    SimulationConfig,
    apply_line_mask,
    center_crop,
    fastmri_rss,
    import_kspace,
    inspect_volume,
    make_ismrmrd_header,
    poisson_mask,
    read_cfl,
    simulate_dataset,
    volume_seed,
    write_fastmri_volume,
)
from monarch_sci.datasets.pde import (
    GaussianRandomField,
    NavierStokes2d,
    NavierStokesDataset,
    NSGenerationConfig,
    StoreError,
    downsample_field,
    fno_forcing,
    generate_store,
    read_ns_frames,
)

__all__ = [
    "FastMRIFileError",
    "FastMRISliceDataset",
    "GaussianRandomField",
    "LineMaskFunc",
    "NSGenerationConfig",
    "NavierStokes2d",
    "NavierStokesDataset",
    "SimulationConfig",
    "StoreError",
    "apply_line_mask",
    "center_crop",
    "downsample_field",
    "fastmri_rss",
    "fno_forcing",
    "generate_store",
    "import_kspace",
    "inspect_volume",
    "make_ismrmrd_header",
    "poisson_mask",
    "read_cfl",
    "read_ns_frames",
    "simulate_dataset",
    "volume_seed",
    "write_fastmri_volume",
]
