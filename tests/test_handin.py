"""The export cell hands in the notebook the student saved, says where, and warns when that is not the work they ran.

These run ``compresslab.handin`` in a real Jupyter kernel (nbclient) on a two-cell demo notebook, with this checkout's
``compresslab``; the released notebooks in each student layout are exported and graded end to end in test_bundle.py.
"""

import zipfile

import nbformat
from nbclient import NotebookClient

from compresslab.handin import colab_instructions, unanswered_cells, unsaved_runs

STUB = "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
ANSWER = "def f():\n    return 1"
PUBLIC_TEST = ('from otter.test_files import test_case\n\nOK_FORMAT = False\n\nname = "q1"\npoints = [1]\n\n'
               '@test_case(points=1, hidden=False)\ndef test_q1(f):\n    assert f() == 1, "f() should return 1"\n')


def _demo(answer: str, setup: str = "grader = StudentNotebook('demo')") -> nbformat.NotebookNode:
    """A release-like notebook ``demo``: setup, one answer cell (tagged as Otter Assign tags it), its check, the export."""
    cells = [nbformat.v4.new_code_cell(f"from compresslab.handin import StudentNotebook\n{setup}"),
             nbformat.v4.new_code_cell(answer, metadata={"tags": ["otter_answer_cell"]}),
             nbformat.v4.new_code_cell('grader.check("q1")'),
             nbformat.v4.new_code_cell("# Save your notebook first, then run this cell to export your submission.\ngrader.export(pdf=False)")]
    return nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "otter": {"OK_FORMAT": False, "assignment_name": "demo", "tests": {"q1": PUBLIC_TEST}}})


def _run(nb: nbformat.NotebookNode, cwd) -> list[str]:
    """Execute ``nb`` in a fresh kernel whose working directory is ``cwd``; the text output of each cell."""
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return ["".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in c.outputs) for c in nb.cells]


def test_export_packs_the_saved_notebook_and_warns_it_is_blank_and_older_than_what_ran(tmp_path):
    nbformat.write(_demo(STUB), tmp_path / "demo.ipynb")  # saved before the student answered
    outputs = _run(_demo(ANSWER), tmp_path)  # what the kernel ran: the answer
    assert "All test cases passed" in outputs[2] or "q1 passed" in outputs[2], outputs[2]
    export = outputs[3]
    assert "WARNING: the saved demo.ipynb answers nothing" in export, export
    assert "WARNING: the saved demo.ipynb is older than what you ran: 1 cell(s) differ from it, e.g. 'def f():'" in export, export
    (written,) = tmp_path.glob("demo_*.zip")
    assert f"Wrote {written}: it holds {tmp_path / 'demo.ipynb'} as saved" in export, export
    with zipfile.ZipFile(written) as archive:
        assert archive.read("demo.ipynb") == (tmp_path / "demo.ipynb").read_bytes()


def test_export_of_a_saved_answered_notebook_warns_nothing(tmp_path):
    nbformat.write(_demo(ANSWER), tmp_path / "demo.ipynb")
    export = _run(_demo(ANSWER), tmp_path)[3]
    assert "WARNING" not in export and "Note:" not in export and "Wrote " in export, export


def test_export_in_colab_says_how_to_hand_in_and_writes_nothing(tmp_path):
    """Colab's kernel has no notebook file; the checks read the public tests from the bundle's release notebook."""
    bundle = tmp_path / "demo"
    bundle.mkdir()
    nbformat.write(_demo(STUB), bundle / "demo.ipynb")
    colab = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')  # what Colab's kernel imports\n"
    outputs = _run(_demo(ANSWER, setup=f"{colab}grader = StudentNotebook('demo', {str(bundle)!r})"), tmp_path)
    assert "All test cases passed" in outputs[2] or "q1 passed" in outputs[2], outputs[2]
    assert (bundle / "tests" / "q1.py").read_text() == PUBLIC_TEST
    assert colab_instructions("demo") in outputs[3] and "File > Download > Download .ipynb" in outputs[3], outputs[3]
    assert not list(tmp_path.rglob("*.zip"))


def test_unanswered_cells_counts_stubs_and_unanswered_written_answers():
    nb = _demo(STUB)
    nb.cells.append(nbformat.v4.new_markdown_cell("_Type your answer here, replacing this text._", metadata={"tags": ["otter_answer_cell"]}))
    assert unanswered_cells(nb) == (2, 2)
    nb.cells[1].source = ANSWER
    assert unanswered_cells(nb) == (1, 2)


def test_unsaved_runs_compares_the_latest_run_of_each_cell_with_the_saved_one():
    saved = _demo(ANSWER)
    assert unsaved_runs(saved, [STUB, ANSWER]) == []  # answered, run, then saved
    assert unsaved_runs(saved, [ANSWER, "def f():\n    return 2"]) == ["def f():"]  # edited and run after the save
    assert unsaved_runs(saved, ["x = 1"]) == []  # a scratch cell is not in the notebook: nothing to compare
    twice = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# note\na = 1"), nbformat.v4.new_code_cell("# note\nb = 2")])
    assert unsaved_runs(twice, ["# note\nc = 3"]) == []  # two saved cells share that first line: ambiguous, not reported
