"""A stand-in runner for the study engine's tests (no training): its metrics follow from the run's parameters.

``python study_worker.py SPEC LOG`` runs the study with it in a second process and appends each trained run's
name and the process id to ``LOG`` (the claiming test starts two).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from monarch_sci.training.study import RunContext, Runner, StudyRun, load_study, register_runner, run_study

#: error of a setting (lower is better); the seed adds a little
ERROR = {"fft": 0.10, "monarch": 0.08, "monarch-slow": 0.09, "wide": 0.095}


def train(run: StudyRun, folder: Path, context: RunContext) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    delay = float(os.environ.get("STUDY_WORKER_DELAY", "0"))
    time.sleep(delay)
    err = ERROR[run.params["kind"]] * run.params.get("scale", 1.0) + 0.001 * run.seed
    # FFT-like settings level off (converged); Monarch still improves linearly at the end (not converged)
    if run.params["kind"] == "monarch":
        curve = [err * (1 + (run.epochs - 1 - e) / run.epochs) for e in range(run.epochs)]
    else:
        curve = [err * (1 + 2.0 / (e + 1) ** 2) for e in range(run.epochs)]
    record = {"val_curve": curve, "seconds_per_epoch": 0.5, "parameters": 1000 + run.seed, "params": run.params}
    if run.split == "validation":
        record["score"] = min(curve)
    else:
        record["test"] = {"rel_l2": err, "per_step": [err, 2 * err]}
    if run.params.get("leak") and run.split == "validation":
        record["test"] = {"rel_l2": err}
    log = os.environ.get("STUDY_WORKER_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{run.name} {os.getpid()}\n")
    return record


def time_epochs(run: StudyRun, folder: Path, context: RunContext) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "timed").write_text(str(run.epochs))
    return 0.25 * run.epochs


RUNNER = register_runner("fake", Runner(train=train, epochs_done=lambda folder: 0, time_epochs=time_epochs))

if __name__ == "__main__":
    os.environ["STUDY_WORKER_LOG"] = sys.argv[2]
    run_study(load_study(sys.argv[1]), say=lambda line: None)
