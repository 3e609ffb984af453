"""`make grade` on the bundled examples plus malformed submissions: one batch, many assertions."""

import csv
import zipfile

import pytest

from compresslab.grading.autograders import questions
from compresslab.grading.engine import failure_reason, summarize_failures
from compresslab.grading.reports import SCORE_COLUMNS
from compresslab.outcomes import outcome_questions

from conftest import FIRST, RELEASED, ROOT

def _rows(graded, student, notebook=None):
    return [r for r in graded[0] if r["student"] == student and notebook in (None, r["notebook"])]


def _possible():
    return sum(q.points for name in RELEASED for q in questions(ROOT / "autograder" / f"{name}-autograder.zip"))


def test_scores_csv_has_the_design_columns_and_one_row_per_question(graded):
    rows = graded[0]
    assert list(rows[0]) == SCORE_COLUMNS
    keys = [(r["student"], r["notebook"], r["question"]) for r in rows]
    per_student = sum(len(questions(ROOT / "autograder" / f"{n}-autograder.zip")) for n in RELEASED)
    assert len(keys) == len(set(keys)) == 9 * per_student


def test_reference_earns_full_marks(graded):
    rows = _rows(graded, "reference")
    assert all(r["status"] == "graded" and float(r["score"]) == float(r["possible"]) for r in rows), rows
    assert float(graded[1]["reference"]["total"]) == _possible()


def test_the_same_submission_graded_twice_gets_the_same_scores(graded):
    first = [(r["question"], r["status"], r["score"], r["message"]) for r in _rows(graded, "reference", FIRST)]
    again = [(r["question"], r["status"], r["score"], r["message"]) for r in _rows(graded, "reference_again", FIRST)]
    assert first == again and len(first) == len(questions(ROOT / "autograder" / f"{FIRST}-autograder.zip"))


def test_blank_release_earns_zero_with_a_reason(graded):
    rows = _rows(graded, "blank")
    handed_in = {(n, q.question) for n in RELEASED for q in outcome_questions(n)}  # files it does not hand in
    code = [r for r in rows if (r["notebook"], r["question"]) not in handed_in]
    assert all(r["status"] == "graded" and float(r["score"]) == 0 for r in code)
    assert all("NotImplementedError" in r["message"] for r in code)
    files = [r for r in rows if (r["notebook"], r["question"]) in handed_in]
    assert len(files) == len(handed_in) and all(r["status"] == "missing" and float(r["score"]) == 0 and "beside the notebook" in r["message"] for r in files)


def test_partial_submission_scores_in_between(graded):
    total = float(graded[1]["partial"]["total"])
    assert 0 < total < _possible()


def test_zipped_submission_grades_like_the_folder(graded):
    assert [r["score"] for r in _rows(graded, "zipped", FIRST)] == [r["score"] for r in _rows(graded, "reference", FIRST)]


def test_export_zip_inside_a_student_folder_is_graded(graded):
    assert [(r["status"], r["score"]) for r in _rows(graded, "lms", FIRST)] == [(r["status"], r["score"]) for r in _rows(graded, "blank", FIRST)]


@pytest.mark.parametrize(
    "student, status, words",
    [("nothing", "missing", "no {name}.ipynb"), ("broken", "invalid", "not a valid Jupyter notebook"), ("evil", "invalid", "unsafe paths")],
)
def test_ungradable_submissions_get_a_row_with_status_and_reason(graded, student, status, words):
    rows = _rows(graded, student)
    assert rows and all(r["status"] == status and float(r["score"]) == 0 for r in rows)
    assert all(words.format(name=r["notebook"]) in r["message"] for r in rows)
    assert graded[1][student]["status"] == status


def test_gradebook_is_printed(graded):
    stdout = graded[2]
    assert stdout.splitlines()[0].startswith("isolation: "), "the grader first says which protections are active"
    header = next(line for line in stdout.splitlines() if line.startswith("student"))
    assert header.split()[:2] == ["student", f"{RELEASED[0]}/q2"]
    assert all(student in stdout for student in ("reference", "blank", "partial"))


def test_submissions_are_not_modified(graded):
    assert graded[3] == graded[4]


def test_failure_messages_are_one_readable_line():
    message = "❌ Test case failed\nError at line 7 in test q2:\n  check_equal(q, expected)\nAssertionError: quantized weights: 3 of 4 differ"
    assert failure_reason(message) == "AssertionError: quantized weights: 3 of 4 differ"
    assert "not implemented" in failure_reason("Error\nNotImplementedError: ")
    assert summarize_failures([("q2 - 1", "x"), ("q2 - 3", "x"), ("q2 - 2", "y")]) == ["q2 - 1, q2 - 3: x", "q2 - 2: y"]


def test_report_html_shows_histograms_timings_and_every_lost_point(graded):
    page = (graded[5] / "report.html").read_text()
    assert page.count("<img") == 2 and "data:image/png;base64," in page  # total scores, then one per question
    assert "Slowest notebooks to grade" in page
    lost = [r for r in graded[0] if float(r["score"]) < float(r["possible"])]
    assert lost and all(f"{r['notebook']}/{r['question']}" in page for r in lost)
    assert "unsafe paths" in page and "not a valid Jupyter notebook" in page


def test_feedback_per_student_gives_reasons_but_no_hidden_test_source(graded):
    out = graded[5]
    partial = (out / "feedback" / "partial" / f"{FIRST}.md").read_text()
    score = sum(float(r["score"]) for r in _rows(graded, "partial", FIRST))
    assert partial.startswith(f"# {FIRST}: {score:g} / ") and "not implemented" in partial
    assert "missing" in (out / "feedback" / "nothing" / f"{FIRST}.md").read_text()
    with zipfile.ZipFile(ROOT / "autograder" / f"{FIRST}-autograder.zip") as archive:
        hidden = [line.strip() for name in archive.namelist() if name.startswith("tests/")
                  for line in archive.read(name).decode().splitlines() if len(line.strip()) > 30]
    for page in (out / "feedback").rglob("*.md"):
        text = page.read_text()
        assert not [line for line in hidden if line in text], f"{page} quotes hidden test source"
