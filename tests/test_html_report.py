"""report.html for a class: total-score distribution, per-question and per-test-case tables, per-student details, flagged
pairs side by side, integer histogram axes, and its size for a class of 300. The last test grades a class of 21 through
``make grade`` (one notebook per student: int8_cnn) and reads report.html and similarity.csv; the others call
``write_report`` on rows built directly."""

import csv
import re
import shutil
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import pytest

from compresslab.bench import synthetic_class
from compresslab.grading.html_report import _histogram, write_report
from compresslab.grading.runner import Outcome, Row
from compresslab.grading.similarity import Pair

from conftest import ROOT, run_make_grade
from test_similarity import COPIES, HONEST, write_class

MAX_BYTES = 5_000_000  # a class of 300 must open in a browser in a second or two


class Page(HTMLParser):
    """The ids, the in-page links, the tables (rows of cell texts) and the <details> of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.links, self.tables, self.details = set(), [], [], 0
        self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"][1:])
        if tag == "details":
            self.details += 1
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def table(self, *headers: str) -> list[list[str]]:
        """The rows (after the header) of the first table whose header starts with ``headers``."""
        return next(t[1:] for t in self.tables if t and tuple(t[0][:len(headers)]) == headers)


def graded(score: float, failures: list[str]) -> dict:
    return {"score": score, "possible": 5.0, "failures": failures}


def small_class() -> tuple[list[Row], dict]:
    """Four students on one question of 5 points (scores 5, 5, 0, 2) and one who timed out."""
    failures = {"ada": [], "ben": [], "chen": ["q2 - 1, q2 - 3: AssertionError: 12 of 450 differ, e.g. [3] got 41 expected 42"],
                "dana": ["q2 - 3: AssertionError: 7 of 450 differ, e.g. [9] got 1 expected 2", "q2 - 2: TypeError: bad <operand>"]}
    scores = {"ada": 5.0, "ben": 5.0, "chen": 0.0, "dana": 2.0}
    outcomes = {(s, "int8_cnn"): Outcome("graded", "", {"q2": graded(scores[s], failures[s])}, seconds=3.0) for s in scores}
    outcomes[("eli", "int8_cnn")] = Outcome("timeout", "the notebook ran longer than 600 s", seconds=600.0)
    rows = [Row(s, "int8_cnn", "q2", scores[s], 5.0, "graded", "; ".join(failures[s])) for s in scores]
    rows.append(Row("eli", "int8_cnn", "q2", 0.0, 5.0, "timeout", "the notebook ran longer than 600 s"))
    return rows, outcomes


def test_per_question_table_gives_mean_median_full_marks_zeros_and_the_hand_graded_marker(tmp_path):
    rows, outcomes = small_class()
    write_report(rows, outcomes, tmp_path / "report.html", hand_graded=frozenset({"int8_cnn/q2"}))
    page = Page((tmp_path / "report.html").read_text())
    mean, median = (5 + 5 + 0 + 2 + 0) / 5, 2
    assert page.table("question", "points") == [["int8_cnn/q2", "5", f"{mean:.2f}", f"{median:.3g}", "40%", "40%", "yes"]]
    write_report(rows, outcomes, tmp_path / "other.html")
    assert Page((tmp_path / "other.html").read_text()).table("question")[0][-1] == "no"


def test_each_failed_test_case_counts_its_students_groups_its_messages_and_links_to_them(tmp_path):
    rows, outcomes = small_class()
    write_report(rows, outcomes, tmp_path / "report.html")
    text = (tmp_path / "report.html").read_text()
    page = Page(text)
    cases = {row[1]: row for row in page.table("notebook", "test case")}
    assert set(cases) == {"q2 - 1", "q2 - 2", "q2 - 3"}
    assert cases["q2 - 3"][2] == "2" and cases["q2 - 1"][2] == "1" and cases["q2 - 2"][2] == "1"
    assert cases["q2 - 3"][3].startswith("2 × AssertionError: 12 of 450 differ")  # two messages, the numbers differ: one group
    assert "bad &lt;operand&gt;" in text and "<operand>" not in text
    assert page.links and set(page.links) <= page.ids
    assert page.details >= 5  # one per student, and the list of students of each test case
    assert re.search(r"<details id='(s\d+)'><summary>eli: 0 / 5</summary>.*?timeout", text)


def test_flagged_pairs_show_escaped_code_side_by_side_grouped_and_unflagged_ones_do_not(tmp_path):
    rows, outcomes = small_class()
    code = "def f(x):\n    x = '<script>alert(1)</script>'\n    return x\x1b[2J"
    same = ("x = V", "x = V")
    pairs = [Pair("int8_cnn", "quantized_weights", "ada", "ben", 0.97, 120, True, "a = V", "b = V", code, code + "  # mine"),
             Pair("int8_cnn", "forward", "chen", "dana", 1.0, 120, True, *same, "def chen_code(): pass", "def dana_code(): pass"),
             Pair("int8_cnn", "forward", "chen", "eli", 1.0, 120, True, *same, "def chen_code(): pass", "def eli_code(): pass"),
             Pair("int8_cnn", "forward", "dana", "eli", 1.0, 120, True, *same, "def dana_code(): pass", "def eli_code(): pass"),
             Pair("int8_cnn", "quantized_weights", "ada", "chen", 0.5, 120, False, "c = V", "d = V", "hidden_code = 1", "y = 2")]
    write_report(rows, outcomes, tmp_path / "report.html", similar=pairs)
    text = (tmp_path / "report.html").read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text and "\x1b" not in text and "\\x1b[2J" in text
    assert "    return x" in text and "# mine" in text and "hidden_code" not in text
    assert "4 pairs flagged (each in similarity.csv) in 2 groups" in text
    assert "int8_cnn: forward, similarity 1.00 (flagged from 0.85), 3 pairs" in text
    assert text.index("forward, similarity 1.00") < text.index("quantized_weights, similarity 0.97")  # most similar first
    assert "chen<br><small>the same code: eli</small>" in text and "eli_code" not in text  # one group: two students' code shown


def test_histograms_have_integer_axes():
    fig, ax = plt.subplots()
    _histogram(ax, [0.0, 1.5, 2.0, 2.0, 3.0], 3.0, "q")
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks()) and all(float(t).is_integer() for t in ax.get_yticks())
    plt.close(fig)


def test_a_class_of_300_gives_a_page_under_5_mb(tmp_path):
    rows, outcomes = synthetic_class(300)
    write_report(rows, outcomes, tmp_path / "report.html")
    size = (tmp_path / "report.html").stat().st_size
    assert size < MAX_BYTES, f"{size} bytes"
    page = Page((tmp_path / "report.html").read_text())
    assert len({r.student for r in rows}) == 300 and {f"s{i}" for i in range(300)} <= page.ids
    assert set(page.links) <= page.ids
    assert len(page.table("question", "points")) == len({(r.notebook, r.question) for r in rows})


@pytest.fixture(scope="module")
def class_graded(tmp_path_factory):
    """21 students, one notebook each (int8_cnn), graded by ``make grade``: the similarity class (six honest, two
    copiers), five copies of the reference example (one named like a spreadsheet formula), four of the partial one, three
    blanks, and one folder with a notebook that is not JSON."""
    submissions = tmp_path_factory.mktemp("submissions")
    write_class(submissions, HONEST + list(COPIES))
    examples = ROOT / "data" / "examples"
    for example, names in (("reference", ["ref1", "ref2", "ref3", "ref4", "=cmd|x"]), ("partial", ["part1", "part2", "part3", "part4"]),
                           ("blank", ["blank1", "blank2", "blank3"])):
        for name in names:
            (submissions / name).mkdir()
            shutil.copyfile(examples / example / "int8_cnn.ipynb", submissions / name / "int8_cnn.ipynb")
    (submissions / "broken").mkdir()
    (submissions / "broken" / "int8_cnn.ipynb").write_text("{ not json")
    out = tmp_path_factory.mktemp("grades")
    done = run_make_grade(submissions, out)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_make_grade_on_a_class_writes_similarity_csv_and_a_report_with_its_tables(class_graded):
    with open(class_graded / "similarity.csv", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["notebook", "function", "student_a", "student_b", "similarity"]
        flagged = [tuple(row) for row in reader]
    pairs = {(function, a, b) for _, function, a, b, _ in flagged}
    assert ("NetQuantized.forward", "ben", "gus") in pairs and ("NetQuantized.forward", "dana", "hal") in pairs
    assert ("register_activation_profiling_hooks", "dana", "hal") in pairs
    assert ("NetQuantized.forward", "'=cmd|x", "ref1") in pairs  # identical copies are flagged; the name is neutralised
    assert not any(a in HONEST and b in HONEST for _, _, a, b, _ in flagged), "an honest pair was flagged"
    assert all(0 < float(s) <= 1 for *_, s in flagged) and not any("blank" in a or "blank" in b for _, _, a, b, _ in flagged)

    with open(class_graded / "scores.csv", newline="") as f:
        scores = list(csv.DictReader(f))
    reference = [r for r in scores if r["student"] in ("ref1", "ref2", "'=cmd|x") and r["notebook"] == "int8_cnn"]
    assert reference and all(r["score"] == r["possible"] for r in reference), "flagging never changes a score"

    text = (class_graded / "report.html").read_text()
    page = Page(text)
    questions = {row[0]: row[1:] for row in page.table("question", "points")}
    q2_full = sum(1 for r in scores if r["notebook"] == "int8_cnn" and r["question"] == "q2" and r["score"] == r["possible"])
    assert questions["int8_cnn/q2"][3] == f"{100 * q2_full / 21:.0f}%" and q2_full == 13  # all but the blanks, the partials (their two answers are q7's ranges) and the broken one
    assert all(row[3:] == ["0%", "100%", "no"] for name, row in questions.items() if not name.startswith("int8_cnn/"))
    cases = {row[1]: row for row in page.table("notebook", "test case")}
    q5_failed = sum(1 for r in scores if r["notebook"] == "int8_cnn" and r["question"] == "q5" and r["score"] == "0" and r["status"] == "graded")
    assert cases["q5 - 1"][2] == str(q5_failed) and cases["q5 - 1"][3].startswith(f"{q5_failed} × not implemented")
    ungraded = {(row[0], row[1]): row for row in page.table("notebook", "status")}
    assert ungraded[("int8_cnn", "invalid")][2] == "1" and ungraded[("pruning", "missing")][2] == "21"
    assert page.details >= 21 and set(page.links) <= page.ids
    assert "Similar code" in text and "<pre>" in text and "=cmd|x" in text and "<b>" not in text
    assert "<h2>Total scores</h2>" in text and text.count("data:image/png;base64,") == 2


def test_a_row_without_a_score_reads_as_ungraded(tmp_path):
    """A question left to grade by hand may carry no number yet (the instructor's MANUAL= merge); the page still renders."""
    rows, outcomes = small_class()
    rows.append(Row("ada", "int8_cnn", "written1", None, 3.0, "graded", "not graded yet"))
    write_report(rows, outcomes, tmp_path / "report.html", hand_graded=frozenset({"int8_cnn/written1"}))
    text = (tmp_path / "report.html").read_text()
    assert "<td>int8_cnn/written1</td><td>ungraded</td>" in text
    assert [row[0] for row in Page(text).table("question", "points")] == ["int8_cnn/q2"]  # no number yet: no statistics
