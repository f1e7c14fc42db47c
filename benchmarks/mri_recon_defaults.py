"""Defaults of ``mri recon`` that converge on realistic data (issue 15.3): distance from the converged solution.

Case: the 230×180, 8-coil simulated slice of :mod:`mri_classical` (``real230``: 2-D variable-density Poisson-disc
mask, 8×, 24×24 centre, ~12% sampled), coil maps by ESPIRiT from the scan's own centre exactly as ``mri recon``
estimates them (:class:`~monarch_sci.operators.mri.classical.ReconProblem`).

* CG-SENSE (complex64, as ``mri recon`` runs it) for each λ: the relative distance ``‖x_n − x*‖ / ‖x*‖`` from
  the converged solution ``x*`` (complex128, relative residual 1e-10) after a fixed number of iterations ``n``,
  and where the stopping rule ``‖r‖/‖b‖ ≤ tol`` ends the iterations for each ``tol``.
* ℓ1-wavelet (sigpy's ``L1WaveletRecon``, as :func:`~monarch_sci.operators.mri.classical.l1_wavelet_recon`
  runs it) for each ``lam_rel``: the distance from ``x*`` (the iterate after ``--l1-ref-iter`` iterations)
  along one run, and the relative step ``‖x_n − x_{n−1}‖ / (α‖Aᴴy‖)`` that its ``tol`` rule compares.

One thread, CPU seconds of this process. Run: ``OMP_NUM_THREADS=1 nice python benchmarks/mri_recon_defaults.py``
(``--quick``: the tiny case, seconds, no result files).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/torch load their thread pools

import inspect  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mri_classical import make_case  # noqa: E402

from monarch_sci.cli.scripts import add_flags, run_script, script_parser  # noqa: E402
from monarch_sci.operators.mri.classical import ReconProblem, cg_sense, l1_wavelet_recon  # noqa: E402
from monarch_sci.operators.mri.sense import SenseOperator  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CHECKPOINTS = (10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000)
DEFAULTS_CG = inspect.signature(cg_sense).parameters
DEFAULTS_L1 = inspect.signature(l1_wavelet_recon).parameters


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def cg_rows(problem: ReconProblem, lam: float, tols: list[float], checkpoints: list[int]) -> list[dict]:
    k, maps, mask = problem.tensors()
    k128, maps128 = k.to(torch.complex128), maps.to(torch.complex128)
    ref, res = cg_sense(k128, maps128, mask.double(), lam=lam, max_iter=20000, tol=1e-10)
    ref = ref.numpy()
    rows = [{"method": "cg_sense", "lam": lam, "rule": "reference (complex128, tol 1e-10)",
             "iterations": res.iterations, "distance": 0.0, "seconds": None}]  # fmt: skip
    for n in checkpoints:
        c0 = time.process_time()
        x, r = cg_sense(k, maps, mask, lam=lam, max_iter=n, tol=0.0)
        rows.append({"method": "cg_sense", "lam": lam, "rule": f"max_iter {n}, tol 0", "iterations": r.iterations,
                     "distance": rel(x.numpy(), ref), "residual": float(r.residual.max()),
                     "seconds": time.process_time() - c0})  # fmt: skip
    for tol in [*tols, None]:
        c0 = time.process_time()
        if tol is None:  # the defaults of cg_sense (= mri recon's), with this λ
            x, r = cg_sense(k, maps, mask, lam=lam)
            rule = "**defaults** (max_iter {}, tol {:g})".format(*(DEFAULTS_CG[n].default for n in ("max_iter", "tol")))
        else:
            x, r = cg_sense(k, maps, mask, lam=lam, max_iter=20000, tol=tol)
            rule = f"tol {tol:g}"
        rows.append({"method": "cg_sense", "lam": lam, "rule": rule, "tol": tol, "iterations": r.iterations,
                     "distance": rel(x.numpy(), ref), "residual": float(r.residual.max()),
                     "seconds": time.process_time() - c0})  # fmt: skip
    return rows


def l1_rows(
    problem: ReconProblem, lam_rel: float, ref_iter: int, checkpoints: list[int], tols: list[float]
) -> list[dict]:
    import sigpy.mri

    k, maps, mask = problem.kspace[0], problem.coil_maps()[0], problem.sampling()[0, 0]
    with torch.no_grad():
        aty = SenseOperator(torch.from_numpy(maps)[None], torch.from_numpy(mask)[None, None]).H(
            torch.from_numpy(k)[None]
        )
    lam = lam_rel * float(aty.abs().max())
    norm = float(aty.abs().square().sum().sqrt())

    def run(n: int, keep: set[int]) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, float, float]]]:
        np.random.seed(0)  # as l1_wavelet_recon: the same step size
        c0 = time.process_time()  # the power iteration for the step size included, as in CG's seconds
        app = sigpy.mri.app.L1WaveletRecon(k, maps, lam, weights=mask, wave_name="db4", max_iter=n, show_pbar=False)
        seen = {}
        while not app.alg.done():
            app.alg.update()
            if app.alg.iter in keep:
                seen[app.alg.iter] = (app.x.copy(), app.alg.resid / norm, time.process_time() - c0)
        return app.x.copy(), seen

    ref, tail = run(ref_iter, {ref_iter // 2})
    half = tail[ref_iter // 2][0]
    rows = [{"method": "l1_wavelet", "lam_rel": lam_rel, "lam": lam, "rule": f"reference ({ref_iter} iterations)",
             "iterations": ref_iter, "distance": 0.0, "seconds": None,
             "note": f"iterate {ref_iter // 2} is {rel(half, ref):.1e} from it"}]  # fmt: skip
    _, seen = run(max(checkpoints), set(checkpoints))
    for n in checkpoints:
        x, step, sec = seen[n]
        rows.append({"method": "l1_wavelet", "lam_rel": lam_rel, "lam": lam, "rule": f"max_iter {n}, tol 0",
                     "iterations": n, "distance": rel(x, ref), "step": float(step), "seconds": sec})  # fmt: skip
    for tol in [*tols, None]:  # the stopping rule as l1_wavelet_recon (mri recon) runs it; None: its defaults
        c0 = time.process_time()
        kw = {} if tol is None else {"tol": tol, "max_iter": 5000}
        x, r = l1_wavelet_recon(problem.kspace, problem.coil_maps(), problem.sampling(), lam_rel=lam_rel, **kw)
        rule = (
            f"tol {tol:g}"
            if tol is not None
            else "**defaults** (max_iter {}, tol {:g})".format(*(DEFAULTS_L1[n].default for n in ("max_iter", "tol")))
        )
        rows.append({"method": "l1_wavelet", "lam_rel": lam_rel, "lam": r.lam[0], "rule": rule, "tol": tol,
                     "iterations": r.iterations[0], "distance": rel(x[0], ref), "step": r.step[0],
                     "seconds": time.process_time() - c0})  # fmt: skip
    return rows


def table(rows: list[dict]) -> str:
    out = ["| method | λ | stopping rule | iterations | distance from x* | final residual / step | CPU s |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lam = f"{r['lam']:g}" if r["method"] == "cg_sense" else f"lam_rel {r['lam_rel']:g} (λ = {r['lam']:.3g})"
        res = r.get("residual", r.get("step"))
        out.append(
            f"| {r['method']} | {lam} | {r['rule']} | {r['iterations']} | {r['distance']:.2e} | "
            f"{'—' if res is None else format(res, '.1e')} | "
            f"{'—' if r['seconds'] is None else format(r['seconds'], '.2f')}"
            + (f" ({r['note']})" if r.get("note") else "")
            + " |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = script_parser(__doc__)
    ap.add_argument("--quick", action="store_true", help="the tiny case, short runs, no result files")
    ap.add_argument("--lams", type=float, nargs="+", default=[1e-3, 1e-2], help="CG-SENSE Tikhonov weights")
    ap.add_argument("--tols", type=float, nargs="+", default=[1e-3, 3e-4, 1e-4, 3e-5, 1e-5])
    ap.add_argument("--l1-lam-rels", type=float, nargs="+", default=[3e-4, 1e-3])
    ap.add_argument("--l1-tols", type=float, nargs="+", default=[1e-3, 3e-4, 1e-4])
    ap.add_argument("--l1-ref-iter", type=int, default=2000)
    add_flags(ap, "out", out=RESULTS / "mri_recon_defaults.json", out_type=Path, out_help="JSON result")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    case = make_case("quick" if args.quick else "real230")
    checkpoints = [10, 20, 50] if args.quick else list(CHECKPOINTS)
    ref_iter = 200 if args.quick else args.l1_ref_iter
    c0 = time.process_time()
    problem = ReconProblem(case["kspace"][None], case["mask"][None])
    problem.coil_maps()
    print(f"[{case['name']}] {case['what']}; sampled {case['sampled']:.3f}; maps {time.process_time() - c0:.1f} s")
    rows: list[dict] = []
    for lam in args.lams:
        rows += cg_rows(problem, lam, args.tols, checkpoints)
        print(table(rows[-len(checkpoints) - len(args.tols) - 2 :]), flush=True)
    for lam_rel in args.l1_lam_rels:
        rows += l1_rows(problem, lam_rel, ref_iter, checkpoints, args.l1_tols)
        print(table(rows[-len(checkpoints) - len(args.l1_tols) - 2 :]), flush=True)
    if args.quick:
        return 0
    command = "OMP_NUM_THREADS=1 nice python benchmarks/mri_recon_defaults.py " + " ".join(argv or sys.argv[1:])
    record = {"command": command.strip(), "case": {k: case[k] for k in ("name", "what", "sampled")},
              "clock": "CPU seconds of this process, one thread", "versions": {"torch": torch.__version__},
              "total_cpu_seconds": time.process_time() - c0, "rows": rows}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    md = args.out.with_suffix(".md")
    md.write_text(
        f"# `mri recon` defaults: distance from the converged solution (issue 15.3)\n\nCommand: `{record['command']}`"
        f"\n\nCase: {case['what']} (sampled {case['sampled']:.3f}); ESPIRiT maps as `mri recon` estimates them. "
        f"{record['clock']}.\n\n" + table(rows) + "\n"
    )
    print(f"wrote {args.out} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
