"""``monarch-sci pde``: train a Fourier neural operator (Navier–Stokes rollouts or any steady field map),
evaluate it on any grid, compare FFT and Monarch, generate Darcy data.

* ``pde train --data FILE --model fno2d|fno3d --fourier fft|monarch --epochs E --batch-size B --out DIR``
  trains one rollout model (DDP under ``torchrun``), keeps ``best.pt``/``last.pt`` and ``record.json`` in
  ``DIR``, evaluates the best checkpoint on the test split and draws the plots (PNG). ``--resume`` continues a
  run with the same result-defining arguments (more ``--epochs`` allowed); a folder holding a run is refused
  without ``--resume`` or ``--overwrite``.
* ``pde train --task steady --data TRAIN [--val VAL] [--test TEST] --x-key x --y-key y ...`` trains an FNO-2D
  on input/output field pairs (``.h5``, ``.npz``, ``.mat``, ``.pt``; channels from the data; output normaliser
  fitted on TRAIN) — :func:`~monarch_sci.operators.pde.steady_training.train_steady`.
* ``pde evaluate --run DIR --data FILE [--resolution S | --sub K]`` evaluates a trained run on any file and
  grid and writes ``DIR/eval_<name>_<S>.json`` — :func:`~monarch_sci.operators.pde.run_eval.evaluate_run`.
* ``pde darcy generate --n N --resolution S --seed K --out FILE.h5`` writes Darcy flow pairs (resumable, with a
  JSON record beside the file) — :func:`~monarch_sci.datasets.pde.darcy.generate_darcy`.
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
import os
import time
from dataclasses import asdict
from pathlib import Path

from monarch_sci.cli import common
from monarch_sci.cli.common import Flag, UserError, add_command, add_flags, from_flags, resolve_device, set_threads

#: --factor-lr's help: ``main`` (the factors follow --lr, a multiple 1 of it) or an absolute rate.
FACTOR_LR_NOTE = (
    "lr of the Monarch factors: 'main' (the default, None below: they follow the main --lr; chosen on validation "
    "in benchmarks/results/factor_lr_selection.md) or an absolute rate, independent of --lr (compared across "
    "recipes in benchmarks/results/recipe_grid.md); times the main schedule; the run record states the rate used"
)


def factor_lr(text: str) -> float | None:
    """``--factor-lr``: ``main`` (``None``: the factors follow the main ``--lr``) or a learning rate (a number;
    its range is checked with the spec's other fields)."""
    if text == "main":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'main' or a learning rate (a number), got {text!r}") from None


def register(groups: argparse._SubParsersAction) -> None:
    pde = groups.add_parser("pde", help="Fourier neural operators: train, evaluate, compare, Darcy data")
    pde.set_defaults(group_parser=pde)
    sub = pde.add_subparsers(dest="command", metavar="COMMAND")

    train = add_command(sub, "train", cmd_train, help="train one FNO (rollout or steady map; FFT or Monarch)")
    train.add_argument(
        "--task", choices=("rollout", "steady"), default="rollout", help="Navier–Stokes rollout, or field pairs"
    )
    _common(train)
    steady = train.add_argument_group("steady task (--task steady)")
    steady.add_argument("--val", default=None, help="validation pairs file (optional; chooses best.pt)")
    steady.add_argument("--test", default=None, help="test pairs file (optional; evaluated once after training)")
    steady.add_argument("--x-key", default=STEADY_ONLY["x_key"], help="name of the input array in the pairs files")
    steady.add_argument("--y-key", default=STEADY_ONLY["y_key"], help="name of the output array in the pairs files")
    steady.add_argument("--loss", choices=("rel_l2", "rel_h1"), default=STEADY_ONLY["loss"], help="training loss")
    steady.add_argument("--no-normalize", action="store_true", help="do not standardise the outputs")
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

    evaluate = add_command(sub, "evaluate", cmd_evaluate, help="evaluate a trained run on any file and grid")
    evaluate.add_argument("--run", required=True, help="run folder (from pde train)")
    evaluate.add_argument("--data", required=True, help="a file of the kind the run was trained on")
    grid = evaluate.add_mutually_exclusive_group()
    grid.add_argument(
        "--resolution", type=int, default=None, help="grid side S, by subsampling (neither: the run's --sub)"
    )
    grid.add_argument("--sub", type=int, default=None, help="subsampling stride of the stored grid")
    evaluate.add_argument(
        "--samples", type=int, nargs=2, default=None, metavar=("START", "STOP"), help="samples [START, STOP)"
    )
    add_flags(evaluate, "batch_size", "threads", "device", batch_size=20)

    _register_darcy(sub)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        required=True,
        help="rollout file: Navier–Stokes store (.h5), FNO .mat, PDEBench 2-D or The Well file; with --task steady "
        "the training pairs (or a PDEBench Darcy file)",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="kind of the data files (auto: from their content); rollout: store, mat, pdebench, the-well; "
        "steady: pairs, pdebench",
    )
    p.add_argument(
        "--field", default=None, help="PDEBench / The Well: the field forecast (e.g. velocity, density, data)"
    )
    p.add_argument(
        "--channel", type=int, default=None, help="PDEBench / The Well: its component (0 = x, ...) if it has several"
    )
    p.add_argument(
        "--model", choices=("fno2d", "fno3d"), default=ROLLOUT_ONLY["model"], help="FNO-2D rollout or FNO-3D"
    )
    modes = p.add_mutually_exclusive_group()
    modes.add_argument("--modes", type=int, default=8, help="Fourier modes kept per axis and sign (FNO paper)")
    modes.add_argument(
        "--n-modes", type=int, nargs="+", default=None, metavar="M", help="neuraloperator's total modes per axis"
    )
    p.add_argument("--width", type=int, default=20, help="channel width")
    p.add_argument("--layers", type=int, default=4, help="Fourier layers")
    p.add_argument("--t-in", type=int, default=ROLLOUT_ONLY["t_in"], help="input snapshots")
    p.add_argument("--t-out", type=int, default=ROLLOUT_ONLY["t_out"], help="predicted snapshots")
    p.add_argument(
        "--t-sub",
        type=int,
        default=1,
        help="temporal stride: every K-th stored frame (PDEBench's reduced_resolution_t)",
    )
    p.add_argument("--sub", type=int, default=1, help="spatial subsampling stride of the stored grid")
    p.add_argument(
        "--ntrain", type=int, default=ROLLOUT_ONLY["ntrain"], help="training trajectories (the first of the file)"
    )
    p.add_argument(
        "--nval", type=int, default=ROLLOUT_ONLY["nval"], help="validation trajectories (0: best.pt by training loss)"
    )
    p.add_argument("--ntest", type=int, default=ROLLOUT_ONLY["ntest"], help="test trajectories")
    p.add_argument("--epochs", type=int, default=500, help="epochs (the training budget)")
    add_flags(p, "batch_size", "threads", "device", "no_progress", batch_size=20)
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="weight decay (not of the Monarch factors)")
    p.add_argument("--optimizer", choices=("adam", "adamw"), default="adam", help="Adam or AdamW")
    add_flags(p, "precision", "compile")
    p.add_argument(
        "--scheduler", choices=("step", "cosine"), default="step", help="StepLR, or cosine to 0 over --epochs"
    )
    p.add_argument("--step-size", type=int, default=100, help="StepLR period (epochs)")
    p.add_argument("--gamma", type=float, default=0.5, help="StepLR factor")
    p.add_argument("--factor-lr", type=factor_lr, default=None, metavar="main|LR", help=FACTOR_LR_NOTE)
    p.add_argument("--factor-weight-decay", type=float, default=0.0, help="weight decay of the Monarch factors")
    # factor_anchor: FACTOR_ANCHOR of operators.pde.forecasting (not imported: --help stays light; a test checks)
    add_flags(p, "factor_start", "factor_warmup", "factor_anchor", "monarch_init", factor_anchor=1e-2)
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
        help="one Monarch transform for all layers",
    )


#: ``--format`` choices: ROLLOUT_FORMATS and PAIRS_FORMATS of monarch_sci.datasets.pde (not imported: --help stays
#: light; a test checks), each task refusing the other's.
FORMATS = ("auto", "store", "mat", "pdebench", "the-well", "pairs")
#: Flags of the rollout task only, with their defaults (refused with --task steady when changed).
ROLLOUT_ONLY = {"model": "fno2d", "t_in": 10, "t_out": 10, "ntrain": 300, "nval": 50, "ntest": 50}
ROLLOUT_ONLY |= {"field": None, "channel": None, "t_sub": 1}
#: Flags of the steady task only, with their defaults (refused with the rollout task when changed).
STEADY_ONLY = {"val": None, "test": None, "x_key": "x", "y_key": "y", "loss": "rel_l2", "no_normalize": False}


def _refuse(args: argparse.Namespace, flags: dict, task: str) -> None:
    given = [n for n, default in flags.items() if getattr(args, n, default) != default]
    if given:
        names = ", ".join("--" + n.replace("_", "-") for n in given)
        raise UserError(f"{names}: not a flag of --task {task}; remove it (see pde train --help)")


def _check_format(fmt: str, task: str) -> None:
    from monarch_sci.datasets.pde.ns_dataset import ROLLOUT_FORMATS
    from monarch_sci.datasets.pde.pairs import PAIRS_FORMATS

    allowed = PAIRS_FORMATS if task == "steady" else ROLLOUT_FORMATS
    if fmt not in allowed:
        raise UserError(f"--format {fmt}: not a format of --task {task}; choose one of {', '.join(allowed)}")


def spec_from_args(args: argparse.Namespace, **override):
    """The :class:`ForecastSpec` (or, with ``--task steady``, the :class:`SteadySpec`) of parsed flags
    (``--device`` resolved, ``--threads`` checked)."""
    from monarch_sci.operators.pde.forecasting import ForecastSpec
    from monarch_sci.operators.pde.steady_training import SteadySpec

    set_threads(args.threads)
    device = resolve_device(args.device)
    task = getattr(args, "task", "rollout")
    _refuse(args, STEADY_ONLY if task == "rollout" else ROLLOUT_ONLY, task)
    _check_format(args.format, task)
    n_modes = None if args.n_modes is None else tuple(args.n_modes)
    how = {"n_modes": n_modes, "device": str(device), "progress": not args.no_progress}
    if task == "steady":
        return from_flags(SteadySpec, args, **how, normalize=not args.no_normalize, **override)
    return from_flags(ForecastSpec, args, **how, **override)


def cmd_train(args: argparse.Namespace) -> int:
    from monarch_sci.operators.pde.forecasting import train_forecaster
    from monarch_sci.operators.pde.steady_training import train_steady

    spec = spec_from_args(args, fourier=args.fourier, seed=args.seed, stop_after=args.stop_after)
    train = train_steady if args.task == "steady" else train_forecaster
    rec = train(spec, args.out, resume=args.resume, overwrite=args.overwrite)
    if rec is None:
        return 0
    if "test" in rec:
        t = rec["test"]
        print(f"test relative L2 {t['test_rel_l2']:.4f} ({t['samples']} samples); run folder {args.out}")
    else:
        print(
            f"trained (no --test file); best {rec['monitor']} {rec['best'][rec['monitor']]:.4f}; run folder {args.out}"
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from monarch_sci.operators.pde.run_eval import evaluate_run

    set_threads(args.threads)
    device = resolve_device(args.device)
    samples = None
    if args.samples is not None:
        start, stop = args.samples
        if not 0 <= start < stop:
            raise UserError(f"--samples: expected 0 <= START < STOP, got {start} {stop}")
        samples = range(start, stop)
    r = evaluate_run(
        args.run, args.data, resolution=args.resolution, sub=args.sub, samples=samples, device=device,
        batch_size=args.batch_size,
    )  # fmt: skip
    side = r["grid"][0]
    print(
        f"{r['task']} run {args.run} (trained at {r['trained_grid'][0]}²) on {args.data} at {side}²: "
        f"relative L2 {r['rel_l2_mean']:.4f} over {r['samples']} samples "
        f"-> {Path(args.run) / f'eval_{Path(args.data).stem}_{side}.json'}"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from monarch_sci.operators.pde.forecast_compare import compare_forecasters

    summary = compare_forecasters(
        spec_from_args(args), args.out, fouriers=args.fouriers, seeds=args.seeds, overwrite=args.overwrite
    )
    if summary is not None:
        print(summary["table"], end="")
    return 0


# -- pde darcy generate -------------------------------------------------------------------------------------
# Darcy flow pairs (the FNO paper's problem) as an HDF5 pairs file: ``N`` pairs ``x`` (coefficient) → ``y``
# (pressure) on ``S × S`` nodes with :func:`~monarch_sci.datasets.pde.darcy.generate_darcy`. The samples go to
# ``FILE.h5.partial`` and the file is renamed when complete, so an interrupted run continues when the same command
# is rerun (sample ``i`` depends only on ``(seed, i)``). A JSON record (parameters, versions, seconds) is written
# atomically beside it as ``FILE.json``. Every argument is checked before anything is created. Under
# ``torchrun --nproc_per_node=K`` the ranks share the samples (one shard file each, joined by rank 0).


def _register_darcy(sub: argparse._SubParsersAction) -> None:
    """Add ``darcy generate`` under the ``pde`` group's sub-commands."""
    darcy = sub.add_parser("darcy", help="Darcy flow data (coefficient → pressure pairs)")
    darcy.set_defaults(group_parser=darcy)
    darcy_sub = darcy.add_subparsers(dest="darcy_command", metavar="COMMAND")
    gen = add_command(
        darcy_sub, "generate", cmd_darcy_generate, help="generate Darcy pairs into an HDF5 file (resumable)"
    )
    gen.add_argument(
        "--n",
        "--num-samples",
        type=int,
        required=True,
        help="number of samples; under torchrun the ranks share them: write --num-samples there (torchrun takes "
        "--n for an abbreviation of its own options)",
    )
    gen.add_argument("--resolution", type=int, default=85, help="grid nodes per axis S (boundary included)")
    add_flags(gen, "seed", "no_progress", "cpu_device")
    gen.add_argument("--alpha", type=float, default=2.0, help="GRF smoothness α of the coefficient")
    gen.add_argument("--tau", type=float, default=3.0, help="GRF inverse length scale τ")
    gen.add_argument("--a-pos", type=float, default=12.0, help="coefficient where the field is >= 0")
    gen.add_argument("--a-neg", type=float, default=3.0, help="coefficient where the field is < 0")
    gen.add_argument("--f", type=float, default=1.0, help="constant forcing")
    add_flags(gen, "out", "overwrite", out_help="output HDF5 file (.h5 / .hdf5)")


def _darcy_config(args: argparse.Namespace):
    from monarch_sci.datasets.pde.darcy import DarcyConfig

    if args.n < 1:
        raise UserError(f"--n: expected a positive number of samples, got {args.n}")
    if args.resolution < 3:
        raise UserError(f"--resolution: expected at least 3 nodes per axis, got {args.resolution}")
    if args.a_pos <= 0 or args.a_neg <= 0:
        raise UserError(f"--a-pos/--a-neg: expected positive coefficients, got {args.a_pos} and {args.a_neg}")
    if args.tau <= 0 or args.alpha <= 0:
        raise UserError(f"--alpha/--tau: expected positive values, got {args.alpha} and {args.tau}")
    return DarcyConfig(
        n=args.n, s=args.resolution, alpha=args.alpha, tau=args.tau, a_pos=args.a_pos, a_neg=args.a_neg,
        f=args.f, seed=args.seed,
    )  # fmt: skip


def cmd_darcy_generate(args: argparse.Namespace) -> int:
    from monarch_sci.datasets.pde.darcy import generate_darcy
    from monarch_sci.training.checkpoint import write_json_atomic
    from monarch_sci.training.records import package_versions

    common.cpu_device(args.device, "the Darcy solver (SciPy sparse)")
    config = _darcy_config(args)
    out = Path(args.out)
    record_path = out.with_suffix(".json")
    if out.suffix not in (".h5", ".hdf5"):
        raise UserError(f"--out {out}: expected an HDF5 file name ending in .h5 or .hdf5")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    if out.exists() and not args.overwrite:
        raise UserError(f"--out {out} exists; pass --overwrite to replace it, or choose another --out")
    rank = int(os.environ.get("RANK", "0"))  # under torchrun each rank solves its share; rank 0 keeps the record
    t0 = time.perf_counter()
    generate_darcy(out, config, progress=not args.no_progress, overwrite=args.overwrite)
    if rank != 0:
        return 0
    record = {
        "command": "pde darcy generate",
        "config": asdict(config),
        "file": str(out.resolve()),
        "seconds_this_call": time.perf_counter() - t0,
        "versions": package_versions("h5py", "scipy"),
    }
    write_json_atomic(record_path, record)
    print(f"{config.n} Darcy pairs on {config.s}×{config.s} nodes -> {out} (record {record_path})")
    return 0
