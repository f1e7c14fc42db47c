"""``monarch-sci pde``: train a Fourier neural operator on Navier–Stokes data, or compare FFT and Monarch.

* ``pde train --data FILE --model fno2d|fno3d --transform fft|monarch --epochs E --batch B --out DIR``
  trains one model (DDP under ``torchrun``), keeps ``best.pt``/``last.pt`` and ``record.json`` in ``DIR``,
  evaluates the best checkpoint on the test split and draws the plots (PNG).
* ``pde compare --data FILE --epochs E --seeds 0 1 2 --out DIR`` trains the FFT and the Monarch model on the
  same data, split, seeds and budget (one sub-folder per run; rerunning the command resumes unfinished runs
  and reuses finished ones) and writes ``DIR/compare.md`` (the table), ``DIR/compare.json`` and
  ``DIR/error_per_step.png``.

Splits are fixed (independent of the seed): samples ``[0, ntrain)`` train, the next ``nval`` validate (they
choose ``best.pt``; nothing is tuned on the test split), the next ``ntest`` test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

# Published relative L2 errors (FNO-2D style benchmark at ν = 1e-3 / 1e-4 / 1e-5), FFT-FNO vs Monarch-FNO.
PUBLISHED = {
    "fft": {"1e-3": 0.017, "1e-4": 0.178, "1e-5": 0.155},
    "monarch": {"1e-3": 0.010, "1e-4": 0.145, "1e-5": 0.136},
}


def register(groups: argparse._SubParsersAction) -> None:
    pde = groups.add_parser("pde", help="Fourier neural operators on Navier–Stokes: train, compare")
    pde.set_defaults(group_parser=pde)
    sub = pde.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="train one FNO (FFT or Monarch transforms)")
    _common(train)
    train.add_argument("--transform", choices=("fft", "monarch"), default="fft")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", type=Path, required=True, help="run folder")
    train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    train.add_argument("--stop-after", type=int, default=None, help="stop after this many epochs (resumable)")
    train.set_defaults(func=cmd_train)

    compare = sub.add_parser("compare", help="FFT vs Monarch FNO on the same data, split, seeds and budget")
    _common(compare)
    compare.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    compare.add_argument("--transforms", nargs="+", choices=("fft", "monarch"), default=["fft", "monarch"])
    compare.add_argument("--out", type=Path, required=True, help="folder holding one run folder per model/seed")
    compare.set_defaults(func=cmd_compare)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="Navier–Stokes store (.h5) or FNO .mat file")
    p.add_argument("--model", choices=("fno2d", "fno3d"), default="fno2d")
    p.add_argument("--modes", type=int, default=8, help="Fourier modes kept per axis (and sign)")
    p.add_argument("--width", type=int, default=20)
    p.add_argument("--t-in", type=int, default=10, help="input snapshots")
    p.add_argument("--t-out", type=int, default=10, help="predicted snapshots")
    p.add_argument("--sub", type=int, default=1, help="spatial subsampling stride of the stored grid")
    p.add_argument("--ntrain", type=int, default=300)
    p.add_argument("--nval", type=int, default=50)
    p.add_argument("--ntest", type=int, default=50)
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--batch", type=int, default=20, help="global batch size")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--step-size", type=int, default=100, help="StepLR period (epochs)")
    p.add_argument("--gamma", type=float, default=0.5, help="StepLR factor")
    p.add_argument("--factor-lr", type=float, default=None, help="lr of the Monarch factors (default: --lr)")
    p.add_argument("--factor-weight-decay", type=float, default=0.0, help="weight decay of the Monarch factors")
    p.add_argument(
        "--learn", choices=("both", "forward", "inverse", "none"), default="both", help="learnable Monarch factors"
    )
    p.add_argument("--share-transform", action="store_true", help="one Monarch transform for all four layers")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--no-progress", action="store_true")


# -- data and model ------------------------------------------------------------------------------------------
def _load_splits(args: argparse.Namespace) -> tuple[Any, Any, Any, dict[str, Any]]:
    import numpy as np

    from monarch_sci.datasets.pde.ns_dataset import NavierStokesDataset, detect_ns_format
    from monarch_sci.operators.pde.tasks import ForecastWindows

    if min(args.ntrain, args.nval, args.ntest) < 1:
        raise ValueError(f"--ntrain, --nval and --ntest must be >= 1, got {args.ntrain}, {args.nval}, {args.ntest}")
    fmt = detect_ns_format(args.data)
    probe = NavierStokesDataset(args.data, t_in=args.t_in, t_out=args.t_out, sub=args.sub)
    n = len(probe.indices)
    need = args.ntrain + args.nval + args.ntest
    if need > n:
        raise ValueError(
            f"{args.data} holds {n} samples, but ntrain={args.ntrain} + nval={args.nval} + ntest={args.ntest} = {need}"
        )
    bounds = np.cumsum([0, args.ntrain, args.nval, args.ntest])
    splits = []
    for a, b in itertools.pairwise(bounds):
        ds = NavierStokesDataset(args.data, t_in=args.t_in, t_out=args.t_out, sub=args.sub, indices=range(a, b))
        x, y = ds.tensors()
        ds.close()
        splits.append(ForecastWindows(x, y, kind=args.model))
    info = {"format": fmt, "samples_in_file": n, "resolution": int(splits[0].x.shape[1]), "visc": _visc(args.data)}
    return splits[0], splits[1], splits[2], info


def _visc(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            v = h5.attrs.get("visc")
    except OSError:
        return "unknown"
    return "unknown" if v is None else f"{float(v):.0e}".replace("e-0", "e-")


def _build(args: argparse.Namespace, transform: str, s: int):
    from monarch_sci.operators.pde.fno import FNO2d, FNO3d
    from monarch_sci.operators.pde.tasks import ForecastModel

    common = {"fourier": transform, "learn": args.learn, "share_transform": args.share_transform}
    m = args.modes
    if args.model == "fno2d":
        fno = FNO2d(m, m, args.width, t_in=args.t_in, size=(s, s), **common)
    else:
        fno = FNO3d(m, m, m, args.width, t_in=args.t_in, size=(s, s, args.t_out), **common)
    return ForecastModel(fno, args.t_out)


def _check_fits(args: argparse.Namespace, s: int) -> None:
    """Refuse, before any training, a grid on which the requested modes do not fit."""
    if 2 * args.modes > s:
        raise ValueError(f"--modes {args.modes} keeps {2 * args.modes} frequencies per axis, the grid is only {s}×{s}")
    if args.model == "fno3d" and args.modes > (args.t_out + 6) // 2 + 1:
        raise ValueError(f"--modes {args.modes} does not fit the padded time axis of t_out + 6 = {args.t_out + 6}")


def _args_record(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("func", "group_parser")
    }


# -- one run -------------------------------------------------------------------------------------------------
def train_run(
    args: argparse.Namespace, transform: str, seed: int, out: Path, *, resume: bool, stop_after: int | None = None
) -> dict[str, Any] | None:
    """Train one model into ``out``; returns its record on rank 0 (``None`` on other ranks)."""
    import torch

    from monarch_sci.operators.pde.fno import count_parameters
    from monarch_sci.operators.pde.tasks import ForecastTask
    from monarch_sci.training.checkpoint import load_checkpoint, write_text_atomic
    from monarch_sci.training.trainer import TrainConfig, Trainer, seed_everything

    if args.threads:
        torch.set_num_threads(args.threads)
    train, val, test, info = _load_splits(args)
    s = info["resolution"]
    _check_fits(args, s)
    seed_everything(seed)
    model = _build(args, transform, s)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch,
        lr=args.lr,
        weight_decay=args.weight_decay,
        step_size=args.step_size,
        gamma=args.gamma,
        factor_lr=args.factor_lr,
        factor_weight_decay=args.factor_weight_decay,
        seed=seed,
        monitor="val_rel_l2",
        stop_after=stop_after,
        progress=not args.no_progress,
    )
    task = ForecastTask(args.model)
    record = {"command": "pde train", "arguments": {**_args_record(args), "transform": transform, "seed": seed}}
    trainer = Trainer(model, task, train, val, config, out=out, record={**record, "data": info})
    result = trainer.fit(resume=resume)
    if not trainer.is_main or result["status"] != "finished":
        return None
    # Test the best checkpoint (chosen on the validation split).
    model.load_state_dict(load_checkpoint(out / "best.pt")["model"])
    model.eval()
    with torch.no_grad():
        test_metrics = task.evaluate(model, test, prefix="test")
        pred, true = task.predict(model, test)
        ms = _inference_ms(model, test)
    rec = json.loads((out / "record.json").read_text())
    rec["test"] = {**test_metrics, "inference_ms_per_sample": ms, "samples": len(test)}
    rec["parameters"] = count_parameters(model)
    rec["steps_per_epoch"] = -(-len(train) // args.batch)
    write_text_atomic(out / "record.json", json.dumps(rec, indent=1))  # the resume reads it back
    _plots(rec, pred, true, out, transform)
    return rec


def _inference_ms(model, dataset, batch: int = 10) -> float:
    """Milliseconds per sample of a forward pass (rollout included), batches of ``batch``, after a warm-up."""
    import torch

    x = torch.stack([dataset[i][0] for i in range(min(len(dataset), batch))])
    model(x)  # warm-up
    reps = max(1, len(dataset) // batch)
    t0 = time.perf_counter()
    for _ in range(reps):
        model(x)
    return 1000 * (time.perf_counter() - t0) / (reps * x.shape[0])


def _plots(rec: dict, pred, true, out: Path, label: str) -> None:
    from monarch_sci.operators.pde.plots import plot_error_per_step, plot_fields, plot_loss_curves

    plot_loss_curves(rec["epochs"], out / "loss_curves.png", title=label)
    plot_error_per_step({label: (rec["test"]["test_rel_l2_per_step"], None)}, out / "error_per_step.png")
    for i in range(min(2, pred.shape[0])):
        plot_fields(true[i], pred[i], out / f"fields_test{i}.png")


def _report(message: str) -> int:
    print(f"monarch-sci pde: error: {message}", file=sys.stderr)
    return 2


def cmd_train(args: argparse.Namespace) -> int:
    from monarch_sci.training.trainer import NonFiniteError

    if args.resume and not (args.out / "last.pt").is_file():
        return _report(f"--resume: no checkpoint {args.out / 'last.pt'} to resume from")
    try:
        rec = train_run(args, args.transform, args.seed, args.out, resume=args.resume, stop_after=args.stop_after)
    except NonFiniteError as err:
        return _report(str(err)) + 1
    except (ValueError, FileNotFoundError) as err:
        return _report(str(err))
    if rec is not None:
        t = rec["test"]
        print(f"test relative L2 {t['test_rel_l2']:.4f} ({t['samples']} samples); run folder {args.out}")
    return 0


# -- the comparison ------------------------------------------------------------------------------------------
def cmd_compare(args: argparse.Namespace) -> int:
    import numpy as np

    runs: dict[str, list[dict]] = {t: [] for t in args.transforms}
    for seed in args.seeds:
        for transform in args.transforms:
            out = args.out / f"{transform}_seed{seed}"
            rec_path = out / "record.json"
            rec = json.loads(rec_path.read_text()) if rec_path.is_file() else None
            if rec is None or "test" not in rec:
                resume = (out / "last.pt").is_file()
                print(f"== {transform}, seed {seed} -> {out}" + (" (resuming)" if resume else ""), flush=True)
                try:
                    rec = train_run(args, transform, seed, out, resume=resume)
                except (ValueError, FileNotFoundError) as err:
                    return _report(str(err))
                if rec is None:
                    return 0  # not rank 0
            runs[transform].append(rec)
    rows = {}
    for transform, recs in runs.items():
        errs = np.array([r["test"]["test_rel_l2"] for r in recs])
        per_step = np.array([r["test"]["test_rel_l2_per_step"] for r in recs])
        sec_epoch = np.array([np.mean([h["train_seconds"] for h in r["epochs"]]) for r in recs])
        rows[transform] = {
            "rel_l2": errs.tolist(),
            "rel_l2_mean": float(errs.mean()),
            "rel_l2_std": float(errs.std(ddof=1)) if errs.size > 1 else 0.0,
            "per_step_mean": per_step.mean(0).tolist(),
            "per_step_std": per_step.std(0).tolist(),
            "parameters": recs[0]["parameters"],
            "seconds_per_epoch": float(sec_epoch.mean()),
            "seconds_per_step": float(np.mean([s / r["steps_per_epoch"] for s, r in zip(sec_epoch, recs)])),
            "inference_ms_per_sample": float(np.mean([r["test"]["inference_ms_per_sample"] for r in recs])),
        }
    visc = runs[args.transforms[0]][0]["data"]["visc"]
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"arguments": _args_record(args), "visc": visc, "rows": rows, "published": PUBLISHED}
    (args.out / "compare.json").write_text(json.dumps(summary, indent=1))
    table = compare_table(rows, visc, args)
    (args.out / "compare.md").write_text(table)
    from monarch_sci.operators.pde.plots import plot_error_per_step

    plot_error_per_step(
        {t: (r["per_step_mean"], r["per_step_std"]) for t, r in rows.items()},
        args.out / "error_per_step.png",
        title=f"ν = {visc}, mean ± std over seeds {args.seeds}",
    )
    print(table)
    return 0


def compare_table(rows: dict[str, dict], visc: str, args: argparse.Namespace) -> str:
    """The markdown table: our rows (mean ± std over seeds) and the published rows, labelled."""
    name = {"fft": "FNO (FFT)", "monarch": "Monarch-FNO"}
    lines = [
        f"Navier–Stokes ν = {visc}, {args.model}, modes {args.modes}, width {args.width}, "
        f"{args.t_in} → {args.t_out} steps, {args.ntrain}/{args.nval}/{args.ntest} train/val/test trajectories, "
        f"{args.epochs} epochs, batch {args.batch}, seeds {' '.join(map(str, args.seeds))}.",
        "",
        "| model | source | rel. L2 (test, mean ± std) | parameters | s / epoch | s / step | inference ms / sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for t, r in rows.items():
        lines.append(
            f"| {name[t]} | ours (ν = {visc}) | {r['rel_l2_mean']:.4f} ± {r['rel_l2_std']:.4f} | "
            f"{r['parameters']:,} | {r['seconds_per_epoch']:.2f} | {r['seconds_per_step']:.3f} | "
            f"{r['inference_ms_per_sample']:.2f} |"
        )
    for t in ("fft", "monarch"):
        p = PUBLISHED[t]
        errs = " / ".join(f"{p[v]:.3f}" for v in ("1e-3", "1e-4", "1e-5"))
        lines.append(f"| {name[t]} | published (ν = 1e-3 / 1e-4 / 1e-5) | {errs} | | | | |")
    if "fft" in rows and "monarch" in rows:
        f, m = rows["fft"], rows["monarch"]
        change = 100 * (m["rel_l2_mean"] / f["rel_l2_mean"] - 1)
        lines += [
            "",
            f"Monarch vs FFT: mean error {abs(change):.1f}% {'lower' if change < 0 else 'higher'} (goal: ≥ 40% lower); "
            f"time per training step {m['seconds_per_step'] / f['seconds_per_step']:.2f}× (goal: ≤ 1.3×; seconds "
            "as measured during these runs, so they include whatever else the machine was doing).",
        ]
    return "\n".join(lines) + "\n"
