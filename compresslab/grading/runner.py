"""Grade every (student, notebook) pair in parallel on warm zygotes; no submission can stop the batch.

A zygote that dies or garbles its answer while grading a notebook (a cell that killed it, a full
disk, a broken pipe) makes that notebook ``crashed``; the zygote is closed and replaced by a new one
and the batch goes on. Such an outcome is not journaled, so a re-run grades that notebook again.
Callers write their outputs in a ``finally`` from the ``outcomes`` dict ``grade_all`` fills as
notebooks finish (``batch_rows`` marks the pairs it did not reach ``interrupted``).
"""

import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from tqdm.auto import tqdm

from . import reference_checks
from .autograders import Question
from .engine import Limits, Task, Zygote
from .journal import Journal, grading_key
from .safe_text import printable
from .submissions import Submission, notebook_problem

MESSAGE_LIMIT = 500  # characters of reason kept per row


@dataclass
class Row:
    """One line of ``scores.csv``."""

    student: str
    notebook: str
    question: str
    score: float
    possible: float
    status: str  # graded | memory | processes | missing | invalid | timeout | crashed | interrupted; manual | ungraded (manual.py)
    message: str  # control characters escaped (``safe_text.printable``): it may quote the student's code


@dataclass
class Outcome:
    """What grading one notebook of one student produced."""

    status: str
    message: str = ""
    questions: dict | None = None  # question -> {"score", "possible", "failures"} when status == "graded"
    seconds: float = 0.0
    busy: float = 0.0  # of which running the notebook's cells and the tests; the rest is the grader's own cost
    cpu: float = 0.0  # CPU seconds used to grade it: the grading child (all its threads) and the zygote's own work
    skipped: int = 0  # time-only cells skipped in grading mode


class ZygoteDied(Exception):
    """The zygote grading a notebook stopped answering or garbled its answer; the notebook is ``crashed`` and the zygote
    must be replaced (``grade_all`` does)."""


def start_zygote() -> Zygote:
    """A new warm grader: the one place the grading code constructs zygotes."""
    return Zygote()


def close_zygote(zygote: Zygote) -> None:
    """Close a zygote, dead or alive, without raising (``Zygote.close`` waits a bounded time for it to exit)."""
    try:
        zygote.close()
    except (OSError, EOFError, ValueError):
        pass  # it is dead already: its socket is broken or closed


def grade_notebook(
    notebook: Path,
    autograder: Path,
    limits: Limits,
    skip: frozenset = frozenset(),
    zygote: Zygote | None = None,
    threads: int = 0,
    only: frozenset[str] | None = None,
) -> Outcome:
    """Grade one notebook (a private copy) with the engine.

    skip: sources of the release's time-only cells (``grading_mode.marked_sources``).
    zygote: a running ``Zygote`` to reuse (default: start one for this notebook).
    threads: torch threads for the notebook (0: torch's default, all cores).
    only: run only these questions' tests (``None``: all); the others are absent from the outcome.
    Whatever the notebook does, an ``Outcome``; but raises ``reference_checks.StaleChecks`` (the grader's fixtures are
    out of date) and ``ZygoteDied`` (the zygote must be replaced; the notebook counts as ``crashed``).
    The file is read here only within ``submissions.MAX_NOTEBOOK_BYTES`` (``notebook_problem``); the child runs it.
    """
    problem = notebook_problem(notebook)
    if problem:
        return Outcome("invalid", problem)
    own = zygote is None
    zygote = zygote or start_zygote()
    try:
        return _grade_on(zygote, Task(str(notebook), str(autograder), skip, limits, threads, only))
    finally:
        if own:
            close_zygote(zygote)


def _grade_on(zygote: Zygote, task: Task) -> Outcome:
    """The engine's outcome of ``task`` (a notebook ``notebook_problem`` accepted) graded by ``zygote``."""
    try:
        result = zygote.grade(task)
    except reference_checks.StaleChecks:
        raise
    except Exception as error:  # EOFError, BrokenPipeError, OSError, unpickling errors: the zygote is gone or confused
        raise ZygoteDied(f"the grader's process died while grading this notebook ({_one_line(error)})") from error
    return Outcome(result["status"], result["message"], result.get("questions"), seconds=result["seconds"],
                   busy=result.get("busy", 0.0), cpu=result.get("cpu", 0.0), skipped=result.get("skipped", 0))


def rows_for(student: str, notebook: str, questions: list[Question], outcome: Outcome) -> list[Row]:
    """Rows of one (student, notebook): one per autograded question, whatever happened."""
    rows = []
    for question in questions:
        if outcome.questions is not None and question.name in outcome.questions:
            result = outcome.questions[question.name]
            message = "; ".join(([outcome.message] if outcome.message else []) + result["failures"])
            status = result.get("status", outcome.status)  # a handed-in file's own status (``handed_in``)
            rows.append(Row(student, notebook, question.name, result["score"], question.points, status, _shown(message)))
        else:
            message = outcome.message or f"question {question.name} was not graded"
            rows.append(Row(student, notebook, question.name, 0.0, question.points, outcome.status, _shown(message)))
    return rows


def batch_rows(submissions: list[Submission], questions: dict[str, list[Question]], outcomes: dict[tuple[str, str], Outcome]) -> list[Row]:
    """Rows for every student and notebook, sorted; a (student, notebook) without an outcome (the batch stopped before
    it) is ``interrupted``."""
    stopped = Outcome("interrupted", "the batch stopped before this notebook was graded; run the same command again to grade it")
    pairs = sorted({(s.student, notebook) for s in submissions for notebook in questions} | set(outcomes))
    return [
        row
        for student, notebook in pairs
        for row in rows_for(student, notebook, questions[notebook], outcomes.get((student, notebook), stopped))
    ]


def grade_all(
    submissions: list[Submission],
    autograders: dict[str, Path],
    questions: dict[str, list[Question]],
    jobs: int,
    limits: Limits,
    skip: dict[str, frozenset[str]] | None = None,
    progress: bool = True,
    journal: Journal | None = None,
    only: dict[str, frozenset[str]] | None = None,
    zygotes: list[Zygote] | None = None,
    outcomes: dict[tuple[str, str], Outcome] | None = None,
) -> tuple[list[Row], dict[tuple[str, str], Outcome]]:
    """Rows for every student and notebook, and the outcome of each (student, notebook).

    skip: per notebook, the release's time-only cell sources to skip (grading mode); ``None`` runs everything.
    journal: where each finished outcome is recorded at once; outcomes it already holds for the same
    submission, autograder, mode and limits are reused instead of graded again (a resumed batch).
    only: per student, the questions whose tests run (mutation testing); everyone else gets all tests.
    zygotes: warm graders to use and leave running (a caller grading several batches); a dead one is replaced in this
    list. ``None``: start ``min(jobs, tasks)`` of them and close them at the end.
    outcomes: filled as notebooks finish, so that a caller can write what was graded when the batch stops
    (``batch_rows``); default: a new dict.
    """
    skip = skip or {}
    outcomes = {} if outcomes is None else outcomes
    tasks, reused = [], 0
    for submission in submissions:
        for notebook in autograders:
            ungradable = _ungradable(submission, notebook)
            if ungradable is not None:
                outcomes[(submission.student, notebook)] = ungradable
            else:
                path = submission.notebooks[notebook]
                key = grading_key(submission.student, notebook, path, autograders[notebook], skip.get(notebook, frozenset()), limits)
                recorded = _recorded(journal.recorded.get(key)) if journal is not None else None
                if recorded is not None:
                    outcomes[(submission.student, notebook)] = recorded
                    reused += 1
                else:
                    tasks.append((submission.student, notebook, path, key))
    if reused:
        print(f"resuming: {reused} notebooks were already graded ({journal.path})")
    threads = max(1, (os.cpu_count() or 1) // max(1, min(jobs, len(tasks))))  # notebooks graded side by side share the cores
    warm = zygotes if zygotes is not None else [start_zygote() for _ in range(min(max(1, jobs), len(tasks)))]
    idle = queue.Queue()
    for zygote in warm:
        idle.put(zygote)
    stopping = threading.Event()  # set when the batch stops early: a zygote that dies then (e.g. on Ctrl-C) is not replaced

    def grade(path: Path, notebook: str, student: str) -> tuple[Outcome, bool]:
        """The outcome, and whether it belongs in the journal (not when the zygote died: the cause may be the grader's)."""
        zygote = idle.get()
        try:
            task = Task(str(path), str(autograders[notebook]), skip.get(notebook, frozenset()), limits, threads, (only or {}).get(student))
            return _grade_on(zygote, task), True
        except ZygoteDied as death:
            if stopping.is_set():
                return Outcome("interrupted", f"the batch stopped while this notebook was graded ({death})"), False
            replacement = start_zygote()
            warm[warm.index(zygote)] = replacement
            zygote.kill()
            zygote = replacement
            return Outcome("crashed", f"{death}; it was replaced and the batch went on. Grade again to retry this notebook"), False
        finally:
            idle.put(zygote)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    finished = False
    try:
        futures = {pool.submit(grade, path, notebook, student): (student, notebook, key) for student, notebook, path, key in tasks}
        for future in tqdm(as_completed(futures), desc="grading", unit="notebook", total=len(futures), disable=not progress):
            student, notebook, key = futures[future]
            outcomes[(student, notebook)], journaled = future.result()
            if journal is not None and journaled:
                journal.record(key, asdict(outcomes[(student, notebook)]))
        finished = True
    finally:
        stopping.set()
        pool.shutdown(wait=finished, cancel_futures=True)  # stopped early: notebooks being graded are left to their zygotes
        while zygotes is None and not idle.empty():
            close_zygote(idle.get())
    return batch_rows(submissions, questions, outcomes), outcomes


def _ungradable(submission: Submission, notebook: str) -> Outcome | None:
    """Why this notebook of this submission cannot be graded, as its outcome (``None``: grade it); no zygote is needed."""
    if submission.problem:
        return Outcome(submission.status, submission.problem)
    if notebook in submission.refused:
        return Outcome("invalid", submission.refused[notebook])
    if notebook not in submission.notebooks:
        return Outcome("missing", f"no {notebook}.ipynb in {submission.source.name}")
    problem = notebook_problem(submission.notebooks[notebook])
    return Outcome("invalid", problem) if problem else None


def _recorded(fields_of_outcome: dict | None) -> Outcome | None:
    """A journaled outcome, if it has the shape this grader writes (``None``: grade the notebook again, rather than let a
    damaged journal stop every re-run)."""
    if not isinstance(fields_of_outcome, dict) or not set(fields_of_outcome) <= {f.name for f in fields(Outcome)}:
        return None
    try:
        outcome = Outcome(**fields_of_outcome)
    except TypeError:  # a required field is missing
        return None
    questions = outcome.questions if outcome.questions is not None else {}
    well_formed = isinstance(outcome.status, str) and isinstance(outcome.message, str) and isinstance(questions, dict) and all(
        isinstance(getattr(outcome, name), (int, float)) for name in ("seconds", "busy", "cpu", "skipped")) and all(
        isinstance(q, dict) and isinstance(q.get("score"), (int, float)) and isinstance(q.get("failures"), list)
        and all(isinstance(f, str) for f in q["failures"]) for q in questions.values())
    return outcome if well_formed else None


def _shown(message: str) -> str:
    """A message as rows hold it: control characters escaped, at most ``MESSAGE_LIMIT`` characters."""
    return printable(message)[:MESSAGE_LIMIT]


def _one_line(error: Exception) -> str:
    """An exception as one short line."""
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__
