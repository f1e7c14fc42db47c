"""Every docstring example of the package runs (the equivalent of ``pytest --doctest-modules``).

The modules are imported under their installed names (``monarch_sci.operators.pde.fno``, not the folder path
``operators/pde/fno.py``), so each module is imported once and its operators register once.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util

import pytest
from test_architecture import MODULES

# The command line runs argparse at import of nothing, but its examples are shell, not Python.
DOCTESTED = sorted(m for m in MODULES if not m.endswith("__main__"))
# Modules whose examples need an optional extra: skipped (not failed) where it is not installed.
NEEDS = {"monarch_sci.datasets.mri.ismrmrd_raw": "ismrmrd", "monarch_sci.multiply_triton": "triton"}


def _examples(module: str) -> list[doctest.DocTest]:
    mod = importlib.import_module(module)
    tests = doctest.DocTestFinder(exclude_empty=True).find(mod, module)  # globals: the module's own
    return [t for t in tests if t.examples and (getattr(t, "filename", None) is None or t.name.startswith(module))]


@pytest.mark.parametrize("module", DOCTESTED)
def test_docstring_examples_run(module):
    if module in NEEDS:
        pytest.importorskip(NEEDS[module])
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in _examples(module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} docstring examples failed"


def _installed(module: str) -> bool:
    return module not in NEEDS or importlib.util.find_spec(NEEDS[module]) is not None


def test_the_examples_are_found():
    # a runner that finds nothing would pass everything: the core's examples must be seen
    assert sum(len(t.examples) for m in DOCTESTED if _installed(m) for t in _examples(m)) >= 100
