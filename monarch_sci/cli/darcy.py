"""``monarch-sci pde darcy generate``: Darcy flow pairs (the FNO paper's problem) as an HDF5 pairs file.

``pde darcy generate --n N --resolution S --seed K --out FILE.h5`` writes ``N`` pairs ``x`` (coefficient) →
``y`` (pressure) on ``S × S`` nodes with :func:`~monarch_sci.datasets.pde.darcy.generate_darcy`: the samples go
to ``FILE.h5.partial`` and the file is renamed when complete, so an interrupted run continues when the same
command is rerun (sample ``i`` depends only on ``(seed, i)``). A JSON record (parameters, versions, seconds)
is written atomically beside it as ``FILE.json``. Every argument is checked before anything is created.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from monarch_sci.cli.common import UserError, add_command, add_flags

__all__ = ["register_darcy"]


def register_darcy(sub: argparse._SubParsersAction) -> None:
    """Add ``darcy generate`` under the ``pde`` group's sub-commands."""
    darcy = sub.add_parser("darcy", help="Darcy flow data (coefficient → pressure pairs)")
    darcy.set_defaults(group_parser=darcy)
    darcy_sub = darcy.add_subparsers(dest="darcy_command", metavar="COMMAND")
    gen = add_command(darcy_sub, "generate", cmd_generate, help="generate Darcy pairs into an HDF5 file (resumable)")
    gen.add_argument("--n", type=int, required=True, help="number of samples")
    gen.add_argument("--resolution", type=int, default=85, help="grid nodes per axis S (boundary included)")
    add_flags(gen, "seed", "no_progress")
    gen.add_argument("--alpha", type=float, default=2.0, help="GRF smoothness α of the coefficient")
    gen.add_argument("--tau", type=float, default=3.0, help="GRF inverse length scale τ")
    gen.add_argument("--a-pos", type=float, default=12.0, help="coefficient where the field is >= 0")
    gen.add_argument("--a-neg", type=float, default=3.0, help="coefficient where the field is < 0")
    gen.add_argument("--f", type=float, default=1.0, help="constant forcing")
    add_flags(gen, "out", "overwrite", out_help="output HDF5 file (.h5 / .hdf5)")


def _config(args: argparse.Namespace):
    from monarch_sci.datasets.pde.darcy import DarcyConfig

    if args.n < 1:
        raise UserError(f"--n: expected a positive number of samples, got {args.n}")
    if args.resolution < 3:
        raise UserError(f"--resolution: expected at least 3 nodes per axis, got {args.resolution}")
    if args.a_pos <= 0 or args.a_neg <= 0:
        raise UserError(f"--a-pos/--a-neg: expected positive coefficients, got {args.a_pos} and {args.a_neg}")
    if args.tau <= 0 or args.alpha <= 0:
        raise UserError(f"--alpha/--tau: expected positive values, got {args.alpha} and {args.tau}")
    return DarcyConfig(
        n=args.n, s=args.resolution, alpha=args.alpha, tau=args.tau, a_pos=args.a_pos, a_neg=args.a_neg,
        f=args.f, seed=args.seed,
    )  # fmt: skip


def cmd_generate(args: argparse.Namespace) -> int:
    from monarch_sci.datasets.pde.darcy import generate_darcy
    from monarch_sci.training.checkpoint import write_json_atomic
    from monarch_sci.training.records import package_versions

    config = _config(args)
    out = Path(args.out)
    record_path = out.with_suffix(".json")
    if out.suffix not in (".h5", ".hdf5"):
        raise UserError(f"--out {out}: expected an HDF5 file name ending in .h5 or .hdf5")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    if out.exists():
        if not args.overwrite:
            raise UserError(f"--out {out} exists; pass --overwrite to replace it, or choose another --out")
        out.unlink()
        record_path.unlink(missing_ok=True)
    partial = out.with_name(out.name + ".partial")
    if args.overwrite:
        partial.unlink(missing_ok=True)
    t0 = time.perf_counter()
    generate_darcy(out, config, progress=not args.no_progress)
    record = {
        "command": "pde darcy generate",
        "config": asdict(config),
        "file": str(out.resolve()),
        "seconds_this_call": time.perf_counter() - t0,
        "versions": package_versions("h5py", "scipy"),
    }
    write_json_atomic(record_path, record)
    print(f"{config.n} Darcy pairs on {config.s}×{config.s} nodes -> {out} (record {record_path})")
    return 0
