"""A study spec: the TOML file that declares a comparison, validated into typed dataclasses.

A study is a list of **stages**, each a grid of runs (problem × setting × seed) trained by one registered
**runner** (a domain hook: how to train one PDE or MRI run). A stage reads either validation data only
(``split = "validation"``; only such a stage may **choose** something) or the test split, once per run, after
training (``split = "test"``). A setting of a later stage may take the parameters of a choice
(``choice = "STAGE.NAME"``) instead of naming them, so the final comparison uses only what validation data chose.
The **report** is an ordered list of blocks (text, tables, curves, hooks). Layout::

    [study]
    title = "FFT vs Monarch on my pairs"
    runner = "pde"                # registered by monarch_sci.operators.pde.study_hooks
    records = "records"           # per-run JSON records (paths relative to this file)
    work = "work"                 # run folders (checkpoints; resumed when interrupted)
    report = "report"             # report.md, results.json and the figures
    params = { modes = 8 }        # parameters of every run (the runner's vocabulary)
    convergence = { tail = 0.1, tol = 0.01 }

    [problems.mine]
    task = "steady"
    data = "train.h5"

    [stages.final]
    split = "test"
    problems = ["mine"]
    seeds = [0, 1, 2]
    epochs = 100                  # or { mine = 100, ... } per problem
    settings = { fft = { fourier = "fft" }, monarch = { fourier = "monarch" } }

    [[report]]
    kind = "table"
    stage = "final"
    columns = [{ header = "test rel. L2", show = "mean_std", metric = "test.test_rel_l2" }]

Every error names the file and the key (``stages.final.seeds``), what was expected and what arrived.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "Block",
    "Choice",
    "Column",
    "Convergence",
    "Stage",
    "StudySpec",
    "StudySpecError",
    "load_study",
    "parse_study",
]

Split = Literal["validation", "test"]
SHOWS = ("mean_std", "per_seed", "change", "converged", "count", "first", "mean")
BLOCK_KINDS = ("text", "table", "per_index", "paired", "goals", "section", "curves", "figures", "missing", "choices")
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class StudySpecError(ValueError):
    """A study spec that cannot be used; the message names the file, the key, what was expected and what came."""


@dataclass(frozen=True)
class Convergence:
    """A run converged when its best ``curve`` value improved by less than ``tol`` (relative) over its last
    ``tail`` fraction of epochs (:func:`~monarch_sci.training.study_plan.converged`)."""

    tail: float = 0.1
    tol: float = 0.01


@dataclass(frozen=True)
class Choice:
    """What a validation stage chooses: the setting among ``among`` with the best pooled ``metric``.

    Per problem, the seed mean of ``metric`` (divided by the seed mean of ``relative_to``'s when given); pooled
    over the stage's problems by their mean; ``goal`` ``"min"`` or ``"max"``.
    """

    name: str
    metric: str
    among: tuple[str, ...]
    relative_to: str | None = None
    goal: Literal["min", "max"] = "min"


@dataclass(frozen=True)
class Stage:
    """One grid of runs: ``problems`` × ``settings`` × ``seeds``, each trained for ``epochs[problem]`` epochs."""

    name: str
    split: Split
    problems: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: dict[str, int]
    settings: dict[str, dict[str, Any]]
    #: setting -> "STAGE.CHOICE": the setting's parameters are the chosen setting's (then its own on top)
    choices_used: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    choose: tuple[Choice, ...] = ()
    #: the budget ``epochs`` is a cap: a call may give every run a smaller one (a time-boxed stage, its budget set
    #: by a measured calibration); each record keeps the budget it was trained with
    time_box: bool = False


@dataclass(frozen=True)
class Column:
    """A column of a table: ``show`` one of :data:`SHOWS` of the record value ``metric`` (a dotted path)."""

    header: str
    show: str
    metric: str | None = None
    baseline: str | None = None
    format: str = ".4f"


@dataclass(frozen=True)
class Block:
    """One piece of the report, in order (``kind`` one of :data:`BLOCK_KINDS`; the other fields by kind)."""

    kind: str
    text: str = ""
    stage: str | None = None
    stages: tuple[str, ...] = ()
    rows_header: tuple[str, str] = ("problem", "setting")
    columns: tuple[Column, ...] = ()
    references: tuple[dict[str, Any], ...] = ()
    metric: str | None = None
    settings: tuple[str, ...] = ()
    title: str = ""
    hook: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: setting -> the two first cells of its rows (in place of problem and setting)
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class StudySpec:
    """A whole study (see the module docstring); paths are absolute (resolved against the spec file)."""

    path: Path
    title: str
    runner: str
    records: Path
    work: Path
    report: Path
    curve: str
    convergence: Convergence
    params: dict[str, Any]
    problems: dict[str, dict[str, Any]]
    stages: dict[str, Stage]
    blocks: tuple[Block, ...]
    figure_prefix: str = ""
    #: the file name (without ``.json``) of a run's record and the name of its folder
    record_name: str = "{stage}__{problem}__{setting}__seed{seed}"

    @property
    def base(self) -> Path:
        """The folder relative paths in the spec are read from."""
        return self.path.parent


def load_study(path: str | Path) -> StudySpec:
    """Read and validate the study spec ``path`` (TOML)."""
    path = Path(path)
    if not path.is_file():
        raise StudySpecError(f"{path}: no such study spec (expected a TOML file)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise StudySpecError(f"{path}: not valid TOML ({err})") from None
    return parse_study(raw, path)


class _Reader:
    """Typed access to the raw TOML tables, with errors that name the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, expected: str, got: Any) -> StudySpecError:
        return StudySpecError(f"{self.path}: {key}: expected {expected}, got {got!r}")

    def table(self, raw: Any, key: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(key, "a table", raw)
        return raw

    def only(self, raw: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            where = f"{key}." if key else ""
            raise StudySpecError(
                f"{self.path}: {where}{unknown[0]}: unknown key (expected one of {', '.join(allowed)})"
            )

    def get(self, raw: dict[str, Any], key: str, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        full = f"{key}.{name}" if key else name
        if name not in raw:
            if default is ...:
                raise StudySpecError(f"{self.path}: {full}: missing (required)")
            return default
        value = raw[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise self.fail(full, " or ".join(k.__name__ for k in kinds), value)
        return value

    def names(self, raw: dict[str, Any], key: str, name: str, known: dict | None = None, default: Any = ...) -> tuple:
        value = self.get(raw, key, name, list, default)
        if value is default and not isinstance(value, list):
            return tuple(value) if value is not None else ()
        full = f"{key}.{name}"
        if not value or not all(isinstance(v, str) for v in value) or len(set(value)) != len(value):
            raise self.fail(full, "a non-empty list of distinct names", value)
        if known is not None:
            for v in value:
                if v not in known:
                    raise self.fail(full, f"names among {', '.join(known)}", v)
        return tuple(value)

    def path_of(self, raw: dict[str, Any], key: str, name: str) -> Path:
        return (self.path.parent / self.get(raw, key, name, str)).resolve()

    def name(self, value: str, key: str) -> str:
        if not value or not set(value) <= NAME_CHARS or "__" in value:
            raise self.fail(key, "a name of letters, digits, '-', '_' or '.' (no '__')", value)
        return value


def parse_study(raw: dict[str, Any], path: str | Path = "<study>") -> StudySpec:
    """Validate the parsed TOML ``raw`` into a :class:`StudySpec` (``path``: the file it came from)."""
    path = Path(path).resolve()
    r = _Reader(path)
    r.only(raw, "", ("study", "problems", "stages", "report"))
    study = r.table(r.get(raw, "", "study", dict), "study")
    r.only(study, "study", ("title", "runner", "records", "work", "report", "curve", "convergence", "params",
                            "figure_prefix", "record_name"))  # fmt: skip
    conv = r.table(r.get(study, "study", "convergence", dict, {}), "study.convergence")
    r.only(conv, "study.convergence", ("tail", "tol"))
    convergence = Convergence(
        tail=float(r.get(conv, "study.convergence", "tail", (int, float), 0.1)),
        tol=float(r.get(conv, "study.convergence", "tol", (int, float), 0.01)),
    )
    if not (0 < convergence.tail < 1) or convergence.tol < 0:
        raise r.fail("study.convergence", "0 < tail < 1 and tol >= 0", conv)
    problems_raw = r.table(r.get(raw, "", "problems", dict), "problems")
    if not problems_raw:
        raise r.fail("problems", "at least one problem", problems_raw)
    problems = {r.name(k, f"problems.{k}"): dict(r.table(v, f"problems.{k}")) for k, v in problems_raw.items()}
    stages_raw = r.table(r.get(raw, "", "stages", dict), "stages")
    if not stages_raw:
        raise r.fail("stages", "at least one stage", stages_raw)
    stages: dict[str, Stage] = {}
    for name, body in stages_raw.items():
        stages[r.name(name, f"stages.{name}")] = _stage(r, name, r.table(body, f"stages.{name}"), problems, stages)
    blocks = tuple(
        _block(r, i, r.table(b, f"report[{i}]"), stages) for i, b in enumerate(r.get(raw, "", "report", list, []))
    )
    return StudySpec(
        path=path,
        title=r.get(study, "study", "title", str),
        runner=r.get(study, "study", "runner", str),
        records=r.path_of(study, "study", "records"),
        work=r.path_of(study, "study", "work"),
        report=r.path_of(study, "study", "report"),
        curve=r.get(study, "study", "curve", str, "val_curve"),
        convergence=convergence,
        params=dict(r.table(r.get(study, "study", "params", dict, {}), "study.params")),
        problems=problems,
        stages=stages,
        blocks=blocks,
        figure_prefix=r.get(study, "study", "figure_prefix", str, ""),
        record_name=_record_name(r, r.get(study, "study", "record_name", str, StudySpec.record_name), stages),
    )


def _record_name(r: _Reader, template: str, stages: dict[str, Stage]) -> str:
    """A record-name template must tell every run apart: it names the problem, setting and seed (and the stage
    when there are several)."""
    fields = ("{problem}", "{setting}", "{seed}") + (("{stage}",) if len(stages) > 1 else ())
    missing = [f for f in fields if f not in template]
    if missing:
        raise r.fail("study.record_name", f"a template naming {', '.join(fields)} (missing {missing[0]})", template)
    return template


def _stage(r: _Reader, name: str, raw: dict, problems: dict, earlier: dict[str, Stage]) -> Stage:
    key = f"stages.{name}"
    r.only(raw, key, ("split", "problems", "seeds", "epochs", "settings", "params", "choose", "time_box"))
    split = r.get(raw, key, "split", str)
    if split not in ("validation", "test"):
        raise r.fail(f"{key}.split", "'validation' or 'test'", split)
    chosen_problems = r.names(raw, key, "problems", problems)
    seeds = r.get(raw, key, "seeds", list)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise r.fail(f"{key}.seeds", "a non-empty list of seeds (integers >= 0)", seeds)
    if len(set(seeds)) != len(seeds):
        raise r.fail(f"{key}.seeds", "distinct seeds", seeds)
    epochs_raw = r.get(raw, key, "epochs", (int, dict))
    epochs = dict.fromkeys(chosen_problems, epochs_raw) if isinstance(epochs_raw, int) else dict(epochs_raw)
    if isinstance(epochs_raw, dict) and set(epochs) != set(chosen_problems):
        raise r.fail(f"{key}.epochs", f"one budget per problem of the stage ({', '.join(chosen_problems)})",
                     sorted(epochs))  # fmt: skip
    for p, e in epochs.items():
        if not isinstance(e, int) or isinstance(e, bool) or e < 1:
            raise r.fail(f"{key}.epochs" + ("" if isinstance(epochs_raw, int) else f".{p}"), "epochs >= 1", e)
    settings_raw = r.table(r.get(raw, key, "settings", dict), f"{key}.settings")
    if not settings_raw:
        raise r.fail(f"{key}.settings", "at least one setting", settings_raw)
    settings: dict[str, dict[str, Any]] = {}
    used: dict[str, str] = {}
    for s, body in settings_raw.items():
        skey = f"{key}.settings.{r.name(s, f'{key}.settings.{s}')}"
        body = dict(r.table(body, skey))
        if "choice" in body:
            used[s] = _choice_ref(r, f"{skey}.choice", body.pop("choice"), split, earlier)
        settings[s] = body
    choose = ()
    if "choose" in raw:
        if split != "validation":
            raise StudySpecError(
                f"{r.path}: {key}.choose: a choice is made on validation data only; this stage has split = "
                f"{split!r} (make the choice in a stage with split = 'validation')"
            )
        choose = tuple(_choice(r, f"{key}.choose.{c}", c, r.table(v, f"{key}.choose.{c}"), settings)
                       for c, v in r.table(raw["choose"], f"{key}.choose").items())  # fmt: skip
    params = dict(r.table(r.get(raw, key, "params", dict, {}), f"{key}.params"))
    time_box = r.get(raw, key, "time_box", bool, False)
    return Stage(name, split, chosen_problems, tuple(seeds), epochs, settings, used, params, choose, time_box)


def _choice_ref(r: _Reader, key: str, ref: Any, split: str, earlier: dict[str, Stage]) -> str:
    if not isinstance(ref, str) or ref.count(".") != 1:
        raise r.fail(key, "'STAGE.CHOICE' naming a choice of an earlier stage", ref)
    stage, name = ref.split(".")
    if stage not in earlier:
        raise r.fail(key, f"a choice of an earlier stage ({', '.join(earlier) or 'none is declared before'})", ref)
    if name not in {c.name for c in earlier[stage].choose}:
        found = ", ".join(c.name for c in earlier[stage].choose) or "none"
        raise r.fail(key, f"a choice stage {stage!r} makes ({found})", ref)
    return ref


def _choice(r: _Reader, key: str, name: str, raw: dict, settings: dict) -> Choice:
    r.only(raw, key, ("metric", "among", "relative_to", "goal"))
    among = r.names(raw, key, "among", settings)
    relative_to = r.get(raw, key, "relative_to", str, None)
    if relative_to is not None and relative_to not in settings:
        raise r.fail(f"{key}.relative_to", f"a setting of the stage ({', '.join(settings)})", relative_to)
    goal = r.get(raw, key, "goal", str, "min")
    if goal not in ("min", "max"):
        raise r.fail(f"{key}.goal", "'min' or 'max'", goal)
    return Choice(r.name(name, key), r.get(raw, key, "metric", str), among, relative_to, goal)


_BLOCK_KEYS = {
    "text": ("text",),
    "table": ("stage", "rows_header", "columns", "references", "labels"),
    "per_index": ("stage", "metric", "settings", "title", "rows_header"),
    "paired": ("stages", "metric", "options", "text"),
    "section": ("hook", "stages", "options"),
    "curves": ("stages",),
    "figures": ("text",),
    "missing": ("title",),
    "choices": ("title",),
    "goals": ("stage", "metric", "options", "text"),
}


def _block(r: _Reader, i: int, raw: dict, stages: dict[str, Stage]) -> Block:
    key = f"report[{i}]"
    kind = r.get(raw, key, "kind", str)
    if kind not in BLOCK_KINDS:
        raise r.fail(f"{key}.kind", f"one of {', '.join(BLOCK_KINDS)}", kind)
    r.only(raw, key, ("kind", *_BLOCK_KEYS[kind]))
    out: dict[str, Any] = {"kind": kind}
    for name in ("text", "title", "hook", "metric"):
        if name in raw:
            out[name] = r.get(raw, key, name, str)
    if "stage" in _BLOCK_KEYS[kind]:
        out["stage"] = r.get(raw, key, "stage", str)
        if out["stage"] not in stages:
            raise r.fail(f"{key}.stage", f"a stage ({', '.join(stages)})", out["stage"])
    if "stages" in raw:
        out["stages"] = r.names(raw, key, "stages", stages)
    if "settings" in raw:
        out["settings"] = r.names(raw, key, "settings")
    if "rows_header" in raw:
        rows = r.get(raw, key, "rows_header", list)
        if len(rows) != 2 or not all(isinstance(v, str) for v in rows):
            raise r.fail(f"{key}.rows_header", "two column titles (problem, setting)", rows)
        out["rows_header"] = tuple(rows)
    if "options" in raw:
        out["options"] = dict(r.table(raw["options"], f"{key}.options"))
    if kind == "table":
        cols = r.get(raw, key, "columns", list)
        out["columns"] = tuple(_column(r, f"{key}.columns[{j}]", r.table(c, f"{key}.columns[{j}]"))
                               for j, c in enumerate(cols))  # fmt: skip
        refs = r.get(raw, key, "references", list, [])
        for j, ref in enumerate(refs):
            r.only(r.table(ref, f"{key}.references[{j}]"), f"{key}.references[{j}]", ("problem", "label", "values"))
            values = r.get(ref, f"{key}.references[{j}]", "values", list)
            if len(values) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in values):
                raise r.fail(f"{key}.references[{j}].values", "[baseline, other] (two positive numbers)", values)
        out["references"] = tuple(dict(ref) for ref in refs)
        labels = r.table(r.get(raw, key, "labels", dict, {}), f"{key}.labels")
        for s, cells in labels.items():
            if not (isinstance(cells, list) and len(cells) == 2 and all(isinstance(c, str) for c in cells)):
                raise r.fail(f"{key}.labels.{s}", "the two first cells of the setting's rows", cells)
        out["labels"] = {s: tuple(c) for s, c in labels.items()}
    if kind == "goals":
        _goal_options(r, f"{key}.options", out.get("options", {}))
    if kind in ("per_index", "paired", "goals") and "metric" not in out:
        raise StudySpecError(f"{r.path}: {key}.metric: missing (required for kind = {kind!r})")
    if kind == "section" and "hook" not in out:
        raise StudySpecError(f"{r.path}: {key}.hook: missing (required for kind = 'section')")
    return Block(**out)


def _goal_options(r: _Reader, key: str, o: dict[str, Any]) -> None:
    """``baseline``, ``target`` (settings) and ``at_most``: the largest change of the target's seed mean against
    the baseline's, in percent, that meets the goal (``0``: the target must not be worse)."""
    r.only(o, key, ("baseline", "target", "at_most"))
    for name in ("baseline", "target"):
        r.get(o, key, name, str)
    r.get(o, key, "at_most", (int, float))


def _column(r: _Reader, key: str, raw: dict) -> Column:
    r.only(raw, key, ("header", "show", "metric", "baseline", "format"))
    show = r.get(raw, key, "show", str)
    if show not in SHOWS:
        raise r.fail(f"{key}.show", f"one of {', '.join(SHOWS)}", show)
    col = Column(
        header=r.get(raw, key, "header", str),
        show=show,
        metric=r.get(raw, key, "metric", str, None),
        baseline=r.get(raw, key, "baseline", str, None),
        format=r.get(raw, key, "format", str, ".4f"),
    )
    if show not in ("converged", "count") and col.metric is None:
        raise StudySpecError(f"{r.path}: {key}.metric: missing (required for show = {show!r})")
    if show == "change" and col.baseline is None:
        raise StudySpecError(f"{r.path}: {key}.baseline: missing (required for show = 'change')")
    return col
