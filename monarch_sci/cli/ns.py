"""``monarch-sci ns``: Navier–Stokes data sets (``generate``, ``info``).

``monarch-sci ns generate --n 1000 --visc 1e-3 --T 50 --record 50 --resolution 64 --gen-resolution 256
--solve-batch 50 --seed 0 --device cpu --out data/ns_v1e-3.h5`` writes the HDF5 store described in
:mod:`monarch_sci.datasets.pde.ns_store`; rerunning the same command after an interruption continues it, and
``torchrun --nproc_per_node=K -m monarch_sci.cli ns generate --num-samples 1000 ...`` splits the work by rank
(torchrun's own parser takes ``--n`` for an abbreviation of its options, so spell it ``--num-samples`` there).

Every argument is checked before the store is created. ``--solve-batch`` (formerly ``--batch``, still accepted
with a warning) is the number of samples solved together: it is part of the data's identity, like the device
type, so ``--device`` defaults to ``cpu`` here (reproducible data); ``--device auto`` takes the GPU when present.
The record ``OUT.json`` (one entry per invocation) is written atomically; "complete" is reported only after
the store has been read back and every sample is flagged done.
"""

from __future__ import annotations

import argparse
import math

from monarch_sci.cli import common
from monarch_sci.cli.common import (
    Flag,
    UserError,
    add_command,
    add_flags,
    from_flags,
    resolve_device,
    set_threads,
)

DEFAULTS_NOTE = "defaults: the FNO benchmark at visc=1e-3 with Heun + Crank–Nicolson at dt=0.01"


def register(groups) -> None:
    parser = groups.add_parser("ns", help="Navier–Stokes data: generate and inspect stores")
    parser.set_defaults(group_parser=parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = add_command(
        sub,
        "generate",
        generate,
        help="solve 2-D Navier–Stokes from random initial vorticity into an HDF5 store (resumable)",
        description=(
            "Generate a Navier–Stokes data set (vorticity form, periodic unit square, FNO forcing). Rerun the same "
            f"command to resume after an interruption; run under torchrun to split the work by rank. {DEFAULTS_NOTE}."
        ),
    )
    add_flags(gen, "out", out_help="HDF5 store to write (e.g. data/ns_v1e-3.h5)")
    gen.add_argument(
        "--n",
        "--num-samples",
        dest="n",
        type=int,
        default=1000,
        help="number of samples (use --num-samples under torchrun)",
    )
    gen.add_argument("--visc", type=float, default=1e-3, help="viscosity ν")
    gen.add_argument("--T", type=float, default=50.0, help="final time")
    gen.add_argument("--record", type=int, default=50, help="snapshots stored after the initial field")
    gen.add_argument("--resolution", type=int, default=64, help="stored grid size s")
    gen.add_argument("--gen-resolution", type=int, default=256, help="solver grid size")
    gen.add_argument(
        "--downsample", choices=["subsample", "spectral"], default="subsample", help="solver → stored grid"
    )
    gen.add_argument("--dt", type=float, default=0.01, help="time step (T/record must be a multiple)")
    gen.add_argument("--integrator", choices=["heun-cn", "euler-cn"], default="heun-cn", help="time integrator")
    gen.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="solver precision")
    gen.add_argument("--alpha", type=float, default=2.5, help="GRF smoothness α")
    gen.add_argument("--tau", type=float, default=7.0, help="GRF inverse length scale τ")
    gen.add_argument("--sigma", type=float, default=None, help="GRF amplitude σ (default τ^(α-1))")
    gen.add_argument("--forcing-amplitude", type=float, default=0.1, help="A in f = A(sin 2π(x+y) + cos 2π(x+y))")
    gen.add_argument("--cfl-max", type=float, default=1.0, help="refuse to run past this CFL number")
    gen.add_argument(
        "--solve-batch",
        "--batch",
        dest="solve_batch",
        type=int,
        default=50,
        action=Flag,
        deprecated=("--batch",),
        help="samples solved together (part of the data's identity)",
    )
    add_flags(gen, "seed", "device", "threads", "overwrite", "no_progress", device="cpu")

    info = add_command(sub, "info", show_info, help="print a store's parameters and completion")
    info.add_argument("path", help="HDF5 store or FNO .mat file")
    add_flags(info, "cpu_device")


def generation_config(args: argparse.Namespace):
    """The :class:`NSGenerationConfig` of the flags, every value checked (nothing is written here)."""
    from monarch_sci.datasets.pde.ns_generate import NSGenerationConfig, check_generation_memory
    from monarch_sci.datasets.pde.ns_solver import NavierStokes2d

    cfg = from_flags(NSGenerationConfig, args, solver_dtype=args.dtype, batch=args.solve_batch)
    if not (math.isfinite(args.T) and args.T > 0):
        raise UserError(f"--T: expected a final time > 0, got {args.T}")
    if not (math.isfinite(args.dt) and args.dt > 0):
        raise UserError(f"--dt: expected a time step > 0, got {args.dt}")
    interval = args.T / args.record
    steps = round(interval / args.dt)
    if steps < 1 or abs(steps * args.dt - interval) > 1e-9 * interval:
        raise UserError(
            f"--T/--record = {interval:g} is not a whole number of steps --dt {args.dt:g}; "
            f"choose --dt {interval:g}/k for an integer k"
        )
    if not math.isfinite(args.forcing_amplitude):
        raise UserError(f"--forcing-amplitude: expected a finite number, got {args.forcing_amplitude}")
    if args.seed < 0:
        raise UserError(f"--seed: expected a seed >= 0, got {args.seed}")
    check_generation_memory(cfg)  # before the solver allocates its grids
    # The solver and the random field check the rest (grid, viscosity, CFL bound, GRF parameters) cheaply.
    NavierStokes2d(args.gen_resolution, visc=args.visc, dt=args.dt, integrator=args.integrator, cfl_max=args.cfl_max)
    cfg.grf()
    return cfg


def generate(args: argparse.Namespace) -> int:
    import json
    import os
    import sys
    import time
    from datetime import datetime, timezone
    from pathlib import Path

    import torch
    from tqdm.auto import tqdm

    from monarch_sci.datasets.pde.ns_generate import generate_store
    from monarch_sci.datasets.pde.ns_store import StoreError, package_versions
    from monarch_sci.training.checkpoint import write_json_atomic

    set_threads(args.threads)
    device = resolve_device(args.device)
    cfg = generation_config(args)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; expected the path of an HDF5 store (e.g. {out / 'ns.h5'})")
    rank = int(os.environ.get("RANK", "0"))
    written = [0]

    def log(stage: str, b0: int, b1: int) -> None:
        if stage == "done":
            written[0] += b1 - b0
            with tqdm.external_write_mode(file=sys.stdout):
                print(f"ns generate: rank {rank} wrote samples {b0}..{b1 - 1}", flush=True)

    start = time.perf_counter()
    try:
        out = generate_store(
            cfg, out, device=device, overwrite=args.overwrite, progress=not args.no_progress, on_batch=log
        )
    except OSError as err:
        if isinstance(err, BlockingIOError) or "lock" in str(err).lower():
            raise UserError(f"--out {out}: busy, another process is writing it (HDF5 lock); wait for it") from None
        raise
    elapsed = time.perf_counter() - start
    if rank != 0:
        return 0
    done, n = _check_complete(out, StoreError)
    # One entry per invocation (a resumed store keeps the history of the runs that wrote it).
    path = Path(f"{out}.json")
    record = {}
    if path.exists() and not args.overwrite:
        try:
            record = json.loads(path.read_text())
        except ValueError:
            record = {}  # a damaged record is replaced; the store itself is the data's identity
    if record.get("store") != str(out) or "runs" not in record:
        record = {"command": "ns generate", "store": str(out), "runs": []}
    arguments = {k: v for k, v in vars(args).items() if k not in ("func", "group_parser")}
    run = {"arguments": arguments, "device": str(device)}
    run |= {"finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": elapsed}
    run |= {"samples_written_by_rank0": written[0], "world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    run |= {"threads": torch.get_num_threads(), "versions": package_versions()}
    record["runs"].append(run)
    record |= {"samples_done": done, "samples": n}
    write_json_atomic(path, record)  # the next invocation reads it back
    print(f"ns generate: {out} complete ({done}/{n} samples) in {elapsed:.1f} s this run; record {out}.json")
    return 0


def _check_complete(out, store_error) -> tuple[int, int]:
    """Read the finished store back: ``u`` of the recorded shape, every sample flagged done."""
    import h5py

    try:
        with h5py.File(out, "r") as h5:
            missing = [k for k in ("u", "done", "t") if k not in h5]
            if missing:
                raise store_error(f"{out}: the store lacks {missing}; delete it or rerun with --overwrite")
            done = h5["done"][...]
            if h5["u"].shape[0] != done.size:
                raise store_error(f"{out}: u holds {h5['u'].shape[0]} samples, done flags {done.size}; --overwrite")
    except OSError as err:
        raise store_error(f"{out}: cannot be read back as HDF5 ({err})") from err
    if not done.all():
        raise store_error(f"{out}: only {int(done.sum())} of {done.size} samples are done; rerun the same command")
    return int(done.sum()), int(done.size)


def show_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    import h5py

    from monarch_sci.datasets.pde.ns_dataset import NavierStokesDataset, detect_ns_format

    common.cpu_device(args.device, "reading a store's header")
    path = Path(args.path)
    if not path.is_file():
        raise UserError(f"{path}: no such file (expected a Navier–Stokes store .h5 or an FNO .mat file)")
    try:
        kind = detect_ns_format(path)
    except OSError as err:
        raise UserError(f"{path}: not a readable HDF5 store or .mat file ({err})") from None
    print(f"{path}: {kind}")
    if kind == "store":
        try:
            with h5py.File(path, "r") as h5:
                missing = [k for k in ("u", "done") if k not in h5]
                if missing:
                    raise UserError(f"{path}: not a complete Navier–Stokes store (no {' / '.join(missing)} dataset)")
                done = h5["done"][...]
                print(f"  u {h5['u'].shape} {h5['u'].dtype}, {int(done.sum())}/{done.size} samples done")
                for key in sorted(h5.attrs):
                    print(f"  {key} = {h5.attrs[key]}")
        except OSError as err:
            raise UserError(f"{path}: cannot be read as HDF5 ({err})") from None
        if not done.all():
            return 1
    else:
        ds = NavierStokesDataset(path, t_in=1)
        print(f"  {ds.source.n} samples, {ds.source.n_frames} frames of {ds.resolution}x{ds.resolution}")
    return 0
