"""MRI reconstruction: SENSE physics, coil maps, CG, classical methods, mSENSE, unrolled network, U-Net."""

from monarch_sci.operators.mri.cg import CGResult, conjugate_gradient
from monarch_sci.operators.mri.classical import (
    L1Result,
    ReconProblem,
    cg_sense,
    l1_wavelet,
    l1_wavelet_recon,
    rss,
    zero_filled_rss,
)
from monarch_sci.operators.mri.coil_maps import calibration_width, espirit_maps
from monarch_sci.operators.mri.compare import CompareSpec, compare_methods
from monarch_sci.operators.mri.methods import (
    EXTRA_METHODS,
    RUN_LOADERS,
    UnknownMethodError,
    recon_methods,
    register_recon_method,
    resolve_method,
)
from monarch_sci.operators.mri.models import build_model, load_run
from monarch_sci.operators.mri.msense import MSENSE, DiagonalSENSE
from monarch_sci.operators.mri.recon_file import ReconFileSpec, reconstruct_file
from monarch_sci.operators.mri.recon_task import ReconTask, volume_metrics
from monarch_sci.operators.mri.regularisation import AutoLamRule, LamChoice, auto_lam
from monarch_sci.operators.mri.runs import evaluate_run, reconstruct_with_run
from monarch_sci.operators.mri.sense import SenseOperator
from monarch_sci.operators.mri.slice_bank import ReconSlices, SliceBank, load_slice_bank
from monarch_sci.operators.mri.training import ReconTrainSpec, train_recon_model
from monarch_sci.operators.mri.unet import UNetRecon
from monarch_sci.operators.mri.unrolled import UnrolledSENSE

__all__ = [
    "EXTRA_METHODS",
    "MSENSE",
    "RUN_LOADERS",
    "AutoLamRule",
    "CGResult",
    "CompareSpec",
    "DiagonalSENSE",
    "L1Result",
    "LamChoice",
    "ReconFileSpec",
    "ReconProblem",
    "ReconSlices",
    "ReconTask",
    "ReconTrainSpec",
    "SenseOperator",
    "SliceBank",
    "UNetRecon",
    "UnknownMethodError",
    "UnrolledSENSE",
    "auto_lam",
    "build_model",
    "calibration_width",
    "cg_sense",
    "compare_methods",
    "conjugate_gradient",
    "espirit_maps",
    "evaluate_run",
    "l1_wavelet",
    "l1_wavelet_recon",
    "load_run",
    "load_slice_bank",
    "recon_methods",
    "reconstruct_file",
    "reconstruct_with_run",
    "register_recon_method",
    "resolve_method",
    "rss",
    "train_recon_model",
    "volume_metrics",
    "zero_filled_rss",
]
