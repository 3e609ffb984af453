"""Grading mode skips exactly the release's marked time-only cells (and the student's open-ended training cells), never other
student code, and grades deterministically."""

import re
import shutil

import nbformat
import pytest

from compresslab.grading import grading_mode
from compresslab.grading.engine import Limits
from compresslab.grading.runner import grade_notebook
from compresslab.release import STUB_MARKER

from conftest import NOTEBOOKS, ROOT


def _release(name):
    return nbformat.read(ROOT / "assignment" / f"{name}.ipynb", as_version=4)


def _marked_indices(nb):
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and grading_mode.is_marked(c.source)]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_marked_cells_hold_no_student_code_or_definitions(name):
    release = _release(name)
    assert any(c.source.startswith(grading_mode.SKIP_MARKER) for c in release.cells), f"{name}: no cell is marked `# grading: skip`"
    for i in _marked_indices(release):
        source = release.cells[i].source
        assert STUB_MARKER not in source, f"cell {i} of {name} holds a stub but is marked to be skipped"
        assert grading_mode.SKIP_MARKER in source or source.startswith(grading_mode.OTTER_CELLS)
        assert not re.search(r"^\s*(def|class) ", source, flags=re.M), f"cell {i} of {name} defines code but is marked to be skipped"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_grading_mode_skips_exactly_the_marked_cells(name):
    reference = nbformat.read(ROOT / "data" / "examples" / "reference" / f"{name}.ipynb", as_version=4)
    open_ended = [i for i, c in enumerate(reference.cells) if c.cell_type == "code" and c.source.startswith(grading_mode.OPEN_ENDED_MARKER)]
    assert grading_mode.skipped_indices(reference, grading_mode.marked_sources(_release(name))) == sorted(_marked_indices(_release(name)) + open_ended)


def test_an_edited_marked_cell_runs_as_written():
    release = _release(NOTEBOOKS[0])
    edited = nbformat.read(ROOT / "data" / "examples" / "reference" / f"{NOTEBOOKS[0]}.ipynb", as_version=4)
    first = _marked_indices(release)[0]
    edited.cells[first].source += "\nprint('my own change')"
    skipped = grading_mode.skipped_indices(edited, grading_mode.marked_sources(release))
    assert first not in skipped and skipped == _marked_indices(release)[1:]


def _grade(name, tmp_path, example, skip, zygote):
    copy = tmp_path / example / f"{name}.ipynb"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(ROOT / "data" / "examples" / example / f"{name}.ipynb", copy)
    outcome = grade_notebook(copy, ROOT / "autograder" / f"{name}-autograder.zip", Limits(notebook_seconds=1800), skip, zygote)
    assert outcome.status == "graded", outcome.message
    return outcome


def test_grading_twice_gives_identical_scores_and_full_runs_agree(tmp_path, zygote):
    name = NOTEBOOKS[0]
    skip = grading_mode.marked_sources(_release(name))
    first = _grade(name, tmp_path / "a", "partial", skip, zygote)
    second = _grade(name, tmp_path / "b", "partial", skip, zygote)
    full = _grade(name, tmp_path / "c", "partial", frozenset(), zygote)
    assert first.questions == second.questions == full.questions
    assert first.skipped == len(skip) and full.skipped == 0
