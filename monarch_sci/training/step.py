"""How a training step is executed: the optimiser's implementation and optional whole-step compilation.

Neither changes what is computed (values agree to round-off; a test compares compiled and eager steps), only
how many operators are dispatched per step (``benchmarks/fno_op_count.py`` counts them):

* Adam/AdamW run as ``foreach`` multi-tensor updates: a handful of operators for all parameters instead of a
  dozen per parameter (PyTorch's CPU default is the per-parameter loop). On CUDA they are also
  ``capturable`` (step counters on the device: no host synchronisation per parameter, and a step that CUDA
  graphs can capture). ``fused`` is not used: it refuses complex parameters (spectral weights, Monarch factors).
* ``compile`` (``TrainConfig.compile``, ``--compile MODE``): the task's loss (forward pass, rollout and loss;
  the backward through AOTAutograd) as one :func:`torch.compile` graph with that mode; eager by default until
  a measurement says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["COMPILE_MODES", "compiled", "optimizer_options", "resumable_optimizer_state"]

#: ``TrainConfig.compile`` choices: ``"none"`` (eager) or a :func:`torch.compile` mode.
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


def optimizer_options(device: torch.device | str) -> dict[str, Any]:
    """Keyword arguments of ``torch.optim.Adam``/``AdamW`` for parameters on ``device`` (see the module docstring).

    Examples
    --------
    >>> optimizer_options("cpu"), optimizer_options("cuda:0")
    ({'foreach': True}, {'foreach': True, 'capturable': True})
    """
    return {"foreach": True, **({"capturable": True} if torch.device(device).type == "cuda" else {})}


def resumable_optimizer_state(state: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """An optimiser ``state_dict`` with every group's implementation options set for ``device``.

    ``load_state_dict`` takes the saved groups' options, so a run checkpointed on a GPU (``capturable=True``)
    would otherwise fail its first step when resumed on a CPU (and a CPU checkpoint resumed on a GPU would sync
    per parameter). Loading after this places the step counters where the options need them.

    Examples
    --------
    >>> resumable_optimizer_state({"state": {}, "param_groups": [{"lr": 1.0, "capturable": True}]}, "cpu")
    {'state': {}, 'param_groups': [{'lr': 1.0, 'capturable': False, 'foreach': True}]}
    """
    options = {"capturable": False, **optimizer_options(device)}
    return {**state, "param_groups": [{**group, **options} for group in state["param_groups"]]}


def compiled(loss: Callable[..., torch.Tensor], mode: str) -> Callable[..., torch.Tensor]:
    """``loss`` itself for ``mode="none"``, else ``torch.compile(loss, mode=mode)`` (a ``ValueError`` for others).

    Examples
    --------
    >>> f = lambda a: (a * a).sum()
    >>> compiled(f, "none") is f
    True
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {COMPILE_MODES}, got {mode!r}")
    if mode == "none":
        return loss
    return torch.compile(loss, mode=mode)
