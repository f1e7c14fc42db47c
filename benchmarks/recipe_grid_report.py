"""The recipe grid's summary (issue 30.1): per sampled recipe cell, the FFT model and each Monarch factor setting
on validation data, the two goals per cell, best-vs-best at equal budget, and one figure.

It reads the per-run records of ``benchmarks/studies/recipe_grid.toml`` (written by the study engine) and trains
nothing; cells whose runs are not all finished are listed with the command that resumes them.

    OMP_NUM_THREADS=1 nice monarch-sci study run benchmarks/studies/recipe_grid.toml --stage a lo b   # resumable
    python benchmarks/recipe_grid_report.py   # -> benchmarks/results/recipe_grid.md, .json, .png

At lr 1e-3 the absolute factor lr (1e-3) is the main lr: the two Monarch settings are the same run (same defining
arguments), so the spec trains it once and it stands for both here (checked on the records' resolved rate).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from monarch_sci.training.checkpoint import save_figure, write_text_atomic
from monarch_sci.training.study import load_study, plan, pooled
from monarch_sci.training.study_plan import read_records

ROOT = Path(__file__).resolve().parent
SPEC = ROOT / "studies" / "recipe_grid.toml"
OUT = ROOT / "results" / "recipe_grid"
#: The settings compared: the FFT model, the current Monarch default, the candidate (an absolute factor lr).
FFT, CURRENT, CANDIDATE = "fft", "monarch", "monarch-flr1e-3"
METHODS = (FFT, CURRENT, CANDIDATE)
RUN = "OMP_NUM_THREADS=1 nice monarch-sci study run benchmarks/studies/recipe_grid.toml --stage a lo b"
#: Goal 2: the candidate no worse than the current default by more than this (percent) in any cell.
WORSE_AT_MOST = 2.0


def _pct(a: float, b: float) -> float:
    return 100 * (a / b - 1)


def collect(spec_path: Path = SPEC) -> dict[str, Any]:
    """Every cell of the spec with its per-seed validation scores per setting, and the runs still missing."""
    spec = load_study(spec_path)
    records = read_records(spec)
    missing = [r.name for r in plan(spec) if r.name not in records]
    cells = []
    for st in spec.stages.values():
        for problem in st.problems:
            recipe = {k: spec.problems[problem][k] for k in ("optimizer", "lr", "scheduler", "weight_decay")}
            cell: dict[str, Any] = {"stage": st.name, "cell": problem, **recipe, "epochs": st.epochs[problem]}
            scores: dict[str, list[float]] = {}
            for setting in st.settings:
                mine = [r for r in plan(spec, (st.name,)) if (r.problem, r.setting) == (problem, setting)]
                got = [records[r.name] for r in mine if r.name in records]
                got = [r for r in got if r.get("score") is not None]
                scores[setting] = [float(r["score"]) for r in sorted(got, key=lambda r: r["seed"])]
                if setting == CURRENT and CANDIDATE not in st.settings:
                    rates = {r["spec"]["factor_lr"] for r in got}
                    if rates and rates <= {1e-3}:  # the same run as the candidate's (see the module docstring)
                        scores[CANDIDATE] = scores[CURRENT]
                        cell["candidate_is_current"] = True
            cell["scores"] = scores
            cell["complete"] = all(len(scores.get(m, [])) == len(st.seeds) for m in METHODS)
            cells.append(cell)
    shown = spec_path.resolve()
    shown = shown.relative_to(ROOT.parent) if shown.is_relative_to(ROOT.parent) else shown
    return {"spec": str(shown), "cells": cells, "missing": missing}


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    """Means, changes and goal verdicts per complete cell; best-vs-best per budget."""
    done = [c for c in data["cells"] if c["complete"]]
    for c in done:
        mean = {m: pooled(c["scores"][m]) for m in METHODS}
        c["mean"] = {m: v[0] for m, v in mean.items()}
        c["std"] = {m: v[1] for m, v in mean.items()}
        c["current_vs_fft"] = _pct(c["mean"][CURRENT], c["mean"][FFT])
        c["candidate_vs_fft"] = _pct(c["mean"][CANDIDATE], c["mean"][FFT])
        c["candidate_vs_current"] = _pct(c["mean"][CANDIDATE], c["mean"][CURRENT])
        c["goal_le_fft"] = {"current": c["current_vs_fft"] <= 0, "candidate": c["candidate_vs_fft"] <= 0}
        c["goal_not_worse_than_current"] = c["candidate_vs_current"] <= WORSE_AT_MOST
    best = {}
    for epochs in sorted({c["epochs"] for c in done}):
        same = [c for c in done if c["epochs"] == epochs]
        pick = {m: min(same, key=lambda c, m=m: c["mean"][m]) for m in METHODS}
        best[str(epochs)] = {
            m: {"cell": pick[m]["cell"], "mean": pick[m]["mean"][m], "cells_compared": len(same)} for m in METHODS
        }
        for m in (CURRENT, CANDIDATE):
            best[str(epochs)][m]["vs_best_fft"] = _pct(pick[m]["mean"][m], pick[FFT]["mean"][FFT])
    goals = {
        "cells_complete": len(done),
        "current_le_fft": sum(c["goal_le_fft"]["current"] for c in done),
        "candidate_le_fft": sum(c["goal_le_fft"]["candidate"] for c in done),
        "candidate_not_worse_than_current": sum(c["goal_not_worse_than_current"] for c in done),
    }
    return {**data, "best_vs_best": best, "goals": goals}


def _recipe(c: dict[str, Any]) -> str:
    return f"{c['optimizer']} {c['lr']:g}, {c['scheduler']}, wd {c['weight_decay']:g}, {c['epochs']} ep"


def _score(c: dict[str, Any], m: str) -> str:
    return f"{c['mean'][m]:.4f} ± {c['std'][m]:.4f}"


def markdown(s: dict[str, Any]) -> str:
    done = [c for c in s["cells"] if c["complete"]]
    g = s["goals"]
    lines = [
        "# Monarch factor training across recipes (issue 30.1; steady Darcy 16², validation data only)",
        "",
        f"Commands: `{RUN}` (resumable, `--shard K/N`), then `python benchmarks/recipe_grid_report.py` (this file, "
        "`recipe_grid.json`, `recipe_grid.png`); the protocol, data and sampled cells are in "
        f"`{s['spec']}`. Per-run records: `benchmarks/results/recipe_grid_runs/`.",
        "",
        "Score: best validation relative L2 over the budget (mean ± std over seeds 0 and 1; no test sample is "
        f"read). `{CURRENT}`: the current default (factor lr = the main lr, anchor 1e-2); `{CANDIDATE}`: the "
        "factors at an absolute lr 1e-3 whatever the main lr (anchor 1e-2; both: factor weight decay 0, the "
        "main schedule's shape).",
        "",
        "| cell | FFT | Monarch, current | Monarch, abs. factor lr 1e-3 | current vs FFT | abs. vs FFT | "
        "abs. vs current |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in done:
        same = " (same run)" if c.get("candidate_is_current") else ""
        lines.append(
            f"| {_recipe(c)} | {_score(c, FFT)} | {_score(c, CURRENT)} | {_score(c, CANDIDATE)}{same} | "
            f"{c['current_vs_fft']:+.1f}% | {c['candidate_vs_fft']:+.1f}% | {c['candidate_vs_current']:+.1f}% |"
        )
    n = g["cells_complete"]
    lines += [
        "",
        f"**Goals over the {n} complete cells** (mean of 2 seeds, validation): Monarch ≤ FFT — current default "
        f"{g['current_le_fft']}/{n}, absolute factor lr {g['candidate_le_fft']}/{n}; absolute factor lr no worse "
        f"than the current default by more than {WORSE_AT_MOST:g}% — {g['candidate_not_worse_than_current']}/{n}.",
        "",
        "**Best vs best** (each method at its own best recipe among the complete cells of the same budget, chosen "
        "on validation):",
        "",
        "| budget | cells | FFT best | Monarch current best | vs FFT best | Monarch abs. best | vs FFT best |",
        "|---|---|---|---|---|---|---|",
    ]
    for epochs, b in s["best_vs_best"].items():
        f, cur, cand = b[FFT], b[CURRENT], b[CANDIDATE]
        lines.append(
            f"| {epochs} ep | {f['cells_compared']} | {f['mean']:.4f} ({f['cell']}) | {cur['mean']:.4f} "
            f"({cur['cell']}) | {cur['vs_best_fft']:+.1f}% | {cand['mean']:.4f} ({cand['cell']}) | "
            f"{cand['vs_best_fft']:+.1f}% |"
        )
    todo = [c["cell"] for c in s["cells"] if not c["complete"]]
    partial = [c for c in s["cells"] if not c["complete"] and any(c["scores"].values())]
    if partial:
        lines += [
            "",
            "**Cells not complete yet** (per-seed scores of the runs that finished; no goal is read from them):",
            "",
        ]
        lines += ["| cell | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
        for c in partial:
            per = [" / ".join(f"{v:.4f}" for v in c["scores"].get(m, [])) or "—" for m in METHODS]
            lines.append(f"| {_recipe(c)} | " + " | ".join(per) + " |")
    lines += ["", "Figure: `recipe_grid.png` (change against FFT per cell, each seed a dot)."]
    if todo:
        lines += [
            "",
            f"**Not finished** ({len(s['missing'])} runs; cells {', '.join(todo)}). Resume: `{RUN}`.",
        ]
    return "\n".join(lines) + "\n"


def figure(s: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [c for c in s["cells"] if c["complete"]]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(done) + 2), 4.5))
    for k, (m, label, colour) in enumerate(
        ((CURRENT, "Monarch, current (factor lr = lr)", "C1"), (CANDIDATE, "Monarch, abs. factor lr 1e-3", "C2"))
    ):
        x = [i + (k - 0.5) * 0.36 for i in range(len(done))]
        ax.bar(x, [c[f"{'current' if m == CURRENT else 'candidate'}_vs_fft"] for c in done], 0.34, color=colour,
               label=label, alpha=0.8)  # fmt: skip
        for xi, c in zip(x, done, strict=True):
            fft = pooled(c["scores"][FFT])[0]
            ax.plot([xi] * len(c["scores"][m]), [_pct(v, fft) for v in c["scores"][m]], "k.", ms=4)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(done)), [_recipe(c).replace(", ", "\n") for c in done], fontsize=7)
    ax.set(ylabel="validation rel. L2 vs FFT (%)", title="Steady Darcy 16²: Monarch against FFT per recipe")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", type=Path, default=SPEC, help="the study spec")
    p.add_argument("--out", type=Path, default=OUT, help="output stem (.md, .json, .png are added)")
    args = p.parse_args(argv)
    s = summarise(collect(args.spec))
    text = markdown(s)
    write_text_atomic(args.out.with_suffix(".md"), text)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(s, indent=1))
    if any(c["complete"] for c in s["cells"]):
        figure(s, args.out.with_suffix(".png"))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
