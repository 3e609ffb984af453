"""``make grade``: grade a folder of submissions; write ``scores.csv``, ``gradebook.csv``, ``report.html``, ``feedback/``.

Every finished notebook is recorded at once in ``OUT/journal.jsonl``; re-running the same command
after a crash or a kill resumes from it.

Usage: ``python -m compresslab.grading.cli SUBMISSIONS [--out OUT] [--notebooks int8_cnn ...] [--jobs N] [--timeout S]``
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from ..paths import course_dir
from . import grading_mode, sandbox
from .autograders import Question, questions
from .engine import Limits
from .feedback import write_feedback
from .html_report import write_report
from .journal import Journal
from .reports import format_table, write_gradebook, write_scores
from .runner import Outcome, Row, batch_rows, grade_all
from .similarity import write_similarity
from .submissions import Submission, collect

AUTOGRADER_DIR = course_dir() / "autograder"  # an installed package is given the course folder: COMPRESSLAB_COURSE
RELEASE_DIR = course_dir() / "assignment"


def main(argv: list[str] | None = None) -> int:
    released = sorted(p.name.removesuffix("-autograder.zip") for p in AUTOGRADER_DIR.glob("*-autograder.zip"))
    parser = argparse.ArgumentParser(description="Grade a folder of submissions (one folder or .zip per student).")
    parser.add_argument("submissions", type=Path, help="folder holding one folder or .zip per student")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="output folder (created if missing)")
    parser.add_argument("--notebooks", nargs="+", default=released, choices=released, help="notebooks to grade (default: all released)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", os.cpu_count() or 1)), help="notebooks graded at once (default: $JOBS or the number of cores)")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("TIMEOUT", 600)), help="seconds allowed per notebook (default: $TIMEOUT or 600)")
    parser.add_argument("--cell-timeout", type=float, default=float(os.environ.get("CELL_TIMEOUT", 300)), help="seconds allowed per cell (default: $CELL_TIMEOUT or 300)")
    parser.add_argument("--memory-gb", type=float, default=float(os.environ.get("MEMORY_GB", 8)), help="address-space limit per notebook in GiB (default: $MEMORY_GB or 8)")
    parser.add_argument("--processes", type=int, default=int(os.environ.get("PROCESSES", 64)), help="processes and threads a notebook may start (default: $PROCESSES or 64)")
    parser.add_argument("--scratch-gb", type=float, default=float(os.environ.get("SCRATCH_GB", 1)), help="private tmpfs per notebook (its /tmp, /var/tmp, /dev/shm and folder together) in GiB (default: $SCRATCH_GB or 1)")
    parser.add_argument("--full", action="store_true", help="run every cell; by default the release's `# grading: skip` cells are skipped")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions}: submissions folder not found", file=sys.stderr)
        return 2
    if args.out.resolve() == args.submissions.resolve() or args.submissions.resolve() in args.out.resolve().parents:
        print(f"error: --out {args.out} is inside the submissions folder; choose another folder so no submission is touched", file=sys.stderr)
        return 2
    try:
        mode = sandbox.isolation_mode(unsafe_allowed=os.environ.get("UNSAFE") == "1")
    except sandbox.IsolationUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    autograders = {name: AUTOGRADER_DIR / f"{name}-autograder.zip" for name in args.notebooks}
    question_lists = {name: questions(path) for name, path in autograders.items()}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="compresslab-grade-") as scratch:
        try:
            submissions = collect(args.submissions, list(autograders), Path(scratch))
            journal = Journal(args.out)
        except OSError as error:
            print(f"error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
            return 2
        skip = None if args.full else {name: grading_mode.marked_sources(nbformat.read(RELEASE_DIR / f"{name}.ipynb", as_version=4)) for name in autograders}
        limits = Limits(notebook_seconds=args.timeout, cell_seconds=args.cell_timeout, memory_bytes=int(args.memory_gb * 2**30), processes=args.processes,
                        scratch_bytes=int(args.scratch_gb * 2**30))
        outcomes = {}
        try:
            print(sandbox.describe(mode))
            grade_all(submissions, autograders, question_lists, args.jobs, limits, skip, journal=journal, outcomes=outcomes)
        finally:  # whatever stopped the batch, the outputs hold a row for every (student, notebook, question)
            journal.close()
            rows, header, lines = _write_outputs(submissions, question_lists, outcomes, args.out)
    print(format_table(header, lines))
    elapsed = time.monotonic() - start
    ran = [o for o in outcomes.values() if o.seconds]
    per_notebook = sum(o.seconds for o in ran) / len(ran) if ran else 0.0
    print(f"\n{len(submissions)} submissions, {len(rows)} rows in {args.out / 'scores.csv'}, gradebook in {args.out / 'gradebook.csv'}, "
          f"report in {args.out / 'report.html'}, per-student feedback in {args.out / 'feedback'}")
    mode = "full run (--full)" if skip is None else f"grading mode: {sum(o.skipped for o in ran)} time-only cells skipped in {len(ran)} notebooks"
    print(f"{elapsed:.1f} s in all; {per_notebook:.1f} s per graded notebook on average, {args.jobs} at a time; {mode}")
    return 0


def _write_outputs(submissions: list[Submission], question_lists: dict[str, list[Question]], outcomes: dict[tuple[str, str], Outcome],
                   out: Path) -> tuple[list[Row], list[str], list[list]]:
    """scores.csv, gradebook.csv, report.html and feedback/ from the outcomes so far; the rows and the gradebook."""
    rows = batch_rows(submissions, question_lists, outcomes)
    write_scores(rows, out / "scores.csv")
    header, lines = write_gradebook(rows, out / "gradebook.csv")
    write_report(rows, outcomes, out / "report.html", similar=write_similarity(submissions, list(question_lists), RELEASE_DIR, out / "similarity.csv"))
    write_feedback(rows, out / "feedback")
    return rows, header, lines


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: the outputs hold every notebook graded so far (the others are `interrupted`); "
              "run the same command again to finish", file=sys.stderr)
        sys.exit(130)
