"""Name the mistake: match a failed hidden check against the catalogued wrong implementations' outputs.

``data/fixtures/<notebook>.mistakes.pt`` (recorded by ``make fixtures``: ``compresslab.mistakes``) holds, per test
case, how each catalogued mistake (``mutants/<notebook>.py``) fails it: the failure reason when the case
raised or made another number of checks, else the values of the checks it failed. When a student's case fails,
the grader (this module, in the grader's own process: the file is a grader's secret like the reference checks)
looks for the mistakes that fail the same checks with the same values, within each check's own tolerance, and the
feedback names the closest one: ``your answer behaves like a known mistake: <description> (look at: <hint>)``.

The diagnosis is information only: it is put before a failure's reason after the case is scored.

Why precomputed and not lazy: a mistake's outputs on the hidden inputs come from running its whole notebook
(a grading run of 3-20 s), and they are the same for every student. Recording them once at ``make fixtures``
costs about as much as ``make mutation``; at grading time the diagnosis is a dictionary lookup and a few tensor
comparisons per failed case (``make bench`` measures it), with nothing run on the student's behalf.

File layout (``torch.save``, loaded with ``weights_only=True``):
``tests``, ``fixtures``, ``checks``: SHA-256 of the hidden tests, the fixture file and the reference checks it was
recorded against (a file recorded for others is ignored: no diagnosis rather than a wrong one; a test fails on it);
``catalog``: SHA-256 of the catalog file; ``mistakes``: ``[{"function", "description", "hint"}]`` in catalog order;
``cases``: ``{test file: {case: [{"mistake": index, "reason": str | None, "records": [[check index, actual]]}]}}``,
``reason`` set when the mistake's case failed without a failing check value (an exception, a missing check).
"""

import hashlib

import torch

from ..checks import THRESHOLD_RTOL
from ..paths import course
from . import reference_checks

MAX_NAMED = 3  # mistakes named at most when several match equally well


def mistakes_fingerprint(notebook: str, tests: dict[str, str], fixture_bytes: bytes | None) -> dict[str, str]:
    """What a mistakes file must have been recorded against: the tests, the fixture file and the reference checks."""
    checks = course().reference_checks(notebook)
    return {**reference_checks.fingerprint(tests, fixture_bytes),
            "checks": hashlib.sha256(checks.read_bytes() if checks.is_file() else b"").hexdigest()}


_LOADED: dict[tuple, dict] = {}  # (path, size, mtime) -> its content: a batch reads each notebook's file once


def load_mistakes(notebook: str, tests: dict[str, str], fixture_bytes: bytes | None) -> dict | None:
    """The mistakes file of ``notebook`` when it was recorded for these tests, fixtures and reference checks, else ``None``."""
    path = course().mistakes(notebook)
    if not path.is_file():
        return None
    stamp = (str(path), path.stat().st_size, path.stat().st_mtime_ns)
    if stamp not in _LOADED:
        _LOADED[stamp] = torch.load(path, map_location="cpu", weights_only=True)
    stored = _LOADED[stamp]
    wanted = mistakes_fingerprint(notebook, tests, fixture_bytes)
    return stored if all(stored.get(key) == value for key, value in wanted.items()) else None


def failing_checks(report: dict, reference: list[dict], decide) -> list[int]:
    """Indices of the records of a case ``report`` (``{"error", "records"}``, as many as ``reference``) that ``decide`` fails."""
    failing = []
    for index, (record, expected) in enumerate(zip(report["records"], reference)):
        try:
            decide(record, expected)
        except AssertionError:
            failing.append(index)
    return failing


def explain(mistakes: dict, test_file: str, case: str, report: dict | None, reason: str, reference: list[dict], decide) -> str | None:
    """The sentence naming the catalogued mistake closest to a failed case's ``report`` (``None``: none matches).

    A mistake matches when it failed the case the same way: the same ``reason`` when the case raised or made
    another number of checks; otherwise the same failing checks, each with the student's value equal to the
    mistake's within that check's tolerance (``decide`` with the mistake's value as the expected one). Of several,
    the closest is the one whose values differ least from the student's (largest absolute difference summed
    over the checks); mistakes as close as it are named too, up to ``MAX_NAMED``."""
    entries = mistakes["cases"].get(test_file, {}).get(case, [])
    if not entries or report is None:
        return None
    by_records = report["error"] is None and len(report["records"]) == len(reference)
    failing = failing_checks(report, reference, decide) if by_records else None
    matches = []
    for entry in entries:
        if not by_records:
            if entry["reason"] == reason:
                matches.append((0.0, entry["mistake"]))
            continue
        values = dict((int(index), actual) for index, actual in entry["records"])
        if entry["reason"] is not None or sorted(values) != failing:
            continue
        distance = _distance(report["records"], reference, values, decide)
        if distance is not None:
            matches.append((distance, entry["mistake"]))
    if not matches:
        return None
    closest = min(distance for distance, _ in matches)
    named = [mistakes["mistakes"][index] for distance, index in sorted(matches) if distance <= closest][:MAX_NAMED]
    said = "; or: ".join(f"{m['description']} (look at: {m['hint']})" for m in named)
    return f"your answer behaves like a known mistake: {said}"


def _distance(records: list[dict], reference: list[dict], values: dict[int, torch.Tensor], decide) -> float | None:
    """How far the student's ``records`` are from a mistake's ``values`` (``None``: not within the checks' tolerances)."""
    total = 0.0
    for index, mistaken in values.items():
        record, expected = records[index], reference[index]
        record, mistaken = _nan_as_zero(record, mistaken)
        if expected["kind"] in ("at_least", "at_most"):
            if not torch.allclose(record["actual"].double(), mistaken.double(), rtol=THRESHOLD_RTOL, atol=0.0):
                return None
        else:
            try:
                decide(record, {**expected, "expected": mistaken, "from_student": False})
            except (AssertionError, ArithmeticError, RuntimeError, TypeError, ValueError):  # not the mistake's value: no match,
                return None  # whatever the student's value is (the diagnosis must never change an outcome)
        difference = (record["actual"].double() - mistaken.double()).abs()
        total += float(difference.max()) if difference.numel() else 0.0
    return total


def _nan_as_zero(record: dict, mistaken: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """The student's record and the mistake's value with their NaNs set to 0 when both have them at the same places
    (a mean of an empty cluster is NaN in both), so the checks compare what is left."""
    actual = record["actual"]
    if not (actual.is_floating_point() and mistaken.is_floating_point()) or actual.shape != mistaken.shape:
        return record, mistaken
    nan = actual.isnan()
    if not nan.any() or not torch.equal(nan, mistaken.isnan()):
        return record, mistaken
    return {**record, "actual": actual.masked_fill(nan, 0)}, mistaken.masked_fill(nan, 0)
