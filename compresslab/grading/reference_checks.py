"""The reference checks: what every hidden-test check expects, recorded once from the reference solution.

The grading engine decides each test case in its own process, never in the one running student
code. For that, ``make fixtures`` grades ``data/examples/reference/NOTEBOOK.ipynb`` (the release
filled with the reference code) in a *trace* run and stores, in ``data/fixtures/NOTEBOOK.checks.pt``:

- ``cases``: per test file and case, the records of its checks (``compresslab.checks.record_into``:
  values compared, thresholds, multiple choices): kind, name, tolerances, the expected value or
  threshold, and where in the fixture file that value sits (``location``) when it came from there;
- ``secrets``: those locations. A student's process gets the fixture file with them zeroed
  (``fixtures.without``), so it never holds a reference answer; the grader compares its records with
  these (``checks.decide``);
- ``tests`` and ``fixtures``: SHA-256 of the tests and the fixture file they were made from. A file
  made for other tests or fixtures is refused (``StaleChecks``) rather than used.
"""

import argparse
import hashlib
from pathlib import Path

from ..paths import PACKAGE_DIR, data_dir
from .autograders import otter_tests


class StaleChecks(Exception):
    """The reference checks are missing or belong to other hidden tests or fixtures."""


def checks_path(notebook: str) -> Path:
    return data_dir() / "fixtures" / f"{notebook}.checks.pt"


def fingerprint(tests: dict[str, str], fixture_bytes: bytes | None) -> dict[str, str]:
    """SHA-256 of the test sources (``{path in the autograder zip: source}``) and of the fixture file."""
    digest = hashlib.sha256()
    for name, source in sorted(tests.items()):
        digest.update(f"{name}\0{source}\0".encode())
    return {"tests": digest.hexdigest(), "fixtures": hashlib.sha256(fixture_bytes or b"").hexdigest()}


def load(notebook: str, tests: dict[str, str], fixture_bytes: bytes | None) -> dict:
    """The reference checks of ``notebook``, made for exactly these tests and fixture bytes, else ``StaleChecks``."""
    import torch

    path = checks_path(notebook)
    if not path.is_file():
        raise StaleChecks(f"{path} is missing: run `make fixtures` (it records what the hidden tests of {notebook} expect)")
    stored = torch.load(path, map_location="cpu", weights_only=True)
    if {key: stored.get(key) for key in ("tests", "fixtures")} != fingerprint(tests, fixture_bytes):
        raise StaleChecks(f"{path} was made for other hidden tests or another fixture file than {notebook}'s: run `make fixtures`")
    return stored


def record(notebook: str) -> Path:
    """Trace-grade ``data/examples/reference/NOTEBOOK.ipynb`` (the release filled with the reference code, in grading
    mode) against ``autograder/NOTEBOOK-autograder.zip`` and save its checks to ``checks_path(notebook)``; the reference
    must earn full marks. ``make release`` must have written both."""
    import nbformat
    import torch

    from ..fixtures import fixture_path
    from .engine import Limits, Task, Zygote
    from .grading_mode import marked_sources

    root = PACKAGE_DIR.parent
    reference_notebook = root / "data" / "examples" / "reference" / f"{notebook}.ipynb"
    autograder = root / "autograder" / f"{notebook}-autograder.zip"
    skip = marked_sources(nbformat.read(root / "assignment" / f"{notebook}.ipynb", as_version=4))
    zygote = Zygote()
    try:
        outcome = zygote.grade(Task(str(reference_notebook), str(autograder), skip, Limits(), trace=True))
    finally:
        zygote.close()
    lost = {name: q["failures"] for name, q in (outcome.get("questions") or {}).items() if q["score"] < q["possible"]}
    if outcome["status"] != "graded" or lost:
        raise RuntimeError(f"the reference {reference_notebook} does not earn full marks ({outcome['status']}: {outcome['message']} {lost})")
    tests = otter_tests(autograder)
    fixtures = fixture_path(notebook)
    cases = {name: {case: [_expectation(r) for r in report["records"]] for case, report in file_cases.items()}
             for name, file_cases in outcome["cases"].items()}
    secrets = {tuple(r["location"]) for records in _all_records(cases) for r in records if r["location"] is not None}
    stored = {**fingerprint(tests, fixtures.read_bytes() if fixtures.is_file() else None),
              "secrets": [list(location) for location in sorted(secrets, key=repr)], "cases": cases}
    path = checks_path(notebook)
    torch.save(stored, path)
    return path


def hidden_points_against_secrets(notebook: str, autograder: Path) -> tuple[float, float]:
    """(points, of all hidden points) of the hidden cases with a check against a reference answer from the fixture
    file, which the student's process only ever holds as zeros.

    The grader decides every check, but the other hidden cases compare the student's outputs with values computed
    from public data (torch's own quantizer, the fp32 model's accuracy) or hold them to a threshold: a notebook
    that forged its report from inside a test could claim those, not these.
    """
    from otter.test_files import ExceptionTestFile

    from ..fixtures import fixture_path

    tests = otter_tests(autograder)
    fixtures = fixture_path(notebook)
    stored = load(notebook, tests, fixtures.read_bytes() if fixtures.is_file() else None)
    against_secrets, hidden = 0.0, 0.0
    for path, source in tests.items():
        test_file = ExceptionTestFile.from_string(source, path=path)
        for case in test_file.test_cases:
            if case.hidden:
                records = stored["cases"][test_file.name][case.name]
                hidden += case.points
                against_secrets += case.points * any(r["location"] is not None and not r["from_student"] for r in records)
    return against_secrets, hidden


def _expectation(record: dict) -> dict:
    """What the verdict needs of a reference record: all but the actual value."""
    return {key: value for key, value in record.items() if key != "actual"}


def _all_records(cases: dict):
    for file_cases in cases.values():
        yield from file_cases.values()


def main() -> None:
    parser = argparse.ArgumentParser(description="Record data/fixtures/NOTEBOOK.checks.pt from the reference example (after make release and the fixtures)")
    parser.add_argument("notebooks", nargs="+", help="notebook names, e.g. int8_cnn")
    for notebook in parser.parse_args().notebooks:
        print(f"wrote {record(notebook)}")


if __name__ == "__main__":
    main()
