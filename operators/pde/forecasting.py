"""Train and compare FNO forecasters on Navier–Stokes data: the typed Python API below ``monarch-sci pde``.

A :class:`ForecastSpec` holds everything that defines a run (data, split, model, optimisation) plus how to run
it (device, threads, progress). :func:`train_forecaster` trains one model into a run folder and returns its
record; :func:`~monarch_sci.operators.pde.forecast_compare.compare_forecasters` trains the FFT and the Monarch
model on the same data, split, seeds and budget and writes the comparison. The command line and the demo call
these.

Splits are fixed (independent of the seed): samples ``[0, ntrain)`` train, the next ``nval`` validate (they
choose ``best.pt``; nothing is tuned on the test split; with ``nval=0`` ``best.pt`` follows the training loss),
the next ``ntest`` test.

Run folders and reruns
    A run folder holds ``record.json``, ``last.pt``/``best.pt`` and the plots, every file written atomically.
    The result-defining fields of the spec (:func:`defining_arguments`: everything but ``device``, ``threads``,
    ``progress``, ``stop_after``) are stored in the record. ``resume=True`` continues ``last.pt`` only when
    they equal the record's (more ``epochs`` are allowed with the step schedule); otherwise a ``ValueError``
    lists the differing fields. A folder that already holds a run is refused unless ``resume`` or
    ``overwrite`` is given. :func:`compare_forecasters` reuses a finished run only if its record matches the
    requested spec exactly (``epochs`` included) and resumes a matching unfinished one; a mismatching run is
    refused (with the list of differences) before anything is trained, or retrained with ``overwrite=True``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from monarch_sci.datasets.pde.ns_dataset import ROLLOUT_FORMATS
from monarch_sci.operators.pde.factor_init import randomize_factors
from monarch_sci.operators.pde.fno import TIME_PAD, FNO2d, FNO3d, count_parameters, modes_from_n_modes
from monarch_sci.operators.pde.forecast_data import load_forecast_splits
from monarch_sci.operators.pde.fourier_modes import check_grid
from monarch_sci.operators.pde.plots import plot_error_per_step, plot_fields, plot_loss_curves
from monarch_sci.operators.pde.tasks import ForecastModel, ForecastTask
from monarch_sci.training.checkpoint import load_checkpoint, replacing_run, write_json_atomic
from monarch_sci.training.fingerprint import data_fingerprints, fingerprint_differences
from monarch_sci.training.records import defining_differences, field_and_flag
from monarch_sci.training.settings import Optimization
from monarch_sci.training.step import COMPILE_MODES
from monarch_sci.training.trainer import OPTIMIZERS, PRECISIONS, SCHEDULERS, TrainConfig, Trainer, seed_everything

#: Default weight of the penalty pulling an FNO's Monarch factors toward their start (the DFT). Chosen on validation
#: data only (``select`` of ``benchmarks/studies/pde_science.toml``, ``benchmarks/results/pde_science/``): against no
#: penalty it lowered the validation error on NS ν=1e-3 (2 seeds, 25 epochs) and on Darcy (2 seeds, 30 epochs) for
#: every seed (two-seed means: −4.4% and −9.0%). Of the candidates (factor lr 0.3× / 0.1×, forward- or inverse-only,
#: a late start, a warm-up) it was the best on Darcy and, over both problems together, the best overall; on NS alone
#: forward-only was 3% lower (0.0105 against 0.0108) but 10% higher on Darcy. It has no effect on an FFT model.
#: :class:`~monarch_sci.training.trainer.TrainConfig` (the generic trainer) keeps 0.
FACTOR_ANCHOR = 1e-2

__all__ = [
    "FACTOR_ANCHOR",
    "FNOTraining",
    "ForecastSpec",
    "build_forecaster",
    "check_modes_fit",
    "check_spec",
    "defining_arguments",
    "load_forecast_splits",
    "prepare_run",
    "read_record",
    "run_differences",
    "spec_fingerprints",
    "spec_modes",
    "train_forecaster",
    "write_json",
]

#: Fields of :class:`ForecastSpec` that say how to run, not what the result is.
HOW_TO_RUN = ("device", "threads", "progress", "stop_after", "compile")
#: Files of a run folder (a folder holding any of them holds a run; ``overwrite=True`` replaces it).
RUN_FILES = ("record.json", "last.pt", "best.pt", "loss_curves.png", "error_per_step.png", "fields_test0.png")


@dataclass(frozen=True, kw_only=True)
class FNOTraining(Optimization):
    """The model and optimisation fields every FNO training spec shares (keyword-only; the optimiser, schedule,
    precision and factor fields are :class:`~monarch_sci.training.settings.Optimization`'s).

    Parameters
    ----------
    modes, width
        Fourier modes kept per axis and sign (the FNO paper's count); channel width.
    n_modes, layers
        neuraloperator's total modes per axis (``(M1, M2)``; when given it replaces ``modes``, see
        :func:`~monarch_sci.operators.pde.fno.modes_from_n_modes`); Fourier layers.
    sub
        Spatial subsampling stride of the stored grid.
    epochs, batch_size, lr, weight_decay, optimizer, scheduler, step_size, gamma
        Optimisation (see :class:`~monarch_sci.training.trainer.TrainConfig`).
    precision
        ``"fp32"``, or ``"bf16"``: bfloat16 autocast for the real layers during training (lift, skips,
        projection); FFTs, spectral weights and Monarch factors stay float32; evaluation is float32.
    factor_lr, factor_weight_decay
        Learning rate and weight decay of the Monarch factors (``None``: the main ``lr``; the record states
        the value used).
    factor_start, factor_warmup, factor_anchor
        The factors stay frozen for ``factor_start`` epochs, then their lr ramps linearly over
        ``factor_warmup`` epochs (times the main schedule); ``factor_anchor`` weighs the penalty
        ``Σ ‖θ − θ⁰‖²/‖θ⁰‖²`` toward their initial values (see
        :class:`~monarch_sci.training.trainer.TrainConfig`; default :data:`FACTOR_ANCHOR`, selected on validation
        data). No effect on an FFT model.
    monarch_init
        ``"dft"`` (the exact DFT: the model equals its FFT twin at initialisation) or ``"random"`` (every
        learnable factor a random Monarch with the DFT's support and per-block Frobenius norms, seeded by
        ``seed``, :func:`~monarch_sci.operators.pde.factor_init.randomize_factors`); ``fourier="monarch"`` only.
    learn, share_fourier, fourier
        Which Monarch factors learn, one transform for all layers, ``"fft"`` or ``"monarch"``.
    seed
        Seed of the weights and the batch order.
    device, threads, progress, stop_after, compile
        How to run (not part of the result): a torch device string (``"cpu"``, ``"cuda:0"``), torch CPU
        threads, progress bar and per-epoch lines, stop after this many epochs of this call (resumable),
        ``torch.compile`` mode of the training loss (``"none"``: eager; :mod:`monarch_sci.training.step`).
    """

    modes: int = 8
    width: int = 20
    n_modes: tuple[int, ...] | None = None
    layers: int = 4
    sub: int = 1
    epochs: int = 500
    batch_size: int = 20
    factor_anchor: float = FACTOR_ANCHOR
    monarch_init: Literal["dft", "random"] = "dft"
    learn: Literal["both", "forward", "inverse", "none"] = "both"
    share_fourier: bool = False
    fourier: Literal["fft", "monarch"] = "fft"
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    progress: bool = True
    stop_after: int | None = None

    def _check(self, *, choices: dict[str, tuple], lows: dict[str, int], axes: int) -> None:
        if self.n_modes is not None:
            object.__setattr__(self, "n_modes", tuple(int(m) for m in self.n_modes))
            if len(self.n_modes) != axes:
                raise ValueError(
                    f"{type(self).__name__}: expected n_modes (--n-modes) with {axes} entries, got {self.n_modes}"
                )
        check_spec(self, choices=choices, lows=lows)

    #: A subclass's own fields, checked with the shared ones: allowed values and integer lower bounds.
    OWN_CHOICES: ClassVar[dict[str, tuple]] = {}
    OWN_LOWS: ClassVar[dict[str, int]] = {}

    def _mode_axes(self) -> int:
        """Axes of the Fourier modes (the entries ``n_modes`` must have)."""
        return 2

    def __post_init__(self) -> None:
        self._check(choices=self.OWN_CHOICES, lows=self.OWN_LOWS, axes=self._mode_axes())

    def train_config(self) -> TrainConfig:
        """The trainer's settings for this spec (``best.pt`` chosen by the validation relative L2)."""
        return TrainConfig.from_spec(self, monitor="val_rel_l2", epoch_lines=self.progress)


@dataclass(frozen=True)
class ForecastSpec(FNOTraining):
    """One FNO forecasting run: data, split, model, optimisation, and where it runs.

    Parameters
    ----------
    data
        Navier–Stokes store (``.h5``, from ``monarch-sci ns generate``), FNO ``.mat``, PDEBench 2-D or The Well
        file.
    format, field, channel
        The file's kind (``"auto"``: from its content) and, for PDEBench and The Well files, the scalar field
        forecast and its component (see :func:`~monarch_sci.datasets.pde.ns_dataset.open_frames`; required
        where the file holds several).
    t_sub
        Temporal stride: every ``t_sub``-th stored frame (``t_in``/``t_out`` count these).
    model
        ``"fno2d"`` (autoregressive rollout) or ``"fno3d"`` (one space–time pass).
    t_in, t_out
        Input snapshots, predicted snapshots.
    ntrain, nval, ntest
        Split sizes (``nval=0``: no validation; ``best.pt`` then follows the training loss).
    modes, n_modes, width, layers, sub, epochs, ..., stop_after
        Keyword-only; see :class:`FNOTraining` (``n_modes`` has 3 entries for FNO-3D).

    Examples
    --------
    >>> spec = ForecastSpec("ns.h5", epochs=2, fourier="monarch")
    >>> spec.batch_size, defining_arguments(spec)["fourier"]
    (20, 'monarch')
    >>> ForecastSpec("ns.h5", ntrain=0)
    Traceback (most recent call last):
    ...
    ValueError: ForecastSpec: expected ntrain (--ntrain) >= 1, got 0
    """

    data: str | os.PathLike
    model: Literal["fno2d", "fno3d"] = "fno2d"
    t_in: int = 10
    t_out: int = 10
    ntrain: int = 300
    nval: int = 50
    ntest: int = 50
    format: Literal["auto", "store", "mat", "pdebench", "the-well"] = "auto"
    field: str | None = None
    channel: int | None = None
    t_sub: int = 1

    OWN_CHOICES: ClassVar[dict[str, tuple]] = {"model": ("fno2d", "fno3d"), "format": ROLLOUT_FORMATS}
    OWN_LOWS: ClassVar[dict[str, int]] = {"t_in": 1, "t_out": 1, "ntrain": 1, "nval": 0, "ntest": 1, "t_sub": 1}

    def _mode_axes(self) -> int:
        return 2 if self.model == "fno2d" else 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.channel is not None and (not isinstance(self.channel, int) or self.channel < 0):
            raise ValueError(f"ForecastSpec: expected channel (--channel) >= 0 or None, got {self.channel!r}")
        if self.format in ("store", "mat") and (self.field is not None or self.channel is not None):
            raise ValueError(f"ForecastSpec: --field/--channel choose a field of pdebench or the-well files, not of "
                             f"--format {self.format} (vorticity only)")  # fmt: skip


#: Choices every spec shares (the optimisation and the Fourier transform).
_CHOICES = {
    "optimizer": OPTIMIZERS,
    "scheduler": SCHEDULERS,
    "precision": PRECISIONS,
    "compile": COMPILE_MODES,
    "learn": ("both", "forward", "inverse", "none"),
    "fourier": ("fft", "monarch"),
    "monarch_init": ("dft", "random"),
}


def check_spec(
    spec: FNOTraining, *, choices: dict[str, tuple] | None = None, lows: dict[str, int] | None = None
) -> None:
    """Raise a ``ValueError`` naming the spec class, the field, its flag and the value for an invalid field.

    Checks the fields every training spec shares (optimisation, modes, width, layers, Fourier) and, when
    given, ``choices`` (allowed values) and ``lows`` (integer lower bounds) of its own fields.
    """
    where = type(spec).__name__
    for name, allowed in {**_CHOICES, **(choices or {})}.items():
        if getattr(spec, name) not in allowed:
            raise ValueError(f"{where}: expected {name} in {allowed}, got {getattr(spec, name)!r}")
    ints = {"modes": 1, "width": 1, "layers": 1, "sub": 1, **(lows or {}), "epochs": 1, "batch_size": 1}
    ints |= {"factor_start": 0, "factor_warmup": 0}
    for name, low in {**ints, "step_size": 1}.items():
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{where}: expected {field_and_flag(name)} >= {low}, got {value!r}")
    if spec.n_modes is not None:
        modes_from_n_modes(spec.n_modes, f"{where} (--n-modes)")
    for name in ("threads", "stop_after"):
        value = getattr(spec, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{where}: expected {field_and_flag(name)} >= 1 or None, got {value!r}")
    positive = {"lr": spec.lr, "gamma": spec.gamma}
    nonneg = {"weight_decay": spec.weight_decay, "factor_weight_decay": spec.factor_weight_decay}
    nonneg["factor_anchor"] = spec.factor_anchor
    if spec.factor_lr is not None:
        nonneg["factor_lr"] = spec.factor_lr
    for name, value in positive.items():
        if not (float(value) > 0 and float(value) < float("inf")):
            raise ValueError(f"{where}: expected {field_and_flag(name)} > 0, got {value!r}")
    for name, value in nonneg.items():
        if not (float(value) >= 0 and float(value) < float("inf")):
            raise ValueError(f"{where}: expected {field_and_flag(name)} >= 0, got {value!r}")
    if spec.monarch_init == "random" and (spec.fourier != "monarch" or spec.learn == "none"):
        got = f"fourier={spec.fourier!r}" if spec.fourier != "monarch" else "learn='none'"
        raise ValueError(
            f"{where}: monarch_init='random' (--monarch-init) starts the learnable Monarch factors at random, so it "
            f"needs fourier='monarch' (--fourier monarch) with learnable factors, got {got}"
        )


def spec_modes(spec: Any, axes: int = 2) -> tuple[int, ...]:
    """The modes per sign of a spec: from ``n_modes`` when given, else ``modes`` on each of ``axes`` axes."""
    if spec.n_modes is not None:
        return modes_from_n_modes(spec.n_modes, f"{type(spec).__name__} (--n-modes)")
    return (spec.modes,) * axes


def defining_arguments(spec: Any) -> dict[str, Any]:
    """The fields that define the result of a training spec (JSON values; data files as absolute paths,
    ``factor_lr`` resolved)."""
    out = {k: v for k, v in asdict(spec).items() if k not in HOW_TO_RUN}
    for name in ("data", "val", "test"):
        if out.get(name) is not None:
            out[name] = str(Path(out[name]).resolve())
    out["factor_lr"] = spec.lr if spec.factor_lr is None else spec.factor_lr
    return out


# -- model ---------------------------------------------------------------------------------------------------
def check_modes_fit(spec: ForecastSpec, s: int) -> None:
    """Refuse, before any training, a grid on which the requested modes do not fit."""
    if spec.n_modes is not None:
        grid = (s, s) if spec.model == "fno2d" else (s, s, spec.t_out + TIME_PAD)
        check_grid(grid, spec_modes(spec, len(grid)), "--n-modes", what="the grid (padded time axis included)")
        return
    if 2 * spec.modes > s:
        raise ValueError(f"--modes {spec.modes} keeps {2 * spec.modes} frequencies per axis, the grid is only {s}×{s}")
    if spec.model == "fno3d" and spec.modes > (spec.t_out + 6) // 2 + 1:
        raise ValueError(f"--modes {spec.modes} does not fit the padded time axis of t_out + 6 = {spec.t_out + 6}")


def build_forecaster(spec: ForecastSpec, resolution: int) -> ForecastModel:
    """The FNO of ``spec`` on a ``resolution``² grid, wrapped as a ``t_in → t_out`` forecaster.

    The one place that calls the FNO constructors (their Fourier keyword is being renamed).
    """
    common = {"fourier": spec.fourier, "learn": spec.learn, "share_transform": spec.share_fourier}
    common |= {"n_layers": spec.layers, "t_in": spec.t_in}
    s = resolution
    if spec.model == "fno2d":
        fno = FNO2d(*spec_modes(spec, 2), spec.width, size=(s, s), **common)
    else:
        fno = FNO3d(*spec_modes(spec, 3), spec.width, size=(s, s, spec.t_out), **common)
    if spec.monarch_init == "random":
        randomize_factors(fno, seed=spec.seed)
    return ForecastModel(fno, spec.t_out)


# -- run folders ---------------------------------------------------------------------------------------------
def read_record(out: Path) -> dict[str, Any] | None:
    path = out / "record.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable run record ({err}); pass overwrite (--overwrite) to start anew") from None


def run_differences(record: dict[str, Any], spec: Any, *, allow_more_epochs: bool) -> list[str]:
    """The defining fields in which ``record`` (a run's ``record.json``) and ``spec`` differ.

    A field the record lacks (added to the spec after the run was made) counts as its default value. The data
    files count by content: a file changed since the run (even in place, with the same name, size and time) is a
    difference (:func:`~monarch_sci.training.fingerprint.fingerprint_differences`).
    """
    recorded = record.get("spec")
    if not isinstance(recorded, dict):
        return ["the record holds no spec (written by an older version)"]
    defaults = {f.name: f.default for f in fields(spec) if f.default is not MISSING}
    recorded = {k: v for k, v in defaults.items() if k not in HOW_TO_RUN} | recorded
    requested = defining_arguments(spec)
    ignore = ["epochs"] if allow_more_epochs and spec.scheduler == "step" else []
    diffs = defining_differences(recorded, requested, ignore=ignore)
    diffs += fingerprint_differences(record.get("data_fingerprint"), spec_fingerprints(spec))
    done = len(record.get("epochs", []))
    if ignore and spec.epochs < done:
        diffs.append(f"epochs: {done} already trained -> {spec.epochs}")
    return diffs


def spec_fingerprints(spec: Any) -> dict[str, Any]:
    """The content fingerprints of a training spec's data files (``data``, ``val``, ``test``), for its record."""
    return data_fingerprints({k: getattr(spec, k, None) for k in ("data", "val", "test")})


def prepare_run(out: Path, spec: Any, *, resume: bool, overwrite: bool) -> bool:
    """Check ``out`` against ``spec``; returns whether to resume (nothing is written here)."""
    record = None if overwrite else read_record(out)
    if resume and not overwrite:
        if not (out / "last.pt").is_file():
            raise ValueError(f"resume: no checkpoint {out / 'last.pt'} to resume from")
        if record is not None:
            diffs = run_differences(record, spec, allow_more_epochs=True)
            if diffs:
                raise ValueError(
                    f"resume: {out} was trained with other arguments ({'; '.join(diffs)}); rerun with the run's "
                    "arguments, choose another --out, or pass --overwrite to start anew"
                )
        return True
    if record is not None or (not overwrite and (out / "last.pt").is_file()):
        status = (record or {}).get("status", "unfinished")
        raise ValueError(
            f"{out} already holds a run (status {status}); pass --resume to continue it, --overwrite to replace it, "
            "or choose another --out"
        )
    return False


def train_forecaster(
    spec: ForecastSpec, out: str | os.PathLike, *, resume: bool = False, overwrite: bool = False
) -> dict[str, Any] | None:
    """Train ``spec`` into the run folder ``out``; returns its record (``None`` on ranks other than 0).

    Data, split and modes are checked and the folder against ``resume``/``overwrite`` (see the module
    docstring) before anything is written. The best checkpoint (on validation, else on the training loss) is
    evaluated on the test split; the record gains ``test``, ``parameters`` and ``steps_per_epoch``, and the
    loss curves, error per rollout step and two test fields are drawn.

    Examples
    --------
    >>> rec = train_forecaster(ForecastSpec("ns.h5", epochs=2), "runs/fft")  # doctest: +SKIP
    >>> rec["test"]["test_rel_l2"]  # doctest: +SKIP
    0.41
    """
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    out = Path(out)
    device = torch.device(spec.device)
    train, val, test, info = load_forecast_splits(spec)
    s = info["resolution"]
    check_modes_fit(spec, s)
    resume = prepare_run(out, spec, resume=resume, overwrite=overwrite)
    # with --overwrite the new run takes the old one's place only once it is complete
    with replacing_run(out, overwrite=overwrite, run_files=RUN_FILES) as work:
        seed_everything(spec.seed)
        model = build_forecaster(spec, s)
        task = ForecastTask(spec.model)
        extra = {
            "command": "pde train",
            "task": "rollout",
            "spec": defining_arguments(spec),
            "how": {k: getattr(spec, k) for k in HOW_TO_RUN},
            "data_fingerprint": spec_fingerprints(spec),
        }
        trainer = Trainer(
            model, task, train, val, spec.train_config(), out=work, record={**extra, "data": info}, device=device
        )
        result = trainer.fit(resume=resume)
        if not trainer.is_main or result["status"] != "finished":
            return None
        model.load_state_dict(load_checkpoint(work / "best.pt")["model"])
        model.eval()
        with torch.no_grad():
            test_metrics = task.evaluate(model, test, prefix="test")
            pred, true = task.predict(model, test)
            ms = _inference_ms(model, test, device)
        rec = json.loads((work / "record.json").read_text())
        rec["test"] = {**test_metrics, "inference_ms_per_sample": ms, "samples": len(test)}
        rec["parameters"] = count_parameters(model)
        rec["steps_per_epoch"] = -(-len(train) // spec.batch_size)
        write_json(work / "record.json", rec, what=f"run {out}")
        _plots(rec, pred, true, work, spec.fourier)
        return rec


def write_json(path: Path, obj: Any, *, what: str) -> None:
    try:
        write_json_atomic(path, obj)
    except ValueError as err:
        raise ValueError(f"{what}: non-finite metrics (NaN/Inf), not written to {path} ({err})") from None


def _inference_ms(model, dataset, device: torch.device, batch: int = 10) -> float:
    """Milliseconds per sample of a forward pass (rollout included), batches of ``batch``, after a warm-up."""
    x = torch.stack([dataset[i][0] for i in range(min(len(dataset), batch))]).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    model(x)  # warm-up
    sync()
    reps = max(1, len(dataset) // batch)
    t0 = time.perf_counter()
    for _ in range(reps):
        model(x)
    sync()
    return 1000 * (time.perf_counter() - t0) / (reps * x.shape[0])


def _plots(rec: dict, pred, true, out: Path, label: str) -> None:
    # the plot functions write their PNGs atomically themselves
    plot_loss_curves(rec["epochs"], out / "loss_curves.png", title=label)
    plot_error_per_step({label: (rec["test"]["test_rel_l2_per_step"], None)}, out / "error_per_step.png")
    for i in range(min(2, pred.shape[0])):
        plot_fields(true[i], pred[i], out / f"fields_test{i}.png")
