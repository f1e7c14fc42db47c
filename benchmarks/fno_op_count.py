"""Operators dispatched per training step: FFT-FNO, Monarch-FNO and neuraloperator's FNO on one NS problem.

A step that dispatches thousands of small operators is launch-bound on a GPU (``results/gpu_check.md``: 77 ms of
wall time for 8.7 ms of kernels). This counts, on the CPU, every ATen operator one training step dispatches
(forward, rollout, loss, backward and the Adam update; views and in-place updates included), with a
``TorchDispatchMode`` that sees each call below autograd, exactly as a device would receive it.

Problem: ``fno_step_time.py``'s ``ns32`` (FNO-2D modes 8, width 20, 32², batch 20, a 10-step autoregressive rollout
from a 10-snapshot window, MSE, Adam), for the optimiser the trainer uses (``foreach``,
:func:`monarch_sci.training.step.optimizer_options`) and PyTorch's per-parameter CPU default (``loop``, the
optimiser of the issue's first counts), measured in the same run. neuraloperator's row is skipped when
``neuralop`` is not importable.

Goals (issue 27): FFT-FNO ≤ 0.6× neuraloperator's count, Monarch-FNO ≤ 1.1× FFT-FNO's.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/fno_op_count.py     # table + results/fno_op_count.json
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import torch
from _timing import benchmark_record, write_result
from fno_step_time import CONFIGS, build, models_for
from torch.utils._python_dispatch import TorchDispatchMode

from monarch_sci.cli.scripts import add_flags, run_script, script_parser

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fno_op_count.json"
GOALS = {"fft vs neuralop": 0.6, "monarch vs fft": 1.1}


class OpCounter(TorchDispatchMode):
    """Counts the ATen operators dispatched inside the ``with`` block, by name (``aten.add``, …)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def count_step(config: str, model: str, adam: str) -> collections.Counter[str]:
    """Operators of one training step after one warm-up step (caches, optimiser state)."""
    step = build(config, model, adam=adam)
    step()
    with OpCounter() as counter:
        step()
    return counter.counts


def main(argv: list[str] | None = None) -> dict:
    parser = script_parser(__doc__)
    parser.add_argument("--config", choices=sorted(c for c, v in CONFIGS.items() if v["kind"] == "fno"), default="ns32")
    parser.add_argument("--top", type=int, default=8, help="most frequent operators listed per model")
    add_flags(parser, "threads", threads=1)
    add_flags(parser, "out", out=DEFAULT_OUT, out_type=Path, out_help=f"JSON output (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows: dict[str, dict] = {}
    print("| model | Adam | operators / step | top operators |")
    print("|---|---|---|---|")
    for model in models_for(args.config):
        for adam in ("loop", "trainer"):
            counts = count_step(args.config, model, adam)
            total = sum(counts.values())
            top = dict(counts.most_common(args.top))
            rows.setdefault(model, {})[adam] = {"operators": total, "top": top}
            print(f"| {model} | {adam} | {total} | {', '.join(f'{k} {v}' for k, v in top.items())} |")
    ratios: dict[str, dict] = {}
    for adam in ("loop", "trainer"):
        n = {m: rows[m][adam]["operators"] for m in rows}
        if "neuralop" in n:
            ratios.setdefault("fft vs neuralop", {})[adam] = n["fft"] / n["neuralop"]
        ratios.setdefault("monarch vs fft", {})[adam] = n["monarch"] / n["fft"]
    goals = {
        name: {"target": GOALS[name], "measured": r["trainer"], "met": r["trainer"] <= GOALS[name]}
        for name, r in ratios.items()
    }
    for name, g in goals.items():
        loop = ratios[name]["loop"]
        verdict = "met" if g["met"] else "NOT met"
        print(f"goal {name} <= {g['target']}: {g['measured']:.2f} (loop Adam {loop:.2f}) {verdict}")
    return write_result(
        args.out,
        benchmark_record(
            "fno_op_count",
            config={"name": args.config, **CONFIGS[args.config]},
            counted="ATen operators under a TorchDispatchMode: forward, rollout, loss, backward, Adam step",
            models=rows,
            ratios=ratios,
            goals=goals,
        ),
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
