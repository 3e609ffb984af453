"""Grade every (student, notebook) pair in parallel, each in its own worker process with a time limit."""

import os
import queue
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from .autograders import Question
from .engine import Limits, Task, Zygote
from .journal import Journal, grading_key
from .submissions import Submission

MESSAGE_LIMIT = 500  # characters of reason kept per row


@dataclass
class Row:
    """One line of ``scores.csv``."""

    student: str
    notebook: str
    question: str
    score: float
    possible: float
    status: str  # graded | memory | processes | missing | invalid | timeout | crashed
    message: str


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


def grade_notebook(
    notebook: Path,
    autograder: Path,
    limits: Limits,
    skip: frozenset = frozenset(),
    zygote: Zygote | None = None,
    threads: int = 0,
    only: frozenset[str] | None = None,
) -> Outcome:
    """Grade one notebook (a private copy) with the engine; never raises.

    skip: sources of the release's time-only cells (``grading_mode.marked_sources``).
    zygote: a running ``Zygote`` to reuse (default: start one for this notebook).
    threads: torch threads for the notebook (0: torch's default, all cores).
    only: run only these questions' tests (``None``: all); the others are absent from the outcome.
    """
    try:
        nbformat.validate(nbformat.read(notebook, as_version=4))
    except Exception as error:  # any reason the file is not a usable notebook
        return Outcome("invalid", f"{notebook.name} is not a valid Jupyter notebook: {_one_line(error)}")
    own = zygote is None
    zygote = zygote or Zygote()
    try:
        result = zygote.grade(Task(str(notebook), str(autograder), skip, limits, threads, only))
    finally:
        if own:
            zygote.close()
    return Outcome(result["status"], result["message"], result.get("questions"), seconds=result["seconds"],
                   busy=result.get("busy", 0.0), cpu=result.get("cpu", 0.0), skipped=result.get("skipped", 0))


def rows_for(student: str, notebook: str, questions: list[Question], outcome: Outcome) -> list[Row]:
    """Rows of one (student, notebook): one per autograded question, whatever happened."""
    rows = []
    for question in questions:
        if outcome.questions is not None and question.name in outcome.questions:
            result = outcome.questions[question.name]
            message = "; ".join(([outcome.message] if outcome.message else []) + result["failures"])
            rows.append(Row(student, notebook, question.name, result["score"], question.points, outcome.status, message[:MESSAGE_LIMIT]))
        else:
            message = outcome.message or f"question {question.name} was not graded"
            rows.append(Row(student, notebook, question.name, 0.0, question.points, outcome.status, message[:MESSAGE_LIMIT]))
    return rows


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
) -> tuple[list[Row], dict[tuple[str, str], Outcome]]:
    """Rows for every student and notebook, and the outcome of each (student, notebook).

    skip: per notebook, the release's time-only cell sources to skip (grading mode); ``None`` runs everything.
    journal: where each finished outcome is recorded at once; outcomes it already holds for the same
    submission, autograder, mode and limits are reused instead of graded again (a resumed batch).
    only: per student, the questions whose tests run (mutation testing); everyone else gets all tests.
    zygotes: warm graders to use and leave running (a caller grading several batches); ``None``: start
    ``min(jobs, tasks)`` of them and close them at the end.
    """
    skip = skip or {}
    tasks, outcomes, reused = [], {}, 0
    for submission in submissions:
        for notebook in autograders:
            if submission.problem:
                outcomes[(submission.student, notebook)] = Outcome("invalid", f"{submission.source.name}: {submission.problem}")
            elif notebook not in submission.notebooks:
                outcomes[(submission.student, notebook)] = Outcome("missing", f"no {notebook}.ipynb in {submission.source.name}")
            else:
                path = submission.notebooks[notebook]
                key = grading_key(submission.student, notebook, path, autograders[notebook], skip.get(notebook, frozenset()), limits)
                if journal is not None and key in journal.recorded:
                    outcomes[(submission.student, notebook)] = Outcome(**journal.recorded[key])
                    reused += 1
                else:
                    tasks.append((submission.student, notebook, path, key))
    if reused:
        print(f"resuming: {reused} notebooks were already graded ({journal.path})")
    threads = max(1, (os.cpu_count() or 1) // max(1, min(jobs, len(tasks))))  # notebooks graded side by side share the cores
    idle = queue.Queue()
    for zygote in zygotes if zygotes is not None else [Zygote() for _ in range(min(max(1, jobs), len(tasks)))]:
        idle.put(zygote)

    def grade(path: Path, notebook: str, student: str) -> Outcome:
        zygote = idle.get()
        try:
            return grade_notebook(path, autograders[notebook], limits, skip.get(notebook, frozenset()), zygote, threads,
                                  (only or {}).get(student))
        finally:
            idle.put(zygote)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade, path, notebook, student): (student, notebook, key) for student, notebook, path, key in tasks}
        for future in tqdm(as_completed(futures), desc="grading", unit="notebook", total=len(futures), disable=not progress):
            student, notebook, key = futures[future]
            outcomes[(student, notebook)] = future.result()
            if journal is not None:
                journal.record(key, asdict(outcomes[(student, notebook)]))
    while zygotes is None and not idle.empty():
        idle.get().close()
    rows = []
    for (student, notebook), outcome in sorted(outcomes.items()):
        rows.extend(rows_for(student, notebook, questions[notebook], outcome))
    return rows, outcomes


def _one_line(error: Exception) -> str:
    """An exception as one short line."""
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__
