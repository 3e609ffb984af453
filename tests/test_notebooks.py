"""Every master notebook runs top to bottom and reproduces its stored fixtures; every blank release runs."""

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


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_blank_release_runs_with_only_stub_errors(name, notebook_copy):
    nb = execute_notebook(notebook_copy("assignment", name), allow_errors=True)
    errors = error_names(nb)
    assert errors and errors[0] == "NotImplementedError", f"the first error of the blank notebook should come from a stub, got {errors[:3]}"
    assert set(errors) <= {"NotImplementedError", "NameError"}, f"the blank notebook fails for other reasons than unfilled stubs: {errors}"
