"""`make grade` on the bundled examples plus malformed submissions: one batch, many assertions."""

import csv
import hashlib
import shutil
import zipfile

import pytest

from compresslab.grading.autograders import questions
from compresslab.grading.engine import failure_reason, summarize_failures
from compresslab.grading.reports import SCORE_COLUMNS

from conftest import ROOT, run_make_grade

RELEASED = sorted(p.name.removesuffix("-autograder.zip") for p in (ROOT / "autograder").glob("*-autograder.zip"))
EXAMPLES = ROOT / "data" / "examples"
FIRST = "int8_cnn"


def _digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the examples and a set of broken submissions once; return (rows, gradebook, stdout, before, after digests)."""
    submissions = tmp_path_factory.mktemp("submissions")
    for example in ("reference", "blank", "partial"):
        shutil.copytree(EXAMPLES / example, submissions / example)
    # Cases that grade a notebook again use only the quickest notebook (FIRST): the same submission graded twice must
    # score the same (every notebook's reference is graded again in test_bundle.py, from its export); packaging cases
    # test finding files, not grading.
    (submissions / "reference_again").mkdir()
    shutil.copyfile(EXAMPLES / "reference" / f"{FIRST}.ipynb", submissions / "reference_again" / f"{FIRST}.ipynb")
    with zipfile.ZipFile(submissions / "zipped.zip", "w") as archive:  # an export zip with the notebook one folder down
        archive.write(EXAMPLES / "reference" / f"{FIRST}.ipynb", f"export/{FIRST}.ipynb")
    (submissions / "lms").mkdir()  # an LMS download: the student's folder holds their export zip
    with zipfile.ZipFile(submissions / "lms" / "export_2026_11_23.zip", "w") as archive:
        archive.write(EXAMPLES / "blank" / f"{FIRST}.ipynb", f"{FIRST}.ipynb")
    (submissions / "nothing").mkdir()
    (submissions / "broken").mkdir()
    for name in RELEASED:
        (submissions / "broken" / f"{name}.ipynb").write_text("{ this is not json")
    with zipfile.ZipFile(submissions / "evil.zip", "w") as archive:
        archive.writestr(f"../escape/{RELEASED[0]}.ipynb", "{}")
    before = _digest(submissions)
    out = tmp_path_factory.mktemp("grades")
    done = run_make_grade(submissions, out)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(out / "gradebook.csv", newline="") as f:
        book = {line["student"]: line for line in csv.DictReader(f)}
    return rows, book, done.stdout, before, _digest(submissions), out


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
    assert all(r["status"] == "graded" and float(r["score"]) == 0 for r in rows)
    assert all("NotImplementedError" in r["message"] for r in rows)


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
