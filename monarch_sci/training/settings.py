"""The optimisation settings every training run shares, defined once.

:class:`Optimization` holds the fields of the optimiser, the schedule, the precision and the Monarch factors'
own treatment. The trainer's :class:`~monarch_sci.training.trainer.TrainConfig` and the FNO training specs
(:class:`~monarch_sci.operators.pde.forecasting.FNOTraining`) both inherit them, so a field cannot be spelled,
typed or defaulted differently in two places, and ``TrainConfig.from_spec`` copies them by name.

Examples
--------
>>> from monarch_sci.training import TrainConfig
>>> [f for f in OPTIMIZATION_FIELDS if f.startswith("factor_")]
['factor_lr', 'factor_weight_decay', 'factor_start', 'factor_warmup', 'factor_anchor']
>>> TrainConfig(2, 4, factor_anchor=1e-2).factor_anchor
0.01
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

__all__ = ["OPTIMIZATION_FIELDS", "Optimization"]


@dataclass(frozen=True, kw_only=True)
class Optimization:
    """Optimiser, schedule, precision and Monarch-factor settings (keyword-only; every field is recorded).

    A field's comment is its documentation; :class:`~monarch_sci.training.trainer.TrainConfig` says how the
    trainer applies them.
    """

    #: Learning rate of every parameter (the Monarch factors too unless ``factor_lr`` is given).
    lr: float = 1e-3
    #: Weight decay: added to the gradient with ``"adam"`` (as in the FNO benchmark), decoupled with ``"adamw"``.
    weight_decay: float = 1e-4
    #: ``"adam"`` (``torch.optim.Adam``) or ``"adamw"``.
    optimizer: Literal["adam", "adamw"] = "adam"
    #: ``"step"`` (``StepLR``: ``gamma`` every ``step_size`` epochs) or ``"cosine"`` (``lr`` to 0 over the epochs).
    scheduler: Literal["step", "cosine"] = "step"
    #: ``"fp32"``, or ``"bf16"`` autocast for the forward pass of training (evaluation stays float32).
    precision: Literal["fp32", "bf16"] = "fp32"
    #: Epochs between two ``gamma`` steps of the ``"step"`` schedule.
    step_size: int = 100
    #: Factor of each step of the ``"step"`` schedule.
    gamma: float = 0.5
    #: Learning rate of the Monarch factors (``None``: ``lr``; the record states the rate used).
    factor_lr: float | None = None
    #: Weight decay of the Monarch factors.
    factor_weight_decay: float = 0.0
    #: Epochs the Monarch factors stay frozen (no update, no optimiser state) before they learn.
    factor_start: int = 0
    #: Epochs after ``factor_start`` over which the factors' rate ramps linearly up (times the schedule).
    factor_warmup: int = 0
    #: Weight ``λ`` of the penalty ``λ Σ ‖θ − θ⁰‖²/‖θ⁰‖²`` pulling the factors toward their start.
    factor_anchor: float = 0.0
    #: ``"none"`` (eager) or a ``torch.compile`` mode for the training loss (:mod:`monarch_sci.training.step`).
    compile: Literal["none", "default", "reduce-overhead", "max-autotune"] = "none"


#: The names of :class:`Optimization`'s fields, in order.
OPTIMIZATION_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Optimization))
