"""A study's report from its finished runs: ``report.md``, ``results.json`` and the figures.

The spec's ``[[report]]`` blocks are written in order. Numbers are pooled over seeds by
:func:`~monarch_sci.training.records.pool_seeds` (a seed × one-value table: the mean and the spread over seeds),
reported as mean ± the sample standard deviation over seeds (Bessel-corrected: ``std · √(n / (n − 1))``).
Only figures present in the records are reported; a cell without data is ``—``; missing runs are listed.
A ``section`` block calls a named domain hook (``hook(context, block) -> lines``), registered with
:func:`~monarch_sci.training.study.register_section`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monarch_sci.training.study_paired import paired
from monarch_sci.training.study_plan import converged, make_choices, plan, read_records, record_value
from monarch_sci.training.study_spec import Block, Column, StudySpec, StudySpecError
from monarch_sci.training.study_stats import change, fmt_pooled, pooled

__all__ = ["ReportContext", "write_report"]


@dataclass
class ReportContext:
    """What a report block sees: the spec, the finished records by stage (seed order), and the figures made."""

    spec: StudySpec
    by_stage: dict[str, list[dict[str, Any]]]
    figures: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    pairings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def converged(self, record: dict[str, Any]) -> bool:
        """The spec's convergence rule on the record's curve (the record's own flag when it holds no curve)."""
        curve = record.get(self.spec.curve)
        if not curve:
            return bool(record.get("converged"))
        return converged(curve, tail=self.spec.convergence.tail, tol=self.spec.convergence.tol)

    def figure_path(self, name: str) -> Path:
        """Where a figure named ``name`` goes (``figure_prefix`` + name, in the report folder); registered."""
        full = f"{self.spec.figure_prefix}{name}"
        self.figures.append(full)
        return self.spec.report / full

    def groups(self, stage: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
        g: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in self.by_stage.get(stage, []):
            g[(r["problem"], r["setting"])].append(r)
        return g


Section = Callable[[ReportContext, Block], list[str]]


def _cells(ctx: ReportContext, block: Block, rs: list[dict], setting: str, g: dict, problem: str) -> list[str]:
    cells, baselines = [], set()
    for col in block.columns:
        values = [record_value(r, col.metric) for r in rs] if col.metric else []
        if col.show == "mean_std":
            cells.append(fmt_pooled(values))
        elif col.show == "per_seed":
            cells.append(" / ".join(f"{v:{col.format}}" for v in values if v is not None))
        elif col.show == "change":
            baselines.add(col.baseline)
            base = [record_value(r, col.metric) for r in g.get((problem, col.baseline), [])]
            cells.append("" if setting in baselines else change([v for v in values if v is not None], base))
        elif col.show == "converged":
            cells.append(f"{sum(ctx.converged(r) for r in rs)}/{len(rs)}")
        elif col.show == "count":
            cells.append(str(len(rs)))
        elif col.show == "first":
            cells.append("—" if values[0] is None else f"{values[0]:{col.format}}")
        else:  # mean
            got = [v for v in values if v is not None]
            cells.append(f"{statistics.mean(got):{col.format}}" if got else "—")
    return cells


def _reference_row(block: Block, ref: dict[str, Any]) -> str:
    """A published row: ``baseline / other`` under the first pooled column, their change under the first change
    column, empty cells elsewhere."""
    a, b = ref["values"]
    cells, placed = [ref["problem"], ref["label"]], set()
    for col in block.columns:
        if col.show == "mean_std" and "value" not in placed:
            cells.append(f"{a} / {b}")
            placed.add("value")
        elif col.show == "change" and "change" not in placed:
            cells.append(f"{100 * (b / a - 1):+.0f}%")
            placed.add("change")
        else:
            cells.append("")
    return "|" + "".join(f" {c} |" if c else " |" for c in cells)


def table(ctx: ReportContext, block: Block) -> list[str]:
    """One row per (problem, setting) with runs, in the spec's order; the references after their problem."""
    assert block.stage is not None
    stage = ctx.spec.stages[block.stage]
    g = ctx.groups(block.stage)
    head = [*block.rows_header, *(c.header for c in block.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows: dict[str, Any] = {}
    for problem in stage.problems:
        for setting in stage.settings:
            rs = g.get((problem, setting), [])
            if not rs:
                continue
            cells = _cells(ctx, block, rs, setting, g, problem)
            first = block.labels.get(setting, (problem, setting))
            lines.append(f"| {first[0]} | {first[1]} | " + " | ".join(cells) + " |")
            rows[f"{problem}/{setting}"] = _numbers(block.columns, rs)
        lines += [_reference_row(block, ref) for ref in block.references if ref["problem"] == problem]
    ctx.results.setdefault("tables", {}).setdefault(block.stage, {}).update(rows)
    return lines if rows else []


def _numbers(columns: tuple[Column, ...], rs: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {"seeds": [r["seed"] for r in rs]}
    for col in columns:
        if col.metric and col.show in ("mean_std", "per_seed"):
            got = [v for v in (record_value(r, col.metric) for r in rs) if isinstance(v, (int, float))]
            if got:
                m, s = pooled(got)
                out[col.metric] = {"mean": m, "std": s, "per_seed": got}
    return out


def per_index(ctx: ReportContext, block: Block) -> list[str]:
    """A vector metric (one value per rollout step, say) averaged over seeds, one table per problem."""
    assert block.stage is not None and block.metric is not None
    g = ctx.groups(block.stage)
    lines: list[str] = []
    for problem in ctx.spec.stages[block.stage].problems:
        rows = {s: g.get((problem, s), []) for s in block.settings}
        if not all(rows.values()) or any(record_value(r, block.metric) is None for rs in rows.values() for r in rs):
            continue
        steps = len(record_value(next(iter(rows.values()))[0], block.metric))
        lines += [block.title.format(problem=problem), ""]
        lines.append(f"| {block.rows_header[1]} | " + " | ".join(str(k + 1) for k in range(steps)) + " |")
        lines.append("|---|" + "---|" * steps)
        for s, rs in rows.items():
            mean = [statistics.mean(record_value(r, block.metric)[k] for r in rs) for k in range(steps)]
            lines.append(f"| {s} | " + " | ".join(f"{v:.4f}" for v in mean) + " |")
        lines.append("")
    return lines


def goals(ctx: ReportContext, block: Block) -> list[str]:
    """One line per problem: the change of the target's mean against the baseline's and whether it meets the goal
    (``options.at_most``, percent); the verdicts also go to ``results.json`` (``goals``)."""
    assert block.stage is not None and block.metric is not None
    o = block.options
    g = ctx.groups(block.stage)
    lines = [block.text, ""] if block.text else []
    for problem in ctx.spec.stages[block.stage].problems:
        a, b = ([record_value(r, block.metric) for r in g.get((problem, s), [])] for s in (o["baseline"], o["target"]))
        a, b = [v for v in a if v is not None], [v for v in b if v is not None]
        if not a or not b:
            continue
        pct = 100 * (pooled(b)[0] / pooled(a)[0] - 1)
        met = pct <= o["at_most"]
        seeds = f"{len(b)} and {len(a)} seeds"
        lines.append(f"- {problem}: {o['target']} vs {o['baseline']} (mean `{block.metric}`, {seeds}): {pct:+.1f}% "
                     f"(goal: ≤ {o['at_most']:+.1f}% — {'met' if met else 'missed'})")  # fmt: skip
        pair = f"{o['target']} vs {o['baseline']}"
        ctx.results.setdefault("goals", {}).setdefault(block.stage, {}).setdefault(pair, {})[problem] = {
            "metric": block.metric, "change_percent": pct, "at_most": o["at_most"], "met": met}  # fmt: skip
    return lines if len(lines) > (2 if block.text else 0) else []


def curves(ctx: ReportContext, block: Block) -> list[str]:
    """One figure per stage with runs: the validation curves, one panel per problem, one colour per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from monarch_sci.training.checkpoint import save_figure

    for stage in block.stages or tuple(ctx.spec.stages):
        runs = [r for r in ctx.by_stage.get(stage, []) if r.get(ctx.spec.curve)]
        problems = [p for p in ctx.spec.stages[stage].problems if any(r["problem"] == p for r in runs)]
        if not problems:
            continue
        fig, axes = plt.subplots(1, len(problems), figsize=(6 * len(problems), 4.2), squeeze=False)
        colours = {s: f"C{i % 10}" for i, s in enumerate(ctx.spec.stages[stage].settings)}
        for ax, problem in zip(axes[0], problems, strict=True):
            seen = set()
            for r in sorted(runs, key=lambda r: (r["setting"], r["seed"])):
                if r["problem"] != problem:
                    continue
                curve = r[ctx.spec.curve]
                ax.semilogy(range(1, len(curve) + 1), curve, color=colours[r["setting"]], lw=1, alpha=0.8,
                            label=None if r["setting"] in seen else r["setting"])  # fmt: skip
                seen.add(r["setting"])
            ax.set(title=f"{stage}: {problem}", xlabel="epoch", ylabel=f"validation ({ctx.spec.curve})")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        save_figure(fig, ctx.figure_path(f"{stage}_curves.png"))
        plt.close(fig)
    return []


def missing(ctx: ReportContext, block: Block) -> list[str]:
    todo = ctx.results["missing"]
    if not any(todo.values()):
        return []
    lines = [block.title or "## Runs not finished yet", ""]
    for s, m in todo.items():
        if m:
            total = len(plan(ctx.spec, (s,)))
            lines.append(f"- {s}: {len(m)} of {total} ({', '.join(m[:6])}{' …' if len(m) > 6 else ''})")
    return lines


def choices(ctx: ReportContext, block: Block) -> list[str]:
    """What each validation stage chose, and the pooled score of every candidate."""
    made = ctx.results["choices"]
    if not made:
        return []
    lines = [block.title or "**Choices made on validation data**", "",
             "| choice | candidate | pooled score | chosen |", "|---|---|---|---|"]  # fmt: skip
    for name, c in made.items():
        for setting, score in c["scores"].items():
            lines.append(f"| {name} | {setting} | {score:.4f} | {'yes' if setting == c['setting'] else ''} |")
    lines.append("")
    rules: dict[tuple, list[str]] = defaultdict(list)  # one sentence per scoring rule (choices may differ)
    for name, c in made.items():
        rules[(c["metric"], c["relative_to"], c["goal"])].append(name)
    for (metric, relative_to, goal), names in rules.items():
        basis = "relative to " + relative_to if relative_to else "absolute"
        which = f" ({', '.join(names)})" if len(rules) > 1 else ""
        lines.append(f"Pooled score{which}: the seed mean of `{metric}` per problem ({basis}), averaged over "
                     f"problems; {goal} wins.")  # fmt: skip
    return [*lines, ""]


def write_report(spec: StudySpec, sections: dict[str, Section]) -> str:
    """Write ``report.md``, ``results.json`` and the figures of ``spec`` into ``spec.report``; returns the text."""
    from monarch_sci.training.checkpoint import write_json_atomic, write_text_atomic

    records = read_records(spec)
    by_stage: dict[str, list[dict]] = defaultdict(list)
    for run in sorted(plan(spec), key=lambda r: (r.stage, r.problem, r.setting, r.seed)):
        if run.name in records:
            by_stage[run.stage].append(records[run.name])
    ctx = ReportContext(spec, dict(by_stage))
    ctx.results["missing"] = {s: [r.name for r in plan(spec, (s,)) if r.name not in records] for s in spec.stages}
    ctx.results["choices"] = make_choices(spec, records)
    spec.report.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, Section] = {"table": table, "per_index": per_index, "paired": paired, "goals": goals,
                                 "curves": curves, "missing": missing, "choices": choices}  # fmt: skip
    lines: list[str] = []
    for block in spec.blocks:
        if block.kind == "text":
            lines += [block.text.strip("\n"), ""]
        elif block.kind == "figures":
            lines += [block.text + ", ".join(f"`{f}`" for f in ctx.figures), ""] if ctx.figures else []
        elif block.kind == "section":
            if block.hook not in sections:
                known = ", ".join(sorted(sections)) or "none registered"
                raise StudySpecError(f"{spec.path}: report section hook {block.hook!r} is unknown ({known})")
            lines += sections[block.hook](ctx, block)
        else:
            lines += kinds[block.kind](ctx, block)
        if lines and lines[-1] != "":
            lines.append("")
    text = "\n".join(lines).rstrip("\n") + "\n"
    write_text_atomic(spec.report / "report.md", text)
    write_json_atomic(spec.report / "results.json", {"title": spec.title, "spec": str(spec.path), **ctx.results,
                                                    "figures": ctx.figures, "runs": ctx.by_stage})  # fmt: skip
    return text
