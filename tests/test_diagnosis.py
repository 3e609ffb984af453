"""Feedback that names the mistake: a failed check whose values are those of a catalogued wrong implementation says so.

The recorded files (``data/fixtures/<notebook>.mistakes.pt`` for the grader, ``compresslab/public_mistakes.py`` for the
public checks) belong to the committed tests, fixtures, reference checks and catalog; the matching names the closest
mistake and nothing for an unknown one; the score never changes. That every catalogued mistake, graded through the
real path, is named in its own feedback is checked on ``make test``'s one grading of the catalog (``test_mutation.py``).
"""

import re

import nbformat
import pytest
import torch

from compresslab import checks, mistakes, mutation, public_mistakes
from compresslab.checks import decide
from compresslab.grading import diagnosis, grading_mode, reference_checks
from compresslab.grading.autograders import otter_tests
from compresslab.grading.engine import Limits
from compresslab.grading.runner import grade_notebook
from compresslab.notebooks import execute_notebook
from compresslab.paths import course

import seed_answers
from conftest import ROOT

NOTEBOOKS = mutation.catalogued_notebooks()


def _tests(notebook: str) -> dict[str, str]:
    return otter_tests(ROOT / "autograder" / f"{notebook}-autograder.zip")


def _stored(notebook: str) -> dict:
    return torch.load(course().mistakes(notebook), weights_only=True)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_the_mistakes_file_belongs_to_the_committed_tests_fixtures_checks_and_catalog(notebook):
    stored = _stored(notebook)
    wanted = {**diagnosis.mistakes_fingerprint(notebook, _tests(notebook), course().fixture(notebook).read_bytes()),
              "catalog": mistakes.catalog_digest(notebook)}
    stale = [key for key, value in wanted.items() if stored.get(key) != value]
    assert not stale, f"{course().mistakes(notebook)} was recorded for another {', '.join(stale)}: run `make fixtures`"
    assert [m["description"] for m in stored["mistakes"]] == [m.description for m in mutation.catalog(notebook)]


def test_the_public_table_is_the_one_the_mistakes_files_give():
    """``compresslab/public_mistakes.py`` (shipped to students) is generated from the committed mistakes files."""
    table = {n: mistakes.public_entries(_stored(n), mistakes.public_cases(_tests(n))) for n in NOTEBOOKS}
    assert (ROOT / "compresslab" / "public_mistakes.py").read_text() == mistakes.public_table_source(table), "run `make fixtures`"


def test_a_stale_mistakes_file_gives_no_diagnosis(tmp_path, monkeypatch):
    """Recorded for other tests: ignored (no diagnosis rather than a wrong one); the test above says to re-record."""
    notebook = "int8_cnn"
    content = course().fixture(notebook).read_bytes()
    assert diagnosis.load_mistakes(notebook, _tests(notebook), content) is not None
    assert diagnosis.load_mistakes(notebook, {**_tests(notebook), "tests/q2.py": "changed"}, content) is None
    monkeypatch.setenv("COMPRESSLAB_DATA", str(tmp_path))  # no mistakes file there
    assert diagnosis.load_mistakes(notebook, _tests(notebook), content) is None


def _close(name: str, values, rtol: float = 1e-5, atol: float = 1e-6) -> dict:
    return {"kind": "close", "name": name, "expected": torch.tensor(values), "rtol": rtol, "atol": atol, "from_student": False}


def _student(*actuals) -> dict:
    return {"error": None, "records": [{"kind": "close", "name": f"c{i}", "actual": torch.tensor(a), "from_student": False} for i, a in enumerate(actuals)]}


def _mistakes(*entries) -> dict:
    """A mistakes file with one case ``q1 - 1`` of two checks and the given ``(description, reason, {check: value})``."""
    return {"mistakes": [{"function": "f", "description": d, "hint": "h"} for d, _, _ in entries],
            "cases": {"q1": {"q1 - 1": [{"mistake": i, "reason": reason, "records": [[k, torch.tensor(v)] for k, v in values.items()]}
                                         for i, (_, reason, values) in enumerate(entries)]}}}


REFERENCE = [_close("c0", [1.0, 2.0]), _close("c1", [3.0])]


def _explain(table: dict, report: dict, reason: str = "AssertionError: c0: values differ") -> str | None:
    return diagnosis.explain(table, "q1", "q1 - 1", report, reason, REFERENCE, decide)


def test_the_closest_mistake_within_the_checks_tolerance_is_named_and_an_unknown_answer_gets_nothing():
    table = _mistakes(("floor", None, {0: [0.0, 2.0]}), ("trunc", None, {0: [0.5, 2.0]}), ("both checks", None, {0: [0.0, 2.0], 1: [2.0]}))
    assert _explain(table, _student([0.0, 2.0], [3.0])) == "your answer behaves like a known mistake: floor (look at: h)"
    assert "trunc" in _explain(table, _student([0.5 + 1e-7, 2.0], [3.0])), "equal within the check's tolerance"
    assert _explain(table, _student([0.25, 2.0], [3.0])) is None, "between two mistakes: neither"
    assert "both checks" in _explain(table, _student([0.0, 2.0], [2.0])), "a mistake must fail the same checks as the answer"
    assert _explain(table, _student([7.0, 2.0], [3.0])) is None
    tie = _mistakes(("one", None, {0: [0.0, 2.0]}), ("same output", None, {0: [0.0, 2.0]}))
    assert _explain(tie, _student([0.0, 2.0], [3.0])) == "your answer behaves like a known mistake: one (look at: h); or: same output (look at: h)"


def test_a_case_that_raised_is_matched_by_its_reason_and_nan_matches_nan():
    table = _mistakes(("wrong shape", "AssertionError: c0: expected shape (2,)", {}), ("empty cluster", None, {0: [float("nan"), 2.0]}))
    raised = {"error": "Traceback...\nAssertionError: c0: expected shape (2,)", "records": []}
    assert "wrong shape" in _explain(table, raised, "AssertionError: c0: expected shape (2,)")
    assert _explain(table, raised, "AssertionError: c0: expected shape (3,)") is None
    assert "empty cluster" in _explain(table, _student([float("nan"), 2.0], [3.0]))


def test_the_diagnosis_never_changes_a_score(zygote, tmp_path, monkeypatch):
    """The same wrong answer graded through the real path with and without the mistakes file: the same scores, and
    the same failures but for the sentence naming the mistake."""
    notebook = "int8_cnn"
    mutant = next(m for m in mutation.catalog(notebook) if m.description == "you rounded with floor instead of round")
    path = tmp_path / f"{notebook}.ipynb"
    nbformat.write(mutation.mutate(nbformat.read(ROOT / "data" / "examples" / "reference" / f"{notebook}.ipynb", as_version=4), mutant), path)
    skip = grading_mode.marked_sources(nbformat.read(ROOT / "assignment" / f"{notebook}.ipynb", as_version=4))

    def grade():
        return grade_notebook(path, ROOT / "autograder" / f"{notebook}-autograder.zip", Limits(), skip, zygote, only=frozenset({"q2"}))

    named = grade()
    monkeypatch.setattr(diagnosis, "load_mistakes", lambda *_: None)
    plain = grade()
    assert {q: v["score"] for q, v in named.questions.items()} == {q: v["score"] for q, v in plain.questions.items()}
    assert named.questions["q2"]["score"] < named.questions["q2"]["possible"]
    sentence = re.compile(r"your answer behaves like a known mistake: you rounded with floor instead of round \(look at: [^)]*\)(; or: [^;(]*\(look at: [^)]*\))*; ")
    assert all(sentence.search(failure) for failure in named.questions["q2"]["failures"])
    assert [sentence.sub("", f) for f in named.questions["q2"]["failures"]] == plain.questions["q2"]["failures"]


def public_failures(notebook: str) -> list[tuple[str, dict, dict]]:
    """``(description, public case's first failing check as the student's notebook meets it, its reference record)`` of
    every mutant that fails a public case by a value, from the recorded mistakes; and ``(description, reason, None)``
    of those failing one by an exception."""
    stored = _stored(notebook)
    reference = reference_checks.load_checks(notebook, _tests(notebook), course().fixture(notebook).read_bytes())["cases"]
    found = []
    for test_file, cases in stored["cases"].items():
        for case, entries in cases.items():
            if (test_file, case) not in mistakes.public_cases(_tests(notebook)):
                continue
            for entry in entries:
                description = stored["mistakes"][entry["mistake"]]["description"]
                if entry["reason"] is not None:
                    found.append((description, entry["reason"], None))
                elif entry["records"]:
                    index, actual = entry["records"][0]
                    found.append((description, {"actual": actual, **dict(zip(("kind", "name"), entry["checks"][0]))}, reference[test_file][case][index]))
    return found


def _student_check(record: dict, reference: dict) -> str:
    """The message of the public check as ``grader.check`` runs it in the student's notebook (no records: it decides)."""
    expected, name = reference["expected"], reference["name"]
    with pytest.raises(AssertionError) as failed:
        if record["kind"] == "close":
            checks.check_close(record["actual"], expected if expected.dim() else float(expected), name, reference["rtol"], reference["atol"])
        elif record["kind"] == "equal":
            checks.check_equal(record["actual"], expected, name)
        elif record["kind"] == "choice":
            checks.check_choice(chr(int(record["actual"])), chr(int(expected)), name)
        else:
            {"at_least": checks.check_at_least, "at_most": checks.check_at_most}[record["kind"]](float(record["actual"]), float(expected), name)
    return str(failed.value)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_a_public_check_names_every_mistake_whose_effect_shows_on_the_public_inputs(notebook):
    """Each mutant's first failing check of each public case it fails, run as the student's ``grader.check`` runs it
    (``checks`` without records), names the mutant; a public case failing with an exception's message (checked the
    same way: the table holds that message; so is a check whose expected value comes from the student's own outputs,
    which the test cannot rebuild). Our own code path: the checks the public tests call, given the mutant's recorded
    value and the public test's literal expected value."""
    missed = []
    for description, record, reference in public_failures(notebook):
        if reference is not None and record["actual"].numel() > mistakes.PUBLIC_VALUES:
            continue  # the table keeps values of at most PUBLIC_VALUES elements (``mistakes.public_entries``)
        if reference is None:
            named = [d for d, _ in checks.known_mistakes(record.removeprefix("AssertionError: "), None, None, 0.0, 0.0, limit=99)]
            if record.startswith("AssertionError: ") and description not in named:
                missed.append(f"{description}: {record}")
        elif reference["from_student"]:
            if description not in [d for d, _ in checks.known_mistakes("", record["name"], record["actual"], reference["rtol"], reference["atol"], 99)]:
                missed.append(f"{description}: {record['name']}")
        elif description not in _student_check(record, reference):
            missed.append(f"{description}: {record['name']}")
    assert not missed, f"public checks of {notebook} that fail without naming the mistake: {missed}"


def test_a_right_answer_is_never_in_the_public_table():
    """The table ships wrong answers only: no recorded value passes the public check it is recorded for."""
    for notebook in NOTEBOOKS:
        for description, record, reference in public_failures(notebook):
            if reference is not None and not reference["from_student"]:
                with pytest.raises(AssertionError):
                    decide({**record, "from_student": False}, reference)
    assert public_mistakes.BY_NOTEBOOK.keys() == set(NOTEBOOKS)


@pytest.fixture(scope="module")
def seed_results():
    return seed_answers.grade_all()


def test_the_seeds_real_wrong_answers_are_named_and_their_right_answers_lose_nothing(seed_results):
    for seed, result in seed_results:
        named = seed_answers.named_mistakes(seed.notebook, result.messages)
        if seed.expected is None:
            assert not result.caught, f"seed {seed.seed}: a right answer lost points: {result.messages}"
        else:
            assert seed.expected in named, f"seed {seed.seed}: {seed.answer.description}: the feedback names {named}, not {seed.expected!r}"


def test_readme_seed_table_is_the_measured_one(seed_results):
    readme = (ROOT / "README.md").read_text()
    assert readme == seed_answers.readme_with_table(readme, seed_answers.table(seed_results)), "run `python tests/seed_answers.py` and commit README.md"


def test_grader_check_in_the_students_notebook_names_the_mistake(tmp_path):
    """The real surface: the released int8_cnn notebook with a wrong answer, executed in a Jupyter kernel up to the first
    ``grader.check`` after the answer's cell (time-only cells left out, as a student may skip them), prints the mistake's name."""
    nb = nbformat.read(ROOT / "data" / "examples" / "reference" / "int8_cnn.ipynb", as_version=4)
    mutant = next(m for m in mutation.catalog("int8_cnn") if m.description == "you rounded with floor instead of round")
    nb = mutation.mutate(nb, mutant)
    answer = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(mutant.cell))
    first_check = next(i for i, c in enumerate(nb.cells) if i > answer and c.cell_type == "code" and c.source.startswith("grader.check("))
    skip = grading_mode.marked_sources(nbformat.read(ROOT / "assignment" / "int8_cnn.ipynb", as_version=4))
    nb.cells = [c for c in nb.cells[:first_check] if c.cell_type != "code" or c.source not in skip] + [nb.cells[first_check]]
    path = tmp_path / "int8_cnn.ipynb"
    nbformat.write(nb, path)
    executed = execute_notebook(path, cwd=tmp_path)
    shown = " ".join(str(output.get("data", {}).get("text/plain", "")) + str(output.get("data", {}).get("text/html", "")) + str(output.get("text", ""))
                     for output in executed.cells[-1].get("outputs", []))
    assert "your answer behaves like a known mistake: you rounded with floor instead of round" in shown, shown[:2000]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_an_unanswered_notebook_is_named_no_mistake(notebook, zygote):
    """The blank release (every stub as handed out) fails every answer check, and no catalogued mistake may claim it:
    a mutant that behaves like the stub (e.g. a dict comprehension over the stub's empty dict) is a broken mutant."""
    skip = grading_mode.marked_sources(nbformat.read(ROOT / "assignment" / f"{notebook}.ipynb", as_version=4))
    outcome = grade_notebook(ROOT / "data" / "examples" / "blank" / f"{notebook}.ipynb", ROOT / "autograder" / f"{notebook}-autograder.zip",
                             Limits(), skip, zygote)
    named = [f for q in outcome.questions.values() for f in q["failures"] if "known mistake" in f]
    assert not named, f"the blank {notebook} is diagnosed as a known mistake: {named}"
