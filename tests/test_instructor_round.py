"""The instructor's round through `make grade` on a class of 22 built here: written pages and manual.csv, a filled
manual.csv merged into every output without grading again, every bad row refused with nothing changed, canvas.csv
from a Canvas roster with its mismatches listed.

The class hands in int8_cnn only (copies of the bundled examples with edited written answers), so each run grades
22 notebooks and the other notebooks are `missing` at no cost."""

import csv
import hashlib
import json
import shutil

import pytest

from compresslab.grading.anonymous import KEY_FILE
from compresslab.grading.autograders import questions
from compresslab.grading.written import MATHJAX, written_questions

from conftest import NOTEBOOKS, ROOT, run_make_grade
from test_browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, _require_browser

EXAMPLES = ROOT / "data" / "examples"
NOTEBOOK = "int8_cnn"
KINDS = ["reference", "partial", "blank"]
HOSTILE_ANSWER = "Tails <script>alert(1)</script> and $\\max|w| < 3\\sigma$"
WRITTEN = {n: written_questions(ROOT / "assignment" / f"{n}.ipynb", n) for n in NOTEBOOKS}


def _student(index):
    return f"student{index:02d}"


def _roster_name(index):
    """Roster names: students 1, 3 and 5 match on their name (case aside); the other odd ones match nothing."""
    return _student(index).upper() if index in (1, 3, 5) else f"Doe{index}, Jo"


def _roster_login(index):
    """Even students match on SIS Login ID."""
    return _student(index) if index % 2 == 0 else f"login{index}"


def _answer_cells(nb, question):
    start = next(i for i, c in enumerate(nb["cells"]) if "".join(c["source"]) == question.cell_source)
    return next(i for i in range(start, len(nb["cells"])) if "otter_answer_cell" in nb["cells"][i]["metadata"].get("tags", []))


def _build_class(folder):
    """22 students: student00 .. student21, each a copy of an example; q1 answered by even students (one with HTML and
    maths), q6 answered by students divisible by 3 except student21, whose q6 answer cell is deleted."""
    q1, q6 = (next(q for q in WRITTEN[NOTEBOOK] if q.name == name) for name in ("q1", "q6"))
    for index in range(22):
        nb = json.loads((EXAMPLES / KINDS[index % 3] / f"{NOTEBOOK}.ipynb").read_text())
        if index % 2 == 0:
            nb["cells"][_answer_cells(nb, q1)]["source"] = HOSTILE_ANSWER if index == 0 else f"Answer {index}: bell-shaped."
        if index == 21:
            del nb["cells"][_answer_cells(nb, q6)]
        elif index % 3 == 0:
            nb["cells"][_answer_cells(nb, q6)]["source"] = f"GPTQ answer {index}: second-order, layer by layer."
        (folder / _student(index)).mkdir(parents=True)
        (folder / _student(index) / f"{NOTEBOOK}.ipynb").write_text(json.dumps(nb))


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(submissions, OUT, stdout) after one `make grade` of the class."""
    submissions = tmp_path_factory.mktemp("class")
    _build_class(submissions)
    out = tmp_path_factory.mktemp("grades")
    done = run_make_grade(submissions, out)
    assert done.returncode == 0, done.stderr[-3000:]
    return submissions, out, done.stdout


def _codes(out):
    return {row["student"]: row["code"] for row in _read(out / KEY_FILE)}


def test_written_pages_hold_every_answer_under_an_anonymous_code(graded):
    _, out, stdout = graded
    codes = _codes(out)
    assert sorted(codes) == [_student(i) for i in range(22)] and len(set(codes.values())) == 22
    assert sorted(p.relative_to(out / "written").as_posix() for p in (out / "written").rglob("*.html")) == sorted(
        f"{n}/{q.name}.html" for n, qs in WRITTEN.items() for q in qs)
    q1 = (out / "written" / NOTEBOOK / "q1.html").read_text()
    assert "Visualize the weights (2 points)" in q1
    assert all(q1.count(f"<h2>{code}</h2>") == 1 for code in codes.values())
    assert not [s for s in codes if s in q1], "no name on an anonymous page"
    assert q1.count("class='answer'") == 11 and q1.count("Untouched") == 11
    assert "<script>alert" not in q1 and "&lt;script&gt;" in q1 and "\\(\\max|w| &lt; 3\\sigma\\)" in q1
    q6 = (out / "written" / NOTEBOOK / "q6.html").read_text()
    assert q6.count("class='answer'") == 7 and q6.count("Missing: the answer cell was deleted") == 1
    pruning = (out / "written" / "pruning" / "q4.html").read_text()
    assert pruning.count("Missing: no pruning.ipynb handed in") == 22
    assert "written answers in" in stdout


def test_manual_csv_has_a_row_per_student_and_written_question_with_points_empty(graded):
    _, out, _ = graded
    rows = _read(out / "manual.csv")
    assert list(rows[0]) == ["student", "notebook", "question", "points", "possible", "comment"]
    expected = {(code, n, q.name, q.points) for code in _codes(out).values() for n, qs in WRITTEN.items() for q in qs}
    assert {(r["student"], r["notebook"], r["question"], float(r["possible"])) for r in rows} == expected and len(rows) == len(expected)
    assert all(r["points"] == "" and r["comment"] == "" for r in rows)


def _fill(out, target, extra=()):
    """manual.csv of ``out`` with points for every int8_cnn q1 answer and student00's q6, plus ``extra`` rows; returns marks."""
    codes = _codes(out)
    rows = _read(out / "manual.csv")
    marks = {}
    for row in rows:
        if row["notebook"] == NOTEBOOK and (row["question"] == "q1" or (row["question"] == "q6" and row["student"] == codes["student00"])):
            row["points"], row["comment"] = ("1.5" if row["question"] == "q1" else "3"), f"seen {row['question']}"
            marks[(row["student"], row["question"])] = float(row["points"])
    with open(target, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(list(rows[0]))
        writer.writerows([list(r.values()) for r in rows] + list(extra))
    return marks


@pytest.fixture(scope="module")
def merged(graded, tmp_path_factory):
    """(OUT, stdout, journal lines before, journal lines after) after merging a filled manual.csv with one regrade of
    student02's q2 (by name) and a roster of 20 of the students plus 2 who handed in nothing."""
    submissions, out, _ = graded
    hand = tmp_path_factory.mktemp("hand")
    _fill(out, hand / "manual.csv", extra=[["student02", NOTEBOOK, "q2", "4", "5", "regrade: the rounding was right"]])
    roster = hand / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8-sig") as f:  # as Canvas exports it: byte-order mark, Points Possible row
        writer = csv.writer(f)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 1 (4411)"])
        writer.writerow(["    Points Possible", "", "", "", "", "10"])
        for index in range(20):  # student20 and student21 are not on the roster
            writer.writerow([_roster_name(index), 1000 + index, f"S{index}", _roster_login(index), "A", ""])
        writer.writerow(["Late, Lou", 2000, "S2000", "lou", "B", ""])
        writer.writerow(["Gone, Gil", 2001, "S2001", "gil", "B", ""])
    lines_before = (out / "journal.jsonl").read_text().count("\n")
    done = run_make_grade(submissions, out, env={"MANUAL": str(hand / "manual.csv"), "ROSTER": str(roster)})
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout, lines_before, (out / "journal.jsonl").read_text().count("\n")


def test_merging_grades_nothing_again(merged):
    _, stdout, before, after = merged
    assert before == after == 22 and "resuming: 22 notebooks were already graded" in stdout


def test_manual_points_and_the_regrade_reach_scores_and_gradebook(merged):
    out = merged[0]
    scores = {(r["student"], r["notebook"], r["question"]): r for r in _read(out / "scores.csv")}
    assert scores[("student02", NOTEBOOK, "q1")]["status"] == "manual" and float(scores[("student02", NOTEBOOK, "q1")]["score"]) == 1.5
    assert scores[("student00", NOTEBOOK, "q6")]["status"] == "manual" and float(scores[("student00", NOTEBOOK, "q6")]["score"]) == 3
    assert scores[("student03", NOTEBOOK, "q6")]["status"] == "ungraded" and float(scores[("student03", NOTEBOOK, "q6")]["score"]) == 0
    regrade = scores[("student02", NOTEBOOK, "q2")]
    assert regrade["status"] == "manual" and float(regrade["score"]) == 4 and "the rounding was right" in regrade["message"]
    assert "autograder: 0/5" in regrade["message"], "student02 hands in the blank release: the autograder gave 0"
    book = {r["student"]: r for r in _read(out / "gradebook.csv")}
    auto = {s: sum(float(r["score"]) for k, r in scores.items() if k[0] == s and r["status"] == "graded") for s in book}
    written_points = sum(q.points for qs in WRITTEN.values() for q in qs)
    autograded_possible = sum(q.points for n in NOTEBOOKS for q in questions(ROOT / "autograder" / f"{n}-autograder.zip"))
    assert float(book["student00"]["total"]) == auto["student00"] + 1.5 + 3
    assert float(book["student02"]["total"]) == auto["student02"] + 1.5 + 4
    assert all(float(r["possible"]) == autograded_possible + written_points for r in book.values())
    assert float(book["student00"]["ungraded"]) == written_points - 2 - 3 and float(book["student01"]["ungraded"]) == written_points - 2
    assert "score set by hand" in book["student02"]["message"]


def test_manual_points_reach_the_report_and_the_feedback(merged):
    out, stdout = merged[0], merged[1]
    page = (out / "report.html").read_text()
    ungraded = sum(float(r["possible"]) for r in _read(out / "scores.csv") if r["status"] == "ungraded")
    assert f"({ungraded:g} points still ungraded)" in page and "regrade: the rounding was right" in page
    assert f"{ungraded:g} points in" in stdout
    feedback = (out / "feedback" / "student02" / f"{NOTEBOOK}.md").read_text()
    assert "| q1 | 1.5 / 2 (by hand) | seen q1 |" in feedback and "| q2 | 4 / 5 (by hand) |" in feedback
    assert "| q6 | 0 / 3 | written answer: not graded by hand yet |" in feedback and "| q8 | 0 / 2 | written answer: not graded by hand yet |" in feedback
    assert "(5 points not graded yet)" in feedback  # q6 and q8


def test_canvas_csv_follows_the_roster_and_the_mismatches_are_listed(merged):
    out, stdout = merged[0], merged[1]
    with open(out / "canvas.csv", newline="", encoding="utf-8") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] + [f"compresslab {n} (points)" for n in NOTEBOOKS]
    possible = {n: sum(q.points for q in questions(ROOT / "autograder" / f"{n}-autograder.zip")) + sum(q.points for q in WRITTEN[n]) for n in NOTEBOOKS}
    assert lines[1][0].strip() == "Points Possible" and [float(p) for p in lines[1][5:]] == [possible[n] for n in NOTEBOOKS]
    scores = _read(out / "scores.csv")
    by_login = {line[3]: line for line in lines[2:]}
    assert [line[3] for line in lines[2:]] == [_roster_login(i) for i in range(20)] + ["lou", "gil"], "every roster entry, in roster order"
    for index in (0, 2, 1, 3):
        expected = [sum(float(r["score"]) for r in scores if r["student"] == _student(index) and r["notebook"] == n) for n in NOTEBOOKS]
        assert [float(v) for v in by_login[_roster_login(index)][5:]] == expected
    assert by_login["lou"][5:] == [""] * len(NOTEBOOKS) and by_login["login7"][5:] == [""] * len(NOTEBOOKS)
    unmatched = [_student(i) for i in (7, 9, 11, 13, 15, 17, 19, 20, 21)]
    page = (out / "report.html").read_text()
    for student in unmatched:
        assert f"submission '{student}' matches no roster entry" in stdout and f"<b>{student}</b> matches no roster entry" in page
    for name in ["Late, Lou", "Gone, Gil"] + [_roster_name(i) for i in (7, 19)]:
        assert f"roster entry '{name}'" in stdout and f"<b>{name}</b>" in page
    assert f"{22 - len(unmatched)} submissions matched the roster" in stdout


@pytest.mark.parametrize("row, reason", [
    (["nobody", NOTEBOOK, "q1", "1", "2", ""], "unknown student 'nobody'"),
    (["student00", NOTEBOOK, "q9", "1", "", ""], "unknown question 'int8_cnn' 'q9'"),
    (["student00", "no_such_notebook", "q1", "1", "", ""], "unknown question 'no_such_notebook' 'q1'"),
    (["student00", NOTEBOOK, "q1", "2.5", "2", ""], "points 2.5 are above the 2 possible"),
    (["student00", NOTEBOOK, "q1", "-1", "2", ""], "points -1 are negative"),
    (["student00", NOTEBOOK, "q1", "two", "2", ""], "points 'two' is not a number"),
    (["student00", NOTEBOOK, "q1", "nan", "2", ""], "points 'nan' is not a finite number"),
    (["student00", NOTEBOOK, "q1", "1", "5", ""], "possible is 5 but int8_cnn q1 is worth 2 points"),
    ("duplicate", "a second row for {student} int8_cnn q1"),
])
def test_a_bad_row_is_refused_with_file_line_and_reason_and_nothing_changes(graded, tmp_path, row, reason):
    submissions, out, _ = graded
    good = tmp_path / "good.csv"
    _fill(out, good)
    lines = good.read_text().splitlines()
    code, rest = lines[1].split(",", 1)
    student = {c: s for s, c in _codes(out).items()}[code]
    bad_line = f"{student},{rest}" if row == "duplicate" else ",".join(row)  # the duplicate names by name a student the file names by code
    reason = reason.format(student=student)
    bad = tmp_path / "manual.csv"
    bad.write_text("\n".join(lines[:5] + [bad_line] + lines[5:]) + "\n")
    before = _digest(out)
    done = run_make_grade(submissions, out, env={"MANUAL": str(bad)})
    assert done.returncode == 2, done.stdout[-2000:]
    assert f"{bad}: line 6: {reason}" in done.stderr, done.stderr
    assert f"nothing of {bad} was merged" in done.stderr
    assert _digest(out) == before, "no output changed"


def test_a_roster_without_the_canvas_columns_is_refused_and_nothing_changes(graded, tmp_path):
    submissions, out, _ = graded
    roster = tmp_path / "roster.csv"
    roster.write_text("Name,Email\nAda,ada@example.com\n")
    before = _digest(out)
    done = run_make_grade(submissions, out, env={"ROSTER": str(roster)})
    assert done.returncode == 2 and f"{roster}: line 1: no Student, ID, SIS User ID, SIS Login ID, Section column" in done.stderr, done.stderr
    assert _digest(out) == before


def test_a_manual_csv_with_points_typed_in_is_never_replaced(graded, tmp_path):
    submissions, out, _ = graded
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    _fill(copy, copy / "manual.csv")
    typed = (copy / "manual.csv").read_bytes()
    done = run_make_grade(submissions, copy)
    assert done.returncode == 0 and (copy / "manual.csv").read_bytes() == typed
    assert "holds points typed in and was left as it is" in done.stdout


def test_a_written_page_opened_in_chromium_runs_no_student_code(graded):
    """The page as a TA's browser opens it (headless Chromium through Selenium): the student's `<script>` is text on the
    page, no alert opened, and the only script element is the page's MathJax tag."""
    _require_browser()
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(120)
        driver.get((graded[1] / "written" / NOTEBOOK / "q1.html").as_uri())
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 (reading it is the check)
        scripts = driver.find_elements(By.TAG_NAME, "script")
        assert [s.get_attribute("src") for s in scripts] == [MATHJAX]
        answers = [a.text for a in driver.find_elements(By.CSS_SELECTOR, ".answer")]
        assert len(answers) == 11 and any("<script>alert(1)</script>" in a for a in answers)
        assert driver.title.startswith(f"{NOTEBOOK} q1: Visualize the weights")
    finally:
        driver.quit()
