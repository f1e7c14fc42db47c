"""How accurate is the stored Navier–Stokes data at a viscosity? The same initial fields solved on several grids
and time steps, compared with the finest solve at the stored 32² grid.

The initial vorticity is drawn on 256² (the benchmark's Gaussian random field) and reduced spectrally to each
solver grid, so every solve starts from the same field; the solutions are subsampled to 32² (the training grid of
``benchmarks/studies/pde_science.toml``) and compared with the 256², dt = 0.0025, float64 solve (relative L2 per
snapshot, mean over samples; the table gives the largest over time). Command (one thread; the 256² reference
dominates the time)::

    OMP_NUM_THREADS=1 nice python benchmarks/ns_accuracy.py --visc 1e-4 --n 2
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from monarch_sci.cli.scripts import run_script, script_parser

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ((64, 0.01), (64, 0.005), (128, 0.01), (128, 0.005), (256, 0.0025))


def main(argv: list[str] | None = None) -> int:
    from monarch_sci.datasets.pde.grf import GaussianRandomField
    from monarch_sci.datasets.pde.ns_solver import NavierStokes2d, downsample_field, fno_forcing
    from monarch_sci.training.checkpoint import write_json_atomic, write_text_atomic

    p = script_parser(__doc__)
    p.add_argument("--visc", type=float, default=1e-4)
    p.add_argument("--n", type=int, default=2, help="initial fields")
    p.add_argument("--T", type=float, default=20.0)
    p.add_argument("--record", type=int, default=20)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    w256 = GaussianRandomField().sample(256, seed=123, indices=range(args.n), dtype=torch.float64)
    sol, seconds = {}, {}
    for grid, dt in CONFIGS:
        w0 = downsample_field(w256, grid, "spectral") if grid < 256 else w256
        forcing = fno_forcing(grid, amplitude=0.1, dtype=torch.float64)
        solver = NavierStokes2d(grid, visc=args.visc, dt=dt, forcing=forcing, dtype=torch.float64)
        t0 = time.process_time()
        sol[grid, dt], _ = solver(w0, args.T, args.record, record_resolution=32, downsample="subsample")
        seconds[grid, dt] = time.process_time() - t0
        print(f"grid {grid}, dt {dt}: {seconds[grid, dt]:.0f} s", flush=True)
    ref = sol[CONFIGS[-1]]
    rows = []
    for (grid, dt), w in sol.items():
        err = (w - ref).flatten(2).norm(dim=-1) / ref.flatten(2).norm(dim=-1)  # (n, snapshots)
        rows.append({"grid": grid, "dt": dt, "max_rel_l2": float(err.mean(0).max()), "seconds": seconds[grid, dt]})
    name = f"ns_accuracy_v{args.visc:g}"
    lines = [
        f"# Navier–Stokes data accuracy at ν = {args.visc:g} (T = {args.T:g}, {args.n} initial fields)",
        "",
        f"Command: `OMP_NUM_THREADS=1 nice python benchmarks/ns_accuracy.py --visc {args.visc:g} --n {args.n}`",
        "",
        "| solver grid | dt | largest rel. L2 over time vs 256², dt 0.0025 (at 32²) | CPU s |",
        "|---|---|---|---|",
        *(f"| {r['grid']}² | {r['dt']} | {r['max_rel_l2']:.2e} | {r['seconds']:.0f} |" for r in rows),
    ]
    write_json_atomic(ROOT / "benchmarks" / "results" / f"{name}.json", {"arguments": vars(args), "rows": rows})
    write_text_atomic(ROOT / "benchmarks" / "results" / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
