"""Assertions for notebook tests, with messages a student can act on.

Every check raises ``AssertionError`` whose message says what was expected and
what was found, e.g. ``quantized weights: expected integer values in [-128, 127]
of shape (6, 3, 5, 5), got float32 with values in [-3.2, 3.1]``. In the student's
notebook (``grader.check``), a failure whose value (or message) is the one a
catalogued mistake gives on the same public check also names that mistake
(``public_mistakes``, recorded by ``make fixtures``).
"""

import threading

import numpy as np
import torch

THRESHOLD_RTOL = 1e-6  # a measured number (accuracy, size) names a mistake only when it is the mistake's number
_DECIDING = threading.local()  # ``active`` while ``decide`` runs in this thread (the grader's process)
_RECORDS: list | None = None  # while grading: the comparing checks append what they compare here (``record_into``)


def record_into(records: list | None) -> None:
    """Make the comparing checks (``check_close``, ``check_equal``, ``check_at_least``, ``check_at_most``, ``check_choice``)
    append what they compare to ``records`` instead of deciding (``None``: decide).

    The grading engine does this in the process that runs student code, with the reference answers
    zeroed; the verdict is then ``decide``'d by the grader's own process from the records alone.
    Each record is a dict: ``kind`` ("close" | "equal" | "at_least" | "at_most" | "choice"), ``name``, ``actual`` and ``expected``
    (CPU tensors), ``rtol``, ``atol`` and ``from_student`` (the check's ``expected_from_student``).
    """
    global _RECORDS
    _RECORDS = records


def _record(kind: str, name: str, actual: torch.Tensor, expected, from_student: bool, rtol: float = 0.0, atol: float = 0.0) -> None:
    expected = torch.as_tensor(expected, dtype=torch.float64) if not isinstance(expected, torch.Tensor) else expected
    _RECORDS.append({"kind": kind, "name": str(name), "actual": _plain(actual), "expected": _plain(expected),
                     "rtol": float(rtol), "atol": float(atol), "from_student": bool(from_student)})


def _plain(t: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous CPU copy of ``t`` that owns its storage (saving a view would save all of its base)."""
    return t.detach().cpu().as_subclass(torch.Tensor).contiguous().clone()


def decide(record: dict, reference: dict) -> None:
    """Raise the ``AssertionError`` the check would have raised, from a student's ``record`` and the reference
    run's record of the same check. The expected value and the tolerances are the reference run's (for a fixture
    value, the student's process only had zeros), except for a check marked ``expected_from_student``, whose
    expected value the student's process computed from the student's own outputs."""
    if record["kind"] != reference["kind"] or record["name"] != reference["name"]:
        raise AssertionError(f"{reference['name']}: the test ran its checks in another order than for the reference solution "
                             f"(got {record['kind']} check {record['name']!r})")
    _DECIDING.active = True  # the grader names mistakes from its own records (``grading.diagnosis``), not from the public table
    try:
        _decide(record, reference)
    finally:
        _DECIDING.active = False


def _decide(record: dict, reference: dict) -> None:
    expected = record["expected"] if reference["from_student"] else reference["expected"]
    if reference["kind"] == "close":
        check_close(record["actual"], expected, reference["name"], reference["rtol"], reference["atol"])
    elif reference["kind"] == "equal":
        check_equal(record["actual"], expected, reference["name"])
    elif reference["kind"] == "choice":
        check_choice(chr(int(record["actual"])), chr(int(expected)), reference["name"])
    else:
        {"at_least": check_at_least, "at_most": check_at_most}[reference["kind"]](record["actual"], float(expected), reference["name"])


def describe(x) -> str:
    """One line about ``x``: type, dtype, shape and value range."""
    if isinstance(x, (np.ndarray, torch.Tensor)):
        t = torch.as_tensor(x)
        if t.numel() == 0:
            return f"an empty {str(t.dtype).replace('torch.', '')} tensor of shape {tuple(t.shape)}"
        kind = "array" if isinstance(x, np.ndarray) else "tensor"
        values = f"[{_shortest(t.min())}, {_shortest(t.max())}]"
        return f"a {str(t.dtype).replace('torch.', '')} {kind} of shape {tuple(t.shape)} with values in {values}"
    return f"{type(x).__name__} {x!r}"[:200]


def check_tensor(x, name: str, shape: tuple | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Assert ``x`` is a tensor (of ``shape`` and ``dtype`` when given); return it."""
    if not isinstance(x, torch.Tensor):
        raise _failure(f"{name}: expected a torch.Tensor, got {describe(x)}")
    if shape is not None and tuple(x.shape) != tuple(shape):
        raise _failure(f"{name}: expected shape {tuple(shape)}, got {describe(x)}")
    if dtype is not None and x.dtype != dtype:
        raise _failure(f"{name}: expected dtype {dtype}, got {describe(x)}")
    return x


def check_integer_valued(x, name: str, low: float, high: float, shape: tuple | None = None, dtype: torch.dtype | None = None) -> None:
    """Assert ``x`` holds whole numbers in ``[low, high]`` (any float dtype unless ``dtype`` is given)."""
    t = check_tensor(x, name, shape, dtype)
    if not torch.is_floating_point(t) and dtype is None:
        raise _failure(f"{name}: expected a floating-point tensor holding whole numbers, got {describe(t)}")
    fractional = t != t.round()
    if fractional.any():
        sample = t[fractional].flatten()[:3].tolist()
        raise _failure(
            f"{name}: expected whole numbers in [{low:g}, {high:g}], got non-integers such as {sample} ({describe(t)}); did you round?"
        )
    if t.numel() and (t.min() < low or t.max() > high):
        raise _failure(f"{name}: expected whole numbers in [{low:g}, {high:g}], got {describe(t)}; did you clamp?")


def check_scalar(x, name: str) -> float:
    """Assert ``x`` is a finite real number (Python number, NumPy scalar or one-element tensor); return it as float."""
    if isinstance(x, (str, bytes)):
        raise _failure(f"{name}: expected a number, got {describe(x)}")
    try:
        value = float(x)
    except (TypeError, ValueError, RuntimeError):
        raise _failure(f"{name}: expected a number, got {describe(x)}") from None
    if not np.isfinite(value):
        raise _failure(f"{name}: expected a finite number, got {value}")
    return value


def check_close(actual, expected, name: str, rtol: float = 1e-5, atol: float = 1e-6, expected_from_student: bool = False) -> None:
    """Assert ``actual`` matches ``expected`` within ``torch.testing.assert_close`` tolerances; name a few mismatches.

    ``expected_from_student``: ``expected`` is computed from the student's own outputs (e.g. ``centroids[labels]`` of
    their codebook), so the grader takes it from the student's process instead of from the reference run (``decide``)."""
    if isinstance(expected, torch.Tensor):
        check_tensor(actual, name, expected.shape)
        actual_t = actual.detach().cpu().to(expected.dtype)
    else:
        actual_t = torch.tensor(check_scalar(actual, name), dtype=torch.float64)
    if _RECORDS is not None:
        return _record("close", name, actual_t, expected, expected_from_student, rtol, atol)
    expected = expected if isinstance(expected, torch.Tensor) else torch.tensor(float(expected), dtype=torch.float64)
    try:
        torch.testing.assert_close(actual_t, expected, rtol=rtol, atol=atol)
    except AssertionError:
        raise _failure(
            f"{name}: values differ from the expected ones (rtol={rtol:g}, atol={atol:g}); {_mismatches(actual_t, expected, rtol, atol)}",
            name,
            actual_t,
            rtol,
            atol,
        ) from None


def check_equal(actual, expected: torch.Tensor, name: str, dtype: torch.dtype | None = None, expected_from_student: bool = False) -> None:
    """Assert ``actual`` equals ``expected`` exactly, value by value (same shape; same dtype when ``dtype`` is given;
    ``expected_from_student`` as in ``check_close``).

    Values are compared as float64, so 3.5 never equals an expected 3 whatever the dtypes.
    """
    check_tensor(actual, name, expected.shape, dtype)
    actual_t = actual.detach().cpu()
    if _RECORDS is not None:
        return _record("equal", name, actual_t, expected, expected_from_student)
    if not torch.equal(actual_t.double(), expected.double()):
        raise _failure(f"{name}: values differ from the expected ones; {_mismatches(actual_t, expected)}", name, actual_t)


def check_at_least(actual, minimum: float, name: str) -> None:
    """Assert the number ``actual`` is at least ``minimum`` (an accuracy threshold: ``name`` says what is measured and why)."""
    value = check_scalar(actual, name)
    if not value >= minimum:
        got, wanted = _distinct(value, minimum)
        raise _failure(f"{name}: got {got}, expected at least {wanted}", name, torch.tensor(value, dtype=torch.float64), THRESHOLD_RTOL)
    if _RECORDS is not None:  # passed here; the grader checks again against the reference run's minimum
        _record("at_least", name, torch.tensor(value, dtype=torch.float64), minimum, False)


def check_at_most(actual, maximum: float, name: str) -> None:
    """Assert the number ``actual`` is at most ``maximum`` (a size, an error or a cost target)."""
    value = check_scalar(actual, name)
    if not value <= maximum:
        got, wanted = _distinct(value, maximum)
        raise _failure(f"{name}: got {got}, expected at most {wanted}", name, torch.tensor(value, dtype=torch.float64), THRESHOLD_RTOL)
    if _RECORDS is not None:  # passed here; the grader checks again against the reference run's maximum
        _record("at_most", name, torch.tensor(value, dtype=torch.float64), maximum, False)


def check_choice(answer, right: str, name: str) -> None:
    """Assert a multiple-choice ``answer`` (any case, spaces ignored) is the letter ``right``."""
    letter = str(answer).strip().upper()
    if len(letter) != 1 or not letter.isalpha():
        raise _failure(f"{name}: expected one letter, got {answer!r}")
    if _RECORDS is not None:  # ``right`` is empty where the student's process has it zeroed: the grader holds the letter
        return _record("choice", name, torch.tensor(ord(letter)), torch.tensor(ord(right) if right else 0), False)
    if letter != right:
        raise _failure(f"{name}: {letter!r} is not the right choice", name, torch.tensor(ord(letter)))


def _mismatches(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 0.0, atol: float = 0.0, limit: int = 3) -> str:
    """How many elements lie outside the tolerance, with the first ``limit`` of them (printed with enough digits to differ)."""
    actual, expected = actual.double().flatten(), expected.double().flatten()
    differ = ~torch.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    idx = differ.nonzero().flatten()[:limit].tolist()
    pairs = ", ".join("[{}] got {} expected {}".format(i, *_distinct(actual[i].item(), expected[i].item())) for i in idx)
    return f"{int(differ.sum())} of {actual.numel()} differ, e.g. {pairs}"


def _distinct(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` with 6 significant digits, or as many more as it takes for two different numbers to print
    differently (a float32 weight one unit in the last place off reads ``0.37874`` at 6 digits either way)."""
    for digits in range(6, 18):
        shown = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if shown[0] != shown[1] or a == b:
            return shown
    return shown


def _shortest(value: torch.Tensor) -> str:
    """A one-element tensor's value with the fewest digits that still identify it in its own dtype (``0.1`` for float32
    0.1, not ``0.100000001``; ``200``, not ``200.0``), so a range bound just outside a limit does not print as the limit itself."""
    if not value.is_floating_point():
        return str(value.item())
    text = str((np.float64 if value.dtype == torch.float64 else np.float32)(value.item()))
    return text.removesuffix(".0")


def _failure(
    message: str, name: str | None = None, actual: torch.Tensor | None = None, rtol: float = 0.0, atol: float = 0.0
) -> AssertionError:
    """The ``AssertionError`` of a failed check; in the student's notebook (not while grading, whose records the
    grader diagnoses itself) it names the catalogued mistakes that fail this public check with the same ``actual``
    value, within the check's tolerance, or with the same message."""
    grading = _RECORDS is not None or getattr(_DECIDING, "active", False)
    named = [] if grading else known_mistakes(message, name, actual, rtol, atol)
    if not named:
        return AssertionError(message)
    return AssertionError(f"{message}; your answer behaves like a known mistake: " + "; or: ".join(f"{d} (look at: {h})" for d, h in named))


def known_mistakes(
    message: str, name: str | None, actual: torch.Tensor | None, rtol: float, atol: float, limit: int = 3
) -> list[tuple[str, str]]:
    """``(description, hint)`` of up to ``limit`` catalogued mistakes whose recorded public failure is this one: the same
    ``message``, or the same check ``name`` with a value equal to ``actual`` within ``rtol``/``atol`` (NaNs equal)."""
    from .public_mistakes import BY_NOTEBOOK

    found = []
    for table in BY_NOTEBOOK.values():
        found += [said for kind, said, _ in table.get(f"AssertionError: {message}", []) if kind == "reason"]
        if actual is not None and name is not None:
            found += [said for kind, said, value in table.get(name, []) if kind != "reason" and _same_value(actual, value, rtol, atol)]
    return list(dict.fromkeys(found))[:limit]


def _same_value(actual: torch.Tensor, value, rtol: float, atol: float) -> bool:
    recorded = torch.tensor(value, dtype=torch.float64)
    if recorded.shape != actual.shape:
        return False
    return bool(torch.isclose(actual.double(), recorded, rtol=rtol, atol=atol, equal_nan=True).all())
