"""Every master notebook's code reproduces its stored fixtures.

The masters run in grading mode here (the cells marked ``# grading: skip`` left out): the fixtures
come from the reference functions, not from training or plots. Every notebook runs top to bottom,
time-only cells included, exactly once in ``make test``: the reference-filled release from its
student bundle (``test_bundle.py``).
"""

import nbformat
import pytest

from compresslab.grading.grading_mode import is_marked
from compresslab.notebooks import error_names, execute_notebook

from conftest import NOTEBOOKS, ROOT

CHECK_FIXTURES = """
import compresslab.fixtures as _fixtures
_stale = _fixtures.differences(_fixtures.compute({name!r}, globals()), _fixtures.load({name!r}))
assert not _stale, "data/fixtures/{name}.pt is out of date with solution/{name}.ipynb (run `make fixtures`): " + ", ".join(_stale[:5])
"""


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_code_reproduces_the_fixtures(name, tmp_path):
    master = nbformat.read(ROOT / "solution" / f"{name}.ipynb", as_version=4)
    marked = [c for c in master.cells if c.cell_type == "code" and is_marked(c.source)]
    assert marked, f"solution/{name}.ipynb marks no time-only cell"
    master.cells = [c for c in master.cells if not (c.cell_type == "code" and is_marked(c.source))]
    quick = tmp_path / f"{name}.ipynb"
    nbformat.write(master, quick)
    nb = execute_notebook(quick, cwd=tmp_path, extra_source=CHECK_FIXTURES.format(name=name))
    assert error_names(nb) == []
