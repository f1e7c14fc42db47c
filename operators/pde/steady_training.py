"""Train an FNO on a steady field map ``a ↦ u`` from pairs files: the typed Python API below
``monarch-sci pde train --task steady``.

A :class:`SteadySpec` names a training file (every sample trains), optional validation and test files, the
arrays (``x_key`` → ``y_key``, ``(N, s1, s2[, c])``, see :func:`~monarch_sci.datasets.pde.pairs.read_field_pairs`),
the subsampling stride, the FNO-2D (modes, width, layers) and the optimisation. :func:`train_steady` trains it
into a run folder with the shared trainer; input and output channels come from the data. The output
normaliser (:class:`~monarch_sci.datasets.pde.pairs.FieldNormalizer`, a mean and a standard deviation per
output channel) is fitted on the training file only and saved inside the model's state, so a checkpoint holds
everything needed to predict physical fields; the loss and every metric compare physical fields.

``best.pt`` follows the validation relative L2 error (without ``val``: the training loss). The test file, when
given, is read once, after training, and evaluated with ``best.pt``. Run folders, reruns, ``resume`` and
``overwrite`` behave as for the rollout task (:mod:`monarch_sci.operators.pde.forecasting`, whose helpers are
used here); the record says ``"task": "steady"``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from monarch_sci.datasets.pde.pairs import PAIRS_FORMATS, FieldNormalizer, FieldPairs, read_steady_pairs
from monarch_sci.operators.pde.factor_init import randomize_factors
from monarch_sci.operators.pde.fno import FNO2d, count_parameters
from monarch_sci.operators.pde.forecasting import (
    HOW_TO_RUN,
    RUN_FILES,
    FNOTraining,
    defining_arguments,
    prepare_run,
    spec_fingerprints,
    spec_modes,
    write_json,
)
from monarch_sci.operators.pde.fourier_modes import check_grid
from monarch_sci.operators.pde.plots import plot_loss_curves
from monarch_sci.operators.pde.steady import SteadyModel, SteadyTask
from monarch_sci.training.checkpoint import load_checkpoint, replacing_run
from monarch_sci.training.trainer import Trainer, seed_everything

__all__ = ["SteadySpec", "build_steady_model", "load_steady_split", "train_steady"]


@dataclass(frozen=True)
class SteadySpec(FNOTraining):
    """One steady operator-learning run: files, model, optimisation, and where it runs.

    Parameters
    ----------
    data, val, test
        Pairs files (``.h5``/``.hdf5``, ``.mat``, ``.npz``, ``.pt``): every sample of ``data`` trains, ``val``
        (optional) chooses ``best.pt``, ``test`` (optional) is evaluated once after training.
    x_key, y_key
        Names of the input and output arrays in every file.
    format
        ``"pairs"`` (``x_key`` → ``y_key``), ``"pdebench"`` (a PDEBench Darcy file: ``nu`` → ``tensor``) or
        ``"auto"`` (from the content, :func:`~monarch_sci.datasets.pde.pairs.read_steady_pairs`).
    loss, normalize
        Training loss ``"rel_l2"`` or ``"rel_h1"``; fit the output normaliser on the training file.
    modes, n_modes, width, layers, sub, epochs, ..., stop_after
        Keyword-only; see :class:`~monarch_sci.operators.pde.forecasting.FNOTraining` (``sub`` applies to every
        file).

    Examples
    --------
    >>> spec = SteadySpec("darcy_train.h5", val="darcy_val.h5", n_modes=(12, 12), loss="rel_h1")
    >>> spec_modes(spec), defining_arguments(spec)["loss"]
    ((6, 7), 'rel_h1')
    >>> SteadySpec("darcy.h5", loss="mse")
    Traceback (most recent call last):
    ...
    ValueError: SteadySpec: expected loss in ('rel_l2', 'rel_h1'), got 'mse'
    """

    data: str | os.PathLike
    val: str | os.PathLike | None = None
    test: str | os.PathLike | None = None
    x_key: str = "x"
    y_key: str = "y"
    loss: Literal["rel_l2", "rel_h1"] = "rel_l2"
    normalize: bool = True
    format: Literal["auto", "pairs", "pdebench"] = "auto"

    OWN_CHOICES: ClassVar[dict[str, tuple]] = {
        "loss": ("rel_l2", "rel_h1"),
        "normalize": (True, False),
        "format": PAIRS_FORMATS,
    }


def load_steady_split(spec: SteadySpec, which: Literal["data", "val", "test"]) -> FieldPairs | None:
    """The pairs of one file of ``spec`` (``None`` when that file is not given), channels last."""
    path = getattr(spec, which)
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        flag = "--data" if which == "data" else f"--{which}"
        raise FileNotFoundError(2, f"no such pairs file ({flag})", str(path))
    x, y, mapping = read_steady_pairs(path, format=spec.format, x_key=spec.x_key, y_key=spec.y_key, sub=spec.sub)
    return FieldPairs(x, y, mapping=mapping)


def _check_like(train: FieldPairs, other: FieldPairs | None, spec: SteadySpec, which: str) -> None:
    if other is None:
        return
    a, b = train.x.shape[1:], other.x.shape[1:]
    ya, yb = train.y.shape[-1], other.y.shape[-1]
    if a[-1] != b[-1] or ya != yb:
        raise ValueError(
            f"--{which} {getattr(spec, which)}: {b[-1]} input and {yb} output channels, the training file "
            f"{spec.data} has {a[-1]} and {ya}; the files must hold the same kind of fields"
        )


def build_steady_model(
    spec: SteadySpec,
    grid: tuple[int, int],
    in_channels: int,
    out_channels: int,
    normalizer: FieldNormalizer | None = None,
) -> SteadyModel:
    """The FNO-2D of ``spec`` trained on ``grid``, wrapped with the output normaliser.

    With ``spec.normalize`` and no ``normalizer`` given, a placeholder is built (to load a state into).
    """
    check_grid(grid, spec_modes(spec), "--modes/--n-modes", what="the training grid")
    fno = FNO2d(
        *spec_modes(spec),
        spec.width,
        in_channels=in_channels,
        out_channels=out_channels,
        n_layers=spec.layers,
        size=grid,
        fourier=spec.fourier,
        learn=spec.learn,
        share_transform=spec.share_fourier,
    )
    if spec.monarch_init == "random":
        randomize_factors(fno, seed=spec.seed)
    if spec.normalize and normalizer is None:
        normalizer = FieldNormalizer(out_channels)
    return SteadyModel(fno, normalizer if spec.normalize else None)


def train_steady(
    spec: SteadySpec, out: str | os.PathLike, *, resume: bool = False, overwrite: bool = False
) -> dict[str, Any] | None:
    """Train ``spec`` into the run folder ``out``; returns its record (``None`` on other ranks or when stopped).

    Files, channels and modes are checked, and the folder against ``resume``/``overwrite``, before anything is
    written. The record holds ``"task": "steady"``, the spec, the data (grid, channels, sizes) and, with a test
    file, ``test`` (``test_rel_l2``, ``test_rel_h1``, per-sample errors) of ``best.pt``.

    Examples
    --------
    >>> rec = train_steady(SteadySpec("train.h5", val="val.h5", epochs=2), "runs/darcy")  # doctest: +SKIP
    >>> rec["data"]["grid"]  # doctest: +SKIP
    [32, 32]
    """
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    out = Path(out)
    train = load_steady_split(spec, "data")
    val = load_steady_split(spec, "val")
    _check_like(train, val, spec, "val")
    if spec.test is not None and not Path(spec.test).is_file():
        raise FileNotFoundError(2, "no such pairs file (--test)", str(spec.test))
    grid = (int(train.x.shape[1]), int(train.x.shape[2]))
    c_in, c_out = int(train.x.shape[-1]), int(train.y.shape[-1])
    check_grid(grid, spec_modes(spec), "--modes/--n-modes", what=f"the training grid of {spec.data}")
    resume = prepare_run(out, spec, resume=resume, overwrite=overwrite)
    # with --overwrite the new run takes the old one's place only once it is complete
    with replacing_run(out, overwrite=overwrite, run_files=RUN_FILES) as work:
        seed_everything(spec.seed)
        normalizer = FieldNormalizer.fit(train.y) if spec.normalize else None
        model = build_steady_model(spec, grid, c_in, c_out, normalizer)
        task = SteadyTask(loss=spec.loss)
        info = {
            "grid": list(grid),
            "in_channels": c_in,
            "out_channels": c_out,
            "train_samples": len(train),
            "val_samples": 0 if val is None else len(val),
            "mapping": train.mapping,
        }
        extra = {
            "command": "pde train --task steady",
            "task": "steady",
            "spec": defining_arguments(spec),
            "how": {k: getattr(spec, k) for k in HOW_TO_RUN},
            "data": info,
            "data_fingerprint": spec_fingerprints(spec),
        }
        trainer = Trainer(model, task, train, val, spec.train_config(), out=work, record=extra, device=spec.device)
        result = trainer.fit(resume=resume)
        if not trainer.is_main or result["status"] != "finished":
            return None
        rec = json.loads((work / "record.json").read_text())
        rec["parameters"] = count_parameters(model)
        if spec.test is not None:
            model.load_state_dict(load_checkpoint(work / "best.pt")["model"])
            model.eval()
            test = load_steady_split(spec, "test")
            _check_like(train, test, spec, "test")
            with torch.no_grad():
                rec["test"] = {**task.evaluate(model, test, prefix="test"), "samples": len(test)}
        write_json(work / "record.json", rec, what=f"run {out}")
        plot_loss_curves(rec["epochs"], work / "loss_curves.png", title=f"steady, {spec.fourier}")
        return rec
