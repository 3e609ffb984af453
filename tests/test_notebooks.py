"""Every master notebook's code reproduces its stored fixtures.

The masters run in grading mode here (the cells marked ``# grading: skip`` and open-ended training cells left out): the fixtures
come from the reference functions, not from training or plots. Every notebook runs top to bottom,
time-only cells included, exactly once in ``make test``: the reference-filled release from its
student bundle (``test_bundle.py``).
"""

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from compresslab.grading.grading_mode import OPEN_ENDED_MARKER, is_marked
from compresslab.mutation import catalog, mutate
from compresslab.notebooks import error_names, execute_notebook

from conftest import NOTEBOOKS, ROOT

CHECK_FIXTURES = """
import compresslab.fixtures as _fixtures
import compresslab.record_fixtures as _record
_stale = _record.differences(_record.compute({name!r}, globals()), _fixtures.load({name!r}))
assert not _stale, "data/fixtures/{name}.pt is out of date with solution/{name}.ipynb (run `make fixtures`): " + ", ".join(_stale[:5])
"""


def _quick_master(name: str) -> nbformat.NotebookNode:
    """The master in grading mode: its cells marked ``# grading: skip`` and its open-ended cells left out."""
    master = nbformat.read(ROOT / "solution" / f"{name}.ipynb", as_version=4)
    marked = [c for c in master.cells if c.cell_type == "code" and is_marked(c.source)]
    assert marked, f"solution/{name}.ipynb marks no time-only cell"
    master.cells = [c for c in master.cells if not (c.cell_type == "code" and (is_marked(c.source) or c.source.startswith(OPEN_ENDED_MARKER)))]
    return master


def _fixture_check_errors(master: nbformat.NotebookNode, name: str, tmp_path) -> list[str]:
    """Run ``master`` with the fixture check appended; the names of the errors it raised."""
    quick = tmp_path / f"{name}.ipynb"
    nbformat.write(master, quick)
    return error_names(execute_notebook(quick, cwd=tmp_path, extra_source=CHECK_FIXTURES.format(name=name)))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_code_reproduces_the_fixtures(name, tmp_path):
    assert _fixture_check_errors(_quick_master(name), name, tmp_path) == []


def test_a_master_that_changed_a_little_is_caught(tmp_path):
    """The check tolerates what other CPU kernels change (``fixtures.FLOAT_RTOL``), not a real change: a fused conv that
    forgets BatchNorm's eps moves the fused weights of one fixture case by 0.13% of their largest magnitude."""
    forgets_eps = next(m for m in catalog("kmeans_linear") if m.function == "fuse_conv_bn" and m.description == "you forgot eps")
    with pytest.raises(CellExecutionError, match=r"out of date.*/fuse\[\d\]/fused_weight: moved by"):
        _fixture_check_errors(mutate(_quick_master("kmeans_linear"), forgets_eps), "kmeans_linear", tmp_path)
