"""``monarch-sci ns``: Navier–Stokes data sets (``generate``, ``info``).

``monarch-sci ns generate --n 1000 --visc 1e-3 --T 50 --record 50 --resolution 64 --gen-resolution 256
--batch 50 --seed 0 --device cpu --out data/ns_v1e-3.h5`` writes the HDF5 store described in
:mod:`monarch_sci.datasets.pde.ns_store`; rerunning the same command after an interruption continues it, and
``torchrun --nproc_per_node=K -m monarch_sci.cli ns generate --num-samples 1000 ...`` splits the work by rank
(torchrun's own parser takes ``--n`` for an abbreviation of its options, so spell it ``--num-samples`` there).
"""

from __future__ import annotations

import argparse

DEFAULTS_NOTE = "defaults: the FNO benchmark at visc=1e-3 with Heun + Crank–Nicolson at dt=0.01"


def register(groups) -> None:
    parser = groups.add_parser("ns", help="Navier–Stokes data: generate and inspect stores")
    parser.set_defaults(group_parser=parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = sub.add_parser(
        "generate",
        help="solve 2-D Navier–Stokes from random initial vorticity into an HDF5 store (resumable)",
        description=(
            "Generate a Navier–Stokes data set (vorticity form, periodic unit square, FNO forcing). Rerun the same "
            f"command to resume after an interruption; run under torchrun to split the work by rank. {DEFAULTS_NOTE}."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    gen.add_argument("--out", required=True, help="HDF5 store to write (e.g. data/ns_v1e-3.h5)")
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
    gen.add_argument("--seed", type=int, default=0, help="master seed; sample i depends only on (seed, i)")
    gen.add_argument("--batch", type=int, default=50, help="samples solved together (part of the data's identity)")
    gen.add_argument("--device", default="cpu", help="torch device (cuda uses cuda:LOCAL_RANK under torchrun)")
    gen.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    gen.add_argument("--overwrite", action="store_true", help="delete an existing store and its shards first")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    gen.set_defaults(func=generate)

    info = sub.add_parser("info", help="print a store's parameters and completion")
    info.add_argument("path", help="HDF5 store or FNO .mat file")
    info.set_defaults(func=show_info)


def generate(args: argparse.Namespace) -> int:
    import json
    import os
    import sys
    import time
    from datetime import datetime, timezone
    from pathlib import Path

    import torch
    from tqdm.auto import tqdm

    from monarch_sci.datasets.pde.ns_generate import NSGenerationConfig, generate_store
    from monarch_sci.datasets.pde.ns_store import package_versions, store_progress
    from monarch_sci.training.checkpoint import write_text_atomic

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg = NSGenerationConfig(
        n=args.n,
        visc=args.visc,
        T=args.T,
        record=args.record,
        resolution=args.resolution,
        gen_resolution=args.gen_resolution,
        dt=args.dt,
        integrator=args.integrator,
        solver_dtype=args.dtype,
        downsample=args.downsample,
        alpha=args.alpha,
        tau=args.tau,
        sigma=args.sigma,
        forcing_amplitude=args.forcing_amplitude,
        cfl_max=args.cfl_max,
        seed=args.seed,
        batch=args.batch,
    )
    rank = int(os.environ.get("RANK", "0"))
    written = [0]

    def log(stage: str, b0: int, b1: int) -> None:
        if stage == "done":
            written[0] += b1 - b0
            with tqdm.external_write_mode(file=sys.stdout):
                print(f"ns generate: rank {rank} wrote samples {b0}..{b1 - 1}", flush=True)

    start = time.perf_counter()
    out = generate_store(
        cfg, args.out, device=args.device, overwrite=args.overwrite, progress=not args.no_progress, on_batch=log
    )
    elapsed = time.perf_counter() - start
    if rank == 0:
        done, n = store_progress(out)
        # One entry per invocation (a resumed store keeps the history of the runs that wrote it).
        path = Path(f"{out}.json")
        record = json.loads(path.read_text()) if path.exists() and not args.overwrite else {}
        if record.get("store") != str(out) or "runs" not in record:
            record = {"command": "ns generate", "store": str(out), "runs": []}
        run = {"arguments": {k: v for k, v in vars(args).items() if k not in ("func", "group_parser")}}
        run |= {"finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": elapsed}
        run |= {"samples_written_by_rank0": written[0], "world_size": int(os.environ.get("WORLD_SIZE", "1"))}
        run |= {"threads": torch.get_num_threads(), "versions": package_versions()}
        record["runs"].append(run)
        record |= {"samples_done": done, "samples": n}
        write_text_atomic(path, json.dumps(record, indent=2, default=str))  # the next invocation reads it back
        print(f"ns generate: {out} complete ({done}/{n} samples) in {elapsed:.1f} s this run; record {out}.json")
    return 0


def show_info(args: argparse.Namespace) -> int:
    import h5py

    from monarch_sci.datasets.pde.ns_dataset import NavierStokesDataset, detect_ns_format

    kind = detect_ns_format(args.path)
    print(f"{args.path}: {kind}")
    if kind == "store":
        with h5py.File(args.path, "r") as h5:
            done = h5["done"][...]
            print(f"  u {h5['u'].shape} {h5['u'].dtype}, {int(done.sum())}/{done.size} samples done")
            for key in sorted(h5.attrs):
                print(f"  {key} = {h5.attrs[key]}")
        if not done.all():
            return 1
    else:
        ds = NavierStokesDataset(args.path, t_in=1)
        print(f"  {ds.source.n} samples, {ds.source.n_frames} frames of {ds.resolution}x{ds.resolution}")
    return 0
