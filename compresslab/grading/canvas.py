"""``canvas.csv``: the grades in the CSV shape Canvas's Gradebook exports and imports.

The roster is a Canvas Gradebook export (Grades > Export): its first five columns are ``Student`` (``Last, First``),
``ID``, ``SIS User ID``, ``SIS Login ID`` and ``Section``; its other columns are ignored, and so is the
``Points Possible`` row below the header. ``canvas.csv`` repeats those five columns for every roster entry, then one
column per notebook, ``compresslab <notebook> (points)``: the score out of the notebook's possible points (written
questions included; an ungraded written question counts 0). A ``Points Possible`` row, as in Canvas's export, gives
each new column's points. A roster entry without a submission gets empty scores (Canvas leaves those cells alone).

A submission matches a roster entry when its name (the name of its folder or zip) equals the entry's ``SIS Login ID``
or its ``Student`` name, written ``Last, First`` or ``First Last``; case and spacing do not matter. A name shared by
two entries matches neither. Unmatched submissions and roster entries are returned, never dropped in silence.
"""

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .runner import Row
from .safe_text import csv_cell, printable

ROSTER_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"  # first cell of Canvas's second row (indented by spaces in its export)


class RosterError(Exception):
    """A roster file that cannot be used; the message names the file and what is wrong."""


@dataclass
class Matching:
    by_student: dict[str, int] = field(default_factory=dict)  # submission's student -> index of its roster entry
    unmatched_students: list[str] = field(default_factory=list)
    unmatched_entries: list[dict[str, str]] = field(default_factory=list)


def column_name(notebook: str) -> str:
    return f"compresslab {notebook} (points)"


def read_roster(path: Path) -> list[dict[str, str]]:
    """The roster's entries (the five Canvas columns of each student row, in file order)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: Canvas's export starts with a byte-order mark
            records = list(csv.reader(f))
    except OSError as error:
        raise RosterError(f"{path}: cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise RosterError(f"{path}: not a UTF-8 CSV file ({error})") from None
    header = [h.strip() for h in records[0]] if records else []
    missing = [c for c in ROSTER_COLUMNS if c not in header]
    if missing:
        raise RosterError(f"{path}: line 1: no {', '.join(missing)} column (a Canvas Gradebook export has {', '.join(ROSTER_COLUMNS)})")
    where = [header.index(c) for c in ROSTER_COLUMNS]
    entries = []
    for record in records[1:]:
        cells = [record[i].strip() if i < len(record) else "" for i in where]
        if any(cells) and cells[0] != POINTS_POSSIBLE:
            entries.append(dict(zip(ROSTER_COLUMNS, cells)))
    return entries


def match(roster: list[dict[str, str]], students: list[str]) -> Matching:
    """Each student's roster entry, on SIS Login ID or name; the students and entries left over."""
    keys = defaultdict(list)
    for index, entry in enumerate(roster):
        for key in {_normal(entry["SIS Login ID"]), _normal(entry["Student"]), _normal(_first_last(entry["Student"]))} - {""}:
            keys[key].append(index)
    matching, used = Matching(), set()
    for student in students:
        found = keys.get(_normal(student), [])
        if len(found) == 1 and found[0] not in used:
            matching.by_student[student] = found[0]
            used.add(found[0])
        else:
            matching.unmatched_students.append(student)
    matching.unmatched_entries = [entry for index, entry in enumerate(roster) if index not in used]
    return matching


def write_canvas(path: Path, roster: list[dict[str, str]], matching: Matching, rows: list[Row], possible: dict[str, float]) -> None:
    """``canvas.csv``; ``possible``: notebook -> its points, written questions included (in column order)."""
    scores = defaultdict(float)
    for row in rows:
        scores[(row.student, row.notebook)] += row.score
    student_at = {index: student for student, index in matching.by_student.items()}
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(ROSTER_COLUMNS + [column_name(n) for n in possible])
        writer.writerow(["    " + POINTS_POSSIBLE, "", "", "", ""] + [csv_cell(p) for p in possible.values()])
        for index, entry in enumerate(roster):
            student = student_at.get(index)
            grades = [csv_cell(scores[(student, n)]) if student is not None else "" for n in possible]
            writer.writerow([csv_cell(entry[c]) for c in ROSTER_COLUMNS] + grades)


def describe_mismatches(matching: Matching) -> list[str]:
    """One line per unmatched submission or roster entry, for the terminal."""
    return [
        f"submission {printable(s)!r} matches no roster entry (by SIS Login ID or name): not in canvas.csv"
        for s in matching.unmatched_students
    ] + [
        f"roster entry {printable(e['Student'])!r} (SIS Login ID {printable(e['SIS Login ID'])!r}) has no submission: empty in canvas.csv"
        for e in matching.unmatched_entries
    ]


def _first_last(name: str) -> str:
    """``Last, First`` (Canvas's sortable name) as ``First Last``."""
    last, comma, first = name.partition(",")
    return f"{first} {last}" if comma else name


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())
