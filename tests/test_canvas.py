"""Roster reading and matching for canvas.csv (our functions directly; test_instructor_round.py runs them through `make grade`)."""

import csv

import pytest

from compresslab.grading.canvas import RosterError, match, read_roster, write_canvas
from compresslab.grading.runner import Row


def _roster(tmp_path, rows, header=("Student", "ID", "SIS User ID", "SIS Login ID", "Section")):
    path = tmp_path / "roster.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerow(["    Points Possible"] + [""] * (len(header) - 1))
        writer.writerows(rows)
    return path


def test_students_match_on_login_or_either_form_of_the_name(tmp_path):
    roster = read_roster(_roster(tmp_path, [["Lovelace, Ada", 1, "S1", "alove", "A"], ["Hopper, Grace", 2, "S2", "gh", "A"],
                                            ["Turing, Alan", 3, "S3", "at", "B"], ["Noether, Emmy", 4, "S4", "en", "B"]]))
    assert len(roster) == 4, "the Points Possible row is not a student"
    matching = match(roster, ["alove", "grace  HOPPER", "Turing, Alan", "Somebody"])
    assert {s: roster[i]["SIS Login ID"] for s, i in matching.by_student.items()} == {"alove": "alove", "grace  HOPPER": "gh", "Turing, Alan": "at"}
    assert matching.unmatched_students == ["Somebody"] and [e["Student"] for e in matching.unmatched_entries] == ["Noether, Emmy"]


def test_a_name_two_roster_entries_share_matches_neither(tmp_path):
    roster = read_roster(_roster(tmp_path, [["Lee, Kim", 1, "S1", "kl1", "A"], ["Lee, Kim", 2, "S2", "kl2", "B"]]))
    matching = match(roster, ["Kim Lee", "kl2"])
    assert matching.unmatched_students == ["Kim Lee"] and list(matching.by_student) == ["kl2"]


def test_canvas_csv_keeps_roster_order_and_leaves_students_without_submission_empty(tmp_path):
    roster = read_roster(_roster(tmp_path, [["=cmd|' /C calc'!A0", 1, "S1", "x", "A"], ["B, C", 2, "S2", "bc", "A"]]))
    matching = match(roster, ["x"])
    rows = [Row("x", "nb", "q1", 1.5, 2.0, "graded", ""), Row("x", "nb", "q2", 3.0, 4.0, "manual", "")]
    write_canvas(tmp_path / "canvas.csv", roster, matching, rows, {"nb": 9.0})
    with open(tmp_path / "canvas.csv", newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0][5:] == ["compresslab nb (points)"] and lines[1][5:] == ["9"]
    assert lines[2] == ["'=cmd|' /C calc'!A0", "1", "S1", "x", "A", "4.5"], "a roster cell cannot become a formula"
    assert lines[3] == ["B, C", "2", "S2", "bc", "A", ""]


@pytest.mark.parametrize("content, words", [
    ("Name,Email\nAda,a@x\n", "no Student, ID, SIS User ID, SIS Login ID, Section column"),
    ("", "no Student"),
])
def test_a_roster_that_is_not_a_canvas_export_is_refused_naming_the_file(tmp_path, content, words):
    path = tmp_path / "roster.csv"
    path.write_text(content)
    with pytest.raises(RosterError, match=words) as error:
        read_roster(path)
    assert str(path) in str(error.value)
    with pytest.raises(RosterError, match="cannot be read"):
        read_roster(tmp_path / "absent.csv")
