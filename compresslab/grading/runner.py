"""Grade every (student, notebook) pair in parallel, each in its own worker process with a time limit."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from . import grading_mode
from .autograders import Question
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
    status: str  # graded | missing | invalid | timeout | crashed
    message: str


@dataclass
class Outcome:
    """What grading one notebook of one student produced."""

    status: str
    message: str = ""
    questions: dict | None = None  # question -> {"score", "possible", "failures"} when status == "graded"
    seconds: float = 0.0
    skipped: int = 0  # time-only cells skipped in grading mode


def grade_notebook(notebook: Path, autograder: Path, timeout: float, skip: set[str] = frozenset()) -> Outcome:
    """Grade one notebook in a worker process (Otter's engine); never raises.

    notebook: a private copy (it is rewritten when cells are skipped). skip: sources of the release's
    time-only cells (``grading_mode.marked_sources``); identical cells are skipped.
    """
    try:
        nb = nbformat.read(notebook, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # any reason the file is not a usable notebook
        return Outcome("invalid", f"{notebook.name} is not a valid Jupyter notebook: {_one_line(error)}")
    skipped = []
    if skip:
        nb, skipped = grading_mode.apply(nb, skip)
        nbformat.write(nb, notebook)
    start = time.monotonic()
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "compresslab.grading.otter_worker", str(notebook), str(autograder)],
            cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Outcome("timeout", f"grading {notebook.name} took longer than {timeout:g} s", seconds=time.monotonic() - start, skipped=len(skipped))
    seconds = time.monotonic() - start
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Outcome("crashed", f"the grader stopped (exit code {done.returncode}): {last}", seconds=seconds, skipped=len(skipped))
    return Outcome("graded", questions=result["questions"], seconds=seconds, skipped=len(skipped))


def rows_for(student: str, notebook: str, questions: list[Question], outcome: Outcome) -> list[Row]:
    """Rows of one (student, notebook): one per autograded question, whatever happened."""
    rows = []
    for question in questions:
        if outcome.status == "graded" and question.name in outcome.questions:
            result = outcome.questions[question.name]
            message = "; ".join(result["failures"])
            rows.append(Row(student, notebook, question.name, result["score"], question.points, "graded", message[:MESSAGE_LIMIT]))
        else:
            message = outcome.message or f"question {question.name} was not graded"
            rows.append(Row(student, notebook, question.name, 0.0, question.points, outcome.status, message[:MESSAGE_LIMIT]))
    return rows


def grade_all(
    submissions: list[Submission],
    autograders: dict[str, Path],
    questions: dict[str, list[Question]],
    jobs: int,
    timeout: float,
    skip: dict[str, set[str]] | None = None,
) -> tuple[list[Row], dict[tuple[str, str], Outcome]]:
    """Rows for every student and notebook, and the outcome of each (student, notebook).

    skip: per notebook, the release's time-only cell sources to skip (grading mode); ``None`` runs everything.
    """
    tasks, outcomes = [], {}
    for submission in submissions:
        for notebook in autograders:
            if submission.problem:
                outcomes[(submission.student, notebook)] = Outcome("invalid", f"{submission.source.name}: {submission.problem}")
            elif notebook not in submission.notebooks:
                outcomes[(submission.student, notebook)] = Outcome("missing", f"no {notebook}.ipynb in {submission.source.name}")
            else:
                tasks.append((submission.student, notebook, submission.notebooks[notebook]))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            pool.submit(grade_notebook, path, autograders[notebook], timeout, (skip or {}).get(notebook, frozenset())): (student, notebook)
            for student, notebook, path in tasks
        }
        for future in tqdm(futures, desc="grading", unit="notebook", total=len(futures)):
            outcomes[futures[future]] = future.result()
    rows = []
    for (student, notebook), outcome in sorted(outcomes.items()):
        rows.extend(rows_for(student, notebook, questions[notebook], outcome))
    return rows, outcomes


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__
