"""The demo report's headline: this run, this project's converged study, and the published effect, side by side.

The converged column is read from the results files committed under ``benchmarks/results/`` (written by the
study ``benchmarks/studies/pde_science.toml`` and by ``benchmarks/mri_learned.py``), never typed here, so that
it cannot drift from the studies. Each cell says how many seeds it pools; a single run prints no ± (it has no spread).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The committed results of the converged studies (present in a clone of the repository).
RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results"
#: What the paper reports for mSENSE (not measured here; the PDE numbers are the ``pde compare`` job's).
PUBLISHED_MSENSE = "+1.5 dB (SKM-TEA knees, Poisson-disc masks)"


def _mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    return mean, (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0


def _seeds(n: int, std: float, fmt: str, unit: str = "") -> str:
    """`` ± std, N seeds`` or ``, 1 seed``: a spread only where there is one."""
    return f" ± {std:{fmt}}{unit}, {n} seeds" if n > 1 else ", 1 seed"


def converged_pde(results: Path = RESULTS, problem: str = "ns1e-3") -> dict[str, Any] | None:
    """The converged FFT vs Monarch comparison of the study ``pde_science`` (its final stage), ``None`` if absent."""
    path = results / "pde_science" / "results.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    runs = [r for r in data["runs"].get("final", []) if r["problem"] == problem]
    errors = {f: [r["test"]["test_rel_l2"] for r in runs if r["setting"] == f] for f in ("fft", "monarch")}
    if not all(errors.values()):
        return None
    spec = next(r["spec"] for r in runs if r["setting"] == "fft")
    change = _mean_std(errors["monarch"])[0] / _mean_std(errors["fft"])[0] - 1
    # the spec is recorded where it was run; the command names the repository's own copy of it
    study = Path(data["spec"])
    own = results.parents[1] / "benchmarks" / "studies" / study.name
    study = own.relative_to(results.parents[1]) if own.is_file() else study
    return {"errors": errors, "change": change, "ntrain": spec["ntrain"], "epochs": spec["epochs"],
            "command": f"monarch-sci study run {study.as_posix()} --stage final",
            "file": path.relative_to(results).as_posix()}  # fmt: skip


#: Labels of the learned rows in ``mri_learned.json``.
LABELS = {"msense": "mSENSE", "unrolled-fft": "unrolled-FFT", "unrolled-monarch": "unrolled-Monarch"}


def converged_mri(results: Path = RESULTS) -> dict[str, Any] | None:
    """PSNR differences of the main group of ``mri_learned.json`` (slice masks), or ``None`` if absent.

    ``{"msense": (gain, seed std, seeds), "unrolled-fft": ..., "unrolled-monarch": ..., "command", "file"}``:
    mSENSE − zero-filled SENSE at 2×, the unrolled networks − CG-SENSE (λ chosen on validation) at 4×.
    """
    path = results / "mri_learned.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    rows = [r for r in data["rows"] if r["mask_policy"] == "slice" and r["group"] in ("main", "classical")]

    def row(acc: int, start: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["accel"] == acc and r["label"].startswith(start)), None)

    out: dict[str, Any] = {}
    for key, acc, base in (("msense", 2, "zero-filled SENSE"), ("unrolled-fft", 4, "CG-SENSE"),
                           ("unrolled-monarch", 4, "CG-SENSE")):  # fmt: skip
        learned, classical = row(acc, LABELS[key]), row(acc, base)
        if learned is None or classical is None:
            return None
        out[key] = (learned["psnr"] - classical["psnr"], learned["psnr_std_seeds"], learned["seeds"])
    argv = [a for a in data.get("argv", []) if a != "--only-report"]
    out["command"] = "python " + " ".join(argv) if argv else "python benchmarks/mri_learned.py"
    out["file"] = path.name
    return out


def _pair(monarch: list[float], fft: list[float]) -> str:
    """``-x.x% (M vs F, 1 seed)`` or ``-x.x% (M ± s vs F ± s, N seeds)``."""
    (m, ms), (f, fs), n = _mean_std(monarch), _mean_std(fft), min(len(monarch), len(fft))
    if n == 1:
        return f"{m / f - 1:+.1%} ({m:.4f} vs {f:.4f}, 1 seed)"
    return f"{m / f - 1:+.1%} ({m:.4f} ± {ms:.4f} vs {f:.4f} ± {fs:.4f}, {n} seeds)"


def _gain(values: list[float]) -> str:
    mean, std = _mean_std(values)
    return f"{mean:+.2f} dB{_seeds(len(values), std, '.2f', ' dB')}"


def _published_pde() -> str:
    from monarch_sci.operators.pde.forecast_compare import PUBLISHED

    f, m = PUBLISHED["fft"]["1e-3"], PUBLISHED["monarch"]["1e-3"]
    return f"{m / f - 1:+.0%} ({m:.3f} vs {f:.3f}; 64², 1000 trajectories)"


#: The headline rows: key, what is compared, the published effect (a callable: read where it is defined).
ROWS = (
    ("pde", "NS ν = 1e-3: Monarch-FNO vs FFT-FNO, test rel. L2", _published_pde),
    ("msense", "MRI 2×: mSENSE − zero-filled SENSE, PSNR", PUBLISHED_MSENSE),
    ("unrolled-fft", "MRI 4×: unrolled (FFT) − CG-SENSE, PSNR", "—"),
    ("unrolled-monarch", "MRI 4×: unrolled (Monarch) − CG-SENSE, PSNR", "—"),
)


def headline(run: dict[str, Any], results: Path = RESULTS) -> list[str]:
    """Markdown lines: one row per comparison this run made; columns this run / converged study / published.

    ``run``: this run's values per seed: ``{"pde": {"fft": [...], "monarch": [...]}}`` (test relative L2) and
    ``{"msense" | "unrolled-fft" | "unrolled-monarch": [...]}`` (PSNR gains in dB); absent keys are skipped.
    """
    cp, cm = converged_pde(results), converged_mri(results)
    lines = [
        "| comparison | this run | this project's converged study (command below) | published |",
        "|---|---|---|---|",
    ]
    for key, what, published in ROWS:
        if key not in run:
            continue
        if key == "pde":
            mine = _pair(run[key]["monarch"], run[key]["fft"])
            study = "not found" if cp is None else (
                f"{_pair(cp['errors']['monarch'], cp['errors']['fft'])}; {cp['ntrain']} trajectories, "
                f"{cp['epochs']} epochs"
            )  # fmt: skip
        else:
            mine = _gain(run[key])
            study = "not found" if cm is None else f"{cm[key][0]:+.2f} dB{_seeds(cm[key][2], cm[key][1], '.2f', ' dB')}"
        lines.append(f"| {what} | {mine} | {study} | {published() if callable(published) else published} |")
    commands = []
    if cp is not None and "pde" in run:
        commands.append(f"`{cp['command']}` ({cp['file']})")
    if cm is not None and any(k in run for k in LABELS):
        commands.append(f"`{cm['command']}` ({cm['file']})")
    where = "`benchmarks/results/`" if results.is_dir() else f"`{results}`, which this installation lacks"
    lines += ["", f"Converged study: read from the committed results in {where}"
              + (f", produced by {' and '.join(commands)}." if commands else ".")]  # fmt: skip
    return lines


#: Each headline row's direction (the converged study's), as a phrase: where it holds, where it does not.
DIRECTIONS = {
    "pde": ("Monarch-FNO clearly below FFT-FNO", "Monarch-FNO is not clearly below FFT-FNO"),
    "msense": ("mSENSE above zero-filled SENSE", "mSENSE is not above zero-filled SENSE"),
    "unrolled-fft": (
        "the unrolled network (FFT) at or above CG-SENSE", "the unrolled network (FFT) stays below CG-SENSE"
    ),
    "unrolled-monarch": (
        "the unrolled network (Monarch) at or above CG-SENSE", "the unrolled network (Monarch) stays below CG-SENSE"
    ),
}  # fmt: skip


def _value(key: str, values: Any) -> float:
    """The row's signed effect: relative change of the mean error (PDE) or the mean PSNR gain in dB (MRI)."""
    if key == "pde":
        return _mean_std(values["monarch"])[0] / _mean_std(values["fft"])[0] - 1
    return _mean_std(values)[0]


#: "Clearly below": the Monarch-FNO's mean error at least this much lower than the FFT-FNO's.
CLEARLY = 0.05


def holds(key: str, value: float) -> bool:
    """Monarch clearly below FFT, mSENSE above zero-filled SENSE, an unrolled network at or above CG-SENSE."""
    return {"pde": value <= -CLEARLY, "msense": value > 0}.get(key, value >= 0)


def _shown(key: str, value: float) -> str:
    return f"{value:+.1%}" if key == "pde" else f"{value:+.2f} dB"


def directions(run: dict[str, Any], results: Path = RESULTS) -> list[str]:
    """Markdown lines saying, row by row, whether this run goes the converged study's way; a row that does not
    gets one plain sentence naming the budget at which it does (the converged study's), or saying that the
    study does not show it either."""
    cp, cm = converged_pde(results), converged_mri(results)
    held, missed = [], []
    for key, *_ in ROWS:
        if key not in run:
            continue
        value = _value(key, run[key])
        good, bad = DIRECTIONS[key]
        if holds(key, value):
            held.append(f"{good} ({_shown(key, value)})")
            continue
        if key == "pde":
            study = None if cp is None else (cp["change"], f"{cp['ntrain']} trajectories, {cp['epochs']} epochs, "
                                             f"`{cp['command']}`")  # fmt: skip
        else:
            study = None if cm is None else (cm[key][0], f"`{cm['command']}`")
        if study is None:
            where = "the converged study's results are not in this installation"
        elif holds(key, study[0]):
            where = f"the converged study's budget shows it ({_shown(key, study[0])}; {study[1]})"
        else:
            where = f"the converged study does not show it either ({_shown(key, study[0])}; {study[1]})"
        missed.append(f"At this demo's budget {bad} ({_shown(key, value)}); {where}.")
    lines = []
    if held:
        lines.append("As in the converged study, this run shows " + ", ".join(held) + ".")
    return lines + missed
