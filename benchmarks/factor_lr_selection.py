"""Choose the Monarch factors' learning rate on validation data only (Darcy 32², the resolution benchmark's data).

For each factor learning rate (``None`` = the main rate, today's default) a Monarch FNO-2D is trained with the
resolution benchmark's settings (modes 8, width 20, 4 layers, Adam 1e-3, cosine, 10 epochs, 600 training
samples at 32²), beside the FFT FNO as the reference; no test file is given, so no test sample is read. The
table reports the best validation relative L2 (mean ± std over seeds). Resumable: finished runs are reused.

    OMP_NUM_THREADS=1 nice python benchmarks/factor_lr_selection.py --threads 1
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from _timing import write_result
from pde_resolution import COMMON, SIZES, prepare

from monarch_sci.cli.scripts import run_script, script_parser
from monarch_sci.operators.pde.forecasting import read_record
from monarch_sci.operators.pde.steady_training import SteadySpec, train_steady
from monarch_sci.training.checkpoint import atomic_output

ROOT = Path(__file__).resolve().parents[1]
FACTOR_LRS = (None, 3e-4, 1e-4)


def _label(row: dict) -> str:
    if row["fourier"] == "fft":
        return "— (no factors)"
    return "main lr (1e-3, the default)" if row["factor_lr"] is None else f"{row['factor_lr']:g}"


def best_val(record: dict) -> float:
    return min(e["val_rel_l2"] for e in record["epochs"])


def main(argv: list[str] | None = None) -> int:
    p = script_parser(
        __doc__,
        "threads",
        "out",
        threads=1,
        out=ROOT / "benchmarks" / "results" / "factor_lr_selection.json",
        out_type=Path,
        out_help="JSON result",
    )
    p.add_argument("--data", type=Path, default=ROOT / "data" / "pde_resolution", help="the benchmark's data")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "factor_lr_selection")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = p.parse_args(argv)
    files = prepare(args.data, progress=False)
    settings = [("fft", None), *(("monarch", f) for f in FACTOR_LRS)]
    rows = []
    for fourier, factor_lr in settings:
        vals = []
        for seed in args.seeds:
            out = args.runs / f"{fourier}_flr{factor_lr}_seed{seed}"
            spec = SteadySpec(
                files["darcy_train"],
                val=files["darcy_val"],
                **COMMON,
                epochs=SIZES["darcy"]["epochs"],
                sub=2,
                fourier=fourier,
                factor_lr=factor_lr,
                seed=seed,
                threads=args.threads,
                progress=False,
            )
            record = read_record(out)
            if record is None or record.get("status") != "finished":
                train_steady(spec, out, resume=(out / "last.pt").is_file())
                record = read_record(out)
            vals.append(best_val(record))
            print(f"{fourier} factor_lr={factor_lr} seed {seed}: best val rel L2 {vals[-1]:.4f}", flush=True)
        rows.append({
            "fourier": fourier, "factor_lr": factor_lr, "val_rel_l2": vals,
            "mean": statistics.mean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        })  # fmt: skip
    lines = [
        "| Fourier | factor lr | best validation rel. L2 (mean ± std) |",
        "|---|---|---|",
        *(f"| {r['fourier']} | {_label(r)} | {r['mean']:.4f} ± {r['std']:.4f} |" for r in rows),
    ]
    print("\n".join(lines))
    write_result(args.out, {"seeds": args.seeds, "rows": rows, "table": lines})
    header = [
        "# Monarch factor learning rate, chosen on validation data (Darcy 32², seeds "
        + " ".join(map(str, args.seeds))
        + ")",
        "",
        "Command: `OMP_NUM_THREADS=1 nice python benchmarks/factor_lr_selection.py --threads 1` (settings of "
        "`pde_resolution.py`; no test sample read).",
        "",
    ]
    with atomic_output(args.out.with_suffix(".md")) as tmp:
        tmp.write_text("\n".join(header + lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
