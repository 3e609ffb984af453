"""Every master notebook runs top to bottom and reproduces its stored fixtures (the blank release is run from its bundle in test_bundle.py)."""

import pytest

from compresslab.notebooks import error_names, execute_notebook

from conftest import NOTEBOOKS, ROOT

CHECK_FIXTURES = """
import compresslab.fixtures as _fixtures
_stale = _fixtures.differences(_fixtures.compute({name!r}, globals()), _fixtures.load({name!r}))
assert not _stale, "data/fixtures/{name}.pt is out of date with solution/{name}.ipynb (run `make fixtures`): " + ", ".join(_stale[:5])
"""


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_runs_and_fixtures_are_in_sync(name, tmp_path):
    nb = execute_notebook(ROOT / "solution" / f"{name}.ipynb", cwd=tmp_path, extra_source=CHECK_FIXTURES.format(name=name))
    assert error_names(nb) == []
