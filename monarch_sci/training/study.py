"""The study engine: a declarative comparison (a TOML spec) → planned runs → claimed, resumed, selected on
validation, pooled over seeds, reported.

A study compares models (FFT and Monarch, say) the way a paper would: settings chosen on validation data only,
the test split read once per run after training, a convergence rule, several seeds, controls, and a report with
tables, curves and goals. The pieces:

* :mod:`~monarch_sci.training.study_spec` — the spec file and its typed, validated form (:func:`load_study`);
* :mod:`~monarch_sci.training.study_plan` — planning, choices, claiming across processes, resume, status;
* :mod:`~monarch_sci.training.study_report` (and :mod:`~monarch_sci.training.study_paired`) — ``report.md``,
  ``results.json`` and figures.

The domain-specific parts are **hooks registered by name** from the domain that owns them (this layer imports no
domain): a **runner** trains one run (``register_runner("pde", Runner(...))`` in
``monarch_sci.operators.pde.study_hooks``), a **section** writes a report block of its own
(``register_section("pde.drift", fn)``). Importing ``monarch_sci.operators.pde.study_hooks`` registers the PDE
hooks; ``monarch-sci study`` imports every domain's hooks.

Examples
--------
>>> from monarch_sci.training.study import load_study, run_study, write_study_report  # doctest: +SKIP
>>> import monarch_sci.operators.pde.study_hooks  # registers the runner "pde"  # doctest: +SKIP
>>> spec = load_study("my_study.toml")  # doctest: +SKIP
>>> run_study(spec)  # doctest: +SKIP
>>> print(write_study_report(spec))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monarch_sci.training.study_plan import RunContext, Runner, StudyRun, converged, make_choices, plan, study_status
from monarch_sci.training.study_plan import calibrate_study as _calibrate_study
from monarch_sci.training.study_plan import run_study as _run_study
from monarch_sci.training.study_report import ReportContext, Section, write_report
from monarch_sci.training.study_spec import StudySpec, StudySpecError, load_study, parse_study
from monarch_sci.training.study_stats import pooled

__all__ = [
    "ReportContext",
    "RunContext",
    "Runner",
    "StudyRun",
    "StudySpec",
    "StudySpecError",
    "calibrate",
    "converged",
    "get_runner",
    "load_study",
    "make_choices",
    "parse_study",
    "plan",
    "pooled",
    "register_runner",
    "register_section",
    "run_study",
    "status",
    "write_study_report",
]

_RUNNERS: dict[str, Runner] = {}
_SECTIONS: dict[str, Section] = {}


def register_runner(name: str, runner: Runner) -> Runner:
    """Make ``runner`` the one a spec's ``study.runner = NAME`` trains with (a name is registered once)."""
    if name in _RUNNERS and _RUNNERS[name] is not runner:
        raise ValueError(f"register_runner: a runner {name!r} is registered already")
    _RUNNERS[name] = runner
    return runner


def register_section(name: str) -> Callable[[Section], Section]:
    """Decorator: make ``fn(context, block) -> lines`` the report block ``kind = "section"``, ``hook = NAME``."""

    def wrap(fn: Section) -> Section:
        if name in _SECTIONS and _SECTIONS[name] is not fn:
            raise ValueError(f"register_section: a section {name!r} is registered already")
        _SECTIONS[name] = fn
        return fn

    return wrap


def get_runner(spec: StudySpec) -> Runner:
    """The runner the spec names (registered by its domain's ``study_hooks`` module)."""
    try:
        return _RUNNERS[spec.runner]
    except KeyError:
        known = ", ".join(sorted(_RUNNERS)) or "none registered"
        raise StudySpecError(f"{spec.path}: study.runner: unknown runner {spec.runner!r} (known: {known})") from None


def run_study(spec: StudySpec, **kw: Any):
    """Train the spec's pending runs with its runner (keywords: those of
    :func:`~monarch_sci.training.study_plan.run_study`); returns what was done."""
    return _run_study(spec, get_runner(spec), **kw)


def calibrate(spec: StudySpec, epochs: int, **kw: Any) -> list[dict[str, Any]]:
    """Seconds per epoch of the spec's runs, measured in scratch folders (keywords: those of
    :func:`~monarch_sci.training.study_plan.calibrate_study`)."""
    return _calibrate_study(spec, get_runner(spec), epochs, **kw)


def status(spec: StudySpec) -> dict[str, Any]:
    """Done, running and left runs and the time left (:func:`~monarch_sci.training.study_plan.study_status`)."""
    return study_status(spec, _RUNNERS.get(spec.runner))


def write_study_report(spec: StudySpec) -> str:
    """Write the spec's ``report.md``, ``results.json`` and figures from the finished runs; returns the text."""
    return write_report(spec, dict(_SECTIONS))
