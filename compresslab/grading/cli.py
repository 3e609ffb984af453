"""``make grade``: grade a folder of submissions; write ``scores.csv``, ``gradebook.csv``, ``report.html``, ``feedback/``.

Every finished notebook is recorded at once in ``OUT/journal.jsonl``; re-running the same command
after a crash or a kill resumes from it (so a re-run that only merges hand-given points grades nothing).
Each run also collects the written answers into ``OUT/written/`` and writes ``OUT/manual.csv`` for the points given
by hand; ``--manual`` merges such a file, ``--roster`` (a Canvas Gradebook export) writes ``OUT/canvas.csv``.
A bad manual.csv or roster stops the run before anything is graded or written (exit 2).

Usage: ``python -m compresslab.grading.cli SUBMISSIONS [--out OUT] [--notebooks int8_cnn ...] [--jobs N] [--timeout S]
[--manual manual.csv] [--roster roster.csv] [--names]``
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..paths import course
from . import grading_mode, sandbox
from .anonymous import KEY_FILE, anonymous_codes, write_key
from .autograders import Question, questions
from .canvas import Matching, RosterError, describe_mismatches, match, read_roster, write_canvas
from .engine import Limits
from .feedback import write_feedback
from .handed_in import grade_handed_in_files
from .html_manual import manual_section
from .html_report import write_report
from .journal import Journal
from .leaderboard import leaderboard_section
from .manual import MANUAL, UNGRADED, Key, ManualError, Mark, holds_entries, merge, read_manual, template, write_template
from .reports import format_table, write_gradebook, write_scores
from .runner import Outcome, Row, batch_rows, grade_all
from .similarity import write_similarity
from .submissions import Submission, collect
from .written import WrittenQuestion, collect_answers, write_pages, written_questions

def main(argv: list[str] | None = None) -> int:
    folder = course()  # an installed package is given the course folder: COMPRESSLAB_COURSE
    released = folder.released()
    parser = argparse.ArgumentParser(description="Grade a folder of submissions (one folder or .zip per student).")
    parser.add_argument("submissions", type=Path, help="folder holding one folder or .zip per student")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="output folder (created if missing)")
    parser.add_argument("--notebooks", nargs="+", default=released, choices=released, help="notebooks to grade (default: all released)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("JOBS", os.cpu_count() or 1)),
        help="notebooks graded at once (default: $JOBS or the number of cores)",
    )
    Limits.add_arguments(parser)
    parser.add_argument("--full", action="store_true", help="run every cell; by default the release's `# grading: skip` cells are skipped")
    parser.add_argument(
        "--manual", type=Path, help="merge this manual.csv (points given by hand, regrades) into every output; no notebook is graded again"
    )
    parser.add_argument(
        "--roster", type=Path, help="a Canvas Gradebook export (Student, ID, SIS User ID, SIS Login ID, Section): write OUT/canvas.csv"
    )
    parser.add_argument(
        "--names", action="store_true", help="show students' names instead of anonymous codes in OUT/written/ and OUT/manual.csv"
    )
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions}: submissions folder not found", file=sys.stderr)
        return 2
    if args.out.resolve() == args.submissions.resolve() or args.submissions.resolve() in args.out.resolve().parents:
        print(
            f"error: --out {args.out} is inside the submissions folder; choose another folder so no submission is touched", file=sys.stderr
        )
        return 2
    try:
        mode = sandbox.isolation_mode(unsafe_allowed=os.environ.get("UNSAFE") == "1")
    except sandbox.IsolationUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    autograders = {name: folder.autograder(name) for name in args.notebooks}
    question_lists = {name: questions(path) for name, path in autograders.items()}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="compresslab-grade-") as scratch:
        try:
            submissions = collect(args.submissions, list(autograders), Path(scratch))
        except OSError as error:
            print(f"error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
            return 2
        written = {name: written_questions(folder.release(name), name) for name in autograders}
        try:
            hand = _read_hand_grading(args, submissions, question_lists, written)  # a bad file stops the run here: nothing written
            _write_written(submissions, written, hand, args)
            journal = Journal(args.out)
        except (ManualError, RosterError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except OSError as error:
            print(f"error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
            return 2
        skip = (
            None
            if args.full
            else {name: grading_mode.marked_sources(nbformat.read(folder.release(name), as_version=4)) for name in autograders}
        )
        limits = Limits.from_arguments(args)
        outcomes, handed_in = {}, {}
        try:
            print(sandbox.describe_isolation(mode))
            grade_all(submissions, autograders, question_lists, args.jobs, limits, skip, journal=journal, outcomes=outcomes)
            handed_in = grade_handed_in_files(submissions, outcomes)  # the models and choices handed in beside the notebooks
        finally:  # whatever stopped the batch, the outputs hold a row for every (student, notebook, question)
            journal.close()
            rows, header, lines, matching = _write_outputs(submissions, question_lists, outcomes, args.out, hand,
                                                           leaderboard_section(handed_in, list(question_lists)))
    print(format_table(header, lines))
    elapsed = time.monotonic() - start
    ran = [o for o in outcomes.values() if o.seconds]
    per_notebook = sum(o.seconds for o in ran) / len(ran) if ran else 0.0
    print(f"\n{len(submissions)} submissions, {len(rows)} rows in {args.out / 'scores.csv'}, gradebook in {args.out / 'gradebook.csv'}, "
          f"report in {args.out / 'report.html'}, per-student feedback in {args.out / 'feedback'}")
    mode = (
        "full run (--full)"
        if skip is None
        else f"grading mode: {sum(o.skipped for o in ran)} time-only cells skipped in {len(ran)} notebooks"
    )
    _print_hand_grading(rows, hand, matching, args.out)
    print(f"{elapsed:.1f} s in all; {per_notebook:.1f} s per graded notebook on average, {args.jobs} at a time; {mode}")
    return 0


@dataclass
class HandGrading:
    """What a run merges besides the autograder's outcomes."""

    written: dict[str, list[WrittenQuestion]]  # notebook -> its written questions
    codes: dict[str, str]  # student -> anonymous code
    marks: dict[Key, Mark] | None  # the merged manual.csv (None: none given; written questions stay out of the scores)
    roster: list[dict[str, str]] | None  # the Canvas roster's entries (None: none given)


def _read_hand_grading(args: argparse.Namespace, submissions: list[Submission], question_lists: dict[str, list[Question]],
                       written: dict[str, list[WrittenQuestion]]) -> HandGrading:
    """The anonymous codes, and the manual.csv and roster given, checked (``ManualError``, ``RosterError``) before any output."""
    codes = anonymous_codes(args.out, [s.student for s in submissions])
    marks = None
    if args.manual is not None:
        possible = {(n, q.name): q.points for n, qs in question_lists.items() for q in qs}
        possible |= {(n, q.name): q.points for n, qs in written.items() for q in qs}
        students = {s.student: s.student for s in submissions} | {code: student for student, code in codes.items()}
        marks = read_manual(args.manual, possible, students)
    return HandGrading(written, codes, marks, read_roster(args.roster) if args.roster is not None else None)


def _write_written(
    submissions: list[Submission], written: dict[str, list[WrittenQuestion]], hand: HandGrading, args: argparse.Namespace
) -> None:
    """OUT/written/ (a page per written question), the code key, and OUT/manual.csv, unless that file holds points typed in
    and is not the one being merged (it is then left as it is)."""
    labels = {s.student: s.student for s in submissions} if args.names else hand.codes
    write_key(args.out / KEY_FILE, hand.codes)
    write_pages(args.out / "written", written, collect_answers(submissions, written), labels)
    target = args.out / "manual.csv"
    merging_it = args.manual is not None and args.manual.resolve() == target.resolve()
    if merging_it or not holds_entries(target):
        write_template(target, template(written, labels, hand.marks or {}))
    else:
        print(f"{target} holds points typed in and was left as it is: merge it with MANUAL={target}")


def _write_outputs(submissions: list[Submission], question_lists: dict[str, list[Question]], outcomes: dict[tuple[str, str], Outcome],
                   out: Path, hand: HandGrading, leaderboard: str = "") -> tuple[list[Row], list[str], list[list], Matching | None]:
    """scores.csv, gradebook.csv, report.html, feedback/ and canvas.csv (with a roster) from the outcomes so far and the hand
    grading; the rows, the gradebook and the roster matching. leaderboard: HTML for the report (``leaderboard_section``)."""
    rows = batch_rows(submissions, question_lists, outcomes)
    if hand.marks is not None:
        rows = merge(rows, hand.written, hand.marks)
    write_scores(rows, out / "scores.csv")
    header, lines = write_gradebook(rows, out / "gradebook.csv")
    matching = None
    if hand.roster is not None:
        matching = match(hand.roster, [s.student for s in submissions])
        possible = {n: sum(q.points for q in qs) + sum(q.points for q in hand.written[n]) for n, qs in question_lists.items()}
        write_canvas(out / "canvas.csv", hand.roster, matching, rows, possible)
    by_hand = frozenset(f"{r.notebook}/{r.question}" for r in rows if r.status in (MANUAL, UNGRADED))
    write_report(
        rows,
        outcomes,
        out / "report.html",
        similar=write_similarity(submissions, list(question_lists), course().release_dir, out / "similarity.csv"),
        hand_graded=by_hand,
        extra_sections=leaderboard + manual_section(rows, hand.marks is not None, matching),
    )
    write_feedback(rows, out / "feedback")
    return rows, header, lines, matching


def _print_hand_grading(rows: list[Row], hand: HandGrading, matching: Matching | None, out: Path) -> None:
    """Where the written answers are, how many points are still ungraded, and every roster mismatch."""
    per_student = sum(q.points for qs in hand.written.values() for q in qs)
    if hand.marks is None:
        print(f"written answers in {out / 'written'} ({per_student:g} points per student, not in these totals): "
              f"give points in {out / 'manual.csv'} and merge it with MANUAL=")
    else:
        ungraded = [r for r in rows if r.status == UNGRADED]
        print(f"manual.csv merged: {sum(r.possible for r in ungraded):g} points in {len(ungraded)} written answers still ungraded")
    if matching is not None:
        for line in describe_mismatches(matching):
            print(line)
        print(f"canvas.csv in {out / 'canvas.csv'}: {len(matching.by_student)} submissions matched the roster")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: the outputs hold every notebook graded so far (the others are `interrupted`); "
              "run the same command again to finish", file=sys.stderr)
        sys.exit(130)
