"""What every benchmark shares: interleaved timing (machine noise hits all candidates alike), the head of its
record (name, command, date, torch version) and its result file.

The scripts run as ``python benchmarks/NAME.py``, so this module is imported as ``_timing``.
"""

from __future__ import annotations

import datetime
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monarch_sci.cli.scripts import ArgumentTypeError
from monarch_sci.training.checkpoint import write_json_atomic

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved_median(
    fns: dict[str, Callable[[], object]], repeats: int, *, warmup: int = 1, clock: str = "cpu"
) -> dict[str, float]:
    """Median seconds per call of each function; one call of each per round, ``warmup`` rounds untimed."""
    tick = CLOCKS[clock]
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = tick()
            fn()
            times[name].append(tick() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def benchmark_record(name: str, **fields: Any) -> dict[str, Any]:
    """A benchmark's result record: its name, the command that ran it, the UTC date and torch's version, then
    ``fields``."""
    import torch

    return {
        "benchmark": name,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        **fields,
    }


def write_result(path: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write the benchmark's JSON atomically (standard JSON: a non-finite figure is an error), say where, and
    give the record back (a script's ``main`` returns it)."""
    write_json_atomic(path, record)
    print(f"wrote {path}")
    return record


def shard(text: str) -> tuple[int, int]:
    """``--shard K/N`` (a flag's ``type=``): this process takes every N-th run of a plan, starting at run K
    (:func:`~monarch_sci.training.study_plan.parse_shard`)."""
    from monarch_sci.training.study_plan import parse_shard

    try:
        return parse_shard(text)
    except ValueError as err:
        raise ArgumentTypeError(str(err)) from None
