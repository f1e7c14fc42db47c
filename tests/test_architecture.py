"""The folder tree is the layer diagram (``ARCHITECTURE.md``): nothing imports upward, no import cycles.

Every ``import`` statement of the package counts, including those inside functions (they form cycles just the
same, only later). Layers, bottom to top: the core (``monarch_sci/*.py``), shared training infrastructure
(``monarch_sci.training``), data (``monarch_sci.datasets``), models and physics (``monarch_sci.operators``),
the command line (``monarch_sci.cli``). The two domains (``pde``, ``mri``) do not import each other.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: package prefix -> folder (pyproject.toml's package-dir)
FOLDERS = {
    "monarch_sci.operators": ROOT / "operators",
    "monarch_sci.datasets": ROOT / "datasets",
    "monarch_sci": ROOT / "monarch_sci",
}
LAYERS = ("core", "training", "datasets", "operators", "cli")
#: Upward imports allowed for one release: a deprecated alias that forwards to a name's new home, imported only
#: when the old name is used (module ``__getattr__``). Each entry says what to delete with it.
DEPRECATED_FORWARDS = {
    ("monarch_sci.metrics", "monarch_sci.training.records"): "metrics.pool_seeds (moved to training.records)",
}


def _modules() -> dict[str, Path]:
    out = {}
    for prefix, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((prefix, *parts))] = path
    return out


MODULES = _modules()


def layer(module: str) -> str:
    for name in ("cli", "training", "datasets", "operators"):
        if module == f"monarch_sci.{name}" or module.startswith(f"monarch_sci.{name}."):
            return name
    return "core"


def domain(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] in ("operators", "datasets") and parts[2] in ("pde", "mri") else None


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def imports_of(module: str) -> set[str]:
    """The package modules ``module`` imports anywhere in its body (functions included)."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # `import monarch_sci.x.y` or a name inside a module
                t = t.rpartition(".")[0]
            if t and t != module:
                found.add(t)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def test_the_tree_is_what_the_architecture_draws():
    for sub in (
        "operators/pde",
        "operators/mri",
        "datasets/pde",
        "datasets/mri",
        "monarch_sci/training",
        "monarch_sci/cli",
    ):
        assert (ROOT / sub / "__init__.py").is_file(), sub
    assert not (ROOT / "monarch_sci" / "jobs").exists()


#: The command line: one module (or package) per command group, the shared flags and error path, the entry point,
#: and the parser and error path of the scripts beside it (``scripts``).
CLI_GROUPS = ("demo", "mri", "ns", "pde", "study")
#: Old CLI module paths kept for one release as deprecated forwards (delete each with its file).
CLI_DEPRECATED = ("mri_learned",)


def test_the_command_line_is_one_module_per_group():
    from monarch_sci.cli import GROUPS

    cli = ROOT / "monarch_sci" / "cli"
    found = {p.stem for p in cli.glob("*.py")} | {p.name for p in cli.iterdir() if (p / "__init__.py").is_file()}
    assert sorted(GROUPS) == sorted(CLI_GROUPS)
    assert found == {"__init__", "__main__", "common", "scripts", *CLI_GROUPS, *CLI_DEPRECATED}
    for old in CLI_DEPRECATED:
        assert "Deprecated" in (cli / f"{old}.py").read_text().split("\n", 1)[0], old


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_imports_upward(module):
    mine = LAYERS.index(layer(module))
    for target in sorted(GRAPH[module]):
        if module.startswith("monarch_sci.") and target == "monarch_sci":
            # `from monarch_sci import __version__` is the package root's metadata, not an upward import
            continue
        if (module, target) in DEPRECATED_FORWARDS:
            continue
        assert LAYERS.index(layer(target)) <= mine, f"{module} ({layer(module)}) imports {target} ({layer(target)})"
        if domain(module) and domain(target):
            assert domain(module) == domain(target), f"{module} imports the other domain's {target}"


def test_nothing_imports_the_command_line():
    users = sorted(m for m, targets in GRAPH.items() if layer(m) != "cli" and any(layer(t) == "cli" for t in targets))
    assert users == []


def test_no_import_cycles():
    # Parent packages import their children to re-export them; an edge child -> its own ancestor package is the
    # only way a child reaches those names, so such edges are followed too: a cycle through them is real.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if state.get(t) == 1:
                cycle = [*stack[stack.index(t) :], t]
                # `from monarch_sci import __version__` in a module that the root re-exports is metadata only
                if cycle[0] == "monarch_sci" or t == "monarch_sci":
                    continue
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if state.get(t) is None:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_the_checker_sees_function_level_imports():
    # guard against a checker that cannot fail: cli.mri.train imports operators inside functions only
    assert any(layer(t) == "operators" for t in GRAPH["monarch_sci.cli.demo"] | GRAPH["monarch_sci.cli.pde"])


def test_deprecated_forwards_are_lazy_and_still_needed():
    # an allowed upward import must sit inside the module's __getattr__ (never run by a plain import)
    for module, target in DEPRECATED_FORWARDS:
        tree = ast.parse(MODULES[module].read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert all(_resolve(module, n) != target for n in top if isinstance(n, ast.ImportFrom)), module
        hook = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]
        assert hook and any(
            isinstance(n, ast.ImportFrom) and _resolve(module, n) == target for n in ast.walk(hook[0])
        ), f"{module}: the forward to {target} is not in __getattr__ (or is gone: remove it from the list)"


#: Where Python files live outside the package folders: they may parse arguments only through ``monarch_sci.cli``.
SCRIPT_FOLDERS = ("benchmarks", "notebooks")


def _imports_argparse(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "argparse" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "argparse":
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == "argparse":
                return True
    return False


def test_only_the_command_line_parses_arguments():
    # ARCHITECTURE.md: "The CLI is the only code that parses arguments"; scripts build their parser with
    # monarch_sci.cli.scripts.script_parser
    files = [*MODULES.values(), *(p for f in SCRIPT_FOLDERS for p in sorted((ROOT / f).rglob("*.py")))]
    offenders = sorted(
        str(p.relative_to(ROOT)) for p in files if "monarch_sci/cli" not in p.as_posix() and _imports_argparse(p)
    )
    assert offenders == []


def test_the_argparse_check_can_fail(tmp_path):
    for text in ("import argparse\n", "def f():\n    from argparse import ArgumentParser\n", "import argparse as ap\n"):
        (tmp_path / "x.py").write_text(text)
        assert _imports_argparse(tmp_path / "x.py"), text
    (tmp_path / "x.py").write_text("from monarch_sci.cli.scripts import script_parser  # argparse\n")
    assert not _imports_argparse(tmp_path / "x.py")
    assert any(p.name == "pde_science_gpu.py" for p in (ROOT / "benchmarks").rglob("*.py"))  # the folders are seen
    assert any(m.startswith("monarch_sci.operators.") for m in MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_file_over_500_lines(module):
    n = len(MODULES[module].read_text().splitlines())
    assert n <= 500, f"{MODULES[module].relative_to(ROOT)} has {n} lines; split it by concept"


@pytest.mark.parametrize(
    "package", ["monarch_sci", "monarch_sci.operators", "monarch_sci.datasets", "monarch_sci.training"]
)
def test_public_names_are_exported_and_importable(package):
    mod = importlib.import_module(package)
    assert len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{package}.{name}"


def test_the_names_a_user_remembers():
    from monarch_sci import MonarchDFT, MonarchDFT2d, MonarchLinear  # noqa: F401
    from monarch_sci.datasets import FastMRISliceDataset, LineMaskFunc, NavierStokesDataset  # noqa: F401
    from monarch_sci.operators import MSENSE, FNO2d, FNO3d, SenseOperator, UnrolledSENSE, cg_sense  # noqa: F401


def _benchmark_imports() -> dict[str, set[str]]:
    """Each script of ``benchmarks/`` -> the sibling scripts it imports anywhere (functions included)."""
    folder = ROOT / "benchmarks"
    names = {p.stem for p in folder.glob("*.py")}
    out: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
        out[path.stem] = (found & names) - {path.stem}
    return out


def test_benchmarks_import_no_cycle():
    # benchmarks/ holds benchmarks and study specs, not a second codebase: what two scripts share is in the library
    graph = _benchmark_imports()
    assert graph["_gpu_steps"] >= {"fno_step_time", "monarch_multiply"}  # the checker sees the scripts' imports
    assert graph["gpu_check"] >= {"_timing", "_gpu_steps"}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                pytest.fail("import cycle in benchmarks/: " + " -> ".join([*stack[stack.index(t) :], t]))
            if t not in state:
                visit(t, [*stack, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
