"""The ``paired`` report block: controls compared with a baseline and a target run of the same seeds.

Each control (a setting of any of the block's stages) is paired, seed by seed, with the baseline's and the
target's runs (FFT and Monarch, say) on one problem. Its **share of the gain** is
``(baseline − control) / (baseline − target)`` over the seeds all three share (100%: all of the target's gain;
a control worse than the baseline keeps none). Block options::

    options = { problem = "ns1e-3", baseline = "fft", target = "monarch",
                labels = { fft = "FFT", fft-wide = "FFT, widened", monarch = "Monarch" },
                header = ["model", "test rel. L2 (mean ± std)", "per seed", "vs FFT (same seeds)",
                          "share of the gain", "converged", "params"],
                params = "parameters" }

Rows follow ``labels``. What the pairing found is kept in ``context.pairings[problem]`` (with the paired
records) for a ``section`` hook that writes a paragraph or a figure from it, and in ``results.json``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from monarch_sci.training.study_plan import record_value
from monarch_sci.training.study_spec import Block, StudySpecError
from monarch_sci.training.study_stats import change, fmt_pooled

__all__ = ["paired"]

_OPTIONS = ("problem", "baseline", "target", "labels", "header", "params")


def _options(ctx: Any, block: Block) -> dict[str, Any]:
    o = block.options
    where = f"{ctx.spec.path}: report block kind = 'paired': options"
    unknown = sorted(set(o) - set(_OPTIONS))
    if unknown:
        raise StudySpecError(f"{where}.{unknown[0]}: unknown key (expected one of {', '.join(_OPTIONS)})")
    for key in ("problem", "baseline", "target", "labels", "header"):
        if key not in o:
            raise StudySpecError(f"{where}.{key}: missing (required)")
    if not isinstance(o["labels"], dict) or not {o["baseline"], o["target"]} <= set(o["labels"]):
        raise StudySpecError(f"{where}.labels: expected a table of setting -> label that holds the baseline and "
                             f"the target, got {o['labels']!r}")  # fmt: skip
    if not isinstance(o["header"], list) or len(o["header"]) != 7:
        raise StudySpecError(f"{where}.header: expected 7 column titles, got {o['header']!r}")
    return o


def paired(ctx: Any, block: Block) -> list[str]:
    """The table of the block (see the module docstring); nothing when the baseline, target or every control is
    missing."""
    o = _options(ctx, block)
    base, target = o["baseline"], o["target"]
    rows: dict[str, dict[int, float]] = defaultdict(dict)
    params: dict[str, Any] = {}
    conv: dict[str, list[bool]] = defaultdict(list)
    runs = []
    for stage in block.stages:
        for r in ctx.by_stage.get(stage, []):
            if r["problem"] == o["problem"] and r["setting"] in o["labels"]:
                rows[r["setting"]][r["seed"]] = record_value(r, block.metric)
                params[r["setting"]] = record_value(r, o.get("params", "parameters"))
                conv[r["setting"]].append(ctx.converged(r))
                runs.append(r)
    controls = [s for s in o["labels"] if s not in (base, target)]
    if not any(s in rows for s in controls) or not rows.get(base) or not rows.get(target):
        return []
    lines = [block.text, ""] if block.text else []
    lines += ["| " + " | ".join(o["header"]) + " |", "|" + "---|" * len(o["header"])]
    shares: dict[str, dict[str, Any]] = {}
    for setting, label in o["labels"].items():
        if setting not in rows:
            continue
        seeds = sorted(set(rows[setting]) & set(rows[base]) & set(rows[target]))
        v = [rows[setting][s] for s in sorted(rows[setting])]
        per_seed = " / ".join(f"{rows[setting][s]:.4f} (s{s})" for s in sorted(rows[setting]))
        vs = share = ""
        if setting != base and seeds:
            f, m, c = (statistics.mean(rows[k][s] for s in seeds) for k in (base, target, setting))
            vs = change([rows[setting][s] for s in seeds], [rows[base][s] for s in seeds])
            if c > f:
                share = f"none (worse than {label_of(o, base)})"
            else:
                share = f"{100 * (f - c) / (f - m):.0f}%" if f != m else "—"
            shares[setting] = {"mean": c, "baseline_mean": f, "share": (f - c) / (f - m) if f != m else float("nan"),
                               "seeds": seeds,
                               "below_baseline": sum(rows[setting][s] < rows[base][s] for s in seeds)}  # fmt: skip
        n_conv = f"{sum(conv[setting])}/{len(conv[setting])}"
        p = params.get(setting)
        p_cell = f"{p:,}" if isinstance(p, int) else "—"
        lines.append(f"| {label} | {fmt_pooled(v)} | {per_seed} | {vs} | {share} | {n_conv} | {p_cell} |")
    found = {"baseline": base, "target": target, "rows": {k: dict(v) for k, v in rows.items()}, "params": params,
             "shares": shares}  # fmt: skip
    ctx.results.setdefault("paired", {})[o["problem"]] = found
    ctx.pairings[o["problem"]] = {**found, "runs": runs}
    return lines


def label_of(options: dict[str, Any], setting: str) -> str:
    """How the share column names the baseline (``FFT`` for ``fft``: its label's first word)."""
    return str(options["labels"][setting]).split(" ")[0].rstrip(",")
