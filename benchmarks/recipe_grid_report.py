"""The recipe grid's summary (issue 30.1): per sampled recipe cell, the FFT model and each Monarch factor setting
on validation data, the two goals per cell, best-vs-best at equal budget, and one figure.

It reads the per-run records of ``benchmarks/studies/recipe_grid.toml`` (written by the study engine) and trains
nothing; cells whose runs are not all finished are listed with the command that resumes them.

    OMP_NUM_THREADS=1 nice monarch-sci study run benchmarks/studies/recipe_grid.toml --stage a lo inv b c   # resumable
    python benchmarks/recipe_grid_report.py   # -> benchmarks/results/recipe_grid.md, .json, .png

At lr 1e-3 the absolute factor lr 1e-3 is the main lr: that candidate and the current default are the same run (same
defining arguments), so the spec trains it once and it stands for both here (checked on the records' resolved rate).
Likewise the rule "factor lr × main lr = 1e-6" is, per cell, the Monarch runs whose recorded factor lr is 1e-6 / lr
(stage ``inv`` trains the one rate no other setting has, at lr 3e-3).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from monarch_sci.cli.scripts import run_script, script_parser
from monarch_sci.training.checkpoint import save_figure, write_text_atomic
from monarch_sci.training.study import load_study, plan, pooled
from monarch_sci.training.study_plan import read_records

ROOT = Path(__file__).resolve().parent
SPEC = ROOT / "studies" / "recipe_grid.toml"
OUT = ROOT / "results" / "recipe_grid"
#: The settings compared: the FFT model, the current Monarch default, and the candidates (absolute factor lrs).
FFT, CURRENT = "fft", "monarch"
#: candidate setting -> its absolute factor lr
CANDIDATES = {"monarch-flr1e-3": 1e-3, "monarch-flr1e-4": 1e-4}
#: The rule "factor lr × main lr = RULE_PRODUCT": per cell, the runs (of any stage) whose recorded factor lr is it.
RULE, RULE_PRODUCT = "monarch-rule", 1e-6
#: the settings that could replace the current default
CHALLENGERS = (*CANDIDATES, RULE)
MONARCH = (CURRENT, *CHALLENGERS)
METHODS = (FFT, *MONARCH)
LABELS = {CURRENT: "Monarch, current (factor lr = lr)"}
LABELS |= {k: f"Monarch, abs. factor lr {v:g}" for k, v in CANDIDATES.items()}
LABELS[RULE] = f"Monarch, factor lr = {RULE_PRODUCT:g} / lr"
RUN = "OMP_NUM_THREADS=1 nice monarch-sci study run benchmarks/studies/recipe_grid.toml --stage a lo inv b c"
#: Goal 2: a candidate no worse than the current default by more than this (percent) in any cell.
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
        if FFT not in st.settings:
            continue  # a stage that only adds runs to other stages' cells (inv: the rule's rate at lr 3e-3)
        for problem in st.problems:
            recipe = {k: spec.problems[problem][k] for k in ("optimizer", "lr", "scheduler", "weight_decay")}
            cell: dict[str, Any] = {"stage": st.name, "cell": problem, **recipe, "epochs": st.epochs[problem]}
            scores: dict[str, list[float]] = {}
            for setting in st.settings:
                mine = [r for r in plan(spec, (st.name,)) if (r.problem, r.setting) == (problem, setting)]
                got = [records[r.name] for r in mine if r.name in records]
                got = [r for r in got if r.get("score") is not None]
                scores[setting] = [float(r["score"]) for r in sorted(got, key=lambda r: r["seed"])]
                for name, rate in CANDIDATES.items():
                    rates = {r["spec"]["factor_lr"] for r in got}
                    if setting == CURRENT and name not in st.settings and rates and rates <= {rate}:
                        scores[name] = scores[CURRENT]  # the same run (see the module docstring)
                        cell.setdefault("same_run_as_current", []).append(name)
            rule = RULE_PRODUCT / recipe["lr"]
            same = {}  # seed -> score of the Monarch runs of this recipe at the rule's rate, from any stage
            for r in plan(spec):
                rec = records.get(r.name)
                if r.problem == problem and rec is not None and rec["spec"].get("fourier") == "monarch":
                    if math.isclose(rec["spec"]["factor_lr"], rule, rel_tol=1e-9) and rec.get("score") is not None:
                        same[rec["seed"]] = float(rec["score"])
                        cell.setdefault("rule_runs", []).append(r.name)
            scores[RULE] = [same[k] for k in sorted(same)]
            cell["scores"] = scores
            cell["methods"] = [m for m in METHODS if m in scores]  # those the cell trains (or shares, or composes)
            cell["complete"] = all(len(scores[m]) == len(st.seeds) for m in cell["methods"])
            cells.append(cell)
    shown = spec_path.resolve()
    shown = shown.relative_to(ROOT.parent) if shown.is_relative_to(ROOT.parent) else shown
    return {"spec": str(shown), "cells": cells, "missing": missing}


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    """Means, changes and goal verdicts per complete cell; best-vs-best per budget."""
    done = [c for c in data["cells"] if c["complete"]]
    for c in done:
        mean = {m: pooled(c["scores"][m]) for m in c["methods"]}
        c["mean"] = {m: v[0] for m, v in mean.items()}
        c["std"] = {m: v[1] for m, v in mean.items()}
        c["vs_fft"] = {m: _pct(c["mean"][m], c["mean"][FFT]) for m in MONARCH if m in mean}
        c["vs_current"] = {m: _pct(c["mean"][m], c["mean"][CURRENT]) for m in CHALLENGERS if m in mean}
        c["goal_le_fft"] = {m: v <= 0 for m, v in c["vs_fft"].items()}
        c["goal_not_worse_than_current"] = {m: v <= WORSE_AT_MOST for m, v in c["vs_current"].items()}
    best: dict[str, dict[str, Any]] = {}
    for epochs in sorted({c["epochs"] for c in done}):
        best[str(epochs)] = {}
        for m in METHODS:
            have = [c for c in done if c["epochs"] == epochs and m in c["mean"]]
            if have:
                pick = min(have, key=lambda c, m=m: c["mean"][m])
                best[str(epochs)][m] = {"cell": pick["cell"], "mean": pick["mean"][m], "cells_compared": len(have)}
        for m in MONARCH:
            if m in best[str(epochs)] and FFT in best[str(epochs)]:
                best[str(epochs)][m]["vs_best_fft"] = _pct(best[str(epochs)][m]["mean"], best[str(epochs)][FFT]["mean"])

    def tally(key: str, methods: tuple[str, ...]) -> dict[str, list[int]]:  # method -> [cells met, cells with it]
        return {m: [sum(c[key][m] for c in done if m in c[key]), sum(m in c[key] for c in done)] for m in methods}

    goals = {
        "cells_complete": len(done),
        "le_fft": tally("goal_le_fft", MONARCH),
        "not_worse_than_current": tally("goal_not_worse_than_current", CHALLENGERS),
    }
    return {**data, "best_vs_best": best, "goals": goals}


def _recipe(c: dict[str, Any]) -> str:
    return f"{c['optimizer']} {c['lr']:g}, {c['scheduler']}, wd {c['weight_decay']:g}, {c['epochs']} ep"


def _score(c: dict[str, Any], m: str) -> str:
    if m not in c["mean"]:
        return "—"
    same = " (same run)" if m in c.get("same_run_as_current", ()) else ""
    return f"{c['mean'][m]:.4f} ± {c['std'][m]:.4f}{same}"


def _change(values: dict[str, float], m: str) -> str:
    return f"{values[m]:+.1f}%" if m in values else "—"


def markdown(s: dict[str, Any]) -> str:
    done = [c for c in s["cells"] if c["complete"]]
    g = s["goals"]
    n = g["cells_complete"]
    cands = ", ".join(f"`{k}` (factor lr {v:g} whatever the main lr)" for k, v in CANDIDATES.items())
    lines = [
        "# Monarch factor training across recipes (issue 30.1; steady Darcy 16², validation data only)",
        "",
        f"Commands: `{RUN}` (resumable, `--shard K/N`), then `python benchmarks/recipe_grid_report.py` (this file, "
        "`recipe_grid.json`, `recipe_grid.png`); the protocol, data and sampled cells are in "
        f"`{s['spec']}`. Per-run records: `benchmarks/results/recipe_grid_runs/`.",
        "",
        "Score: best validation relative L2 over the budget (mean ± std over seeds 0 and 1; no test sample is "
        f"read). `{CURRENT}`: the current default (factor lr = the main lr, anchor 1e-2); candidates: {cands}; all "
        "with anchor 1e-2, factor weight decay 0 and the main schedule's shape.",
        "",
        f"Sampled: {len(s['cells'])} of the 48 cells of optimiser {{Adam, AdamW}} × lr {{1e-3, 3e-3, 1e-2}} × schedule "
        "{step, cosine} × weight decay {0, 1e-4} × budget {20, 30 epochs}, at 16², steady Darcy only (no NS cell "
        "ran); the other cells were not run. Order of the study (all on validation data): stage a (4 cells, FFT, "
        "current, 1e-3), then `monarch-flr1e-4` added to every stage, stage lo (lr 1e-3), stage inv (the rule's "
        "rate at lr 3e-3, added after a and lo), stage b (4 fresh cells, without 1e-3), stage c (FFT's best "
        "20-epoch recipe at 30 epochs). `—`: not trained in that cell.",
        "",
        "| cell | FFT | "
        + " | ".join(LABELS[m] for m in MONARCH)
        + " | "
        + " | ".join(f"{LABELS[m].split(', ')[1]} vs FFT" for m in MONARCH)
        + " | "
        + " | ".join(f"{LABELS[m].split(', ')[1]} vs current" for m in CHALLENGERS)
        + " |",
        "|---|" + "---|" * (1 + 2 * len(MONARCH) + len(CHALLENGERS)),
    ]
    for c in done:
        cells = [_score(c, m) for m in METHODS] + [_change(c["vs_fft"], m) for m in MONARCH]
        cells += [_change(c["vs_current"], m) for m in CHALLENGERS]
        lines.append(f"| {_recipe(c)} | " + " | ".join(cells) + " |")
    le = "; ".join(f"{LABELS[m]} {g['le_fft'][m][0]}/{g['le_fft'][m][1]}" for m in MONARCH)
    nw = "; ".join(
        f"{LABELS[m]} {g['not_worse_than_current'][m][0]}/{g['not_worse_than_current'][m][1]}" for m in CHALLENGERS
    )
    lines += [
        "",
        f"**Goals over the {n} complete cells** (mean of 2 seeds, validation). Monarch ≤ FFT: {le}. No worse than "
        f"the current default by more than {WORSE_AT_MOST:g}%: {nw}.",
        "",
        "**Best vs best** (each method at its own best recipe among the complete cells of the same budget, chosen "
        "on validation):",
        "",
        "| budget | cells | FFT best | " + " | ".join(f"{LABELS[m]} best | vs FFT best" for m in MONARCH) + " |",
        "|---|---|---|" + "---|---|" * len(MONARCH),
    ]
    for epochs, b in s["best_vs_best"].items():
        f = b[FFT]
        cells = [
            f"{b[m]['mean']:.4f} ({b[m]['cell']}, of {b[m]['cells_compared']}) | {b[m]['vs_best_fft']:+.1f}%"
            if m in b
            else "— | —"
            for m in MONARCH
        ]
        lines.append(
            f"| {epochs} ep | {f['cells_compared']} | {f['mean']:.4f} ({f['cell']}) | " + " | ".join(cells) + " |"
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
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(done) + 2), 4.5))
    width = 0.8 / len(MONARCH)
    for k, m in enumerate(MONARCH):
        x = [i + (k - (len(MONARCH) - 1) / 2) * width for i in range(len(done))]
        bars = [c["vs_fft"].get(m, math.nan) for c in done]  # NaN: a setting the cell does not train
        ax.bar(x, bars, width * 0.95, color=f"C{k + 1}", label=LABELS[m], alpha=0.8)
        for xi, c in zip(x, done, strict=True):
            fft = c["mean"][FFT]
            got = c["scores"].get(m, [])
            ax.plot([xi] * len(got), [_pct(v, fft) for v in got], "k.", ms=4)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(done)), [_recipe(c).replace(", ", "\n") for c in done], fontsize=7)
    ax.set(ylabel="validation rel. L2 vs FFT (%)", title="Steady Darcy 16²: Monarch against FFT per recipe")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = script_parser(__doc__)
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
    sys.exit(run_script(main))
