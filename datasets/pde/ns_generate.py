"""Resumable, shardable generation of Navier–Stokes data sets into the HDF5 store (:mod:`.ns_store`).

Determinism: sample ``i``'s initial field depends only on ``(seed, i)`` (:func:`.grf.sample_generator`), bit
for bit. Samples are solved in *global* batches ``[b·B, (b+1)·B)`` (``B = batch``), and ranks take contiguous
runs of whole batches, so every sample is always solved in the same batch: the stored bits do not depend on
the number of processes, on interruptions, or on the order of work. Changing ``batch`` (or the device type or
software versions) changes the trajectories only at rounding level — batched FFTs may round differently for
different batch sizes — and is therefore refused when resuming an existing store.

Scaling out: under ``torchrun --nproc_per_node=K`` (``WORLD_SIZE = K``) rank ``r`` writes the shard file
``<out>.shard-r-of-K.h5``; after a barrier (gloo process group, created if none exists) rank 0 merges the
shards into ``<out>`` (:func:`.ns_store.merge_shards`) and removes them. Every shard is resumable like a
single-process store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch

from monarch_sci.training.checkpoint import partial_path
from monarch_sci.training.outputs import check_memory
from monarch_sci.training.ranks import rank_env, rank_group, rank_share, shard_name

from .grf import GaussianRandomField
from .ns_solver import DOWNSAMPLES, INTEGRATORS, Downsample, Integrator, NavierStokes2d, downsample_field, fno_forcing
from .ns_store import StoreError, check_store_attrs, create_store, merge_shards, package_versions

__all__ = [
    "NSGenerationConfig",
    "batch_ranges",
    "check_generation_memory",
    "generate_store",
    "generation_bytes",
    "shard_path",
]

FORCING_FORMULA = "forcing_amplitude*(sin(2*pi*(x1+x2)) + cos(2*pi*(x1+x2)))"
#: Precision the solver integrates in (the store holds float32 either way).
SolverDtype = Literal["float32", "float64"]
SOLVER_DTYPES: tuple[str, ...] = get_args(SolverDtype)


@dataclass(frozen=True)
class NSGenerationConfig:
    """Every parameter of a Navier–Stokes data set (all stored as attributes of the file).

    Defaults are the FNO benchmark at ``ν = 1e-3`` (``T = 50``, one snapshot per time unit, 256² solved,
    64² stored) with this package's Heun + Crank–Nicolson integrator at ``dt = 0.01``.
    """

    n: int = 1000
    visc: float = 1e-3
    T: float = 50.0
    record: int = 50
    resolution: int = 64
    gen_resolution: int = 256
    dt: float = 0.01
    integrator: Integrator = "heun-cn"
    solver_dtype: SolverDtype = "float32"
    downsample: Downsample = "subsample"
    alpha: float = 2.5
    tau: float = 7.0
    sigma: float | None = None
    forcing_amplitude: float = 0.1
    cfl_max: float = 1.0
    seed: int = 0
    batch: int = 50

    def __post_init__(self) -> None:
        checks = [
            (self.n >= 1, f"n >= 1 samples, got n={self.n}"),
            (self.record >= 1, f"record >= 1 snapshots, got record={self.record}"),
            (self.batch >= 1, f"batch >= 1, got batch={self.batch}"),
            (self.integrator in INTEGRATORS, f"integrator in {INTEGRATORS}, got {self.integrator!r}"),
            (self.solver_dtype in SOLVER_DTYPES, f"solver_dtype float32/float64, got {self.solver_dtype!r}"),
            (self.downsample in DOWNSAMPLES, f"downsample subsample/spectral, got {self.downsample!r}"),
            (
                2 <= self.resolution <= self.gen_resolution,
                f"2 <= resolution <= gen_resolution, got {self.resolution} and {self.gen_resolution}",
            ),
        ]
        for ok, what in checks:
            if not ok:
                raise ValueError(f"NSGenerationConfig: expected {what}")
        if self.downsample == "subsample" and self.gen_resolution % self.resolution:
            raise ValueError(
                f"NSGenerationConfig: downsample='subsample' needs resolution to divide gen_resolution, got "
                f"{self.resolution} and {self.gen_resolution} (use downsample='spectral' or other sizes)"
            )

    def grf(self) -> GaussianRandomField:
        return GaussianRandomField(alpha=self.alpha, tau=self.tau, sigma=self.sigma)

    def attrs(self, device_type: str) -> dict[str, Any]:
        """Attributes written to (and compared with) the store."""
        a = asdict(self)
        a["sigma"] = self.grf().sigma  # the resolved value
        a["forcing"] = FORCING_FORMULA
        a["device_type"] = device_type
        a["seeding"] = "per-sample torch.Generator seeded with blake2b('monarch-sci/grf/{seed}/{i}')"
        a["layout"] = "u[i, j, a, b] = w_i(t[j], x1=a/s, x2=b/s); u[:, 0] is the initial field"
        return a


def generation_bytes(cfg: NSGenerationConfig) -> int:
    """A lower bound of the memory one solve batch takes: the solver's spectral fields (about a dozen arrays of
    ``batch × g × (g/2+1)`` complex numbers at the solver grid ``g``) and the batch's recorded snapshots.

    Examples
    --------
    >>> generation_bytes(NSGenerationConfig()) // 2**20  # MiB, the FNO benchmark's defaults
    191
    """
    g, item = cfg.gen_resolution, 16 if cfg.solver_dtype == "float64" else 8
    return cfg.batch * (12 * g * (g // 2 + 1) * item + (cfg.record + 1) * cfg.resolution**2 * 4)


def check_generation_memory(cfg: NSGenerationConfig) -> None:
    """Refuse (one line) a generation whose solve batch needs more memory than is available, before allocating."""
    what = f"--gen-resolution {cfg.gen_resolution} with --solve-batch {cfg.batch}"
    check_memory(generation_bytes(cfg), what)


def batch_ranges(n: int, batch: int) -> list[tuple[int, int]]:
    """Global batches ``[(0, B), (B, 2B), …]`` covering ``n`` samples."""
    return [(b0, min(b0 + batch, n)) for b0 in range(0, n, batch)]


def shard_path(out: str | os.PathLike, rank: int, world_size: int) -> Path:
    """File of rank ``rank``'s shard of store ``out``."""
    out = Path(out)
    return out.with_name(shard_name(out.name, rank, world_size))


def _rank_batches(n: int, batch: int, rank: int, world_size: int) -> list[tuple[int, int]]:
    batches = batch_ranges(n, batch)
    share = rank_share(len(batches), rank, world_size)
    return batches[share.start : share.stop]


def _write_samples(
    cfg: NSGenerationConfig,
    path: Path,
    batches: list[tuple[int, int]],
    attrs: dict[str, Any],
    device: torch.device,
    *,
    progress: bool,
    on_batch: Callable[[str, int, int], None] | None,
) -> None:
    """Create or resume the store at ``path`` holding samples ``batches[0][0] … batches[-1][1]``."""
    import h5py

    from monarch_sci.training.progress import progress_bar

    start, stop = batches[0][0], batches[-1][1]
    dtype = torch.float32 if cfg.solver_dtype == "float32" else torch.float64
    forcing = fno_forcing(cfg.gen_resolution, amplitude=cfg.forcing_amplitude, dtype=torch.float64)
    solver = NavierStokes2d(
        cfg.gen_resolution,
        visc=cfg.visc,
        dt=cfg.dt,
        forcing=forcing,
        integrator=cfg.integrator,
        cfl_max=cfg.cfl_max,
        dtype=dtype,
        device=device,
    )
    t = np.arange(cfg.record + 1, dtype=np.float64) * (cfg.T / cfg.record)
    if not path.exists():
        f = downsample_field(forcing, cfg.resolution, cfg.downsample).numpy()
        create_store(path, n=stop - start, t=t, f=f, attrs={**attrs, "sample_start": start, "sample_stop": stop})
    try:
        h5 = h5py.File(path, "r+")
    except OSError as err:
        raise StoreError(
            f"{path}: exists but cannot be opened for writing ({err}); another process may be writing it, or it is "
            "damaged (then delete it or pass --overwrite)"
        ) from err
    with h5:
        check_store_attrs(path, h5, {**attrs, "sample_start": start, "sample_stop": stop})
        done = h5["done"][...]
        todo = [(b0, b1) for b0, b1 in batches if not done[b0 - start : b1 - start].all()]
        steps = round(cfg.T / cfg.dt)
        grf = cfg.grf()
        bar = progress_bar(
            total=stop - start,
            initial=stop - start - sum(b1 - b0 for b0, b1 in todo),
            unit="sample",
            desc=f"ns generate {path.name}",
            enabled=progress,
        )
        with bar:
            for b0, b1 in todo:
                w0 = grf.sample(cfg.gen_resolution, seed=cfg.seed, indices=range(b0, b1), dtype=dtype, device=device)
                w, _ = solver(
                    w0,
                    cfg.T,
                    cfg.record,
                    record_resolution=cfg.resolution,
                    downsample=cfg.downsample,
                    progress=lambda k, nb=b1 - b0: bar.update(nb * k / steps),
                )
                h5["u"][b0 - start : b1 - start] = w.to(device="cpu", dtype=torch.float32).numpy()
                h5.flush()  # the data reaches the file before the flags that vouch for it
                if on_batch is not None:
                    on_batch("data-written", b0, b1)
                h5["done"][b0 - start : b1 - start] = True
                h5.flush()
                if on_batch is not None:
                    on_batch("done", b0, b1)
            bar.n = bar.total  # float updates may leave a rounding remainder
            bar.refresh()


def _same_store(path: Path, attrs: dict[str, Any]) -> bool:
    """Whether ``path`` is a readable store written with ``attrs`` (a partial store worth resuming)."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            check_store_attrs(path, h5, attrs)
    except (OSError, StoreError):
        return False
    return True


def generate_store(
    cfg: NSGenerationConfig,
    out: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
    on_batch: Callable[[str, int, int], None] | None = None,
    barrier_timeout: timedelta = timedelta(days=7),
) -> Path:
    """Generate (or finish) the store ``out`` for ``cfg``; rank/world size come from ``RANK``/``WORLD_SIZE``.

    Rerunning after an interruption continues where it stopped; a finished store is left as it is.
    ``overwrite=True`` writes a new store beside an existing one (``OUT.partial``, resumed by the same command
    after an interruption) and renames it onto ``out`` only when complete: the old store is kept until then.
    ``on_batch(stage, b0, b1)`` is called with ``stage = "data-written"`` (data flushed, flags not yet set) and
    ``"done"`` for each batch ``[b0, b1)`` this process writes. Returns the path of the finished store.

    Examples
    --------
    >>> cfg = NSGenerationConfig(n=2, T=0.02, record=1, resolution=16, gen_resolution=16, batch=2)
    >>> generate_store(cfg, tmp_path / "ns.h5", progress=False).name  # doctest: +SKIP
    'ns.h5'
    """
    import h5py

    out = Path(out)
    device = torch.device(device)
    check_generation_memory(cfg)
    rank, world = rank_env("generate_store")
    if device.type == "cuda" and device.index is None and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    attrs = {**cfg.attrs(device.type), **package_versions()}
    # --overwrite: the old store stays under its name until the new one is complete (written beside it as
    # OUT.partial, then renamed); a partial store left by a killed --overwrite run is resumed when it holds the
    # same data, else started again
    replacing = overwrite and out.exists()
    target = partial_path(out) if replacing else out
    if overwrite and rank == 0:
        stale = [shard_path(out, r, world) for r in range(world)]
        if replacing and target.exists() and not _same_store(target, attrs):
            stale.append(target)
        for p in stale:
            p.unlink(missing_ok=True)
    with rank_group(world, barrier_timeout) as barrier:
        barrier()  # nobody starts before rank 0 has removed old files (--overwrite)
        if out.exists() and not replacing:
            with h5py.File(out, "r") as h5:
                check_store_attrs(out, h5, attrs)
                complete = bool(h5["done"][...].all())
            if complete:
                return out
            if world > 1:
                raise StoreError(
                    f"{out}: an incomplete single-process store exists; finish it with one process (same command "
                    f"without torchrun) or pass --overwrite"
                )
        if world == 1:
            _write_samples(
                cfg, target, batch_ranges(cfg.n, cfg.batch), attrs, device, progress=progress, on_batch=on_batch
            )
            if replacing:
                os.replace(target, out)
            return out
        mine = _rank_batches(cfg.n, cfg.batch, rank, world)
        if mine:
            _write_samples(
                cfg,
                shard_path(out, rank, world),
                mine,
                attrs,
                device,
                progress=progress and rank == 0,
                on_batch=on_batch,
            )
        barrier()
        if rank == 0:
            shards = [shard_path(out, r, world) for r in range(world) if _rank_batches(cfg.n, cfg.batch, r, world)]
            merge_shards(shards, out)
            for p in shards:
                p.unlink()
        barrier()
        return out
