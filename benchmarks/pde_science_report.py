"""Tables and curves of ``pde_science.py`` from its finished runs (``benchmarks/results/pde_science_runs/*.json``).

Imported by ``pde_science.py --summarize``; writes ``benchmarks/results/pde_science.{md,json}`` and one PNG of
validation curves per stage. Only figures present in the run files are reported; missing runs are listed.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict

from pde_science import CONTROLS, EPOCHS, NS, NS_SPLIT, RESULTS, RUNS, SEEDS, STAGES, WORK, plan, run_name

PUBLISHED = {"ns1e-3": (0.017, 0.010), "ns1e-4": (0.178, 0.145), "ns1e-3-paper": (0.017, 0.010)}
COMMANDS = {
    "select": "OMP_NUM_THREADS=1 nice python benchmarks/pde_science.py --stage select --shard K/2   # K = 0, 1",
    "final": "OMP_NUM_THREADS=1 nice python benchmarks/pde_science.py --stage final --shard K/2    # K = 0, 1",
    "controls": "OMP_NUM_THREADS=1 nice python benchmarks/pde_science.py --stage controls --shard K/2",
    "paper": "python benchmarks/pde_science_gpu.py --budget 480 --out benchmarks/results/pde_science_gpu   # one GPU",
    "fno3d": "OMP_NUM_THREADS=1 nice python benchmarks/pde_science.py --stage fno3d --shard K/2    # K = 0, 1",
}
GPU_SUMMARY = RESULTS / "pde_science_gpu" / "summary.json"


def _load() -> dict[str, list[dict]]:
    by_stage: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(RUNS.glob("*.json")):
        r = json.loads(path.read_text())
        by_stage[r["stage"]].append(r)
    return by_stage


def _stat(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _fmt(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    m, s = _stat(values)
    return f"{m:.4f} ± {s:.4f}" if len(values) > 1 else f"{m:.4f} (1 seed)"


def _groups(runs: list[dict]) -> dict[tuple[str, str], list[dict]]:
    g: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        g[(r["problem"], r["setting"])].append(r)
    return g


def _change(a: list[float], b: list[float]) -> str:
    if not a or not b:
        return "—"
    return f"{100 * (statistics.mean(a) / statistics.mean(b) - 1):+.1f}%"


def _select_table(runs: list[dict]) -> list[str]:
    g = _groups(runs)
    lines = [
        "| problem | setting | validation score (mean ± std) | vs FFT | vs `monarch` (no anchor) | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for problem in STAGES["select"][0]:
        fft = [r["score"] for r in g.get((problem, "fft"), [])]
        base = [r["score"] for r in g.get((problem, "monarch"), [])]
        for setting in STAGES["select"][1]:
            v = [r["score"] for r in g.get((problem, setting), [])]
            if v:
                vs_base = "" if setting in ("fft", "monarch") else _change(v, base)
                vs_fft = "" if setting == "fft" else _change(v, fft)
                lines.append(f"| {problem} | {setting} | {_fmt(v)} | {vs_fft} | {vs_base} | {len(v)} |")
    return lines


def _final_table(runs: list[dict], stage: str) -> list[str]:
    g = _groups(runs)
    lines = [
        "| problem | model | test rel. L2 (mean ± std) | per seed | vs FFT | zero-shot 64² | converged | params "
        "| s/epoch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for problem in STAGES[stage][0]:
        fft = [r["test"]["test_rel_l2"] for r in g.get((problem, "fft"), [])]
        for setting in STAGES[stage][1]:
            rs = g.get((problem, setting), [])
            if not rs:
                continue
            v = [r["test"]["test_rel_l2"] for r in rs]
            conv = sum(r["converged"] for r in rs)
            lines.append(
                f"| {problem} | {setting} | {_fmt(v)} | {' / '.join(f'{x:.4f}' for x in v)} | "
                f"{'' if setting == 'fft' else _change(v, fft)} | {_fmt([r['test_2x'] for r in rs])} | "
                f"{conv}/{len(rs)} | {rs[0]['parameters']:,} | "
                f"{statistics.mean(r['seconds_per_epoch'] for r in rs):.1f} |"
            )
        if problem in PUBLISHED and stage in ("final", "paper"):
            f, m = PUBLISHED[problem]
            change = f"{100 * (m / f - 1):+.0f}%"
            lines.append(f"| {problem} | published FFT / Monarch (64², 1000 train) | {f} / {m} | | {change} | | | | |")
    return lines


#: What each control removes, in the order the reader meets them (the keys are ``CONTROLS``' settings).
CONTROL_LABELS = {
    "fft": "FFT (§2)",
    "fft-wide": "FFT, widened to ≥ the Monarch parameter count",
    "monarch-random": "Monarch from a random Monarch (DFT support and block norms)",
    "monarch-forward": "Monarch, only the forward maps learn",
    "monarch-inverse": "Monarch, only the inverse maps learn",
    "monarch": "Monarch (§2: DFT start, both directions learn)",
}


def _controls_section(controls: list[dict], final: list[dict]) -> tuple[list[str], str | None]:
    """The controls beside the §2 FFT and Monarch runs of the same seeds: a table, the share of the Monarch gain
    each control keeps, one figure and a paragraph written from the numbers (never a fixed sentence)."""
    problem = STAGES["controls"][0][0]
    rows: dict[str, dict[int, float]] = defaultdict(dict)
    params: dict[str, int] = {}
    converged: dict[str, list[bool]] = defaultdict(list)
    for r in [*final, *controls]:
        if r["problem"] == problem and r["setting"] in CONTROL_LABELS:
            rows[r["setting"]][r["seed"]] = r["test"]["test_rel_l2"]
            params[r["setting"]] = r["parameters"]
            converged[r["setting"]].append(r["converged"])
    if not any(s in rows for s in CONTROLS) or not rows.get("fft") or not rows.get("monarch"):
        return [], None
    lines = [
        "Every control is paired with the §2 FFT and Monarch runs of its own seeds. *Share of the gain*: "
        "(FFT − control) / (FFT − Monarch) over those seeds; 100% is all of the Monarch model's gain, 0% none; "
        "a control worse than FFT keeps none.",
        "",
        "| model | test rel. L2 (mean ± std) | per seed | vs FFT (same seeds) | share of the gain | converged "
        "| params |",
        "|---|---|---|---|---|---|---|",
    ]
    #: Per control: its mean, the FFT mean, its share of the gain, over the seeds it shares with §2.
    shares: dict[str, tuple[float, float, float, list[int]]] = {}
    for setting, label in CONTROL_LABELS.items():
        if setting not in rows:
            continue
        seeds = sorted(set(rows[setting]) & set(rows["fft"]) & set(rows["monarch"]))
        v = [rows[setting][s] for s in sorted(rows[setting])]
        per_seed = " / ".join(f"{rows[setting][s]:.4f} (s{s})" for s in sorted(rows[setting]))
        vs = share = ""
        if setting != "fft" and seeds:
            f, m, c = (statistics.mean(rows[k][s] for s in seeds) for k in ("fft", "monarch", setting))
            vs = _change([rows[setting][s] for s in seeds], [rows["fft"][s] for s in seeds])
            share = "none (worse than FFT)" if c > f else f"{100 * (f - c) / (f - m):.0f}%" if f != m else "—"
            shares[setting] = (c, f, (f - c) / (f - m) if f != m else float("nan"), seeds)
        conv = f"{sum(converged[setting])}/{len(converged[setting])}"
        lines.append(f"| {label} | {_fmt(v)} | {per_seed} | {vs} | {share} | {conv} | {params[setting]:,} |")
    lines += ["", _controls_paragraph(shares, rows), ""]
    return lines, _controls_figure(rows, params, controls + [r for r in final if r["problem"] == problem])


def _controls_paragraph(
    shares: dict[str, tuple[float, float, float, list[int]]], rows: dict[str, dict[int, float]]
) -> str:
    """What the controls say, in sentences built from the measured numbers (and their seed counts)."""

    def seeds(k: str) -> str:
        n = len(shares[k][3])
        return f"{n} seed{'s' if n > 1 else ''}"

    def beats(k: str) -> str:
        """How many of the paired seeds the control ends below the FFT run of the same seed."""
        s = shares[k][3]
        return f"{sum(rows[k][i] < rows['fft'][i] for i in s)} of {len(s)} seeds below FFT"

    parts = ["**What the controls say.**"]
    if "fft-wide" in shares:
        c, _, sh, _ = shares["fft-wide"]
        parts.append(
            f"Capacity: the FFT model widened to at least the Monarch parameter count reaches {c:.4f} "
            f"({seeds('fft-wide')}; {beats('fft-wide')}), {100 * sh:.0f}% of the Monarch model's gain"
            + (
                ", so extra parameters alone do not explain the gain."
                if sh < 0.5
                else ", so much of the gain could be capacity."
            )
        )
    if "monarch-random" in shares:
        c, f, _, _ = shares["monarch-random"]
        parts.append(
            f"Basis: the same Monarch model started from a random Monarch instead of the DFT ends at {c:.4f}, "
            f"{c / f:.1f}× the FFT error ({seeds('monarch-random')})"
            + ("; the gain needs the DFT start." if c > f else "; the DFT start is not needed for the gain.")
        )
    dirs = [k for k in ("monarch-forward", "monarch-inverse") if k in shares]
    if dirs:
        said = ", ".join(
            f"only the {k.split('-')[1]} maps {shares[k][0]:.4f} ({100 * shares[k][2]:.0f}% of the gain, {seeds(k)})"
            for k in dirs
        )
        parts.append(f"Direction: learning {said}.")
    parts.append(
        "How far the learned maps moved is in §4; what they became (learned rows and their spectra beside the DFT's) "
        "is in `pde_science_learned_maps_ns1e-3.png`."
    )
    return " ".join(parts)


def _controls_figure(rows: dict[str, dict[int, float]], params: dict[str, int], runs: list[dict]) -> str:
    """Left: test error of each control and the two §2 models, one dot per seed and a bar at the mean. Right: mean
    drift from the DFT per layer of the Monarch runs that start at the DFT."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from monarch_sci.training.checkpoint import save_figure

    order = [s for s in CONTROL_LABELS if s in rows]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
    for i, s in enumerate(order):
        v = [rows[s][k] for k in sorted(rows[s])]
        ax.bar(i, statistics.mean(v), color=f"C{i}", alpha=0.35)
        ax.plot([i] * len(v), v, "o", color=f"C{i}", ms=5)
    ax.axhline(statistics.mean(rows["fft"].values()), color="k", lw=0.8, ls="--", label="FFT mean")
    ticks = ["\n".join([*s.split("-"), f"{params[s] / 1e3:.0f}k"]) for s in order]
    ax.set_xticks(range(len(order)), ticks, fontsize=8)
    ax.set(yscale="log", ylabel="test relative L2 (dots: seeds)", title="NS ν = 1e-3: controls")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    drift: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r["setting"] in ("monarch", "monarch-forward", "monarch-inverse"):
            per_layer: dict[int, list[float]] = defaultdict(list)
            for row in r.get("drift", []):
                if row["learnable"]:
                    per_layer[row["layer"]].append(row["drift"])
            for layer, d in per_layer.items():
                drift[r["setting"]][layer].append(statistics.mean(d))
    for s, by_layer in drift.items():
        layers = sorted(by_layer)
        bx.plot(layers, [statistics.mean(by_layer[k]) for k in layers], "o-", color=f"C{order.index(s)}", label=s)
        bx.set_xticks(layers)
    bx.set(xlabel="Fourier layer", ylabel="‖M − D‖ / ‖D‖ (learnable maps, mean)", title="drift from the DFT")
    bx.grid(True, alpha=0.3)
    bx.legend(fontsize=8)
    name = "pde_science_controls.png"
    save_figure(fig, RESULTS / name)
    plt.close(fig)
    return name


def _fno3d_section(runs: list[dict]) -> list[str]:
    """FNO-3D (one space–time pass) on NS ν = 1e-3, FFT and Monarch, when any of its runs finished."""
    if not runs:
        return []
    return [
        "**FNO-3D, NS ν = 1e-3** (the 10 output snapshots in one space–time pass, modes 8 in x, y and time, the "
        f"rest as above). Command: `{COMMANDS['fno3d']}`.",
        "",
        *_final_table(runs, "fno3d"),
        "",
    ]


def _paper_section(runs: list[dict]) -> list[str]:
    """The GPU check at the published scale, with the time box that set its budget (``pde_science_gpu.py``)."""
    if not runs:
        return []
    lines = ["## 5. The published scale on one GPU (time-boxed)", "", f"Command: `{COMMANDS['paper']}`.", ""]
    if GPU_SUMMARY.is_file():
        g = json.loads(GPU_SUMMARY.read_text())
        calib = g["phases"].get("calibrate", {})
        lines += [
            f"Device: {g.get('device_name')} (torch {g.get('torch')}), all six runs at once, one process each. "
            f"Budget: {g.get('epochs')} epochs for every run, set by {g.get('epochs_reason')}; the stage asks for "
            f"{EPOCHS['paper']['ns']}. Phases (s): "
            + ", ".join(f"{k} {v['seconds']}" for k, v in g["phases"].items())
            + f"; slowest calibrated epoch {calib.get('slowest_seconds_per_epoch', float('nan')):.2f} s. "
            f"`pytest -m gpu tests/test_gpu.py` in the same call: {g.get('pytest_gpu', {}).get('summary', 'not run')}.",
            "",
        ]
    lines += [
        "Data: NS ν = 1e-3 (FNO forcing) solved at 256² (dt 0.01), stored and trained at 64², 1000 / 100 / 100 "
        "trajectories, 10 → 10 snapshots; FNO-2D, modes 12, width 20, four layers, otherwise as above (the "
        "published rows predict 10 → 40 at T = 50).",
        "",
        *_final_table(runs, "paper"),
        "",
        *_per_step(runs),
    ]
    return lines


def _per_step(runs: list[dict]) -> list[str]:
    g = _groups(runs)
    lines = []
    for problem in NS:
        rows = {s: g.get((problem, s), []) for s in ("fft", "monarch")}
        if not all(rows.values()):
            continue
        steps = len(rows["fft"][0]["test"]["test_rel_l2_per_step"])
        lines += [f"**{problem}: test relative L2 per rollout step (mean over seeds)**", ""]
        lines.append("| model | " + " | ".join(str(k + 1) for k in range(steps)) + " |")
        lines.append("|---|" + "---|" * steps)
        for s, rs in rows.items():
            mean = [statistics.mean(r["test"]["test_rel_l2_per_step"][k] for r in rs) for k in range(steps)]
            lines.append(f"| {s} | " + " | ".join(f"{v:.4f}" for v in mean) + " |")
        lines.append("")
    return lines


def _drift_table(runs: list[dict]) -> list[str]:
    """Relative distance ‖M − D‖/‖D‖ of the learned maps from the DFT, per layer, direction and axis (mean over
    seeds), from the ``drift`` rows of the finished Monarch runs."""
    cells: dict[tuple[str, str, int], dict[tuple[str, int], list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        for row in r.get("drift", []):
            cells[(r["problem"], r["setting"], row["layer"])][(row["direction"], row["axis"])].append(row["drift"])
    if not cells:
        return []
    cols = [(d, a) for d in ("forward", "inverse") for a in (0, 1)]
    lines = [
        "| problem | setting | layer | " + " | ".join(f"{d} axis {a}" for d, a in cols) + " | seeds |",
        "|---|---|---|" + "---|" * (len(cols) + 1),
    ]
    for (problem, setting, layer), c in sorted(cells.items()):
        vals = " | ".join(f"{statistics.mean(c[k]):.3f}" if c.get(k) else "—" for k in cols)
        lines.append(f"| {problem} | {setting} | {layer} | {vals} | {max(len(v) for v in c.values())} |")
    return lines


def _maps_figure(stage: str = "final", problem: str = "ns1e-3", seed: int = 0) -> str | None:
    """Learned basis vectors and spectra of the first layer of one finished Monarch run whose folder is here."""
    run = WORK / run_name(stage, problem, "monarch", seed)
    if not (run / "best.pt").is_file() or not (RUNS / f"{run.name}.json").is_file():
        return None
    from monarch_sci.operators.pde.factor_analysis import plot_learned_transforms
    from monarch_sci.operators.pde.run_eval import load_run_model

    name = f"pde_science_learned_maps_{problem}.png"
    title = f"{run.name}: layer 0, learned (solid) vs DFT (dashed)"
    plot_learned_transforms(load_run_model(run), RESULTS / name, layer=0, vectors=3, title=title)
    return name


def _curves(by_stage: dict[str, list[dict]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from monarch_sci.training.checkpoint import save_figure

    names = []
    for stage, runs in by_stage.items():
        problems = [p for p in STAGES[stage][0] if any(r["problem"] == p for r in runs)]
        if not problems:
            continue
        fig, axes = plt.subplots(1, len(problems), figsize=(6 * len(problems), 4.2), squeeze=False)
        colours = {s: f"C{i % 10}" for i, s in enumerate(STAGES[stage][1])}
        for ax, problem in zip(axes[0], problems, strict=True):
            seen = set()
            for r in sorted(runs, key=lambda r: (r["setting"], r["seed"])):
                if r["problem"] != problem:
                    continue
                label = None if r["setting"] in seen else r["setting"]
                seen.add(r["setting"])
                ax.semilogy(range(1, len(r["val_curve"]) + 1), r["val_curve"], color=colours[r["setting"]],
                            lw=1, alpha=0.8, label=label)  # fmt: skip
            ax.set(title=f"{stage}: {problem}", xlabel="epoch", ylabel="validation rel. L2")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        name = f"pde_science_{stage}_curves.png"
        save_figure(fig, RESULTS / name)
        plt.close(fig)
        names.append(name)
    return names


def summarize() -> str:
    from monarch_sci.training.checkpoint import write_json_atomic, write_text_atomic

    by_stage = _load()
    missing = {
        s: [run_name(s, *r) for r in plan(s) if not (RUNS / f"{run_name(s, *r)}.json").is_file()] for s in STAGES
    }
    lines = [
        "# PDE science: FFT-FNO vs Monarch-FNO (issue 14)",
        "",
        "Produced by `benchmarks/pde_science.py` (protocol in its docstring); this page by "
        "`python benchmarks/pde_science.py --summarize`. CPU, one thread per run, the shared 2-core machine.",
        "",
        f"Data: Navier–Stokes (FNO forcing), {NS_SPLIT['final'][0]} / {NS_SPLIT['final'][1]} / "
        f"{NS_SPLIT['final'][2]} trajectories train / validation / test, 10 → 10 snapshots, stored at 64², trained "
        "at 32²; Darcy 600 / 100 / 100 samples (separate files), trained at 32². Model: FNO-2D, modes 8, width 20, "
        "four layers, Adam lr 1e-3, weight decay 1e-4, cosine schedule over the budget, batch 20; best epoch on "
        f"validation. Budgets (epochs): {EPOCHS}. Seeds: {SEEDS}.",
        "",
        "## 1. Selection (validation data only)",
        "",
        f"Command: `{COMMANDS['select']}`. NS score: relative L2 on trajectories 550–599 (the epoch chosen on "
        "500–549); Darcy score: best validation relative L2. No test sample is read in this stage.",
        "",
        *_select_table(by_stage.get("select", [])),
        "",
        "## 2. Converged comparison (test, read once per run)",
        "",
        f"Command: `{COMMANDS['final']}`.",
        "",
        *_final_table(by_stage.get("final", []), "final"),
        "",
        *_per_step(by_stage.get("final", [])),
        *_fno3d_section(by_stage.get("fno3d", [])),
        "## 3. Controls (NS ν = 1e-3)",
        "",
        f"Command: `{COMMANDS['controls']}`.",
        "",
    ]
    controls, controls_figure = _controls_section(by_stage.get("controls", []), by_stage.get("final", []))
    lines += controls or [*_final_table(by_stage.get("controls", []), "controls"), ""]
    drift = _drift_table([*by_stage.get("final", []), *by_stage.get("controls", []), *by_stage.get("paper", [])])
    if drift:
        lines += ["## 4. How far the learned maps moved from the DFT (best checkpoints)", "", *drift, ""]
    lines += _paper_section(by_stage.get("paper", []))
    figures = _curves(by_stage) + ([controls_figure] if controls_figure else [])
    figures += [f for f in (_maps_figure(problem=p) for p in (*NS, "darcy")) if f]
    lines += ["Curves: " + ", ".join(f"`{f}`" for f in figures), ""] if figures else []
    todo = {s: m for s, m in missing.items() if m}
    if todo:
        lines += ["## Runs not finished yet", ""]
        lines += [
            f"- {s}: {len(m)} of {len(plan(s))} ({', '.join(m[:6])}{' …' if len(m) > 6 else ''})"
            for s, m in todo.items()
        ]
    text = "\n".join(lines) + "\n"
    write_text_atomic(RESULTS / "pde_science.md", text)
    write_json_atomic(RESULTS / "pde_science.json", {"runs": by_stage, "missing": missing})
    return text
