"""How the demo's sizes were chosen: each headline row's direction on VALIDATION data, for a preset or a candidate.

Runs the demo's own steps (``monarch_sci.cli.demo``: NS data, FFT vs Monarch FNO, MRI data, mSENSE and the
unrolled networks) with a preset's sizes, optionally changed by ``--set KEY=VALUE`` (a JSON value: ``--set
ntrain=150 --set pde_epochs=20``), and scores each row on validation data only:

* PDE: the best validation relative L2 of each FNO (the epoch ``best.pt`` keeps); the test split is not read
  for the choice (``pde compare`` evaluates it, the score here ignores it);
* MRI: ``mri compare`` on validation volumes (simulation seed 2; the demo's test volumes are seed 1 and are not
  simulated here): mSENSE − zero-filled SENSE at 2×, each unrolled network − CG-SENSE at 4×.

The chosen preset is the smallest candidate whose rows all go the converged study's way (Monarch-FNO at least
5% below FFT-FNO, mSENSE above zero-filled SENSE, the unrolled networks at or above CG-SENSE) within the demo's
time; a row that does not is named in the demo's report. Every candidate run is appended to
``benchmarks/results/demo_budget.json`` (with its wall times and the machine's load average, since the shared
machine's load changes the times) and the table ``demo_budget.md`` is rewritten::

    OMP_NUM_THREADS=1 nice python benchmarks/demo_budget.py --preset small --out runs/demo_budget --threads 1
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from monarch_sci.cli.scripts import ArgumentTypeError, run_script, script_parser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        raise ArgumentTypeError(f"{key}: expected a JSON value, got {value!r}") from None


def score(args) -> dict:
    """Run the demo's steps for one candidate and return its validation scores and wall times."""
    from monarch_sci.cli import demo
    from monarch_sci.cli.demo.report import holds
    from monarch_sci.operators.pde.forecasting import read_record

    preset = {**demo.PRESETS[args.preset], **dict(args.set)}
    unknown = sorted(set(dict(args.set)) - set(demo.PRESETS[args.preset]))
    if unknown:
        raise ValueError(f"--set: unknown preset keys {unknown}; known: {sorted(demo.PRESETS[args.preset])}")
    name = args.preset + "".join(f" {k}={json.dumps(v)}" for k, v in args.set)
    out = args.run_dir or Path(args.out) / name.replace(" ", "_").replace('"', "").replace(":", "").replace(",", "-")
    flags = SimpleNamespace(device="cpu", threads=args.threads, progress_style="line", no_progress=False)
    row: dict = {"candidate": name, "half": args.half, "preset": preset, "load_average_before": os.getloadavg()}
    row["holds"] = {}
    if args.half in ("both", "pde"):
        t0 = time.perf_counter()
        demo._pde(flags, preset, out)
        row["pde_seconds"] = time.perf_counter() - t0
        best = {}
        for f in ("fft", "monarch"):
            records = [read_record(out / "pde" / f"{f}_seed{s}") for s in preset["seeds"]]
            best[f] = [min(e["val_rel_l2"] for e in r["epochs"]) for r in records]
        row["pde_val_rel_l2"] = best
        row["pde_val_change"] = sum(best["monarch"]) / sum(best["fft"]) - 1
        row["holds"]["pde"] = holds("pde", row["pde_val_change"])
    if args.half in ("both", "mri"):
        t1 = time.perf_counter()
        _, results = demo._mri(flags, preset, out, held_out="val")
        row["mri_seconds"] = time.perf_counter() - t1
        row["mri_val_gain_db"] = {k: v[0] for k, v in demo._gains(results).items()}
        row["holds"].update({k: holds(k, v) for k, v in row["mri_val_gain_db"].items()})
    row["load_average_after"] = os.getloadavg()
    return row


def write(rows: list[dict], results: Path = RESULTS) -> None:
    from monarch_sci.training.checkpoint import write_json_atomic

    write_json_atomic(results / "demo_budget.json", {"command": "python benchmarks/demo_budget.py", "runs": rows})
    lines = [
        "# The demo's budget, chosen on validation data",
        "",
        f"Produced by `{Path(__file__).relative_to(ROOT)}` (protocol in its docstring). Validation scores only: "
        "best validation relative L2 of each FNO; PSNR gains of `mri compare` on validation volumes (seed 2). "
        "Seconds: this machine as it was (a shared 2-core CPU; load averages over 1 min before and after).",
        "",
        "| candidate | Monarch vs FFT (val) | mSENSE − ZF-SENSE 2× | unrolled-FFT − CG 4× | unrolled-Monarch − CG 4× "
        "| the rows scored hold | PDE s | MRI s | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        g = r.get("mri_val_gain_db", {})
        pde = f"{r['pde_val_change']:+.1%}" if "pde_val_change" in r else "not run"
        mri = [f"{g[k]:+.2f} dB" if k in g else "not run" for k in ("msense", "unrolled-fft", "unrolled-monarch")]
        secs = [f"{r[k]:.0f}" if k in r else "" for k in ("pde_seconds", "mri_seconds")]
        lines.append(
            f"| `{r['candidate']}` | {pde} | {' | '.join(mri)} | {'yes' if all(r['holds'].values()) else 'no'} | "
            f"{' | '.join(secs)} | {r['load_average_before'][0]:.1f} → {r['load_average_after'][0]:.1f} |"
        )
    (results / "demo_budget.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = script_parser(__doc__, "threads", threads=1)
    p.add_argument("--preset", default="small", help="the demo preset to start from")
    p.add_argument("--set", type=_setting, action="append", default=[], help="KEY=VALUE: change one preset size")
    p.add_argument("--out", default="runs/demo_budget", help="folder of the candidates' data and runs")
    p.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="use this folder (e.g. a finished `monarch-sci demo "
        "--out` of the same preset: its data and runs are reused, only the validation volumes are new)",
    )
    p.add_argument("--half", choices=("both", "pde", "mri"), default="both", help="score one half only")
    p.add_argument("--results", type=Path, default=RESULTS, help="folder of demo_budget.json and .md")
    p.add_argument("--summarize", action="store_true", help="only rewrite demo_budget.md from the JSON")
    args = p.parse_args(argv)
    path = args.results / "demo_budget.json"
    rows = json.loads(path.read_text())["runs"] if path.is_file() else []
    if not args.summarize:
        from monarch_sci.cli import demo

        if args.preset not in demo.PRESETS:
            raise ValueError(f"--preset: expected one of {sorted(demo.PRESETS)}, got {args.preset!r}")
        row = score(args)
        rows = [r for r in rows if (r["candidate"], r["half"]) != (row["candidate"], row["half"])] + [row]
        print(json.dumps({k: row.get(k) for k in ("candidate", "pde_val_change", "mri_val_gain_db", "holds")}))
    write(rows, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
