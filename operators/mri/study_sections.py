"""MRI report sections of the study engine, registered by name (``kind = "section"``, ``hook = NAME``):

* ``mri.recon_table`` — one row per (acceleration, method) over the test stages ``stages``: the value chosen on
  validation, test PSNR and SSIM (learned: mean ± std over seeds; classical, one run: ± std over test volumes),
  seconds per slice, seeds;
* ``mri.recon_goals`` — test PSNR differences per acceleration, ``options.pairs = [[TARGET, BASELINE], ...]``
  (settings): paired by seed when both are seeded runs, else each seed against the single baseline run.

Numbers over seeds are pooled as everywhere in the engine (:func:`~monarch_sci.training.study_stats.pooled`:
the mean and the sample standard deviation).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from monarch_sci.training.study import ReportContext, pooled, register_section
from monarch_sci.training.study_spec import Block

__all__: list[str] = []

#: Parameters a choice may fix, shown in the table's "chosen on val" column.
CHOSEN = ("lr", "factor_lr", "lam")


def _rows(ctx: ReportContext, block: Block) -> dict[tuple[int, str], list[dict[str, Any]]]:
    """Test records by (acceleration, setting), in the order of ``block.stages`` then the stage's settings."""
    rows: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for stage in block.stages or tuple(ctx.spec.stages):
        if ctx.spec.stages[stage].split != "test":
            continue
        for setting in ctx.spec.stages[stage].settings:
            for r in ctx.by_stage.get(stage, []):
                if r["setting"] == setting and isinstance(r.get("test"), dict):
                    rows[(int(r["acceleration"]), setting)].append(r)
    return dict(sorted(rows.items(), key=lambda kv: kv[0][0]))  # stable: the stages' order within an acceleration


def _chosen(ctx: ReportContext, record: dict[str, Any]) -> str:
    choice = record.get("study", {}).get("choice")
    made = ctx.results.get("choices", {}).get(choice) if choice else None
    if not made:
        return ""
    return ", ".join(f"{k}={made['params'][k]:g}" for k in CHOSEN if k in made["params"])


@register_section("mri.recon_table")
def recon_table(ctx: ReportContext, block: Block) -> list[str]:
    """The test table (see the module docstring); its numbers also go to ``results.json`` (``mri_table``)."""
    found = _rows(ctx, block)
    if not found:
        return []
    title = block.options.get("title", "")
    lines = [title, ""] if title else []
    lines += ["| accel | method | chosen on val | PSNR dB | SSIM | s/slice | seeds |", "|---|---|---|---|---|---|---|"]
    out = []
    for (accel, setting), rs in found.items():
        psnr = [r["test"]["psnr_mean"] for r in rs]
        ssim = [r["test"]["ssim_mean"] for r in rs]
        seconds = statistics.mean(r["test"]["seconds_per_slice"] for r in rs)
        if len(rs) == 1:
            cell_p = f"{psnr[0]:.2f} ± {rs[0]['test']['psnr_std_volumes']:.2f} (vol)"
            cell_s, seeds = f"{ssim[0]:.4f}", "-"
        else:
            (mp, sp), (ms, ss) = pooled(psnr), pooled(ssim)
            cell_p, cell_s, seeds = f"{mp:.2f} ± {sp:.2f}", f"{ms:.4f} ± {ss:.4f}", str(len(rs))
        label = rs[0]["label"]
        lines.append(f"| {accel}× | {label} | {_chosen(ctx, rs[0])} | {cell_p} | {cell_s} | {seconds:.4f} | {seeds} |")
        out.append({"accel": accel, "setting": setting, "method": label, "seeds": [r["seed"] for r in rs],
                    "psnr_per_seed": psnr, "ssim_per_seed": ssim, "seconds_per_slice": seconds})  # fmt: skip
    ctx.results["mri_table"] = out
    return lines


def _difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
    if not a or not b:
        return "n/a (runs missing)"
    if len(b) == 1:
        d = [r["test"]["psnr_mean"] - b[0]["test"]["psnr_mean"] for r in a]
    else:
        base = {r["seed"]: r["test"]["psnr_mean"] for r in b}
        d = [r["test"]["psnr_mean"] - base[r["seed"]] for r in a if r["seed"] in base]
        if not d:
            return "n/a (runs missing)"
    m, s = pooled(d)
    return f"{m:+.2f} ± {s:.2f} dB ({len(d)} seeds)"


@register_section("mri.recon_goals")
def recon_goals(ctx: ReportContext, block: Block) -> list[str]:
    """Test PSNR differences per acceleration (see the module docstring); also in ``results.json``."""
    pairs = block.options.get("pairs")
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise ValueError(f"{ctx.spec.path}: section {block.hook}: options.pairs: expected [[TARGET, BASELINE], ...]")
    found = _rows(ctx, block)
    if not found:
        return []
    text = block.options.get("text", "")
    lines = [text, ""] if text else []
    for accel in sorted({a for a, _ in found}):
        for target, baseline in pairs:
            a, b = found.get((accel, target), []), found.get((accel, baseline), [])
            la = a[0]["label"] if a else target
            lb = b[0]["label"] if b else baseline
            found_diff = _difference(a, b)
            lines.append(f"- {accel}×: {la} − {lb} {found_diff}")
            ctx.results.setdefault("mri_goals", {})[f"{accel}x {target} - {baseline}"] = found_diff
    return lines
