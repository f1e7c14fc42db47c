"""The adaptive regularisation weights of ``mri recon`` / ``mri compare`` (``--lam auto``; issue 26.5).

Selects the constants ``(a, b)`` of :mod:`monarch_sci.operators.mri.regularisation` on simulated VALIDATION scans
and reports them on separate TEST scans against the best weight of a grid and against the old fixed defaults
(CG-SENSE λ = 1e-3, ℓ1 ``lam_rel`` = 3e-4).

Scans: :func:`~monarch_sci.datasets.mri.simulate.simulate_volume` slices (``--size``, 8 coils, no readout
oversampling, fine grid 2×: no inverse crime) with correlated complex Gaussian coil noise at relative levels
``--noise`` (σ over the mean coil-image magnitude on the object: 0.03 and 0.1 are per-coil SNRs of about 33 and
10); masks: random lines (centre fraction ``--center-fraction``) and 2-D variable-density Poisson-disc (a fixed
calibration square), at ``--accelerations``. A cell is (mask, acceleration, noise level); every volume is
undersampled at every acceleration. Coil maps: ESPIRiT from each scan's own calibration region (one per volume
and mask family: the centre is the same at every acceleration); PSNR against the fully sampled RSS (fastMRI's
definition, data range = its max).

Selection: PSNR on a grid of λ per validation scan (CG: quarter decades 1e-3..0.1; ℓ1: ``λ/max|Aᴴy|`` in
quarter decades 10^-3.75..1e-2, with 3e-4 for 10^-3.5); a candidate ``(a, b)`` is scored by the PSNR
interpolated (linearly in log λ) at its λ; the chosen one minimises the worst cell's mean loss against the grid's
best (ties: the mean loss). Test: each method is *run* at the rule's weight and at the old default, and compared
with its own grid.

Run: ``OMP_NUM_THREADS=1 nice python benchmarks/mri_lam_auto.py`` (``--quick``: tiny, seconds, no files).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/torch load their thread pools

import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from monarch_sci.cli.scripts import add_flags, run_script, script_parser  # noqa: E402
from monarch_sci.datasets.mri.masks import POISSON_ATTEMPTS, LineMaskFunc, poisson_calib, poisson_mask  # noqa: E402
from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_volume  # noqa: E402
from monarch_sci.metrics import psnr  # noqa: E402
from monarch_sci.operators.mri.classical import ReconProblem, cg_sense, l1_wavelet_recon  # noqa: E402
from monarch_sci.operators.mri.coil_maps import espirit_maps  # noqa: E402
from monarch_sci.operators.mri.regularisation import AutoLamRule, auto_lam  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CG_GRID = [float(v) for v in 10.0 ** np.arange(-3.0, -0.99, 0.25)]  # the old default 1e-3 first
L1_GRID = [3e-4 if i == 1 else float(10.0 ** (-3.75 + 0.25 * i)) for i in range(8)]  # 3e-4: the old default
OLD = {"cg_sense": 1e-3, "l1_wavelet": 3e-4}  # the fixed defaults before issue 26 (ℓ1: lam_rel)
#: Candidate constants: a on a 1/8-decade grid (0 included), b likewise.
CANDIDATES = {
    "cg_sense": ([0.0, *10.0 ** np.arange(-1.0, 1.51, 0.125)], [0.0, *10.0 ** np.arange(-4.0, -1.49, 0.125)]),
    "l1_wavelet": ([0.0, *10.0 ** np.arange(-1.0, 1.01, 0.125)], [0.0, *10.0 ** np.arange(-5.0, -2.49, 0.125)]),
}


def scans(args, split: str):
    """Yield (cell, scan) for every noise level, volume, mask family and acceleration of ``split``."""
    h, w = args.size
    nvol = args.val_volumes if split == "val" else args.test_volumes
    for ni, noise in enumerate(args.noise):
        seed = (1 if split == "val" else 2) * 1000 + ni
        cfg = SimulationConfig(recon_size=(h, w), num_coils=args.coils, num_slices=1, oversampling=1,
                               noise_range=(noise, noise), seed=seed)  # fmt: skip
        for v in range(nvol):
            vol = simulate_volume(cfg, v)
            for kind in ("line", "2-D"):
                calib = round(w * args.center_fraction) if kind == "line" else poisson_calib((h, w))
                maps = espirit_maps(vol.kspace[0], calib)[None]
                for acc in args.accelerations:
                    mseed = (seed, v, acc)
                    if kind == "line":
                        cols = LineMaskFunc("random", [acc], [args.center_fraction])(w, seed=mseed).mask
                        mask = np.broadcast_to(cols, (h, w))
                    else:
                        mask = poisson_mask((h, w), acc, calib=calib, seed=mseed, attempts=POISSON_ATTEMPTS)
                    problem = ReconProblem((vol.kspace * mask).astype(np.complex64), mask[None], maps=maps)
                    cell = {"mask": kind, "acceleration": acc, "noise": noise}
                    yield cell, {"problem": problem, "truth": vol.reconstruction_rss[0], "sigma_true": vol.noise_std,
                                 "volume": f"{split}{seed}-{v}", "sampled": float(mask.mean())}  # fmt: skip


def score(scan: dict, method: str, lam: float) -> float:
    p = scan["problem"]
    if method == "cg_sense":
        x = cg_sense(*p.tensors(), lam=lam)[0].numpy()
    else:
        x = l1_wavelet_recon(p.kspace, p.coil_maps(), p.sampling(), lam=lam)[0]
    return psnr(scan["truth"], np.abs(x[0]))


def measure(args, split: str) -> list[dict]:
    """Per scan: PSNR over each method's grid, and what the rules need (σ̂, ‖Aᴴy‖²/N, max|Aᴴy|)."""
    rows = []
    for cell, scan in scans(args, split):
        c0 = time.process_time()
        choice = auto_lam("cg_sense", *scan["problem"].tensors())
        peak = choice.peak[0]
        row = {**cell, "volume": scan["volume"], "sampled": scan["sampled"], "sigma_true": scan["sigma_true"],
               "sigma_est": choice.noise.sigma, "power": choice.power[0], "peak": peak,
               "cg_grid": {lam: score(scan, "cg_sense", lam) for lam in CG_GRID},
               "l1_grid": {rel * peak: score(scan, "l1_wavelet", rel * peak) for rel in L1_GRID}}  # fmt: skip
        row["_scan"] = scan
        rows.append(row)
        print(f"[{split}] {cell} {scan['volume']}: σ̂/σ {row['sigma_est'] / row['sigma_true']:.2f}, "
              f"best CG {max(row['cg_grid'].values()):.2f}, ℓ1 {max(row['l1_grid'].values()):.2f} dB "
              f"({time.process_time() - c0:.1f} s)", flush=True)  # fmt: skip
    return rows


def rule_lam(rule: AutoLamRule, row: dict) -> float:
    if rule.method == "cg_sense":
        return rule.noise * row["sigma_est"] ** 2 / row["power"] + rule.floor
    return rule.noise * row["sigma_est"] + rule.floor * row["peak"]


def interpolated(grid: dict[float, float], lam: float) -> float:
    """PSNR at ``lam`` by linear interpolation in log λ (``-inf`` outside the grid: not trusted)."""
    lams = np.log10(sorted(grid))
    x = np.log10(lam)
    if not lams[0] <= x <= lams[-1]:
        return -np.inf
    return float(np.interp(x, lams, [grid[v] for v in sorted(grid)]))


def cell_key(row: dict) -> tuple:
    return row["mask"], row["acceleration"], row["noise"]


def select(rows: list[dict], method: str) -> dict:
    """The constants minimising the worst cell's mean validation loss (ties: the mean loss)."""
    key = "cg_grid" if method == "cg_sense" else "l1_grid"
    cells = sorted({cell_key(r) for r in rows})
    best = None
    for a, b in itertools.product(*CANDIDATES[method]):
        if a == 0 and b == 0:
            continue
        rule = AutoLamRule(method, noise=float(a), floor=float(b))
        loss = {c: [] for c in cells}
        for r in rows:
            loss[cell_key(r)].append(max(r[key].values()) - interpolated(r[key], rule_lam(rule, r)))
        means = [float(np.mean(v)) for v in loss.values()]
        score_ = (max(means), float(np.mean(means)))
        if best is None or score_ < best[0]:
            best = (score_, rule)
    (worst, mean), rule = best
    return {"method": method, "noise": rule.noise, "floor": rule.floor, "formula": rule.formula,
            "val_worst_cell_loss_db": worst, "val_mean_loss_db": mean}  # fmt: skip


def evaluate(rows: list[dict], rules: dict[str, AutoLamRule]) -> list[dict]:
    """Per test scan and method: the grid's best, the rule's weight run, and the old fixed default run."""
    out = []
    for r in rows:
        for method, rule in rules.items():
            grid = r["cg_grid" if method == "cg_sense" else "l1_grid"]
            lam_best = max(grid, key=grid.get)
            lam = rule_lam(rule, r)
            old = OLD[method] if method == "cg_sense" else OLD[method] * r["peak"]
            out.append({**{k: r[k] for k in ("mask", "acceleration", "noise", "volume", "sigma_true", "sigma_est")},
                        "method": method, "best_lam": lam_best, "best_psnr": grid[lam_best],
                        "best_at_grid_edge": lam_best in (min(grid), max(grid)), "auto_lam": lam,
                        "auto_psnr": score(r["_scan"], method, lam), "old_lam": old,
                        "old_psnr": grid[old] if old in grid else score(r["_scan"], method, old),
                        "grid": list(grid.items())})  # fmt: skip
    return out


def summary(test: list[dict]) -> list[dict]:
    rows = []
    for key in sorted({(t["method"], *cell_key(t)) for t in test}):
        ts = [t for t in test if (t["method"], *cell_key(t)) == key]
        mean = {k: float(np.mean([t[k] for t in ts])) for k in ("best_psnr", "auto_psnr", "old_psnr")}
        rows.append({"method": key[0], "mask": key[1], "acceleration": key[2], "noise": key[3], "scans": len(ts),
                     **mean, "auto_loss_db": mean["best_psnr"] - mean["auto_psnr"],
                     "old_loss_db": mean["best_psnr"] - mean["old_psnr"],
                     "worst_scan_auto_loss_db": max(t["best_psnr"] - t["auto_psnr"] for t in ts),
                     "sigma_ratio": float(np.mean([t["sigma_est"] / t["sigma_true"] for t in ts])),
                     "best_at_grid_edge": any(t["best_at_grid_edge"] for t in ts)})  # fmt: skip
    return rows


def table(rows: list[dict]) -> str:
    out = ["| method | mask | accel | noise | σ̂/σ | best of grid (dB) | auto (dB) | auto − best | "
           "worst scan | old default (dB) | old − best |", "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        edge = " (grid edge)" if r["best_at_grid_edge"] else ""
        out.append(f"| {r['method']} | {r['mask']} | {r['acceleration']}× | {r['noise']:g} | "
                   f"{r['sigma_ratio']:.2f} | {r['best_psnr']:.2f}{edge} | {r['auto_psnr']:.2f} | "
                   f"{-r['auto_loss_db']:+.2f} | {-r['worst_scan_auto_loss_db']:+.2f} | {r['old_psnr']:.2f} | "
                   f"{-r['old_loss_db']:+.2f} |")  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = script_parser(__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny scans, one noise level, no result files")
    ap.add_argument("--size", type=int, nargs=2, default=[64, 80], metavar=("h", "w"))
    ap.add_argument("--coils", type=int, default=8)
    ap.add_argument("--noise", type=float, nargs="+", default=[0.03, 0.1], help="relative noise levels")
    ap.add_argument("--accelerations", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--center-fraction", type=float, default=0.1, help="line masks' centre fraction")
    ap.add_argument("--val-volumes", type=int, default=3)
    ap.add_argument("--test-volumes", type=int, default=2)
    add_flags(ap, "out", out=RESULTS / "mri_lam_auto.json", out_type=Path, out_help="JSON result")
    args = ap.parse_args(argv)
    if args.quick:
        args.size, args.coils, args.noise, args.accelerations = [48, 48], 4, [0.06], [2, 4]
        args.val_volumes = args.test_volumes = 1
        args.center_fraction = 0.2
    torch.set_num_threads(1)
    c0 = time.process_time()
    val = measure(args, "val")
    selection = {m: select(val, m) for m in ("cg_sense", "l1_wavelet")}
    rules = {m: AutoLamRule(m, noise=s["noise"], floor=s["floor"]) for m, s in selection.items()}
    for s in selection.values():
        print(f"selected {s['method']}: {s['formula']} (validation: worst cell {s['val_worst_cell_loss_db']:.2f} dB, "
              f"mean {s['val_mean_loss_db']:.2f} dB below the grid's best)")  # fmt: skip
    test = evaluate(measure(args, "test"), rules)
    rows = summary(test)
    print(table(rows))
    if args.quick:
        return 0
    command = "OMP_NUM_THREADS=1 nice python benchmarks/mri_lam_auto.py " + " ".join(argv or sys.argv[1:])
    strip = ("_scan",)
    record = {"command": command.strip(), "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "selection": selection, "cg_grid": CG_GRID, "l1_grid_rel": L1_GRID, "old_defaults": OLD,
              "summary": rows, "test": test, "versions": {"torch": torch.__version__},
              "validation": [{k: (list(v.items()) if isinstance(v, dict) else v) for k, v in r.items()
                              if k not in strip} for r in val],
              "total_cpu_seconds": time.process_time() - c0}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    md = args.out.with_suffix(".md")
    sel = "\n".join(f"- `{s['method']}`: {s['formula']} — validation: worst cell "
                    f"{s['val_worst_cell_loss_db']:.2f} dB, mean {s['val_mean_loss_db']:.2f} dB below the grid's best"
                    for s in selection.values())  # fmt: skip
    md.write_text(
        f"# Adaptive regularisation weights (`--lam auto`, issue 26.5)\n\nCommand: `{record['command']}`\n\n"
        f"{__doc__.split(chr(10) + chr(10), 1)[1].rsplit('Run:', 1)[0].strip()}\n\nSelected on validation:\n\n{sel}\n\n"
        f"Test scans ({args.test_volumes} volumes per noise level, mean over them; σ̂/σ: the noise estimate over the "
        f"simulated σ; 'old default': CG λ = 1e-3, ℓ1 lam_rel = 3e-4):\n\n{table(rows)}\n\n"
        f"Total CPU: {record['total_cpu_seconds']:.0f} s, one thread.\n"
    )
    print(f"wrote {args.out} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
