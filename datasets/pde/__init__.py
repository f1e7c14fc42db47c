"""PDE data: Navier–Stokes (solver, store, loaders), Darcy flow, and input/output field pairs of any PDE.

The pieces live in one file per concept:

* :mod:`.grf` — :class:`GaussianRandomField`, the initial vorticity ``σ²(-Δ + τ²)^{-α}`` of the original
  generator, sampled per sample from ``(seed, index)``;
* :mod:`.ns_solver` — :class:`NavierStokes2d`, the batched pseudo-spectral solver (Heun or Euler + Crank–
  Nicolson), :func:`fno_forcing`, :func:`downsample_field`;
* :mod:`.ns_store` — the HDF5 layout (``u`` ``(N, R+1, s, s)`` float32, ``t``, ``f``, ``done``, attributes);
* :mod:`.ns_generate` — :func:`generate_store`, resumable and sharded by ``torchrun`` rank
  (``monarch-sci ns generate`` on the command line);
* :mod:`.ns_dataset` — :class:`NavierStokesDataset` and :func:`read_ns_frames` over our store and the original
  FNO ``.mat`` files (v7.3 and v5);
* :mod:`.pairs` — :func:`read_field_pairs` (input/output fields from HDF5, ``.mat``, ``.npz``, ``.pt``),
  :func:`read_steady_pairs` (the same, or a PDEBench Darcy file), :class:`FieldPairs`, :class:`FieldNormalizer`
  (output statistics fitted on the training split);
* :mod:`.pdebench`, :mod:`.the_well` — PDEBench 2-D files and The Well files: one scalar field as rollout
  frames (:class:`PDEBenchFrames`, :class:`WellFrames`, opened by :func:`open_frames`), PDEBench's Darcy pairs;
* :mod:`.darcy` — :func:`generate_darcy` / :func:`solve_darcy`: the FNO paper's Darcy flow problem.

Examples
--------
>>> from monarch_sci.datasets.pde import GaussianRandomField, NavierStokes2d, fno_forcing
>>> w0 = GaussianRandomField().sample(32, seed=0, indices=range(2))
>>> w, t = NavierStokes2d(32, visc=1e-3, dt=0.01, forcing=fno_forcing(32))(w0, T=0.1, record=1)
>>> w.shape
torch.Size([2, 2, 32, 32])
"""

from .darcy import DarcyConfig, darcy_coefficient, generate_darcy, solve_darcy
from .grf import GaussianRandomField, grf_spectrum, sample_generator, sample_seed
from .ns_dataset import (
    ROLLOUT_FORMATS,
    NavierStokesDataset,
    detect_ns_format,
    detect_rollout_format,
    open_frames,
    read_ns_frames,
)
from .ns_generate import NSGenerationConfig, generate_store, shard_path
from .ns_solver import CFLError, NavierStokes2d, downsample_field, fno_forcing
from .ns_store import STORE_FORMAT, StoreError, merge_shards
from .pairs import PAIRS_FORMATS, FieldNormalizer, FieldPairs, detect_pairs_format, read_field_pairs, read_steady_pairs
from .pdebench import PDEBenchFrames, detect_pdebench_layout, read_pdebench_darcy
from .the_well import WellFrames, is_the_well_file

__all__ = [
    "PAIRS_FORMATS",
    "ROLLOUT_FORMATS",
    "STORE_FORMAT",
    "CFLError",
    "DarcyConfig",
    "FieldNormalizer",
    "FieldPairs",
    "GaussianRandomField",
    "NSGenerationConfig",
    "NavierStokes2d",
    "NavierStokesDataset",
    "PDEBenchFrames",
    "StoreError",
    "WellFrames",
    "darcy_coefficient",
    "detect_ns_format",
    "detect_pairs_format",
    "detect_pdebench_layout",
    "detect_rollout_format",
    "downsample_field",
    "fno_forcing",
    "generate_darcy",
    "generate_store",
    "grf_spectrum",
    "is_the_well_file",
    "merge_shards",
    "open_frames",
    "read_field_pairs",
    "read_ns_frames",
    "read_pdebench_darcy",
    "read_steady_pairs",
    "sample_generator",
    "sample_seed",
    "shard_path",
    "solve_darcy",
]
