"""``feedback/<student>/<notebook>.md``: what a student may see of their grade.

Per question: the score, and for each lost point the test case and the reason the check gave
(the assertion message, e.g. a shape, dtype or mismatching values), or why the notebook could not
be graded (timeout, memory, crash, missing or invalid notebook). Written questions and regrades show the points and
comment given by hand (``manual.py``), or that the answer is not graded yet. Never the test source: hidden
tests are named by case number only. Messages quote what the student's code raised, so every control
character (ANSI escapes, BEL, bidi overrides) is written as a visible escape (``safe_text.printable``).
"""

import hashlib
import os
from collections import defaultdict
from pathlib import Path

from .manual import HAND_STATUSES, MANUAL, UNGRADED
from .runner import Row
from .safe_text import printable


FOLDER_NAME_BYTES = 200  # below the file systems' 255-byte limit on a name; escaping can make a name 4x longer


def write_feedback(rows: list[Row], folder: Path) -> int:
    """One Markdown file per (student, notebook) under ``folder/<student>/``; returns how many were written."""
    by_notebook = defaultdict(list)
    for row in rows:
        by_notebook[(row.student, row.notebook)].append(row)
    for (student, notebook), mine in by_notebook.items():
        target = folder / student_folder(student) / f"{notebook}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(feedback_text(notebook, mine), encoding="utf-8")
    return len(by_notebook)


def student_folder(student: str) -> str:
    """The name of a student's feedback folder: the name with control characters escaped; a name too long for a file
    system is cut and ends with a digest of the whole name, so two students never share a folder."""
    name = printable(student)
    if len(os.fsencode(name)) <= FOLDER_NAME_BYTES:
        return name
    digest = hashlib.sha256(name.encode(errors="surrogatepass")).hexdigest()[:12]
    cut = os.fsencode(name)[: FOLDER_NAME_BYTES - len(digest) - 1].decode(errors="ignore")
    return f"{cut}-{digest}"


def feedback_text(notebook: str, rows: list[Row]) -> str:
    score, possible = sum(r.score for r in rows), sum(r.possible for r in rows)
    ungraded = sum(r.possible for r in rows if r.status == UNGRADED)
    lines = [f"# {notebook}: {score:g} / {possible:g} points" + (f" ({ungraded:g} points not graded yet)" if ungraded else ""), ""]
    autograded = [r for r in rows if r.status not in HAND_STATUSES]
    if autograded and autograded[0].status != "graded":
        lines += [f"Status: **{printable(autograded[0].status)}**. {printable(autograded[0].message.split('; ')[0])}", ""]
    lines += ["| question | score | what was wrong |", "| --- | --- | --- |"]
    for row in rows:
        shown = row.status in HAND_STATUSES or row.score != row.possible  # a grader's comment is shown even on full marks
        reason = printable(row.message).replace("|", "\\|") if shown else ""
        graded_by = " (by hand)" if row.status == MANUAL else ""
        lines.append(f"| {row.question} | {row.score:g} / {row.possible:g}{graded_by} | {reason} |")
    return "\n".join(lines) + "\n"
