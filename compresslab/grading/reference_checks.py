"""The reference checks: what every hidden-test check expects, recorded once from the reference solution.

The grading engine decides each test case in its own process, never in the one running student
code. For that, ``make fixtures`` grades ``data/examples/reference/NOTEBOOK.ipynb`` (the release
filled with the reference code) in a *trace* run and stores, in ``data/fixtures/NOTEBOOK.checks.pt``:

- ``cases``: per test file and case, the records of its checks (``compresslab.checks.record_into``:
  values compared, thresholds, multiple choices): kind, name, tolerances, the expected value or
  threshold. The grader compares the student's records with these (``checks.decide``); the student's
  process gets the fixture file with every declared secret zeroed (``fixtures.declared_secrets``), so
  it never holds a reference answer, and ``leaked_expectations`` finds a hidden check whose expected
  value the student's process could still read;
- ``tests`` and ``fixtures``: SHA-256 of the tests and the fixture file they were made from. A file
  made for other tests or fixtures is refused (``StaleChecks``) rather than used.
"""

import hashlib
import io
import re
from pathlib import Path

import torch

from ..paths import course
from .autograders import otter_tests


class StaleChecks(Exception):
    """The reference checks are missing or belong to other hidden tests or fixtures."""




def fingerprint(tests: dict[str, str], fixture_bytes: bytes | None) -> dict[str, str]:
    """SHA-256 of the test sources (``{path in the autograder zip: source}``) and of the fixture file."""
    digest = hashlib.sha256()
    for name, source in sorted(tests.items()):
        digest.update(f"{name}\0{source}\0".encode())
    return {"tests": digest.hexdigest(), "fixtures": hashlib.sha256(fixture_bytes or b"").hexdigest()}


def load_checks(notebook: str, tests: dict[str, str], fixture_bytes: bytes | None) -> dict:
    """The reference checks of ``notebook``, made for exactly these tests and fixture bytes, else ``StaleChecks``."""
    import torch

    path = course().reference_checks(notebook)
    if not path.is_file():
        raise StaleChecks(f"{path} is missing: run `make fixtures` (it records what the hidden tests of {notebook} expect)")
    stored = torch.load(path, map_location="cpu", weights_only=True)
    if {key: stored.get(key) for key in ("tests", "fixtures")} != fingerprint(tests, fixture_bytes):
        raise StaleChecks(f"{path} was made for other hidden tests or another fixture file than {notebook}'s: run `make fixtures`")
    return stored


COMPARING = ("close", "equal", "choice")  # the check kinds that compare with an answer (the others hold to a threshold)


def hidden_points_against_secrets(notebook: str, autograder: Path) -> tuple[float, float]:
    """(points, of all hidden points) of the hidden cases with a check whose expected value is a declared secret of the
    fixture file, which the student's process only ever holds as zeros.

    The grader decides every check, but the other hidden cases compare the student's outputs with values computed
    from public data (torch's own quantizer, the fp32 model's accuracy) or hold them to a threshold: a notebook
    that forged its report from inside a test could claim those, not these.
    """
    from .. import fixtures

    tests, stored, content = _checks_of(notebook, autograder)
    patterns = fixtures.declared_secrets(notebook)
    tree = torch.load(io.BytesIO(content), weights_only=True)
    secrets = _values([(where, leaf) for where, leaf in fixtures.leaves(tree) if fixtures.is_secret(where, patterns)])
    against_secrets, hidden = 0.0, 0.0
    for _, points, records, _ in _hidden_cases(tests, stored):
        hidden += points
        against_secrets += points * any(_holds(secrets, r["expected"]) for r in records if r["kind"] in COMPARING and not r["from_student"])
    return against_secrets, hidden


def leaked_expectations(notebook: str, autograder: Path) -> list[str]:
    """Hidden checks that compare with a fixture value the student's process could read: a value of the fixture file
    it receives (every declared secret zeroed; a value copied out of a fixture, e.g. ``torch.tensor([float(x) ...])``,
    is found too, as the vector of a node's numbers) that is not one of the declared secrets (an unchanged input may
    legitimately equal a declared answer), or a multiple-choice answer written in the hidden test's code.
    Empty when every answer is declared secret (``notebook_fixtures.<notebook>.SECRETS``)."""
    return _leaks(notebook, *_checks_of(notebook, autograder))


def unusable(notebook: str, tests: dict[str, str], stored: dict, content: bytes | None) -> list[str]:
    """Why freshly recorded checks ``stored`` (of ``tests`` and the fixture file ``content``) must not be used, each
    reason with its fix: a hidden case that makes no check (a plain ``assert`` is decided in the student's process,
    where it can be forged), and every leak that ``leaked_expectations`` finds."""
    unchecked = [f"{case}: makes no compresslab.checks call: compare with check_close, check_equal, check_at_least, check_at_most "
                 f"or check_choice, not a plain assert (CONTRIBUTING.md, 'Adding a hidden test')"
                 for case, points, records, _ in _hidden_cases(tests, stored) if points and not records]
    return unchecked + (_leaks(notebook, tests, stored, content) if content is not None else [])


def _leaks(notebook: str, tests: dict[str, str], stored: dict, content: bytes) -> list[str]:
    from .. import fixtures

    patterns = fixtures.declared_secrets(notebook)
    given = torch.load(io.BytesIO(fixtures.without(content, patterns)), weights_only=True)
    full = torch.load(io.BytesIO(content), weights_only=True)
    public = _values(list(fixtures.leaves(given)))
    secrets = _values([(where, leaf) for where, leaf in fixtures.leaves(full) if fixtures.is_secret(where, patterns)])
    leaks = []
    for case, _, records, source in _hidden_cases(tests, stored):
        for record in records:
            if record["kind"] not in COMPARING or record["from_student"]:
                continue
            if _holds(public, record["expected"]) and not _holds(secrets, record["expected"]):
                leaks.append(
                    f"{case}: {record['name']}: its expected value is in the fixtures the student's process receives: declare "
                    f"it in SECRETS of compresslab/notebook_fixtures/{notebook}.py and pass the fixture value to the check unchanged"
                )
            if record["kind"] == "choice" and re.search(rf"""["']{chr(int(record["expected"]))}["']""", source):
                leaks.append(f"{case}: {record['name']}: the right choice is written in the hidden test's code: read it from the fixtures")
    return leaks


def _checks_of(notebook: str, autograder: Path) -> tuple[dict, dict, bytes]:
    tests = otter_tests(autograder)
    content = course().fixture(notebook).read_bytes()
    return tests, load_checks(notebook, tests, content), content


def _hidden_cases(tests: dict[str, str], stored: dict):
    """``(case name, points, reference records, source of its test file)`` of every hidden test case."""
    from otter.test_files import ExceptionTestFile

    for path, source in tests.items():
        test_file = ExceptionTestFile.from_string(source, path=path)
        for case in test_file.test_cases:
            if case.hidden:
                yield case.name, case.points, stored["cases"][test_file.name][case.name], source


def _values(located: list[tuple[tuple, object]]) -> list[torch.Tensor]:
    """Every number or tensor leaf as a flat float64 tensor, plus, per node, the vector of its number leaves in order."""
    values, numbers = [], {}
    for where, leaf in located:
        if isinstance(leaf, torch.Tensor) and not leaf.is_complex():
            values.append(leaf.detach().double().flatten())
        elif isinstance(leaf, (int, float)) and not isinstance(leaf, bool):
            values.append(torch.tensor([float(leaf)], dtype=torch.float64))
            numbers.setdefault(where[:-1], []).append(float(leaf))
    return values + [torch.tensor(vector, dtype=torch.float64) for vector in numbers.values() if len(vector) > 1]


def _holds(values: list[torch.Tensor], expected: torch.Tensor) -> bool:
    """Whether ``expected`` (not a constant: zeros or one repeated value tell nothing) is one of ``values``."""
    flat = expected.detach().double().flatten()
    if flat.numel() == 0 or bool((flat == flat[0]).all()) and (flat.numel() > 1 or flat[0] == 0):
        return False
    return any(v.numel() == flat.numel() and torch.equal(v, flat) for v in values)


def _all_records(cases: dict):
    for file_cases in cases.values():
        yield from file_cases.values()
