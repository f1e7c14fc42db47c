"""MRI data: fastMRI files (reader and writer), importers (NumPy, BART, ISMRMRD), masks, simulated acquisitions,
undersampled (test-style) copies."""

from monarch_sci.datasets.mri.fastmri import (
    FastMRIFileError,
    FastMRISliceDataset,
    center_crop,
    fastmri_rss,
    inspect_volume,
    volume_mask,
    write_fastmri_volume,
)
from monarch_sci.datasets.mri.importers import import_kspace, read_cfl
from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header, parse_ismrmrd_header
from monarch_sci.datasets.mri.ismrmrd_raw import read_ismrmrd_kspace
from monarch_sci.datasets.mri.masks import LineMaskFunc, apply_line_mask, infer_mask, poisson_mask, volume_seed
from monarch_sci.datasets.mri.noise import NoiseEstimate, estimate_noise, noise_from_scan
from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset
from monarch_sci.datasets.mri.undersample import UndersampleSpec, undersample_files

__all__ = [
    "FastMRIFileError",
    "FastMRISliceDataset",
    "LineMaskFunc",
    "NoiseEstimate",
    "SimulationConfig",
    "UndersampleSpec",
    "apply_line_mask",
    "center_crop",
    "estimate_noise",
    "fastmri_rss",
    "import_kspace",
    "infer_mask",
    "inspect_volume",
    "make_ismrmrd_header",
    "noise_from_scan",
    "parse_ismrmrd_header",
    "poisson_mask",
    "read_cfl",
    "read_ismrmrd_kspace",
    "simulate_dataset",
    "undersample_files",
    "volume_mask",
    "volume_seed",
    "write_fastmri_volume",
]
