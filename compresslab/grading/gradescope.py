"""Gradescope's ``run_autograder``: grade ``/autograder/submission`` as ``make grade`` does, write ``results.json``.

``python -m compresslab.grading.gradescope [--submission DIR] [--results FILE]``, with the course folder given by
``COMPRESSLAB_COURSE``: ``/autograder/source``, where Gradescope unpacked the autograder zip
(``compresslab.autograder_zip``). The submission is graded by the same engine, limits, grading mode and verdicts as
``make grade``, so a question's score here equals its score in ``scores.csv``.

Isolation: Gradescope runs the container as root, and Docker's default seccomp profile forbids the user namespaces
bubblewrap needs. Before grading, the grader's secrets (``course().grader_only()``) are made root-only, so that
``sandbox.isolation_mode`` can fall back to the ``uid`` mode (the notebook as an unprivileged uid that can read no
secret and write neither the course folder nor the results folder); where bubblewrap works, the full sandbox is used.

``results.json`` follows Gradescope's autograder specification: the total ``score``, ``execution_time``, an
``output`` line, and one entry in ``tests`` per question with ``name``, ``score``, ``max_score``, ``output`` (the
feedback text ``make grade`` writes) and ``visibility``: ``visible`` for a question whose test cases are all public
(the student ran them in the notebook), ``after_published`` for a question with hidden cases, so hidden results show
only once the instructor publishes the grades.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from ..paths import course
from . import grading_mode, sandbox
from .autograders import Question, notebook_of, questions
from .engine import Limits, Zygote
from .handed_in import grade_handed_in_files
from .runner import Row, batch_rows, grade_all
from .safe_text import printable
from .submissions import collect

STUDENT = "submission"  # the one student of a Gradescope run


def protect_secrets() -> None:
    """Make every secret folder of the course folder root-only (mode 700), so that a notebook run as another uid cannot
    read the tests, fixtures or reference checks."""
    for secret in course().grader_only():
        if secret.is_dir():
            secret.chmod(0o700)


def results(notebook: str, question_list: list[Question], rows: list[Row], seconds: float) -> dict:
    """Gradescope's ``results.json`` for one graded notebook."""
    by_question = {row.question: row for row in rows}
    tests = []
    for question in question_list:
        row = by_question[question.name]
        lost = row.score < row.possible
        tests.append({"name": question.name, "score": row.score, "max_score": row.possible,
                      "output": printable(row.message) if lost else "full marks",
                      "visibility": "after_published" if question.hidden_cases else "visible"})
    score, possible = sum(r.score for r in rows), sum(r.possible for r in rows)
    status = rows[0].status if rows else "missing"
    summary = f"{notebook}: {score:g} / {possible:g} autograded points"
    if status != "graded":
        summary += f". Status: {status}. {printable(rows[0].message.split('; ')[0])}"
    hidden = [q.name for q in question_list if q.hidden_cases]
    if hidden:
        summary += f". Questions with hidden test cases ({', '.join(hidden)}) show their results once grades are published"
    return {"score": score, "execution_time": round(seconds, 1), "output": summary, "stdout_visibility": "hidden", "tests": tests}


def grade_submission(submission_dir: Path, protected: tuple[Path, ...], limits: Limits) -> tuple[str, list[Question], list[Row], float]:
    """Grade the notebook of ``submission_dir``: the notebook's name, its questions, one row per question and the seconds taken."""
    start = time.monotonic()
    autograder = course().root  # the unpacked autograder zip: its tests/ are read from there
    notebook = notebook_of(autograder)
    question_list = questions(autograder)
    protect_secrets()
    mode = sandbox.isolation_mode(unsafe_allowed=os.environ.get("UNSAFE") == "1", separate_uid_for=protected)
    print(sandbox.describe_isolation(mode))
    skip = {notebook: grading_mode.marked_sources(nbformat.read(course().release(notebook), as_version=4))}
    with tempfile.TemporaryDirectory(prefix="compresslab-gradescope-") as scratch:
        students = Path(scratch) / "students"
        students.mkdir()
        shutil.copytree(submission_dir, students / STUDENT, symlinks=True)  # a link stays a link, which collect refuses
        submissions = collect(students, [notebook], Path(scratch) / "collected")
        zygote = Zygote(mode)
        try:
            _, outcomes = grade_all(submissions, {notebook: autograder}, {notebook: question_list}, 1, limits, skip,
                                    progress=False, zygotes=[zygote])
        finally:
            zygote.close()
        grade_handed_in_files(submissions, outcomes)  # the files handed in beside the notebook (``handed_in``)
        rows = batch_rows(submissions, {notebook: question_list}, outcomes)
    return notebook, question_list, rows, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gradescope's run_autograder: grade one submission, write results.json")
    parser.add_argument("--submission", type=Path, default=Path("/autograder/submission"), help="the student's uploaded files")
    parser.add_argument("--results", type=Path, default=Path("/autograder/results/results.json"), help="where results.json goes")
    Limits.add_arguments(parser)  # the same limits as make grade, from the same variables
    args = parser.parse_args(argv)
    if not args.submission.is_dir():
        print(f"error: {args.submission}: submission folder not found", file=sys.stderr)
        return 2
    protected = (course().root, args.results.parent)
    try:
        notebook, question_list, rows, seconds = grade_submission(args.submission, protected, Limits.from_arguments(args))
    except (FileNotFoundError, ValueError, sandbox.IsolationUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results(notebook, question_list, rows, seconds), indent=2) + "\n")
    print(f"{notebook}: {sum(r.score for r in rows):g} / {sum(r.possible for r in rows):g}; wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
