"""Record how every catalogued mistake fails the tests, for the feedback that names it (a ``make fixtures`` step).

Each mutant of ``mutants/<notebook>.py`` is put into the reference submission (``mutation.mutate``) and
trace-graded (the trusted run that returns every check's values: our own code, not a student's) on the same
rounds of questions as ``mutation.run`` grades it, until a round has a case that fails against the reference checks.
Of each failing case, two files keep what the mistake did:

- hidden and public cases: ``data/fixtures/<notebook>.mistakes.pt`` (``grading.diagnosis``), which the grader
  reads to name the mistake in the graded feedback;
- public cases only: ``compresslab/public_mistakes.py``, literals the public checks (``checks``) read in the
  student's notebook to name the mistake when ``grader.check`` fails. These are wrong answers' outputs on the
  public inputs, which the public tests' own literals already out-number: they give no right answer away.

``make fixtures`` (``compresslab.record_fixtures``, after the reference checks) rewrites both; ``python -m
compresslab.record_fixtures --from mistakes NOTEBOOK...`` this step alone.
"""

import hashlib
import math
import os
import queue
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import torch

from . import mutation
from .checks import decide
from .grading import diagnosis, grading_mode, reference_checks
from .grading.autograders import otter_tests
from .grading.engine import Limits, Task, Zygote, case_verdict
from .paths import PACKAGE_DIR, course

PUBLIC_TABLE = PACKAGE_DIR / "public_mistakes.py"
PUBLIC_VALUES = 1000  # elements of a public check's value kept as a literal at most (larger ones are left out)


def record(notebook: str, jobs: int = os.cpu_count() or 1) -> Path:
    """Trace-grade every mutant of ``notebook`` and write ``course().mistakes(notebook)`` (then ``write_public_table``)."""
    autograder = course().autograder(notebook)
    tests = otter_tests(autograder)
    fixture_bytes = course().fixture(notebook).read_bytes() if course().fixture(notebook).is_file() else None
    reference = reference_checks.load_checks(notebook, tests, fixture_bytes)["cases"]
    mutants = mutation.catalog(notebook)
    failures = trace_failures(notebook, mutants, reference, jobs)
    cases: dict = {}
    for index, failed in enumerate(failures):
        for (test_file, case), entry in failed.items():
            cases.setdefault(test_file, {}).setdefault(case, []).append({"mistake": index, **entry})
    stored = {**diagnosis.mistakes_fingerprint(notebook, tests, fixture_bytes), "catalog": catalog_digest(notebook),
              "mistakes": [{"function": m.function, "description": m.description, "hint": m.hint} for m in mutants], "cases": cases}
    path = course().mistakes(notebook)
    torch.save(stored, path)
    return path


def write_public_table() -> Path:
    """Rewrite ``compresslab/public_mistakes.py`` from every notebook's mistakes file."""
    table = {}
    for notebook in mutation.catalogued_notebooks():
        path = course().mistakes(notebook)
        if path.is_file():
            tests = otter_tests(course().autograder(notebook))
            table[notebook] = public_entries(torch.load(path, weights_only=True), public_cases(tests))
    PUBLIC_TABLE.write_text(public_table_source(table))
    return PUBLIC_TABLE


def catalog_digest(notebook: str) -> str:
    return hashlib.sha256(course().mutant_catalog(notebook).read_bytes()).hexdigest()


def public_cases(tests: dict[str, str]) -> set[tuple[str, str]]:
    """``(test file, case)`` of every public case of the autograder's tests."""
    from otter.test_files import ExceptionTestFile

    files = [ExceptionTestFile.from_string(source, path=path) for path, source in tests.items()]
    return {(f.name, case.name) for f in files for case in f.test_cases if not case.hidden}


def trace_failures(notebook: str, mutants: list[mutation.Mutant], reference: dict, jobs: int) -> list[dict]:
    """Per mutant, ``{(test file, case): {"reason", "records", "checks"}}`` of the cases it fails
    in the first of its rounds (``mutation.rounds``) where it fails any; a mutant whose notebook cannot be graded fails none."""
    reference_notebook = nbformat.read(course().example("reference", notebook), as_version=4)
    skip = grading_mode.marked_sources(nbformat.read(course().release(notebook), as_version=4))
    autograder = course().autograder(notebook)
    tests = mutation.testing_questions(autograder)
    code = "\n".join(c.source for c in reference_notebook.cells if c.cell_type == "code")
    plans = [mutation.rounds(mutation.questions_using(m, tests, code), tests) for m in mutants]
    threads = max(1, (os.cpu_count() or 1) // max(1, min(jobs, len(mutants))))
    failures: list[dict] = [{} for _ in mutants]
    with tempfile.TemporaryDirectory() as scratch, _Zygotes(min(jobs, len(mutants))) as zygotes:
        paths = []
        for index, mutant in enumerate(mutants):
            paths.append(Path(scratch) / f"mutant-{index:03d}.ipynb")
            nbformat.write(mutation.mutate(reference_notebook, mutant), paths[-1])
        pending, level = list(range(len(mutants))), 0
        while pending:
            tasks = [Task(str(paths[i]), str(autograder), skip, Limits(notebook_seconds=600, cell_seconds=300), threads,
                          plans[i][level], trace=True) for i in pending]
            for i, outcome in zip(pending, zygotes.grade(tasks)):
                failures[i] = _failed_cases(outcome, reference)
            level += 1
            pending = [i for i in pending if not failures[i] and level < len(plans[i])]
    return failures


def _failed_cases(outcome: dict, reference: dict) -> dict:
    """The cases of a trace outcome that fail against the reference checks, with what the diagnosis compares."""
    failed = {}
    for test_file, file_cases in (outcome.get("cases") or {}).items():
        for case, report in file_cases.items():
            expected = reference.get(test_file, {}).get(case, [])
            reason = case_verdict(report, expected, decide)
            if reason is None:
                continue
            if report["error"] is None and len(report["records"]) == len(expected):
                failing = diagnosis.failing_checks(report, expected, decide)
                failed[(test_file, case)] = {"reason": None, "records": [[i, report["records"][i]["actual"]] for i in failing],
                                             "checks": [[report["records"][i]["kind"], report["records"][i]["name"]] for i in failing]}
            else:
                failed[(test_file, case)] = {"reason": reason, "records": [], "checks": []}
    return failed


class _Zygotes:
    """``count`` warm zygotes grading tasks side by side (a trace run returns every check's values)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __enter__(self) -> "_Zygotes":
        self.idle: queue.Queue = queue.Queue()
        for _ in range(self.count):
            self.idle.put(Zygote())
        return self

    def __exit__(self, *_) -> None:
        while not self.idle.empty():
            self.idle.get().close()

    def grade(self, tasks: list[Task]) -> list[dict]:
        def one(task: Task) -> dict:
            zygote = self.idle.get()
            try:
                return zygote.grade(task)
            finally:
                self.idle.put(zygote)

        with ThreadPoolExecutor(self.count) as pool:
            return list(pool.map(one, tasks))


def public_entries(stored: dict, public: set[tuple[str, str]]) -> dict[str, list]:
    """A notebook's part of the public table, from its mistakes file ``stored``: per public check name (or failure
    reason, for a case that failed without a failing value), ``(kind, (description, hint), value)`` of each mistake
    whose first failing check of a public case it is (the public check raises there; values of at most
    ``PUBLIC_VALUES`` elements)."""
    entries: dict[str, list] = {}
    for test_file, cases in stored["cases"].items():
        for case, failed in cases.items():
            if (test_file, case) not in public:
                continue
            for entry in failed:
                said = (stored["mistakes"][entry["mistake"]]["description"], stored["mistakes"][entry["mistake"]]["hint"])
                if entry["reason"] is not None:
                    entries.setdefault(entry["reason"], []).append(("reason", said, None))
                if entry["records"] and entry["records"][0][1].numel() <= PUBLIC_VALUES:  # a public check stops at its first failure
                    (kind, name), (_, actual) = entry["checks"][0], entry["records"][0]
                    entries.setdefault(name, []).append((kind, said, actual.tolist()))
    return entries


def public_table_source(table: dict[str, dict]) -> str:
    """The source of ``compresslab/public_mistakes.py`` holding ``table`` (``{notebook: public_entries(...)}``)."""
    return ('"""What the catalogued mistakes (``mutants/``) output on the public tests\' inputs: generated by\n'
            "``python -m compresslab.mistakes`` (``make fixtures``); do not edit. ``checks`` reads it to name the mistake\n"
            "a failing public check behaves like.\n\n"
            "``BY_NOTEBOOK[notebook][check name or failure reason]``: ``[(kind, (description, hint), value)]``; kind is the\n"
            'check\'s ("close", "equal", ...), or "reason" for a case that failed with exactly that reason (value ``None``).\n'
            '"""\n\n' + _literal(table))


def _literal(table: dict) -> str:
    """``BY_NOTEBOOK = {...}`` as Python source, one entry per line."""
    lines = ['NAN, INF = float("nan"), float("inf")', "", "BY_NOTEBOOK = {"]
    for notebook, by_check in sorted(table.items()):
        lines.append(f"    {notebook!r}: {{")
        for key, entries in by_check.items():
            lines += (
                [f"        {key!r}: ["]
                + [f"            ({kind!r}, {said!r}, {_numbers(value)})," for kind, said, value in entries]
                + ["        ],"]
            )
        lines.append("    },")
    return "\n".join(lines + ["}", ""])


def _numbers(value) -> str:
    """A number, or nested lists of numbers, as a Python literal (NaN and infinities by name)."""
    if isinstance(value, list):
        return "[" + ", ".join(_numbers(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NAN" if math.isnan(value) else ("INF" if value > 0 else "-INF")
    return repr(value)
