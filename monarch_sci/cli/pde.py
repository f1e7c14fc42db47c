"""``monarch-sci pde``: train a Fourier neural operator on Navier–Stokes data, or compare FFT and Monarch.

* ``pde train --data FILE --model fno2d|fno3d --fourier fft|monarch --epochs E --batch-size B --out DIR``
  trains one model (DDP under ``torchrun``), keeps ``best.pt``/``last.pt`` and ``record.json`` in ``DIR``,
  evaluates the best checkpoint on the test split and draws the plots (PNG). ``--resume`` continues a run
  with the same result-defining arguments (more ``--epochs`` allowed); a folder holding a run is refused
  without ``--resume`` or ``--overwrite``.
* ``pde compare --data FILE --epochs E --seeds 0 1 2 --out DIR`` trains the FFT and the Monarch model on the
  same data, split, seeds and budget (one sub-folder per run; rerunning the command resumes unfinished runs
  and reuses finished ones whose record matches; mismatching runs are refused, or retrained with
  ``--overwrite``) and writes ``DIR/compare.md`` (the table), ``DIR/compare.json`` and
  ``DIR/error_per_step.png``.

The flags map one to one onto :class:`monarch_sci.operators.pde.forecasting.ForecastSpec`; the work is done
by :func:`~monarch_sci.operators.pde.forecasting.train_forecaster` and
:func:`~monarch_sci.operators.pde.forecast_compare.compare_forecasters`.
"""

from __future__ import annotations

import argparse

from monarch_sci.cli.common import Flag, add_command, add_flags, resolve_device, set_threads

#: The Monarch factors' learning rate when --factor-lr is not given (the published comparisons' setting).
FACTOR_LR_NOTE = "lr of the Monarch factors (default: the main --lr; the run record states the value used)"


def register(groups: argparse._SubParsersAction) -> None:
    pde = groups.add_parser("pde", help="Fourier neural operators on Navier–Stokes: train, compare")
    pde.set_defaults(group_parser=pde)
    sub = pde.add_subparsers(dest="command", metavar="COMMAND")

    train = add_command(sub, "train", cmd_train, help="train one FNO (FFT or Monarch transforms)")
    _common(train)
    add_flags(train, "fourier", "seed", "out", "resume", "overwrite", out_help="run folder")
    train.add_argument("--stop-after", type=int, default=None, help="stop after this many epochs (resumable)")

    compare = add_command(
        sub, "compare", cmd_compare, help="FFT vs Monarch FNO on the same data, split, seeds and budget"
    )
    _common(compare)
    compare.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one run per seed and transform")
    compare.add_argument(
        "--fouriers",
        "--transforms",
        dest="fouriers",
        nargs="+",
        choices=("fft", "monarch"),
        default=["fft", "monarch"],
        action=Flag,
        deprecated=("--transforms",),
        help="the Fourier transforms compared",
    )
    add_flags(compare, "out", "overwrite", out_help="folder holding one run folder per model/seed")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="Navier–Stokes store (.h5) or FNO .mat file")
    p.add_argument("--model", choices=("fno2d", "fno3d"), default="fno2d", help="FNO-2D rollout or FNO-3D")
    p.add_argument("--modes", type=int, default=8, help="Fourier modes kept per axis (and sign)")
    p.add_argument("--width", type=int, default=20, help="channel width")
    p.add_argument("--t-in", type=int, default=10, help="input snapshots")
    p.add_argument("--t-out", type=int, default=10, help="predicted snapshots")
    p.add_argument("--sub", type=int, default=1, help="spatial subsampling stride of the stored grid")
    p.add_argument("--ntrain", type=int, default=300, help="training trajectories (the first of the file)")
    p.add_argument("--nval", type=int, default=50, help="validation trajectories (0: best.pt by training loss)")
    p.add_argument("--ntest", type=int, default=50, help="test trajectories")
    p.add_argument("--epochs", type=int, default=500, help="epochs (the training budget)")
    add_flags(p, "batch_size", "threads", "device", "no_progress", batch_size=20)
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="weight decay (not of the Monarch factors)")
    p.add_argument("--optimizer", choices=("adam", "adamw"), default="adam", help="Adam or AdamW")
    p.add_argument(
        "--scheduler", choices=("step", "cosine"), default="step", help="StepLR, or cosine to 0 over --epochs"
    )
    p.add_argument("--step-size", type=int, default=100, help="StepLR period (epochs)")
    p.add_argument("--gamma", type=float, default=0.5, help="StepLR factor")
    p.add_argument("--factor-lr", type=float, default=None, help=FACTOR_LR_NOTE)
    p.add_argument("--factor-weight-decay", type=float, default=0.0, help="weight decay of the Monarch factors")
    p.add_argument(
        "--learn", choices=("both", "forward", "inverse", "none"), default="both", help="learnable Monarch factors"
    )
    p.add_argument(
        "--share-fourier",
        "--share-transform",
        dest="share_fourier",
        action=Flag,
        nargs=0,
        const=True,
        default=False,
        deprecated=("--share-transform",),
        help="one Monarch transform for all four layers",
    )


def spec_from_args(args: argparse.Namespace, **override):
    """The :class:`ForecastSpec` of parsed flags (``--device`` resolved, ``--threads`` checked)."""
    from monarch_sci.operators.pde.forecasting import ForecastSpec

    set_threads(args.threads)
    device = resolve_device(args.device)
    fields = dict(
        data=args.data,
        model=args.model,
        modes=args.modes,
        width=args.width,
        t_in=args.t_in,
        t_out=args.t_out,
        sub=args.sub,
        ntrain=args.ntrain,
        nval=args.nval,
        ntest=args.ntest,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        optimizer=args.optimizer,
        scheduler=args.scheduler,
        step_size=args.step_size,
        gamma=args.gamma,
        factor_lr=args.factor_lr,
        factor_weight_decay=args.factor_weight_decay,
        learn=args.learn,
        share_fourier=args.share_fourier,
        device=str(device),
        threads=args.threads,
        progress=not args.no_progress,
    )
    return ForecastSpec(**{**fields, **override})


def cmd_train(args: argparse.Namespace) -> int:
    from monarch_sci.operators.pde.forecasting import train_forecaster

    spec = spec_from_args(args, fourier=args.fourier, seed=args.seed, stop_after=args.stop_after)
    rec = train_forecaster(spec, args.out, resume=args.resume, overwrite=args.overwrite)
    if rec is not None:
        t = rec["test"]
        print(f"test relative L2 {t['test_rel_l2']:.4f} ({t['samples']} samples); run folder {args.out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from monarch_sci.operators.pde.forecast_compare import compare_forecasters

    summary = compare_forecasters(
        spec_from_args(args), args.out, fouriers=args.fouriers, seeds=args.seeds, overwrite=args.overwrite
    )
    if summary is not None:
        print(summary["table"], end="")
    return 0
