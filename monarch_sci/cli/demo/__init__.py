"""``monarch-sci demo``: the whole story on data the toolkit makes itself, into one report folder.

1. Navier–Stokes data (``ns generate``), FFT-FNO vs Monarch-FNO trained on it (``pde compare``);
2. simulated multi-coil MRI in the fastMRI layout (``mri simulate``); mSENSE (2×) and the unrolled network with
   FFT and with Monarch transforms (4×) trained on it (the typed API below ``mri train``), each compared with
   zero-filled SENSE and CG-SENSE on held-out volumes (``mri compare``);
3. ``REPORT/report.md``: a headline table with three labelled columns per comparison (this run, this project's
   converged study read from ``benchmarks/results/``, the published effect), a sentence per row saying whether
   this run goes the converged study's way (and, where not, the budget at which it does), then the detailed
   tables and links to every plot.

Every step is one of the toolkit's own jobs, called in-process with the preset's sizes, so the report shows
exactly what a user gets from those commands. Rerunning resumes: finished steps are skipped (their outputs
are kept), unfinished training runs continue from their checkpoints. ``--size`` scales it: ``tiny`` (a
smoke test, ~1 min), ``small`` (default; its time on a 2-core CPU is measured in
``benchmarks/results/first_run_times.md``), ``large`` (for a GPU or a long CPU run).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Literal

from monarch_sci.cli.common import UserError, add_flags, resolve_device, set_threads

#: Sizes per preset. ns_gen is the solver grid, ns_res the stored (training) grid; ns_record snapshots over
#: [0, ns_T]. The small preset follows the converged studies' protocols at a smaller budget, scored on
#: validation data by ``benchmarks/demo_budget.py`` (``benchmarks/results/demo_budget.md``): NS snapshots every
#: time unit over T = 20 and a cosine schedule as in ``benchmarks/pde_science.py`` (solved at 32² instead of 64²
#: so that the data take seconds); MRI at 64² with the unrolled network's CG-SENSE warm start at λ = 0.1, the
#: value ``benchmarks/mri_learned.py`` chose on validation (the model's default 1e-3 starts it from a noisy
#: image), and mSENSE, which costs little per epoch, trained longer than the unrolled networks.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "ns_n": 24, "ns_gen": 32, "ns_res": 16, "ns_T": 6, "ns_record": 12, "ntrain": 14, "nval": 5, "ntest": 5,
        "modes": 4, "width": 8, "pde_epochs": 2, "pde_batch": 7, "pde_scheduler": "cosine", "t_in": 6, "t_out": 6,
        "mri_train_vol": 3, "mri_test_vol": 2, "slices": 2, "coils": 4, "mri_size": 64, "mri_batch": 2,
        "mri_epochs": 2, "msense_epochs": 2, "unrolled": {"cascades": 2, "channels": 8, "init_lam": 0.1}, "seeds": [0],
    },
    "small": {
        "ns_n": 200, "ns_gen": 32, "ns_res": 32, "ns_T": 20, "ns_record": 20, "ntrain": 150, "nval": 25,
        "ntest": 25, "modes": 8, "width": 20, "pde_epochs": 20, "pde_batch": 10, "pde_scheduler": "cosine",
        "t_in": 10, "t_out": 10,
        "mri_train_vol": 8, "mri_test_vol": 3, "slices": 4, "coils": 8, "mri_size": 64, "mri_batch": 2,
        "mri_epochs": 12, "msense_epochs": 40, "unrolled": {"cascades": 4, "channels": 16, "init_lam": 0.1},
        "seeds": [0],
    },
    "large": {
        "ns_n": 1000, "ns_gen": 256, "ns_res": 64, "ns_T": 50, "ns_record": 50, "ntrain": 800, "nval": 100,
        "ntest": 100, "modes": 12, "width": 20, "pde_epochs": 500, "pde_batch": 20, "pde_scheduler": "cosine",
        "t_in": 10, "t_out": 40,
        "mri_train_vol": 16, "mri_test_vol": 4, "slices": 8, "coils": 8, "mri_size": 320, "mri_batch": 4,
        "mri_epochs": 50, "msense_epochs": 50, "unrolled": {"init_lam": 0.1}, "seeds": [0, 1, 2],
    },
}  # fmt: skip

#: What the papers report (not measured here; shown beside our numbers, labelled).
PUBLISHED_MRI = (
    "mSENSE (learnable IFFT-initialised Monarch) vs zero-filled SENSE: **+1.5 dB PSNR** at 2× on SKM-TEA knees "
    "(the dataset's Poisson-disc masks); mSENSE vs a U-Net when both learn from one scan: **up to +4.4 dB**."
)


def register(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser(
        "demo",
        help="run the whole story (PDE and MRI) on generated data and write a report",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.set_defaults(group_parser=p, func=cmd_demo)
    p.add_argument("--out", type=Path, default=Path("reports/demo"), help="report folder (data and runs inside)")
    p.add_argument("--size", choices=sorted(PRESETS), default="small", help="preset sizes")
    add_flags(p, "device", "threads", "no_progress", device="cpu")
    p.add_argument("--skip-pde", action="store_true", help="only the MRI half")
    p.add_argument("--skip-mri", action="store_true", help="only the PDE half")


def _run(argv: list[str], done: Path | None = None) -> None:
    """Run one toolkit job in-process; skip it when ``done`` (its final output) already exists."""
    from monarch_sci.cli import main

    if done is not None and done.exists():
        print(f"demo: {argv[0]} {argv[1]}: done already ({done})", flush=True)
        return
    print("demo: monarch-sci " + " ".join(argv), flush=True)
    status = main(argv)
    if status:
        raise UserError(f"the step `monarch-sci {' '.join(argv)}` failed with status {status} (its message is above)")


def _threads(args: argparse.Namespace) -> list[str]:
    return [] if args.threads is None else ["--threads", str(args.threads)]


def _progress(args: argparse.Namespace) -> list[str]:
    """The demo's own ``--progress`` style, passed on to each step."""
    return ["--progress", args.progress_style]


def _pde(args: argparse.Namespace, P: dict[str, Any], out: Path) -> tuple[str, dict[str, list[float]]]:
    """Generate the data and compare the two FNOs: ``(the compare table, test errors per seed by fourier)``."""
    from monarch_sci.operators.pde import ForecastSpec, compare_forecasters

    data = out / "data" / "ns.h5"
    _run(
        [
            "ns", "generate", "--n", str(P["ns_n"]), "--visc", "1e-3", "--T", str(P["ns_T"]),
            "--record", str(P["ns_record"]), "--resolution", str(P["ns_res"]),
            "--gen-resolution", str(P["ns_gen"]), "--solve-batch", "50",
            "--seed", "0", "--device", args.device, *_progress(args), "--out", str(data), *_threads(args),
        ],
        done=None,  # ns generate resumes by itself and returns at once when the store is complete
    )  # fmt: skip
    compare = out / "pde"
    if (compare / "compare.md").exists() and (compare / "compare.json").exists():
        print(f"demo: pde compare: done already ({compare / 'compare.md'})", flush=True)
        rows = json.loads((compare / "compare.json").read_text())["rows"]
        return (compare / "compare.md").read_text(), {f: rows[f]["rel_l2"] for f in ("fft", "monarch")}
    set_threads(args.threads)
    spec = ForecastSpec(
        data, model="fno2d", modes=P["modes"], width=P["width"], t_in=P["t_in"], t_out=P["t_out"],
        ntrain=P["ntrain"], nval=P["nval"], ntest=P["ntest"], epochs=P["pde_epochs"], batch_size=P["pde_batch"],
        scheduler=P["pde_scheduler"], step_size=max(1, P["pde_epochs"] // 2),
        device=str(resolve_device(args.device)), threads=args.threads, progress=not args.no_progress,
    )  # fmt: skip
    print(f"demo: pde compare (FFT vs Monarch FNO, seeds {P['seeds']}) -> {compare}", flush=True)
    summary = compare_forecasters(spec, compare, seeds=P["seeds"])
    return summary["table"], {f: summary["rows"][f]["rel_l2"] for f in ("fft", "monarch")}


def _train(spec, run: Path) -> Path:
    """Train (or resume, or reuse when finished) one learned MRI model with the typed API."""
    from monarch_sci.operators.mri import train_recon_model

    if _finished(run):
        print(f"demo: {run.name}: done already", flush=True)
        return run
    print(f"demo: train {spec.model} ({spec.hparams.get('fourier', 'fft')}, {spec.acceleration}x) -> {run}", flush=True)
    train_recon_model(spec, run, resume=(run / "last.pt").is_file())
    return run


def _simulated(folder: Path) -> Path:
    """The record that marks ``folder`` as simulated: ``FOLDER.json`` beside it (or, in a folder written before the
    record moved out of it, ``simulate.json`` inside)."""
    from monarch_sci.training.records import folder_record_path

    old = folder / "simulate.json"
    return old if old.is_file() else folder_record_path(folder)


def _mri(
    args: argparse.Namespace, P: dict[str, Any], out: Path, held_out: Literal["test", "val"] = "test"
) -> tuple[list[tuple[int, str]], dict[str, Any]]:
    """Simulate, train and compare: ``(the compare table per acceleration, the compare results per acceleration)``.

    ``held_out="val"`` compares on validation volumes instead of the test volumes (how the presets were chosen,
    ``benchmarks/demo_budget.py``); the test volumes are then never simulated.
    """
    from monarch_sci.operators.mri import ReconTrainSpec

    train_dir, test_dir = out / "data" / "mri_train", out / "data" / f"mri_{held_out}"
    common = ["--slices", str(P["slices"]), "--coils", str(P["coils"]), "--size", str(P["mri_size"])]
    # Different seeds: the held-out volumes are other anatomy than the training volumes.
    seed = {"test": 1, "val": 2}[held_out]
    splits = ((train_dir, P["mri_train_vol"], 0, "train"), (test_dir, P["mri_test_vol"], seed, held_out))
    for folder, nvol, seed, prefix in splits:
        _run(
            ["mri", "simulate", "--volumes", str(nvol), "--seed", str(seed), "--prefix", prefix, "--out", str(folder),
             *_progress(args), *common],
            done=_simulated(folder),
        )  # fmt: skip
    device = str(resolve_device(args.device))
    spec = {"data": train_dir, "batch_size": P["mri_batch"], "seed": 0, "device": device, "threads": args.threads,
            "progress": not args.no_progress, "cache_dir": out / "runs" / "cache"}  # fmt: skip
    runs = out / "runs"
    msense = _train(
        ReconTrainSpec(model="msense", acceleration=2, epochs=P["msense_epochs"], **spec), runs / "msense_2x"
    )
    # The Monarch factors learn at 1e-5: chosen on validation data in benchmarks/results/mri_learned.md (at the
    # main rate the learned transform drifts and the validation PSNR falls after a few epochs).
    unrolled = {
        fourier: _train(
            ReconTrainSpec(
                model="unrolled",
                acceleration=4,
                hparams={"fourier": fourier, **P["unrolled"]},
                factor_lr=1e-5,
                epochs=P["mri_epochs"],
                **spec,
            ),
            runs / f"unrolled_{fourier}_4x",
        )
        for fourier in ("fft", "monarch")
    }
    tables, results = [], {}
    for acc, learned in ((2, [msense]), (4, list(unrolled.values()))):
        compare = out / (f"mri_{acc}x" if held_out == "test" else f"mri_{acc}x_{held_out}")
        _run(
            ["mri", "compare", "--data", str(test_dir), "--accelerations", str(acc), "--mask-type", "random",
             "--methods", "zero_filled_sense", "cg_sense", *map(str, learned), *_progress(args),
             "--out", str(compare), *_threads(args)],
            done=compare / "results.md",
        )  # fmt: skip
        tables.append((acc, (compare / "results.md").read_text()))
        results[acc] = json.loads((compare / "results.json").read_text())
    return tables, results


def _finished(run: Path) -> bool:
    try:
        return json.loads((run / "record.json").read_text()).get("status") == "finished"
    except (OSError, ValueError):
        return False


def _psnr_gain(results: dict[str, Any], acc: int, prefix: str, base: str) -> float | None:
    """PSNR of the first learned row named ``prefix...`` minus the ``base`` row at ``acc`` (``None``: absent)."""
    rows = {r["method"]: r for r in results[acc]["summary"] if r["acceleration"] == acc}
    learned = [r for name, r in rows.items() if name.lower().startswith(prefix.lower())]
    if base not in rows or not learned:
        return None
    return learned[0]["psnr"] - rows[base]["psnr"]


def _gain(results: dict[str, Any], acc: int, prefix: str, base: str) -> str:
    """``"+x.xx dB"`` (see :func:`_psnr_gain`), ``"n/a"`` when a row is absent."""
    gain = _psnr_gain(results, acc, prefix, base)
    return "n/a" if gain is None else f"{gain:+.2f} dB"


def _gains(results: dict[str, Any]) -> dict[str, list[float]]:
    """This run's PSNR gains (one training seed each) for the headline table."""
    found = {
        "msense": _psnr_gain(results, 2, "msense", "zero_filled_sense"),
        **{f"unrolled-{f}": _psnr_gain(results, 4, f"unrolled-{f}", "cg_sense") for f in ("fft", "monarch")},
    }
    return {k: [v] for k, v in found.items() if v is not None}


def _learned_summary(results: dict[str, Any]) -> str:
    """Our measured gains, as sentences (mean over the held-out volumes)."""
    vols = results[2]["summary"][0]["volumes"]
    msense = _gain(results, 2, "msense", "zero_filled_sense")
    fft, monarch = (_gain(results, 4, f"unrolled-{f}", "cg_sense") for f in ("fft", "monarch"))
    return (
        f"Measured here ({vols} held-out simulated volumes, random line masks for training and test): mSENSE "
        f"{msense} PSNR over zero-filled SENSE at 2×; the unrolled network {fft} (FFT) and {monarch} (Monarch) "
        "over CG-SENSE at 4×."
    )


def _plots(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*.png") if "data" not in p.relative_to(out).parts)


def cmd_demo(args: argparse.Namespace) -> int:
    P = PRESETS[args.size]
    out: Path = args.out
    set_threads(args.threads)  # checked, like the device, before anything is written
    resolve_device(args.device)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: expected a folder, got a file")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sections = [
        f"# monarch-sci demo report ({args.size})",
        "",
        "Everything below was measured by `monarch-sci demo --size "
        f"{args.size}` on data the toolkit generated itself. Published numbers are quoted for reference and "
        "labelled; they come from full-size benchmarks, not from this run.",
    ]
    from monarch_sci.cli.demo.report import directions, headline

    details: list[str] = []
    measured: dict[str, Any] = {}
    if not args.skip_pde:
        table, measured["pde"] = _pde(args, P, out)
        details += ["", "## PDE: FFT-FNO vs Monarch-FNO on 2-D Navier–Stokes (ν = 1e-3)", "", table]
    if not args.skip_mri:
        tables, results = _mri(args, P, out)
        measured.update(_gains(results))
        details += ["", "## MRI: classical and learned reconstruction of simulated multi-coil scans (fastMRI layout)"]
        for acc, table in tables:
            what = "mSENSE (learned inverse Fourier)" if acc == 2 else "the unrolled network, FFT vs Monarch"
            details += ["", f"### {acc}×: {what} beside zero-filled SENSE and CG-SENSE", "", table]
        details += ["", _learned_summary(results), "", f"Published (not measured here): {PUBLISHED_MRI}"]
    sections += ["", "## The result", "", *headline(measured), "", *directions(measured), *details]
    sections += ["", "## Plots", ""] + [f"- [{p}]({p})" for p in _plots(out)]
    sections += ["", f"Total time: {time.perf_counter() - t0:.0f} s (this invocation)."]
    report = out / "report.md"
    report.write_text("\n".join(sections) + "\n")
    print(f"demo: report written to {report.resolve()}")
    return 0
