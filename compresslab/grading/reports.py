"""Writing ``scores.csv`` and ``gradebook.csv`` and printing the gradebook.

Every CSV cell goes through ``safe_text.csv_cell`` (formula injection) and every cell of the printed
table through ``safe_text.printable`` (terminal escapes): student names and messages are the students'.
"""

import csv
from collections import defaultdict
from dataclasses import astuple, fields
from pathlib import Path

from .engine import UNSAFE_NOTE
from .manual import HAND_STATUSES, OVERRIDE_NOTE, UNGRADED
from .runner import Row
from .safe_text import csv_cell, printable

SCORE_COLUMNS = [f.name for f in fields(Row)]  # student,notebook,question,score,possible,status,message


def write_scores(rows: list[Row], path: Path) -> None:
    """One row per (student, notebook, question)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(SCORE_COLUMNS)
        writer.writerows([csv_cell(v) for v in astuple(row)] for row in rows)


def gradebook(rows: list[Row]) -> tuple[list[str], list[list]]:
    """Header and one line per student: a column per ``notebook/question``, total, possible, ungraded (points of written
    questions not graded by hand yet), status, message (the reasons of ungradable notebooks and of scores set by hand)."""
    columns = sorted(
        {(r.notebook, r.question) for r in rows}, key=lambda c: next(i for i, r in enumerate(rows) if (r.notebook, r.question) == c)
    )
    by_student = defaultdict(dict)
    for row in rows:
        by_student[row.student][(row.notebook, row.question)] = row
    header = ["student"] + [f"{n}/{q}" for n, q in columns] + ["total", "possible", "ungraded", "status", "message"]
    lines = []
    for student in sorted(by_student):
        cells = by_student[student]
        problems = {}
        notes = []
        for row in cells.values():
            if row.message.startswith(OVERRIDE_NOTE):
                notes.append(f"{row.notebook}/{row.question}: {row.message}")
            elif (row.status != "graded" and row.status not in HAND_STATUSES) or row.message.startswith(UNSAFE_NOTE):
                problems.setdefault(f"{row.notebook}: {row.message}", row.status)
        status = ", ".join(sorted(set(problems.values()))) or "graded"
        lines.append(
            [student]
            + [cells[c].score if c in cells else 0.0 for c in columns]
            + [sum(r.score for r in cells.values()), sum(r.possible for r in cells.values()),
               sum(r.possible for r in cells.values() if r.status == UNGRADED), status, "; ".join(list(problems) + notes)]
        )
    return header, lines


def write_gradebook(rows: list[Row], path: Path) -> tuple[list[str], list[list]]:
    header, lines = gradebook(rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([csv_cell(v) for v in line] for line in lines)
    return header, lines


def format_table(header: list[str], lines: list[list], message_width: int = 60) -> str:
    """The gradebook as aligned plain text (messages shortened to ``message_width``), control characters escaped."""
    text = [[printable(str(h)) for h in header]] + [[_short(printable(v), message_width) for v in _formatted(line)] for line in lines]
    widths = [max(len(row[i]) for row in text) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in text)


def _formatted(values) -> list[str]:
    return [f"{v:g}" if isinstance(v, float) else str(v) for v in values]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
