"""Grade one notebook with Otter's non-containerized engine (the one behind ``otter run``).

``python -m compresslab.grading.otter_worker NOTEBOOK AUTOGRADER_ZIP`` prints one JSON object:
``{"questions": {"q2": {"score": 5.0, "possible": 5.0, "failures": ["..."]}, ...}}``.
Run in its own process, so a submission that crashes or hangs cannot take the batch down.
"""

import contextlib
import json
import os
import sys


def failure_reason(message: str) -> str:
    """The last line of an Otter failure message (the exception), e.g. ``AssertionError: ...``."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    reason = lines[-1] if lines else "failed"
    if reason.startswith("NotImplementedError"):
        return "not implemented (the stub still raises NotImplementedError)"
    return reason


def summarize_failures(failures: list[tuple[str, str]]) -> list[str]:
    """``[(case name, reason)]`` -> one entry per distinct reason, naming its cases: ``q2 - 1, q2 - 3: reason``."""
    cases_by_reason: dict[str, list[str]] = {}
    for case, reason in failures:
        cases_by_reason.setdefault(reason, []).append(case)
    return [f"{', '.join(cases)}: {reason}" for reason, cases in cases_by_reason.items()]


def grade(notebook: str, autograder_zip: str) -> dict:
    from otter.api import grade_submission

    with contextlib.redirect_stdout(sys.stderr):
        results = grade_submission(notebook, autograder_zip, quiet=True)
    questions = {}
    for name in results.test_files:
        test_file = results.get_result(name)
        failures = summarize_failures([(tcr.test_case.name, failure_reason(tcr.message)) for tcr in test_file.test_case_results if not tcr.passed])
        questions[name] = {"score": float(test_file.score), "possible": float(test_file.possible), "failures": failures}
    return {"questions": questions}


def main() -> None:
    notebook, autograder_zip = sys.argv[1:3]
    result = grade(notebook, autograder_zip)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown of the kernel machinery


if __name__ == "__main__":
    main()
