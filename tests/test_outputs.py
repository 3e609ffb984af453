"""What the grader writes from hostile rows (student names and messages are the students'): CSV cells neutralized as OWASP
recommends with numbers kept numeric, no control character in the printed table or the feedback, report.html escaped.
These call our writers directly; test_hostile_batch.py checks the same through the real CLI."""

import csv
import os

import pytest

from compresslab.grading.feedback import write_feedback
from compresslab.grading.html_report import write_report
from compresslab.grading.reports import format_table, write_gradebook, write_scores
from compresslab.grading.runner import Outcome, Row
from compresslab.grading.safe_text import csv_cell, printable

HOSTILE = ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "\x1b[2J\x1b]0;owned\x07", "a|b\nc", "<script>x</script>"]


@pytest.mark.parametrize("value, cell", [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-2+3", "'-2+3"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("ada", "ada"), ("a=b", "a=b"), (-1.0, "-1"), (22.0, "22"), (0.5, "0.5"), (3, 3),
])
def test_csv_cells_are_neutralized_and_numbers_stay_numbers(value, cell):
    assert csv_cell(value) == cell


def test_printable_escapes_every_control_character_once():
    assert printable("\x1b[31mred\x07") == "\\x1b[31mred\\x07"
    assert printable("a\nb\tc\r\u2028d") == "a b c  d"
    assert printable("rtl\u202eevil\u200b\udcff") == "rtl\\u202eevil\\u200b\\udcff"
    assert printable("é 学生 ok") == "é 学生 ok"
    assert printable(printable("\x1b\x00")) == printable("\x1b\x00")


def _rows():
    return [Row(printable(name), "int8_cnn", "q2", score, 5.0, "graded", printable(f"q2 - 1: ValueError: {name}"))
            for name, score in zip(HOSTILE, [5.0, 0.0, -1.0] + [0.0] * len(HOSTILE))]


def test_csv_files_start_no_cell_with_a_formula_character_and_keep_scores_numeric(tmp_path):
    rows = _rows()
    write_scores(rows, tmp_path / "scores.csv")
    write_gradebook(rows, tmp_path / "gradebook.csv")
    for name in ("scores.csv", "gradebook.csv"):
        with open(tmp_path / name, newline="") as f:
            cells = [cell for line in csv.reader(f) for cell in line]
        assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r")) or (c.startswith("-") and c != "-1")], name
        assert "-1" in cells, "a negative score stays a number"
        assert not [c for c in cells if "\x1b" in c or "\x07" in c], name
    with open(tmp_path / "scores.csv", newline="") as f:
        scores = list(csv.DictReader(f))
    assert [float(r["score"]) for r in scores[:3]] == [5.0, 0.0, -1.0]


def test_the_printed_table_and_the_feedback_hold_no_control_character(tmp_path):
    raw = [Row(name, "int8_cnn", "q2", 0.0, 5.0, "crashed", f"boom {name}") for name in HOSTILE]  # not even escaped upstream
    header, lines = write_gradebook(raw, tmp_path / "gradebook.csv")
    table = format_table(header, lines)
    assert not [c for c in table if ord(c) < 32 and c != "\n" or ord(c) == 127 or c == "\u202e"]
    assert table.count("\n") == len(HOSTILE), "one line per student"
    write_feedback(raw, tmp_path / "feedback")
    pages = list((tmp_path / "feedback").rglob("*.md"))
    assert len(pages) == len({printable(name) for name in HOSTILE}), "one folder per escaped name (tab and CR both read as a space)"
    for page in pages:
        text = page.read_text()
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
        assert "\x1b" not in str(page.relative_to(tmp_path))


def test_report_html_escapes_names_messages_and_statuses(tmp_path):
    rows = [Row("<b>x</b>", "int8_cnn", "q2", 0.0, 5.0, "<i>forged</i>", "<script>alert(1)</script>")]
    write_report(rows, {("<b>x</b>", "int8_cnn"): Outcome("<i>forged</i>", seconds=1.0)}, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert "<script>" not in page and "<b>x" not in page and "<i>forged" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;i&gt;forged&lt;/i&gt;" in page


def test_a_name_too_long_once_escaped_gets_a_short_distinct_feedback_folder(tmp_path):
    names = ["\x01" * 250, "\x01" * 249 + "\x02", "é" * 127]  # each a valid 250-254-byte file name; escaped, up to 1000 bytes
    rows = [Row(printable(name), "int8_cnn", "q2", 0.0, 5.0, "missing", "no int8_cnn.ipynb") for name in names]
    assert write_feedback(rows, tmp_path / "feedback") == 3
    folders = [p.name for p in (tmp_path / "feedback").iterdir()]
    assert len(folders) == 3 and all(len(os.fsencode(f)) <= 200 for f in folders)
    assert "é" * 90 in "".join(folders), "a prefix of the name is kept"
