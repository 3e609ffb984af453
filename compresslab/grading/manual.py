"""``manual.csv``: points given by hand, read, checked and merged into the grader's rows.

The file has the columns ``student,notebook,question,points,possible,comment`` (``make grade`` writes one, with
``points`` empty, for every student and written question). ``student`` is the student's name or anonymous code.
A row for a written question gives its points; a row for an autograded question overrides the autograder's
score (a regrade); an empty ``points`` leaves a written question ``ungraded`` and an autograded one as graded
(its comment is shown). Merged rows have the status ``manual`` (or ``ungraded``) in every output.

The whole file is checked before anything is graded or written: a row naming an unknown student, notebook or
question, points that are not a number, negative or above the question's points, a ``possible`` that differs
from the question's, or a second row for the same (student, notebook, question) makes ``ManualError``, which
lists every bad line; nothing of such a file is merged.
"""

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path

from .runner import Row
from .safe_text import csv_cell, printable
from .written import WrittenQuestion

COLUMNS = ["student", "notebook", "question", "points", "possible", "comment"]
MANUAL = "manual"  # status of a score given by hand
UNGRADED = "ungraded"  # status of a written question without points yet (it scores 0 until graded)
HAND_STATUSES = (MANUAL, UNGRADED)
OVERRIDE_NOTE = "score set by hand"  # starts the message of an overridden autograded question
NOT_GRADED_YET = "written answer: not graded by hand yet"

Key = tuple[str, str, str]  # (student, notebook, question)


@dataclass(frozen=True)
class Mark:
    points: float | None  # None: left empty
    comment: str


class ManualError(Exception):
    """A manual.csv that cannot be merged; the message names the file and every bad line with its reason."""


def read_manual(path: Path, possible: dict[tuple[str, str], float], students: dict[str, str]) -> dict[Key, Mark]:
    """The marks of ``path``, keyed by the student's name.

    possible: ``{(notebook, question): points}`` of every question being graded, written and autograded.
    students: ``{name or code: name}`` of every student in the submissions.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: a spreadsheet may add a byte-order mark
            reader = csv.reader(f)
            header = next(reader, [])
            lines = []
            for record in reader:
                lines.append((reader.line_num, record))
    except OSError as error:
        raise ManualError(f"{path}: cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise ManualError(f"{path}: not a UTF-8 CSV file ({error})") from None
    header = [h.strip() for h in header]
    if header[:len(COLUMNS)] != COLUMNS:
        raise ManualError(f"{path}: line 1: the columns must be {','.join(COLUMNS)} (found {printable(','.join(header))[:200]})")
    marks, problems = {}, []
    for line, record in lines:
        if not any(cell.strip() for cell in record):
            continue  # a blank line a spreadsheet left
        fields = dict(zip(COLUMNS, [cell.strip() for cell in record] + [""] * len(COLUMNS)))
        try:
            key, mark = _parse(fields, possible, students)
        except ValueError as reason:
            problems.append(f"{path}: line {line}: {reason}")
            continue
        if key in marks:
            problems.append(f"{path}: line {line}: a second row for {printable(key[0])} {key[1]} {key[2]}")
        marks[key] = mark
    if problems:
        raise ManualError("\n".join(problems) + f"\nnothing of {path} was merged; fix these lines and run again")
    return marks


def _parse(fields: dict[str, str], possible: dict[tuple[str, str], float], students: dict[str, str]) -> tuple[Key, Mark]:
    student = students.get(fields["student"])
    if student is None:
        raise ValueError(f"unknown student {printable(fields['student'])[:100]!r} (no such submission or anonymous code)")
    notebook, question = fields["notebook"], fields["question"]
    if (notebook, question) not in possible:
        raise ValueError(
            f"unknown question {printable(notebook)[:60]!r} {printable(question)[:30]!r} (not a question of the notebooks graded)"
        )
    worth = possible[(notebook, question)]
    if fields["possible"] and _number(fields["possible"], "possible") != worth:
        raise ValueError(f"possible is {printable(fields['possible'])[:30]} but {notebook} {question} is worth {worth:g} points")
    points = _number(fields["points"], "points") if fields["points"] else None
    if points is not None and points < 0:
        raise ValueError(f"points {points:g} are negative")
    if points is not None and points > worth:
        raise ValueError(f"points {points:g} are above the {worth:g} possible for {notebook} {question}")
    return (student, notebook, question), Mark(points, printable(fields["comment"]))


def _number(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} {printable(text)[:30]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{column} {printable(text)[:30]!r} is not a finite number")
    return value


def merge(rows: list[Row], questions: dict[str, list[WrittenQuestion]], marks: dict[Key, Mark]) -> list[Row]:
    """``rows`` with the marks applied: overridden autograded rows, and after each (student, notebook)'s rows one row per
    written question of that notebook (``manual`` with its points, or ``ungraded`` scoring 0)."""
    merged = []
    for index, row in enumerate(rows):
        merged.append(_marked(row, marks.get((row.student, row.notebook, row.question))))
        last_of_notebook = index + 1 == len(rows) or (rows[index + 1].student, rows[index + 1].notebook) != (row.student, row.notebook)
        if last_of_notebook:
            merged += [_written_row(row.student, q, marks.get((row.student, q.notebook, q.name))) for q in questions.get(row.notebook, [])]
    return merged


def _marked(row: Row, mark: Mark | None) -> Row:
    if mark is None:
        return row
    if mark.points is None:
        return replace(row, message=f"comment: {mark.comment}; {row.message}" if mark.comment else row.message)
    was = f"autograder: {row.score:g}/{row.possible:g}" + (f", {row.message}" if row.message else "")
    return replace(row, score=mark.points, status=MANUAL, message=f"{OVERRIDE_NOTE}: {mark.comment or 'no comment'} ({was})")


def _written_row(student: str, question: WrittenQuestion, mark: Mark | None) -> Row:
    if mark is None or mark.points is None:
        return Row(student, question.notebook, question.name, 0.0, question.points, UNGRADED, NOT_GRADED_YET)
    return Row(student, question.notebook, question.name, mark.points, question.points, MANUAL, mark.comment)


def template(questions: dict[str, list[WrittenQuestion]], labels: dict[str, str], marks: dict[Key, Mark]) -> list[list]:
    """Rows of ``manual.csv``: one per written question and student (question by question, students in label order), then
    the overrides of autograded questions in ``marks``; points and comments filled from ``marks``. ``labels``: student ->
    name or code written in the ``student`` column."""
    written = {(q.notebook, q.name): q for qs in questions.values() for q in qs}
    by_label = sorted(labels.items(), key=lambda item: item[1])
    lines = []
    for question in written.values():
        for student, label in by_label:
            mark = marks.get((student, question.notebook, question.name), Mark(None, ""))
            lines.append(
                [label, question.notebook, question.name, "" if mark.points is None else mark.points, question.points, mark.comment]
            )
    for (student, notebook, question), mark in sorted(marks.items()):
        if (notebook, question) not in written and student in labels:
            lines.append([labels[student], notebook, question, "" if mark.points is None else mark.points, "", mark.comment])
    return lines


def holds_entries(path: Path) -> bool:
    """Whether the manual.csv at ``path`` has any points or comment typed in (then ``make grade`` must not replace it)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return any((len(r) > 3 and r[3].strip()) or (len(r) > 5 and r[5].strip()) for r in list(csv.reader(f))[1:])
    except (OSError, UnicodeDecodeError, csv.Error):
        return path.exists()


def write_template(path: Path, lines: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows([csv_cell(v) for v in line] for line in lines)
