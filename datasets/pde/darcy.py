"""Darcy flow data as in the FNO paper: piecewise-constant permeability → pressure, solved by finite differences.

The steady problem on the unit square,

.. math::

    -\\nabla\\cdot(a\\,\\nabla u) = f \\ \\text{in } (0, 1)^2, \\qquad u = 0 \\text{ on the boundary},

with ``f = 1`` and the coefficient of Li et al. (2021): a Gaussian random field ``ψ`` with covariance
``(−Δ + τ²)^{−α}`` (``α = 2``, ``τ = 3``; :class:`~monarch_sci.datasets.pde.grf.GaussianRandomField`, periodic,
where the FNO generator uses a Neumann cosine basis) thresholded to ``a = 12`` where ``ψ ≥ 0`` and ``a = 3``
elsewhere.

Discretisation (:func:`solve_darcy`): ``s × s`` nodes ``x_{ij} = (i, j)/(s − 1)`` including the boundary, the
conservative 5-point scheme

.. math::

    \\frac{1}{h^2}\\Big[a_{i+\\frac12,j}(u_{ij} − u_{i+1,j}) + a_{i−\\frac12,j}(u_{ij} − u_{i−1,j})
    + a_{i,j+\\frac12}(u_{ij} − u_{i,j+1}) + a_{i,j−\\frac12}(u_{ij} − u_{i,j−1})\\Big] = f_{ij},

with face values ``a_{i+½,j} = (a_{ij} + a_{i+1,j})/2``, second-order accurate for smooth ``a`` (a test checks
the order against a manufactured solution), solved by ``scipy.sparse.linalg.spsolve``.

:func:`generate_darcy` writes an HDF5 pairs file (``x`` the coefficient, ``y`` the solution, ``(N, s, s)``
float32, every parameter as attributes) that :func:`~monarch_sci.datasets.pde.pairs.read_field_pairs` reads.
It writes ``PATH.partial`` first (resumable: a rerun with the same parameters continues after the last finished
sample; sample ``i`` depends only on ``(seed, i)``) and renames it to ``PATH`` when complete
(:func:`~monarch_sci.training.checkpoint.atomic_output` with ``resumable=True``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from monarch_sci.training.checkpoint import atomic_output, partial_path
from monarch_sci.training.outputs import check_memory
from monarch_sci.training.ranks import rank_env, rank_group, rank_share, shard_name

from .grf import GaussianRandomField

__all__ = ["DarcyConfig", "darcy_coefficient", "generate_darcy", "solve_darcy"]


def solve_darcy(a: np.ndarray, f: float | np.ndarray = 1.0) -> np.ndarray:
    """Solve ``−∇·(a∇u) = f`` on the unit square with ``u = 0`` on the boundary (see the module docstring).

    Parameters
    ----------
    a
        Coefficient at the ``s × s`` nodes (boundary included), positive.
    f
        Right-hand side: a number or an ``(s, s)`` array of nodal values.

    Returns
    -------
    numpy.ndarray
        ``u`` ``(s, s)`` float64 at the nodes (zero on the boundary).

    Examples
    --------
    >>> u = solve_darcy(np.ones((33, 33)))
    >>> round(float(u.max()), 3)  # the torsion function of the unit square peaks at 0.0737
    0.074
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 3:
        raise ValueError(f"solve_darcy: a must be a square (s, s) array with s >= 3, got shape {a.shape}")
    if not np.isfinite(a).all() or a.min() <= 0:
        raise ValueError(f"solve_darcy: a must be finite and positive, got min {a.min()}")
    s = a.shape[0]
    h = 1.0 / (s - 1)
    rhs = np.broadcast_to(np.asarray(f, dtype=np.float64), (s, s))[1:-1, 1:-1].ravel()
    n = s - 2  # interior nodes per axis
    idx = np.arange(n * n).reshape(n, n)
    ii, jj = np.meshgrid(np.arange(1, s - 1), np.arange(1, s - 1), indexing="ij")
    rows, cols, vals = [], [], []
    diag = np.zeros((n, n))
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        face = 0.5 * (a[ii, jj] + a[ii + di, jj + dj]) / h**2  # a at the face between the node and its neighbour
        diag += face
        ni, nj = ii + di, jj + dj
        inside = (ni >= 1) & (ni <= s - 2) & (nj >= 1) & (nj <= s - 2)  # boundary neighbours: u = 0, no entry
        rows.append(idx[inside])
        cols.append(idx[ni[inside] - 1, nj[inside] - 1])
        vals.append(-face[inside])
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.ravel())
    A = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n * n, n * n))
    u = np.zeros((s, s))
    u[1:-1, 1:-1] = spsolve(A.tocsr(), rhs).reshape(n, n)
    return u


@dataclass(frozen=True)
class DarcyConfig:
    """Parameters of a Darcy data set (all recorded as HDF5 attributes).

    ``n`` samples on ``s × s`` nodes; GRF ``alpha``, ``tau``; coefficient ``a_pos`` where the field is ``≥ 0``
    and ``a_neg`` elsewhere; constant forcing ``f``; master ``seed``.
    """

    n: int
    s: int = 85
    alpha: float = 2.0
    tau: float = 3.0
    a_pos: float = 12.0
    a_neg: float = 3.0
    f: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1 or self.s < 3:
            raise ValueError(f"DarcyConfig: expected n >= 1 and s >= 3, got n={self.n}, s={self.s}")
        if min(self.a_pos, self.a_neg) <= 0:
            raise ValueError(f"DarcyConfig: a_pos and a_neg must be positive, got {self.a_pos}, {self.a_neg}")


def darcy_coefficient(config: DarcyConfig, indices: range | list[int]) -> np.ndarray:
    """Thresholded GRF coefficients of samples ``indices``: ``(len(indices), s, s)`` float64."""
    grf = GaussianRandomField(alpha=config.alpha, tau=config.tau)
    psi = grf.sample(config.s, seed=config.seed, indices=indices, dtype=torch.float64).numpy()
    return np.where(psi >= 0, config.a_pos, config.a_neg)


def generate_darcy(
    path: str | os.PathLike, config: DarcyConfig, *, progress: bool = False, overwrite: bool = False
) -> Path:
    """Write ``config.n`` Darcy pairs to the HDF5 file ``path`` (resumable; see the module docstring).

    ``overwrite=True`` replaces an existing ``path`` once the new file is complete (the old one is kept until the
    rename) and discards unfinished files of an earlier run made with other parameters (those made with the same
    parameters are continued). A partial file that cannot be read (a process killed while creating it) is
    started again. Under ``torchrun`` (``RANK`` / ``WORLD_SIZE``) each rank solves a contiguous share of the
    samples into its own resumable shard file, and rank 0 joins them into ``path`` (the same data as one process
    writes: sample ``i`` depends only on ``(seed, i)``).

    Examples
    --------
    >>> import tempfile, os
    >>> out = generate_darcy(os.path.join(tempfile.mkdtemp(), "darcy.h5"), DarcyConfig(n=2, s=17))
    >>> from monarch_sci.datasets.pde.pairs import read_field_pairs
    >>> [t.shape for t in read_field_pairs(out)]
    [torch.Size([2, 17, 17, 1]), torch.Size([2, 17, 17, 1])]
    """
    path = Path(path)
    # the sparse system of one sample (five diagonals, COO and CSR copies, the LU factors' fill): ~300 B a node
    check_memory(300 * config.s**2, f"--resolution {config.s} (the linear system of one sample)")
    rank, world = rank_env("generate_darcy")
    shards = [path.with_name(shard_name(path.name, r, world)) for r in range(world)] if world > 1 else []
    attrs = {"format": "monarch-sci/pairs/1", "problem": "darcy", **asdict(config)}
    if overwrite and rank == 0:  # unfinished files of another data set; the old `path` stays until the rename
        for p in (partial_path(path), *shards, *map(partial_path, shards)):
            if p.exists() and not _resumable(p, attrs):
                p.unlink()
    with rank_group(world) as barrier:
        barrier()  # nobody starts before rank 0 has removed old files (overwrite)
        if path.exists() and not overwrite:
            raise FileExistsError(f"generate_darcy: {path} exists; remove it or choose another path")
        if world == 1:
            with atomic_output(path, resumable=True) as partial:
                _fill(partial, config, attrs, progress, range(config.n))
        else:
            if partial_path(path).exists():
                raise ValueError(
                    f"generate_darcy: {partial_path(path)} is an unfinished single-process run; finish it with one "
                    "process (without torchrun) or overwrite it"
                )
            mine = rank_share(config.n, rank, world)
            if len(mine) and not shards[rank].exists():
                with atomic_output(shards[rank], resumable=True) as partial:
                    _fill(partial, config, attrs, progress and rank == 0, mine)
            barrier()
            if rank == 0:
                _join(path, shards, config, attrs)
            barrier()
    return path


def _join(path: Path, shards: list[Path], config: DarcyConfig, attrs: dict) -> None:
    """Write ``path`` from the ranks' shard files (each holds its share of the samples), then remove them."""
    import h5py

    world = len(shards)
    with atomic_output(path) as tmp:
        _create(tmp, config, attrs)
        with h5py.File(tmp, "r+") as out:
            for rank, shard in enumerate(shards):
                mine = rank_share(config.n, rank, world)
                if not len(mine):
                    continue
                with h5py.File(shard, "r") as h5:
                    if not h5["done"][mine.start : mine.stop].all():
                        raise ValueError(f"generate_darcy: {shard} is missing samples of its share {mine}")
                    for key in ("x", "y", "done"):
                        out[key][mine.start : mine.stop] = h5[key][mine.start : mine.stop]
    for shard in shards:
        shard.unlink(missing_ok=True)


def _create(path: Path, config: DarcyConfig, attrs: dict) -> None:
    """An empty pairs file at ``path``, atomically, every chunk allocated: later writes touch raw data only, so
    a process killed while filling it leaves a readable file (``kill -9`` cannot corrupt HDF5 metadata)."""
    import h5py

    from .ns_store import allocated_dataset

    shape, chunks = (config.n, config.s, config.s), (1, config.s, config.s)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(attrs)
        allocated_dataset(h5, "x", shape, np.float32, chunks=chunks)
        allocated_dataset(h5, "y", shape, np.float32, chunks=chunks)
        allocated_dataset(h5, "done", (config.n,), np.bool_, chunks=None)[...] = False


def _resumable(partial: Path, attrs: dict) -> bool:
    """Whether ``partial`` is a readable file started with ``attrs`` (then it is continued)."""
    import h5py

    try:
        with h5py.File(partial, "r") as h5:
            return all(h5.attrs.get(k) == v for k, v in attrs.items())
    except OSError:
        return False


def _readable(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return all(k in h5 for k in ("x", "y", "done"))
    except OSError:
        return False


def _fill(partial: Path, config: DarcyConfig, attrs: dict, progress: bool, indices: range) -> None:
    """Create ``partial`` (or continue it: same parameters only) and solve the samples ``indices`` not yet done."""
    import h5py

    from monarch_sci.training.progress import progress_bar

    if partial.exists() and not _readable(partial):
        print(f"darcy: {partial} cannot be read (a killed run left it half made); starting it again", file=sys.stderr)
        partial.unlink()
    resumed = partial.exists()
    if not resumed:
        _create(partial, config, attrs)
    with h5py.File(partial, "r+") as h5:
        if resumed:
            old = {k: h5.attrs.get(k) for k in attrs}
            if any(old[k] != v for k, v in attrs.items()):
                raise ValueError(
                    f"generate_darcy: {partial} was started with other parameters {old}; asked {attrs}. "
                    "Remove it to start again."
                )
        done = h5["done"]
        todo = [i for i in indices if not done[i]]
        bar = progress_bar(
            total=len(indices), initial=len(indices) - len(todo), desc="darcy", unit="sample", enabled=progress
        )
        with bar:
            for i in todo:
                a = darcy_coefficient(config, [i])[0]
                h5["x"][i] = a
                h5["y"][i] = solve_darcy(a, config.f)
                done[i] = True
                h5.flush()
                bar.update(1)
