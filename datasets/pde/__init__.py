"""Navier–Stokes data for the FNO benchmark: one import for the solver, the random fields, the store and loaders.

The pieces live in one file per concept:

* :mod:`.grf` — :class:`GaussianRandomField`, the initial vorticity ``σ²(-Δ + τ²)^{-α}`` of the original
  generator, sampled per sample from ``(seed, index)``;
* :mod:`.ns_solver` — :class:`NavierStokes2d`, the batched pseudo-spectral solver (Heun or Euler + Crank–
  Nicolson), :func:`fno_forcing`, :func:`downsample_field`;
* :mod:`.ns_store` — the HDF5 layout (``u`` ``(N, R+1, s, s)`` float32, ``t``, ``f``, ``done``, attributes);
* :mod:`.ns_generate` — :func:`generate_store`, resumable and sharded by ``torchrun`` rank
  (``monarch-sci ns generate`` on the command line);
* :mod:`.ns_dataset` — :class:`NavierStokesDataset` and :func:`read_ns_frames` over our store and the original
  FNO ``.mat`` files (v7.3 and v5).

Examples
--------
>>> from monarch_sci.datasets.pde import GaussianRandomField, NavierStokes2d, fno_forcing
>>> w0 = GaussianRandomField().sample(32, seed=0, indices=range(2))
>>> w, t = NavierStokes2d(32, visc=1e-3, dt=0.01, forcing=fno_forcing(32))(w0, T=0.1, record=1)
>>> w.shape
torch.Size([2, 2, 32, 32])
"""

from .grf import GaussianRandomField, grf_spectrum, sample_generator, sample_seed
from .ns_dataset import NavierStokesDataset, detect_ns_format, read_ns_frames
from .ns_generate import NSGenerationConfig, generate_store, shard_path
from .ns_solver import CFLError, NavierStokes2d, downsample_field, fno_forcing
from .ns_store import STORE_FORMAT, StoreError, merge_shards

__all__ = [
    "STORE_FORMAT",
    "CFLError",
    "GaussianRandomField",
    "NSGenerationConfig",
    "NavierStokes2d",
    "NavierStokesDataset",
    "StoreError",
    "detect_ns_format",
    "downsample_field",
    "fno_forcing",
    "generate_store",
    "grf_spectrum",
    "merge_shards",
    "read_ns_frames",
    "sample_generator",
    "sample_seed",
    "shard_path",
]
