"""Written questions found in the release, answers read from a submission, answer pages rendered safely, anonymous codes.
These call our functions directly; test_instructor_round.py checks the same through `make grade`."""

import json

import nbformat
import pytest

from compresslab.grading.anonymous import SECRET_FILE, anonymous_codes
from compresslab.grading.written import Answer, answers_of, question_page, render_markdown, written_questions

from conftest import NOTEBOOKS, ROOT


def _manual_questions_of_master(notebook):
    """The oracle: ``{name: points}`` of the master's ``manual: true`` questions (Otter Assign's own marker)."""
    found = {}
    for cell in nbformat.read(ROOT / "solution" / f"{notebook}.ipynb", as_version=4).cells:
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN QUESTION") and "manual: true" in cell.source:
            config = dict(line.split(": ", 1) for line in cell.source.splitlines()[1:])
            found[config["name"]] = float(config["points"])
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_the_release_yields_the_masters_written_questions(notebook):
    found = written_questions(ROOT / "assignment" / f"{notebook}.ipynb", notebook)
    assert {q.name: q.points for q in found} == _manual_questions_of_master(notebook)
    assert all(q.placeholders and q.title and q.prompt for q in found)


def _with_answers(tmp_path, answers):
    """The reference int8_cnn notebook with the answer cell of each question in ``answers`` replaced (``None``: deleted)."""
    nb = json.loads((ROOT / "data" / "examples" / "reference" / "int8_cnn.ipynb").read_text())
    for question in written_questions(ROOT / "assignment" / "int8_cnn.ipynb", "int8_cnn"):
        start = next(i for i, c in enumerate(nb["cells"]) if "".join(c["source"]) == question.cell_source)
        index = next(i for i in range(start, len(nb["cells"])) if "otter_answer_cell" in nb["cells"][i]["metadata"].get("tags", []))
        if question.name in answers:
            if answers[question.name] is None:
                del nb["cells"][index]
            else:
                nb["cells"][index]["source"] = answers[question.name]
    path = tmp_path / "int8_cnn.ipynb"
    path.write_text(json.dumps(nb))
    return path


def answer_of(path, question):
    return answers_of(path, [question])[question.name]


def test_answers_are_read_as_answered_untouched_or_missing(tmp_path):
    written = {q.name: q for q in written_questions(ROOT / "assignment" / "int8_cnn.ipynb", "int8_cnn")}
    q1, q6 = written["q1"], written["q6"]
    edited = _with_answers(tmp_path, {"q1": "Bell-shaped, centred at $0$.\n\n\x1b[2J cleared", "q6": None})
    assert answer_of(edited, q1) == Answer("answered", "Bell-shaped, centred at $0$.\n\n\\x1b[2J cleared"), "control characters escaped"
    assert answer_of(edited, q6).state == "missing" and "deleted" in answer_of(edited, q6).text
    released = ROOT / "data" / "examples" / "blank" / "int8_cnn.ipynb"
    assert [answer_of(released, q).state for q in (q1, q6)] == ["untouched", "untouched"]
    assert answer_of(None, q1).state == "missing"
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    assert answer_of(broken, q1).state == "missing" and "not a valid Jupyter notebook" in answer_of(broken, q1).text


def test_a_hand_edited_notebook_cannot_stop_the_collection(tmp_path):
    q1 = written_questions(ROOT / "assignment" / "int8_cnn.ipynb", "int8_cnn")[0]
    path = _with_answers(tmp_path, {"q1": "PLACE"})
    nb = json.loads(path.read_text())
    answer = next(c for c in nb["cells"] if "".join(c["source"]) == "PLACE")
    answer["source"] = ["an answer ", 42, None, "in parts"]
    nb["cells"][0]["metadata"] = "not a dict"
    path.write_text(json.dumps(nb))
    assert answer_of(path, q1) == Answer("answered", "an answer in parts")


def test_a_markdown_cell_the_student_added_inside_the_question_counts(tmp_path):
    q1 = written_questions(ROOT / "assignment" / "int8_cnn.ipynb", "int8_cnn")[0]
    path = _with_answers(tmp_path, {})
    nb = json.loads(path.read_text())
    start = next(i for i, c in enumerate(nb["cells"]) if "".join(c["source"]) == q1.cell_source)
    nb["cells"].insert(start + 1, {"cell_type": "markdown", "metadata": {}, "source": "My own cell: heavy tails."})
    path.write_text(json.dumps(nb))
    assert answer_of(path, q1).state == "answered" and "heavy tails" in answer_of(path, q1).text


@pytest.mark.parametrize("text, absent, present", [
    ("<script>alert(1)</script>", "<script>", "&lt;script&gt;"),
    ("<img src=x onerror=alert(1)>", "<img", "&lt;img"),
    ("[click](javascript:alert(1))", 'href="javascript:', "[click]"),
    ("![pixel](http://tracker.example/p.png)", "<img", "pixel"),
    ("$a<b$ and $$\\sum_i x_i$$", "<b", "\\(a&lt;b\\)"),
])
def test_student_markdown_is_rendered_inert(text, absent, present):
    page = render_markdown(text)
    assert absent not in page and present in page, page


def test_a_page_lists_every_student_under_their_label_and_marks_missing_and_untouched(tmp_path):
    q1 = written_questions(ROOT / "assignment" / "int8_cnn.ipynb", "int8_cnn")[0]
    answers = {("ann", "int8_cnn", "q1"): answer_of(_with_answers(tmp_path, {"q1": "**wide** tails"}), q1),
               ("bob", "int8_cnn", "q1"): answer_of(ROOT / "data" / "examples" / "blank" / "int8_cnn.ipynb", q1)}
    page = question_page(q1, answers, {"ann": "anon-1", "bob": "anon-2", "cy": "anon-3"})
    assert "(2 points)" in page and "Visualize the weights" in page
    assert "<strong>wide</strong>" in page and "Untouched" in page and "Missing" in page
    assert not [name for name in ("ann", "bob", "cy") if f">{name}<" in page or f"'{name}'" in page], "names stay off an anonymous page"


def test_anonymous_codes_are_stable_and_the_secret_is_never_replaced(tmp_path):
    first = anonymous_codes(tmp_path, ["ann", "bob"])
    secret = (tmp_path / SECRET_FILE).read_bytes()
    assert anonymous_codes(tmp_path, ["bob", "ann", "cy"]).items() >= first.items()
    assert (tmp_path / SECRET_FILE).read_bytes() == secret and len(set(first.values())) == 2
    assert anonymous_codes(tmp_path / "other", ["ann"])["ann"] != first["ann"], "another OUT has another secret"
