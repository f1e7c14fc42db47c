"""Navier–Stokes data generation: cost and accuracy of our default scheme against the original one.

What a user pays is time to a given accuracy. For each grid (64², 256²) this measures, in one run and on the
same initial fields (ν = 1e-3, FNO forcing, GRF α = 2.5, τ = 7):

* ``heun-cn`` at ``dt = 0.01`` (our default) and ``euler-cn`` at ``dt = 1e-4`` (the original FNO scheme), both
  in float32 (the generation default, as the original ran), timed over a short horizon ``T_bench`` and
  extrapolated linearly in the number of steps to a ``T = 50`` trajectory (the cost per step does not depend on
  t; the extrapolation is printed as such);
* the relative L2 error of each at ``T_bench`` against a much finer reference (``heun-cn``, ``dt = 5e-4``,
  float64: its own error is ~400× below the default's, the scheme being second order); errors are also
  printed at ``T_bench/4, T_bench/2, …``: with ``dt = 0.01`` Crank–Nicolson damps the stiffest modes of the
  rough initial field wrongly for the first few steps (amplification → −1 instead of ``e^{-νλΔt}``), a
  transient that has decayed after ~20 steps, so ``T_bench`` spans at least 20 default steps;
* at 64², a long-horizon self-convergence check of the default: ``dt = 0.01`` against ``dt = 0.005`` at
  ``T = T_long`` in float64 (Richardson: the error of ``dt = 0.01`` is about 4/3 of the difference).

Run with one thread (the default here), e.g. ``OMP_NUM_THREADS=1 python benchmarks/navier_stokes.py``; prints a
table and writes ``benchmarks/results/navier_stokes.json``.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import torch

from monarch_sci.cli.scripts import add_flags, run_script, script_parser
from monarch_sci.datasets.pde.grf import GaussianRandomField
from monarch_sci.datasets.pde.ns_solver import NavierStokes2d, fno_forcing
from monarch_sci.training.checkpoint import write_json_atomic

VISC, T_FULL = 1e-3, 50.0
RECORD = 4  # errors are reported at T_bench/4, T_bench/2, 3T_bench/4 and T_bench


def run(s, w0, T, *, integrator, dt, dtype, device, record=1):
    """Final field at ``T`` and the wall time of the integration (GRF sampling excluded)."""
    solver = NavierStokes2d(
        s, visc=VISC, dt=dt, forcing=fno_forcing(s), integrator=integrator, dtype=dtype, device=device
    )
    w0 = w0.to(device=device, dtype=dtype)
    solver(w0[:1], dt * 2, record=1)  # warm-up (allocations, FFT plans)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    w, _ = solver(w0, T, record=record)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return w[:, 1:].double().cpu(), time.perf_counter() - start  # (B, record, s, s): t = T/record, …, T


def rel_err(a, ref):
    """Relative L2 error over the batch at the final time."""
    return ((a[:, -1] - ref[:, -1]).norm() / ref[:, -1].norm()).item()


def rel_errs(a, ref):
    """Relative L2 error over the batch at every recorded time."""
    return [((a[:, j] - ref[:, j]).norm() / ref[:, j].norm()).item() for j in range(ref.shape[1])]


def bench_size(s, batch, t_bench, device, dt_ref):
    w0 = GaussianRandomField().sample(s, seed=0, indices=range(batch))
    kw = {"device": device, "record": RECORD}
    ref, t_ref = run(s, w0, t_bench, integrator="heun-cn", dt=dt_ref, dtype=torch.float64, **kw)
    times = [round(t_bench * (j + 1) / RECORD, 12) for j in range(RECORD)]
    rows = []
    for name, integrator, dt in (("ours", "heun-cn", 0.01), ("original", "euler-cn", 1e-4)):
        w, sec = run(s, w0, t_bench, integrator=integrator, dt=dt, dtype=torch.float32, **kw)
        rows.append(
            {
                "grid": s,
                "scheme": name,
                "integrator": integrator,
                "dt": dt,
                "dtype": "float32",
                "batch": batch,
                "T_bench": t_bench,
                "steps_bench": round(t_bench / dt),
                "seconds_bench": sec,
                "seconds_per_sample_T50_extrapolated": sec / batch * (T_FULL / t_bench),
                "rel_err_vs_reference_at_T_bench": rel_err(w, ref),
                "rel_err_vs_reference_at_times": dict(zip(times, rel_errs(w, ref))),
            }
        )
    speedup = rows[1]["seconds_per_sample_T50_extrapolated"] / rows[0]["seconds_per_sample_T50_extrapolated"]
    ref_info = {"integrator": "heun-cn", "dt": dt_ref, "dtype": "float64", "seconds": t_ref}
    return rows, speedup, ref_info


def long_check(s, batch, t_long, device):
    w0 = GaussianRandomField().sample(s, seed=1, indices=range(batch))
    a, sec_a = run(s, w0, t_long, integrator="heun-cn", dt=0.01, dtype=torch.float64, device=device)
    b, _ = run(s, w0, t_long, integrator="heun-cn", dt=0.005, dtype=torch.float64, device=device)
    c, _ = run(s, w0, t_long, integrator="heun-cn", dt=0.01, dtype=torch.float32, device=device)
    return {
        "grid": s,
        "T": t_long,
        "batch": batch,
        "rel_diff_dt0.01_vs_dt0.005_float64": rel_err(a, b),
        "richardson_rel_err_dt0.01": 4 / 3 * rel_err(a, b),
        "rel_diff_float32_vs_float64_dt0.01": rel_err(c, a),
        "seconds_per_sample_dt0.01_float64": sec_a / batch,
    }


def main(argv=None):
    p = script_parser(__doc__, "device", "threads", device="cpu", threads=1)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, nargs="+", default=[16, 4], help="per size")
    p.add_argument("--t-bench", type=float, nargs="+", default=[0.2, 0.2], help="timed horizon per size")
    p.add_argument("--dt-ref", type=float, default=5e-4)
    p.add_argument("--t-long", type=float, default=20.0, help="horizon of the 64² self-convergence check (0: skip)")
    add_flags(p, "out", out=str(Path(__file__).parent / "results" / "navier_stokes.json"), out_help="JSON result")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    results = {"command": "python benchmarks/navier_stokes.py", "arguments": vars(args), "visc": VISC, "T_full": T_FULL}
    results |= {"torch": str(torch.__version__), "platform": platform.platform(), "threads": torch.get_num_threads()}
    results |= {"device": args.device, "sizes": []}
    print(
        f"Navier–Stokes ν={VISC:g}: cost per sample of a T={T_FULL:g} trajectory, EXTRAPOLATED from a timed run of "
        f"T_bench (linear in steps); errors at T_bench vs heun-cn dt={args.dt_ref:g} float64. "
        f"device={args.device}, threads={torch.get_num_threads()}"
    )
    header = f"{'grid':>5} {'scheme':>9} {'dt':>7} {'batch':>5} {'T_bench':>7} {'s/sample@T=50':>14} {'rel err':>9}"
    header += "   rel err over time"
    print(header)
    for s, batch, t_bench in zip(args.sizes, args.batch, args.t_bench):
        rows, speedup, ref = bench_size(s, batch, t_bench, device, args.dt_ref)
        for r in rows:
            print(
                f"{s:>5} {r['scheme']:>9} {r['dt']:>7g} {batch:>5} {t_bench:>7g} "
                f"{r['seconds_per_sample_T50_extrapolated']:>14.3f} {r['rel_err_vs_reference_at_T_bench']:>9.2e}   "
                + ", ".join(f"t={t:g}: {e:.2e}" for t, e in r["rel_err_vs_reference_at_times"].items())
            )
        ok = rows[0]["rel_err_vs_reference_at_T_bench"] <= rows[1]["rel_err_vs_reference_at_T_bench"]
        print(f"{s:>5} speed-up of ours over the original: {speedup:.1f}x; ours at least as accurate: {ok}")
        results["sizes"].append({"grid": s, "rows": rows, "speedup": speedup, "ours_as_accurate": ok, "reference": ref})
    if args.t_long > 0:
        lc = long_check(args.sizes[0], 2, args.t_long, device)
        results["long_check"] = lc
        print(
            f"{lc['grid']}² T={lc['T']:g}: heun-cn dt=0.01 vs dt=0.005 (float64) rel diff "
            f"{lc['rel_diff_dt0.01_vs_dt0.005_float64']:.2e} (Richardson error of dt=0.01 ≈ "
            f"{lc['richardson_rel_err_dt0.01']:.2e}); float32 vs float64 {lc['rel_diff_float32_vs_float64_dt0.01']:.2e}"
        )
    write_json_atomic(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(run_script(main))
