"""PDE report sections of the study engine, registered by name (``kind = "section"``, ``hook = NAME``):

* ``pde.drift`` — how far the learned Fourier maps of the Monarch runs moved from the DFT, per layer, direction
  and axis (mean over seeds), from the records' ``drift`` rows;
* ``pde.controls_paragraph`` — what the controls of a ``paired`` block say, in sentences built from the numbers;
* ``pde.controls_figure`` — the controls' test errors per seed and the learned maps' drift per layer;
* ``pde.learned_maps`` — learned basis vectors and spectra of one finished Monarch run whose folder is present;
* ``pde.gpu_summary`` — the time box of a GPU stage (its driver's ``summary.json``).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from typing import Any

from monarch_sci.training.study import ReportContext, register_section
from monarch_sci.training.study_spec import Block

__all__: list[str] = []


@register_section("pde.drift")
def drift_table(ctx: ReportContext, block: Block) -> list[str]:
    """``‖M − D‖/‖D‖`` per (problem, setting, layer) and (direction, axis), mean over seeds."""
    cells: dict[tuple[str, str, int], dict[tuple[str, int], list[float]]] = defaultdict(lambda: defaultdict(list))
    for stage in block.stages or tuple(ctx.spec.stages):
        for r in ctx.by_stage.get(stage, []):
            for row in r.get("drift") or []:
                cells[(r["problem"], r["setting"], row["layer"])][(row["direction"], row["axis"])].append(row["drift"])
    if not cells:
        return []
    cols = [(d, a) for d in ("forward", "inverse") for a in (0, 1)]
    lines = [block.options.get("title", ""), ""] if block.options.get("title") else []
    lines += [
        "| problem | setting | layer | " + " | ".join(f"{d} axis {a}" for d, a in cols) + " | seeds |",
        "|---|---|---|" + "---|" * (len(cols) + 1),
    ]
    for (problem, setting, layer), c in sorted(cells.items()):
        vals = " | ".join(f"{statistics.mean(c[k]):.3f}" if c.get(k) else "—" for k in cols)
        lines.append(f"| {problem} | {setting} | {layer} | {vals} | {max(len(v) for v in c.values())} |")
    return lines


def _pairing(ctx: ReportContext, block: Block) -> dict[str, Any] | None:
    problem = block.options.get("problem")
    if problem is None:
        raise ValueError(f"{ctx.spec.path}: section {block.hook}: options.problem: missing (required)")
    return ctx.pairings.get(problem)


@register_section("pde.controls_paragraph")
def controls_paragraph(ctx: ReportContext, block: Block) -> list[str]:
    """The controls' verdict (capacity, basis, direction), from the ``paired`` block of ``options.problem``."""
    found = _pairing(ctx, block)
    if not found:
        return []
    shares = found["shares"]

    def seeds(k: str) -> str:
        n = len(shares[k]["seeds"])
        return f"{n} seed{'s' if n > 1 else ''}"

    parts = ["**What the controls say.**"]
    if "fft-wide" in shares:
        s = shares["fft-wide"]
        parts.append(
            f"Capacity: the FFT model widened to at least the Monarch parameter count reaches {s['mean']:.4f} "
            f"({seeds('fft-wide')}; {s['below_baseline']} of {len(s['seeds'])} seeds below FFT), "
            f"{100 * s['share']:.0f}% of the Monarch model's gain"
            + (
                ", so extra parameters alone do not explain the gain."
                if s["share"] < 0.5
                else ", so much of the gain could be capacity."
            )
        )
    if "monarch-random" in shares:
        s = shares["monarch-random"]
        c, f = s["mean"], s["baseline_mean"]
        parts.append(
            f"Basis: the same Monarch model started from a random Monarch instead of the DFT ends at {c:.4f}, "
            f"{c / f:.1f}× the FFT error ({seeds('monarch-random')})"
            + ("; the gain needs the DFT start." if c > f else "; the DFT start is not needed for the gain.")
        )
    dirs = [k for k in ("monarch-forward", "monarch-inverse") if k in shares]
    if dirs:
        said = ", ".join(
            f"only the {k.split('-')[1]} maps {shares[k]['mean']:.4f} ({100 * shares[k]['share']:.0f}% of the gain, "
            f"{seeds(k)})"
            for k in dirs
        )
        parts.append(f"Direction: learning {said}.")
    if block.options.get("text"):
        parts.append(block.options["text"])
    return [" ".join(parts)]


@register_section("pde.controls_figure")
def controls_figure(ctx: ReportContext, block: Block) -> list[str]:
    """Left: test error per control, one dot per seed, a bar at the mean. Right: mean drift per layer of the
    Monarch runs that start at the DFT (the figure is listed by a ``figures`` block)."""
    found = _pairing(ctx, block)
    if not found:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from monarch_sci.training.checkpoint import save_figure

    rows, params = found["rows"], found["params"]
    order = [s for s in block.options.get("order", list(rows)) if s in rows]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
    for i, s in enumerate(order):
        v = [rows[s][k] for k in sorted(rows[s])]
        ax.bar(i, statistics.mean(v), color=f"C{i}", alpha=0.35)
        ax.plot([i] * len(v), v, "o", color=f"C{i}", ms=5)
    ax.axhline(statistics.mean(rows[found["baseline"]].values()), color="k", lw=0.8, ls="--", label="FFT mean")
    ticks = ["\n".join([*s.split("-"), f"{params[s] / 1e3:.0f}k" if params.get(s) else ""]) for s in order]
    ax.set_xticks(range(len(order)), ticks, fontsize=8)
    ax.set(yscale="log", ylabel="test relative L2 (dots: seeds)", title=f"{block.options['problem']}: controls")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    drift: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in found["runs"]:
        per_layer: dict[int, list[float]] = defaultdict(list)
        for row in r.get("drift") or []:
            if row["learnable"] and r.get("spec", {}).get("monarch_init", "dft") == "dft":
                per_layer[row["layer"]].append(row["drift"])
        for layer, d in per_layer.items():
            drift[r["setting"]][layer].append(statistics.mean(d))
    for s, by_layer in drift.items():
        layers = sorted(by_layer)
        colour = f"C{order.index(s)}" if s in order else None
        bx.plot(layers, [statistics.mean(by_layer[k]) for k in layers], "o-", color=colour, label=s)
        bx.set_xticks(layers)
    bx.set(xlabel="Fourier layer", ylabel="‖M − D‖ / ‖D‖ (learnable maps, mean)", title="drift from the DFT")
    bx.grid(True, alpha=0.3)
    bx.legend(fontsize=8)
    save_figure(fig, ctx.figure_path(block.options.get("name", "controls.png")))
    plt.close(fig)
    return []


@register_section("pde.learned_maps")
def learned_maps(ctx: ReportContext, block: Block) -> list[str]:
    """The first layer's learned basis vectors and spectra of ``options.stage``'s Monarch run (``options.setting``,
    default ``monarch``; ``options.seed``, default 0) on each problem whose run folder is still present."""
    o = block.options
    stage, setting, seed = o.get("stage", "final"), o.get("setting", "monarch"), int(o.get("seed", 0))
    for problem in o.get("problems", ctx.spec.stages[stage].problems):
        name = f"{stage}__{problem}__{setting}__seed{seed}"
        run = ctx.spec.work / name
        if not (run / "best.pt").is_file() or not (ctx.spec.records / f"{name}.json").is_file():
            continue
        from monarch_sci.operators.pde.factor_analysis import plot_learned_transforms
        from monarch_sci.operators.pde.run_eval import load_run_model

        title = f"{name}: layer 0, learned (solid) vs DFT (dashed)"
        path = ctx.figure_path(f"learned_maps_{problem}.png")
        plot_learned_transforms(load_run_model(run), path, layer=0, vectors=3, title=title)
    return []


@register_section("pde.gpu_summary")
def gpu_summary(ctx: ReportContext, block: Block) -> list[str]:
    """One paragraph on the time box that set a GPU stage's budget (``options.summary``: the driver's
    ``summary.json``, relative to the spec; ``options.stage``: the stage)."""
    path = ctx.spec.base / block.options["summary"]
    stage = block.options.get("stage", "paper")
    if not path.is_file() or not ctx.by_stage.get(stage):
        return []
    g = json.loads(path.read_text())
    calib = g["phases"].get("calibrate", {})
    asked = sorted(set(ctx.spec.stages[stage].epochs.values()))
    return [
        f"Device: {g.get('device_name')} (torch {g.get('torch')}), all six runs at once, one process each. "
        f"Budget: {g.get('epochs')} epochs for every run, set by {g.get('epochs_reason')}; the stage asks for "
        f"{', '.join(map(str, asked))}. Phases (s): "
        + ", ".join(f"{k} {v['seconds']}" for k, v in g["phases"].items())
        + f"; slowest calibrated epoch {calib.get('slowest_seconds_per_epoch', float('nan')):.2f} s. "
        f"`pytest -m gpu tests/test_gpu.py` in the same call: {g.get('pytest_gpu', {}).get('summary', 'not run')}."
    ]
