"""The committed release (assignment/, autograder/, data/examples/) is generated from solution/ and leaks nothing."""

import zipfile

import nbformat
import pytest
import yaml

from compresslab.grading.autograders import questions
from compresslab.outcomes import outcome_questions
from compresslab.release import STUB_MARKER, check_answer_cells, fill_answers, release_files, stale_files

from conftest import NOTEBOOKS, ROOT


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_release_is_in_sync(name):
    assert stale_files(name) == [], "run `make release` and commit assignment/, autograder/ and data/examples/"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_release_is_reproducible(name):
    assert release_files(name) == release_files(name)


def _master_questions(name: str) -> dict[str, dict]:
    master = nbformat.read(ROOT / "solution" / f"{name}.ipynb", as_version=4)
    configs = [yaml.safe_load(c.source.split("\n", 1)[1]) for c in master.cells if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
    return {c["name"]: c for c in configs}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_autograder_holds_every_autograded_question_with_its_points(name):
    graded = {q: c for q, c in _master_questions(name).items() if not c.get("manual")}
    found = {q.name: q.points for q in questions(ROOT / "autograder" / f"{name}-autograder.zip")}
    handed_in = {q.question: float(q.points) for q in outcome_questions(name)}  # graded from files, not Otter tests
    assert found == {q: float(sum(c["points"]) if isinstance(c["points"], list) else c["points"]) for q, c in graded.items()} | handed_in


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_hidden_tests_are_only_in_the_autograder(name):
    student = (ROOT / "assignment" / f"{name}.ipynb").read_text()
    assert "hidden=True" not in student and "fixtures.load" not in student
    with zipfile.ZipFile(ROOT / "autograder" / f"{name}-autograder.zip") as archive:
        tests = "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("tests/"))
    assert "hidden=True" in tests


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_stubs_raise_and_hold_no_solution(name):
    student = nbformat.read(ROOT / "assignment" / f"{name}.ipynb", as_version=4)
    stubs = [c.source for c in student.cells if c.cell_type == "code" and STUB_MARKER in c.source]
    assert stubs, "the release has no stubs"
    for source in stubs:
        lines = [line.strip() for line in source.splitlines()]
        for i, line in enumerate(lines):
            if line == STUB_MARKER:
                assert lines[i + 1] == "raise NotImplementedError()", f"stub without `raise NotImplementedError()`: {source[:80]!r}"
        assert "BEGIN SOLUTION" not in source and "BEGIN PROMPT" not in source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_reference_example_fills_every_stub(name):
    reference = (ROOT / "data" / "examples" / "reference" / f"{name}.ipynb").read_text()
    blank = (ROOT / "data" / "examples" / "blank" / f"{name}.ipynb").read_bytes()
    assert STUB_MARKER not in "".join(c.source for c in nbformat.reads(reference, as_version=4).cells if c.cell_type == "code")
    assert blank == (ROOT / "assignment" / f"{name}.ipynb").read_bytes()


def test_answer_cells_must_have_unique_first_lines():
    stub = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"def f(x):\n    {STUB_MARKER}\n    raise NotImplementedError()")])
    one = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def f(x):\n    return x")])
    assert fill_answers(stub, one).cells[0].source == "def f(x):\n    return x"
    two = nbformat.v4.new_notebook(cells=one.cells + [nbformat.v4.new_code_cell("def f(x):\n    return 2 * x")])
    with pytest.raises(ValueError, match="matches 2 cells of the master"):
        fill_answers(stub, two)


def _is_locked(cell) -> bool:
    return cell.metadata.get("editable") is False or cell.metadata.get("deletable") is False


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_cell_a_student_edits_is_locked(name):
    """Front ends (JupyterLab, Notebook 7, classic Notebook, VS Code, Colab) refuse typing in a cell with
    ``editable: false``; every stub and every written-answer cell must be an ordinary cell."""
    student = nbformat.read(ROOT / "assignment" / f"{name}.ipynb", as_version=4)
    edited = [c for c in student.cells if (c.cell_type == "code" and STUB_MARKER in c.source) or "otter_answer_cell" in c.metadata.get("tags", [])]
    assert any(STUB_MARKER in c.source for c in edited), "the release has no stubs"
    locked = [c.source.split("\n", 1)[0] for c in edited if _is_locked(c)]
    assert not locked, f"locked cells a student must edit: {locked}"
    untagged = [c.source.split("\n", 1)[0] for c in student.cells if c.cell_type == "code" and STUB_MARKER in c.source and "otter_answer_cell" not in c.metadata.get("tags", [])]
    assert not untagged, f"stubs outside a solution block of the master: {untagged}"


def test_master_with_an_answer_cell_outside_a_solution_block_is_refused(tmp_path):
    answer = nbformat.v4.new_code_cell("def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION")
    question = [nbformat.v4.new_raw_cell("# BEGIN QUESTION\nname: q1\npoints: 1"), nbformat.v4.new_markdown_cell("Write f."), answer,
                nbformat.v4.new_raw_cell("# END QUESTION")]
    master = tmp_path / "demo.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=question), master)
    with pytest.raises(ValueError, match=r"demo\.ipynb: solution code outside .* cell 2 \('def f\(x\):'\)"):
        check_answer_cells(master)
    wrapped = question[:2] + [nbformat.v4.new_raw_cell("# BEGIN SOLUTION"), answer, nbformat.v4.new_raw_cell("# END SOLUTION")] + question[3:]
    nbformat.write(nbformat.v4.new_notebook(cells=wrapped), master)
    check_answer_cells(master)
