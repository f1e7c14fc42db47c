"""One training loop for every model in the toolkit (PDE surrogates and MRI networks alike).

The loop knows nothing about the model or the data beyond a :class:`Task`, which turns a batch into a scalar
loss (a *mean* over the batch's samples) and evaluates a model on a dataset. It provides:

* Adam (``lr`` 1e-3, weight decay 1e-4) and StepLR (halving every 100 epochs) by default, AdamW and a cosine
  schedule over the epoch budget on request, with a separate parameter group for Monarch factors (their own
  ``lr``, by default the main ``lr`` — the behaviour the published comparisons used; no weight decay by default;
  on request a late start, a warm-up and an anchor to their initial values, :mod:`monarch_sci.training.factors`);
* validation optional: without a validation set ``best.pt`` follows the mean training loss of the epoch;
* a run folder: ``record.json`` (arguments, versions, seed, per-epoch metrics, timing, status), ``last.pt``
  and ``best.pt`` written atomically; ``resume=True`` continues from ``last.pt`` and ends exactly where the
  uninterrupted run would (model, optimiser, scheduler, every random state, the epoch and the history);
* a guard against NaN/Inf in a batch or in the loss: the run stops with a :class:`NonFiniteError` naming the
  epoch and step, before the bad step touches the weights; the last good checkpoint stays;
* DistributedDataParallel under ``torchrun`` (``gloo`` on CPU, ``nccl`` on GPU) with a
  :class:`~torch.utils.data.DistributedSampler`. The single-process run uses the same sampler with one
  replica, so both see the same global batches: rank ``r`` takes samples ``r, r+K, …`` of each global batch and
  DDP averages the gradients of the per-rank means, which equals the gradient of the global mean. DDP
  all-reduces complex gradients (Monarch factors, spectral weights) like real ones; a test checks it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from monarch_sci.training.checkpoint import (
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
    write_text_atomic,
)
from monarch_sci.training.factors import (
    anchor_from_checkpoint,
    anchor_penalty,
    anchor_start,
    factor_lr_scale,
    factor_parameters,
    is_factor,
)
from monarch_sci.training.records import package_versions
from monarch_sci.training.settings import Optimization
from monarch_sci.training.step import COMPILE_MODES, compiled, optimizer_options, resumable_optimizer_state

#: Optimisers and learning-rate schedules :class:`TrainConfig` accepts.
OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("step", "cosine")
#: Training precisions: ``"fp32"``, or ``"bf16"`` autocast for the forward pass (evaluation stays float32).
PRECISIONS = ("fp32", "bf16")

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "NonFiniteError",
    "Task",
    "TrainConfig",
    "Trainer",
    "param_groups",
    "seed_everything",
]


class NonFiniteError(RuntimeError):
    """A batch or a loss held NaN or Inf; ``step`` is the global optimiser step at which it happened."""

    def __init__(self, message: str, *, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch, self.step = epoch, step


class Task(Protocol):
    """What the loop needs from a problem (PDE rollout, MRI reconstruction, ...)."""

    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """Scalar training loss: the mean over the samples of ``batch`` (DDP averages it across ranks)."""

    def evaluate(self, model: nn.Module, dataset: Dataset) -> dict[str, float]:
        """Metrics of ``model`` on ``dataset`` (called under ``torch.no_grad`` with the model in eval mode)."""


@dataclass(frozen=True)
class TrainConfig(Optimization):
    """Optimisation settings (:class:`~monarch_sci.training.settings.Optimization`'s keyword-only fields, plus
    the budget and the run's bookkeeping); every field is recorded in ``record.json``.

    ``optimizer`` is ``"adam"`` (``torch.optim.Adam``, weight decay added to the gradient as in the FNO
    benchmark) or ``"adamw"`` (decoupled weight decay). ``scheduler`` is ``"step"`` (``StepLR`` with
    ``step_size``/``gamma``) or ``"cosine"`` (``CosineAnnealingLR`` from ``lr`` to 0 over ``epochs``; a cosine
    run cannot be extended by resuming with more epochs, its schedule is fixed by the budget).
    ``factor_lr``/``factor_weight_decay`` apply to the Monarch factors (parameters named ``r_blocks`` or
    ``l_blocks``); ``factor_lr=None`` means the same ``lr`` as the rest (no validation evidence yet for another
    default; the record states the value used). The factors are frozen for the first ``factor_start`` epochs
    (gradients dropped before each step: no update, no optimiser state), then their lr ramps linearly over
    ``factor_warmup`` epochs (:meth:`factor_lr_scale`) times the main step/cosine schedule (the history's
    ``factor_lr``: the rate used in each epoch). ``factor_anchor`` ``λ`` adds ``λ Σ_f ‖θ_f − θ_f⁰‖²/‖θ_f⁰‖²``
    to the loss, ``θ⁰`` the factors when training started (saved in the checkpoints); ``train_loss`` is the
    task's loss alone (:mod:`~monarch_sci.training.factors`). Their defaults (0) change nothing.
    ``stop_after`` ends this invocation after that many epochs (as if killed), leaving a resumable run.
    ``compile`` compiles the task's loss with that ``torch.compile`` mode (``"none"``: eager); Adam runs as
    ``foreach`` (and ``capturable`` on CUDA) updates (:mod:`~monarch_sci.training.step`).
    ``monitor`` names the metric (lower is better) that selects ``best.pt``; without a validation set it is
    ``"train_loss"``. ``epoch_lines`` prints one summary line per epoch (also when the progress bar is off).

    Examples
    --------
    >>> TrainConfig(epochs=3, batch_size=4, scheduler="cosine").optimizer
    'adam'
    >>> TrainConfig(epochs=3, batch_size=4, optimizer="sgd")
    Traceback (most recent call last):
    ...
    ValueError: TrainConfig: optimizer must be 'adam' or 'adamw', got 'sgd'
    """

    epochs: int
    batch_size: int
    seed: int = 0
    monitor: str = "val_loss"
    stop_after: int | None = None
    progress: bool = True
    epoch_lines: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: Any, **overrides: Any) -> TrainConfig:
        """The settings a typed training spec shares with the trainer (fields of the same name), plus ``overrides``."""
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        shared = {name: getattr(spec, name) for name in names if hasattr(spec, name)}
        return cls(**{**shared, **overrides})

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"TrainConfig: epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig: optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"TrainConfig: scheduler must be 'step' or 'cosine', got {self.scheduler!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig: precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"TrainConfig: compile must be one of {COMPILE_MODES}, got {self.compile!r}")
        checks = (
            ("lr", self.lr > 0),
            ("weight_decay", self.weight_decay >= 0),
            ("step_size", self.step_size >= 1),
            ("gamma", self.gamma > 0),
            ("factor_lr", self.factor_lr is None or self.factor_lr >= 0),
            ("factor_weight_decay", self.factor_weight_decay >= 0),
            ("factor_anchor", math.isfinite(self.factor_anchor) and self.factor_anchor >= 0),
        )
        for name, ok in checks:
            if not ok:
                raise ValueError(f"TrainConfig: {name} out of range, got {getattr(self, name)}")
        for name, value in (("factor_start", self.factor_start), ("factor_warmup", self.factor_warmup)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"TrainConfig: {name} must be an integer >= 0 (epochs), got {value!r}")

    @property
    def effective_factor_lr(self) -> float:
        """The learning rate the Monarch factors train with (``factor_lr``, or ``lr`` when it is ``None``)."""
        return self.lr if self.factor_lr is None else self.factor_lr

    def factor_lr_scale(self, epoch: int) -> float:
        """The factors' lr multiplier in ``epoch`` (0-based): :func:`~monarch_sci.training.factors.factor_lr_scale`.

        Examples
        --------
        >>> cfg = TrainConfig(epochs=6, batch_size=1, factor_start=2, factor_warmup=3)
        >>> [cfg.factor_lr_scale(e) for e in range(6)]
        [0.0, 0.0, 0.25, 0.5, 0.75, 1.0]
        """
        return factor_lr_scale(epoch, start=self.factor_start, warmup=self.factor_warmup)


def seed_everything(seed: int) -> None:
    """Seed torch, NumPy's global generator and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """Optimiser parameter groups: the Monarch factors (own ``lr``/weight decay) and everything else."""
    factors, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (factors if is_factor(name) else rest).append(p)
    groups = [{"params": rest, "lr": config.lr, "weight_decay": config.weight_decay, "name": "weights"}]
    if factors:
        lr = config.effective_factor_lr
        groups.append({"params": factors, "lr": lr, "weight_decay": config.factor_weight_decay, "name": "factors"})
    return groups


def _all_finite(batch: Any) -> bool:
    if isinstance(batch, torch.Tensor):
        return bool(torch.isfinite(batch).all()) if batch.is_floating_point() or batch.is_complex() else True
    if isinstance(batch, (list, tuple)):
        return all(_all_finite(b) for b in batch)
    if isinstance(batch, dict):
        return all(_all_finite(b) for b in batch.values())
    return True


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    if isinstance(batch, (list, tuple)):
        return _batch_size(batch[0])
    if isinstance(batch, dict):
        return _batch_size(next(iter(batch.values())))
    raise TypeError(f"cannot tell the batch size of a {type(batch).__name__}")


class Trainer:
    """Fit ``model`` on ``task`` with ``train_set``, evaluating on ``val_set`` after every epoch.

    Parameters
    ----------
    model
        Any ``nn.Module``; built (and seeded) by the caller. Under DDP every rank must build it identically
        (DDP also broadcasts rank 0's weights at wrap time).
    task
        A :class:`Task`.
    train_set, val_set
        Map-style datasets; batches are collated with the default collate function.
    config
        :class:`TrainConfig`.
    out
        Run folder (created). ``record`` adds entries to ``record.json`` (e.g. the command's arguments).
    device
        Where to train (default: CPU, or this rank's GPU under ``torchrun`` when CUDA is available).

    Examples
    --------
    >>> trainer = Trainer(model, task, train_set, val_set, TrainConfig(epochs=2, batch_size=4), out="runs/x")
    ... # doctest: +SKIP
    >>> record = trainer.fit()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        train_set: Dataset,
        val_set: Dataset | None,
        config: TrainConfig,
        *,
        out: str | os.PathLike,
        record: dict[str, Any] | None = None,
        device: torch.device | str | None = None,
        callbacks: Iterable[Callable[[int, dict[str, float]], None]] = (),
    ) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
        if device is None:
            if torch.cuda.is_available() and self.world > 1:
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            else:
                device = torch.device("cpu")
        self.device = torch.device(device)
        if config.batch_size % self.world:
            raise ValueError(
                f"Trainer: the global batch size {config.batch_size} must be divisible by the number of "
                f"processes {self.world}"
            )
        self.model, self.task, self.config = model.to(self.device), task, config
        self.train_set, self.val_set = train_set, val_set
        self.out = Path(out)
        self.record_extra = dict(record or {})
        self.callbacks = list(callbacks)
        self.is_main = self.rank == 0
        # Without validation, best.pt follows the epoch's mean training loss.
        self.monitor = config.monitor if val_set is not None else "train_loss"

    # -- helpers -----------------------------------------------------------------------------------------
    def _payload(self, epoch: int, step: int, history: list, best: float, opt, sched, gen, anchor) -> dict[str, Any]:
        return {
            **({} if anchor is None else {"factor_anchor_start": anchor}),
            "model": self.model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "rng": get_rng_state(gen),
            "epoch": epoch,
            "step": step,
            "history": history,
            "best": best,
            "config": {k: v for k, v in asdict(self.config).items() if k != "extra"},
        }

    def _write_record(self, history: list, status: str, best: float, total: float, extra: dict | None = None) -> None:
        if not self.is_main:
            return
        train_times = [h["train_seconds"] for h in history]
        record = {
            **self.record_extra,
            "config": {**asdict(self.config), "factor_lr_effective": self.config.effective_factor_lr},
            "monitor": self.monitor,
            "versions": package_versions(),
            "seed": self.config.seed,
            "world_size": self.world,
            "device": str(self.device),
            "parameters": sum(p.numel() * (2 if p.is_complex() else 1) for p in self.model.parameters()),
            "status": status,
            "best": {self.monitor: best if math.isfinite(best) else None},
            "timing": {
                "seconds_total_this_invocation": total,
                "train_seconds_per_epoch": float(np.mean(train_times)) if train_times else None,
            },
            "epochs": history,
            **(extra or {}),
        }
        write_text_atomic(self.out / "record.json", json.dumps(record, indent=1, default=float))

    def _mean_across_ranks(self, total: float, count: int) -> float:
        if self.world == 1:
            return total / max(count, 1)
        t = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t[0] / t[1].clamp_min(1))

    def _any_rank(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    # -- the loop ----------------------------------------------------------------------------------------
    def fit(self, *, resume: bool = False) -> dict[str, Any]:
        """Train; returns ``{"history": [...], "best": ..., "status": ...}`` (the record's core)."""
        from monarch_sci.training.progress import progress_bar

        cfg = self.config
        seed_everything(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        sampler = DistributedSampler(
            self.train_set, num_replicas=self.world, rank=self.rank, shuffle=True, seed=cfg.seed, drop_last=False
        )
        loader = DataLoader(self.train_set, batch_size=cfg.batch_size // self.world, sampler=sampler, generator=gen)
        opt_class = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        opt = opt_class(param_groups(self.model, cfg), **optimizer_options(self.device))
        loss_fn = compiled(self.task.loss, cfg.compile)
        if cfg.scheduler == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
        else:
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
        net: nn.Module = self.model
        if self.world > 1:
            net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        start, step, history, best = 0, 0, [], math.inf
        last_path, best_path = self.out / "last.pt", self.out / "best.pt"
        factors = factor_parameters(self.model)
        anchor = anchor_start(factors, cfg.factor_anchor)  # θ⁰: the factors as training starts (resume: saved)
        if resume:
            ckpt = load_checkpoint(last_path)
            try:
                self.model.load_state_dict(ckpt["model"])
            except RuntimeError as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ValueError(
                    f"Trainer: the checkpoint {last_path} holds another model than the one requested ({first}); "
                    "resume with the run's own model arguments, or start a new run"
                ) from None
            opt.load_state_dict(resumable_optimizer_state(ckpt["optimizer"], self.device))
            sched.load_state_dict(ckpt["scheduler"])
            set_rng_state(ckpt["rng"], gen)
            start, step, history, best = ckpt["epoch"] + 1, ckpt["step"], list(ckpt["history"]), ckpt["best"]
            if anchor is not None:
                anchor = anchor_from_checkpoint(ckpt, anchor, last_path, cfg.factor_anchor)
        fgroup = next((g for g in opt.param_groups if g.get("name") == "factors"), None)  # after load_state_dict
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        t_begin = time.perf_counter()
        stop = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start + cfg.stop_after)
        for epoch in range(start, stop):
            sampler.set_epoch(epoch)
            # The factors' ramp on top of the main schedule; the scheduled lr is restored before sched.step().
            scale = 1.0 if fgroup is None else cfg.factor_lr_scale(epoch)
            scheduled = None if scale == 1.0 else fgroup["lr"]
            if scale != 1.0:
                fgroup["lr"] = scheduled * scale
            net.train()
            total, count = 0.0, 0
            t0 = time.perf_counter()
            show = cfg.progress and self.is_main
            bar = progress_bar(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", enabled=show, leave=not cfg.epoch_lines)
            for batch in bar:
                batch = _to_device(batch, self.device)
                if self._any_rank(not _all_finite(batch)):
                    self._stop_non_finite(history, best, t_begin, epoch, step, "a batch")
                # bf16: autocast runs the real layers (lift, 1x1 skips, projection) in bfloat16; modules that
                # need float32 (FFTs, complex Monarch factors) turn it off inside (see SpectralConv.forward).
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                    loss = loss_fn(net, batch)
                objective = loss if anchor is None else loss + cfg.factor_anchor * anchor_penalty(factors, anchor)
                if self._any_rank(not bool(torch.isfinite(objective.detach()).all())):
                    self._stop_non_finite(history, best, t_begin, epoch, step, "the loss")
                opt.zero_grad(set_to_none=True)
                objective.backward()
                for p in fgroup["params"] if scale == 0.0 else ():  # frozen: no update, no state (None grad)
                    p.grad = None
                opt.step()
                step += 1
                n = _batch_size(batch)
                total, count = total + float(loss.detach()) * n, count + n
                bar.set_postfix(loss=f"{float(loss.detach()):.4g}")
            factor_lr_used = None if fgroup is None else fgroup["lr"]
            if scheduled is not None:
                fgroup["lr"] = scheduled
            sched.step()
            train_seconds = time.perf_counter() - t0
            metrics: dict[str, Any] = {
                "epoch": epoch + 1,
                "step": step,
                "train_loss": self._mean_across_ranks(total, count),
            }
            if self.val_set is not None:
                t1 = time.perf_counter()
                self.model.eval()
                with torch.no_grad():
                    metrics.update(self.task.evaluate(self.model, self.val_set))
                metrics["eval_seconds"] = time.perf_counter() - t1
            metrics["train_seconds"] = train_seconds
            metrics["lr"] = [g["lr"] for g in opt.param_groups]
            metrics.update({} if fgroup is None else {"factor_lr": factor_lr_used})  # used this epoch (ramp incl.)
            if anchor is not None:
                with torch.no_grad():
                    metrics["anchor_penalty"] = float(anchor_penalty(factors, anchor))
            history.append(metrics)
            if self.monitor not in metrics:
                raise KeyError(f"Trainer: monitor metric {self.monitor!r} not among the metrics {sorted(metrics)}")
            improved = metrics[self.monitor] < best
            if improved:
                best = float(metrics[self.monitor])
            if cfg.epoch_lines and self.is_main:
                self._epoch_line(metrics, cfg.epochs)
            if self.is_main:
                payload = self._payload(epoch, step, history, best, opt, sched, gen, anchor)
                save_checkpoint(last_path, payload)
                if improved:
                    save_checkpoint(best_path, payload)
            for cb in self.callbacks:
                cb(epoch, metrics)
            done = epoch + 1 == cfg.epochs
            self._write_record(history, "finished" if done else "running", best, time.perf_counter() - t_begin)
        status = "finished" if (history and history[-1]["epoch"] == cfg.epochs) else "stopped"
        self._write_record(history, status, best, time.perf_counter() - t_begin)
        return {"history": history, "best": best, "status": status}

    def _epoch_line(self, metrics: dict[str, Any], epochs: int) -> None:
        from tqdm.auto import tqdm

        shown = [f"{k} {metrics[k]:.4g}" for k in ("train_loss", self.monitor) if isinstance(metrics.get(k), float)]
        shown = list(dict.fromkeys(shown))
        tqdm.write(f"epoch {metrics['epoch']}/{epochs}: {', '.join(shown)} ({metrics['train_seconds']:.1f} s)")

    def _stop_non_finite(self, history: list, best: float, t_begin: float, epoch: int, step: int, what: str) -> None:
        message = (
            f"non-finite values (NaN/Inf) in {what} at epoch {epoch + 1}, step {step + 1}; training stopped "
            f"before that step, the last good checkpoint is {self.out / 'last.pt'}"
        )
        self._write_record(
            history, "non-finite", best, time.perf_counter() - t_begin, {"error": message, "failed_step": step + 1}
        )
        raise NonFiniteError(message, epoch=epoch + 1, step=step + 1)
