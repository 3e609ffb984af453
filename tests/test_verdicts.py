"""The verdict is the grader's: student code, even while the tests call it, never holds a reference
answer and cannot make a check pass by patching the checkers or by writing the report itself.

The student's process only records what each check compares (``compresslab.checks.record_into``);
the zygote decides every case from those records and the reference checks in
``data/fixtures/NOTEBOOK.checks.pt`` (``compresslab/grading/reference_checks.py``).
"""

import importlib
import io
import zipfile

import nbformat
import pytest
import torch

from compresslab import fixtures, mutation
from compresslab.grading import grading_mode, reference_checks
from compresslab.grading.autograders import otter_tests
from compresslab.grading.engine import Limits, Task
from compresslab.grading.runner import grade_notebook
from compresslab.paths import course

from conftest import NOTEBOOKS, ROOT

NAME = "int8_cnn"
LIMITS = Limits(notebook_seconds=600, cell_seconds=60, memory_bytes=6 * 2**30)
AUTOGRADER = ROOT / "autograder" / f"{NAME}-autograder.zip"


def _reference(notebook: str = NAME) -> dict:
    return reference_checks.load_checks(notebook, otter_tests(ROOT / "autograder" / f"{notebook}-autograder.zip"), course().fixture(notebook).read_bytes())


def _notebook(tmp_path, example: str, extra_cell: str, mutant: str | None = None):
    nb = nbformat.read(ROOT / "data" / "examples" / example / f"{NAME}.ipynb", as_version=4)
    if mutant is not None:
        nb = mutation.mutate(nb, {m.description: m for m in mutation.catalog(NAME)}[mutant])
    nb.cells.append(nbformat.v4.new_code_cell(extra_cell))
    path = tmp_path / f"{NAME}.ipynb"
    nbformat.write(nb, path)
    return path


def _grade(path, zygote):
    skip = grading_mode.marked_sources(nbformat.read(ROOT / "assignment" / f"{NAME}.ipynb", as_version=4))
    return grade_notebook(path, AUTOGRADER, LIMITS, skip, zygote)


def _lost_cases(outcome) -> set[str]:
    return {case.strip() for q in outcome.questions.values() for failure in q["failures"] for case in failure.split(":")[0].split(",")}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_reference_checks_belong_to_the_committed_tests_and_fixtures(name):
    stored = _reference(name)
    tests = otter_tests(ROOT / "autograder" / f"{name}-autograder.zip")
    assert sum(len(cases) for cases in stored["cases"].values()) == sum(source.count("@test_case(") for source in tests.values())
    secret, _ = reference_checks.hidden_points_against_secrets(name, ROOT / "autograder" / f"{name}-autograder.zip")
    assert secret > 0, f"no hidden-test check of {name} compares with a declared secret of its fixtures"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_hidden_check_hands_its_answer_to_the_students_process(name):
    assert reference_checks.leaked_expectations(name, ROOT / "autograder" / f"{name}-autograder.zip") == []


def test_an_undeclared_answer_is_found_even_when_a_test_copies_it_out_of_the_fixtures(monkeypatch):
    # sawb_qat q8's hidden test builds its expected bit widths with torch.tensor([float(want[name]) ...]): a copy of
    # fixture values, never the fixture object, which identity could not follow
    module = importlib.import_module("compresslab.notebook_fixtures.sawb_qat")
    monkeypatch.setattr(module, "SECRETS", tuple(p for p in module.SECRETS if not p.startswith("greedy_path")))
    leaks = reference_checks.leaked_expectations("sawb_qat", ROOT / "autograder" / "sawb_qat-autograder.zip")
    assert leaks and all(leak.startswith("q8") for leak in leaks), leaks


def test_a_checks_file_made_for_other_tests_is_refused_with_its_name(tmp_path, zygote):
    stale = tmp_path / AUTOGRADER.name
    with zipfile.ZipFile(AUTOGRADER) as source, zipfile.ZipFile(stale, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, data + b"\n# edited\n" if item.filename == "tests/q2.py" else data)
    with pytest.raises(reference_checks.StaleChecks, match=r"int8_cnn\.checks\.pt was made for other hidden tests.*make fixtures"):
        zygote.grade(Task(str(_notebook(tmp_path, "reference", "pass")), str(stale), frozenset(), LIMITS))


def test_the_students_process_gets_the_fixtures_without_the_reference_answers():
    patterns = fixtures.declared_secrets(NAME)
    given = dict(fixtures.leaves(torch.load(io.BytesIO(fixtures.without(course().fixture(NAME).read_bytes(), patterns)), weights_only=True)))
    zeroed = 0
    for location, value in fixtures.leaves(fixtures.load(NAME)):
        kept = given[location]
        if fixtures.is_secret(location, patterns):
            assert not torch.as_tensor(kept).any(), f"{location} should be zeroed"
            zeroed += 1
        else:
            assert type(kept) is type(value) and (torch.equal(kept, value) if isinstance(value, torch.Tensor) else kept == value), location
    assert zeroed > 0


LOOK_UP_THE_ANSWERS = """import torch
from compresslab import fixtures
def quantized_weights(weights):
    for case in fixtures.load("int8_cnn")["quantized_weights"].values():
        if case["input"].shape == weights.shape and torch.equal(case["input"], weights):
            return case["output"].clone(), case["scale"]
    raise NotImplementedError
"""


def test_looking_up_the_answers_in_the_fixtures_gains_nothing(tmp_path, zygote):
    outcome = _grade(_notebook(tmp_path, "blank", LOOK_UP_THE_ANSWERS), zygote)
    assert outcome.status == "graded", outcome.message
    assert {"q2 - 3", "q2 - 4"} <= _lost_cases(outcome), outcome.questions["q2"]
    assert "quantized weights (linear_offset): values differ" in " ".join(outcome.questions["q2"]["failures"]) or "weight scale" in " ".join(outcome.questions["q2"]["failures"])


PATCH_WHILE_TESTED = """_mutant = quantized_weights
def quantized_weights(weights):
    import torch, compresslab.checks as checks
    for name in ("check_close", "check_equal", "check_tensor", "check_integer_valued", "record_into", "decide"):
        setattr(checks, name, lambda *args, **kwargs: None)
    torch.testing.assert_close = lambda *args, **kwargs: None
    torch.equal = lambda *args, **kwargs: True
    return _mutant(weights)
"""


def test_patching_the_checkers_while_the_tests_run_gains_nothing(tmp_path, zygote):
    (tmp_path / "plain").mkdir()
    plain = _grade(_notebook(tmp_path / "plain", "reference", "pass", mutant="you rounded with floor instead of round"), zygote)
    patched = _grade(_notebook(tmp_path, "reference", PATCH_WHILE_TESTED, mutant="you rounded with floor instead of round"), zygote)
    assert plain.status == patched.status == "graded", (plain.message, patched.message)
    for question, result in plain.questions.items():
        assert patched.questions[question]["score"] <= result["score"], (question, patched.questions[question], result)
    assert sum(q["score"] for q in plain.questions.values()) < sum(q["possible"] for q in plain.questions.values())


FORGE_FROM_A_TEST = """def quantized_weights(weights):
    import os
    from compresslab.grading import protocol
    report = protocol.frame(protocol.REPORT, protocol.encode_report({"cases": CASES, "errors": [], "skipped": 0, "undone": [], "busy": 0.0}))
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            os.write(fd, report)
        except OSError:
            pass
    os._exit(0)
"""


def test_a_report_forged_while_the_tests_run_wins_no_check(tmp_path, zygote):
    stored = _reference()
    all_passed = {name: {case: {"error": None, "records": []} for case in cases} for name, cases in stored["cases"].items()}
    outcome = _grade(_notebook(tmp_path, "blank", FORGE_FROM_A_TEST.replace("CASES", repr(all_passed))), zygote)
    assert outcome.status == "graded", outcome.message
    checked = {case for cases in stored["cases"].values() for case, records in cases.items() if records}
    assert checked and checked <= _lost_cases(outcome), sorted(checked - _lost_cases(outcome))


def _records_of(check) -> list[dict]:
    from compresslab import checks

    records = []
    checks.record_into(records)
    try:
        check()
    finally:
        checks.record_into(None)
    return records


def test_decide_uses_the_reference_expected_value_unless_the_check_says_it_comes_from_the_student():
    from compresslab.checks import check_close, check_equal, decide

    reference = _records_of(lambda: check_equal(torch.tensor([1, 2]), torch.tensor([1, 2]), "q") or
                            check_close(torch.tensor([0.5]), torch.tensor([0.5]), "c", expected_from_student=True))
    forged = _records_of(lambda: check_equal(torch.tensor([7, 7]), torch.tensor([7, 7]), "q") or
                         check_close(torch.tensor([9.0]), torch.tensor([9.0]), "c", expected_from_student=True))
    with pytest.raises(AssertionError, match="q: values differ"):
        decide(forged[0], reference[0])  # the student's process claimed [7, 7] was expected: the reference's [1, 2] counts
    decide(forged[1], reference[1])  # expected from the student's own outputs: their 9.0 counts
    with pytest.raises(AssertionError, match="another order"):
        decide(forged[1], reference[0])
    wide = _records_of(lambda: check_close(torch.tensor([1.0]), torch.tensor([1.0]), "c", rtol=0.5, atol=0.5, expected_from_student=True))
    with pytest.raises(AssertionError, match="rtol=1e-05"):
        decide({**wide[0], "actual": torch.tensor([1.2])}, reference[1] | {"expected": torch.tensor([1.0])})  # the reference's tolerances count


def test_the_readme_states_which_hidden_points_rest_on_reference_answers_the_student_never_holds():
    readme = " ".join((ROOT / "README.md").read_text().split())
    for name in NOTEBOOKS:
        secret, hidden = reference_checks.hidden_points_against_secrets(name, ROOT / "autograder" / f"{name}-autograder.zip")
        assert f"{secret:g} of {hidden:g} hidden points in {name}" in readme, (name, secret, hidden)


def test_thresholds_and_choices_are_held_to_the_reference_run_and_a_wrong_choice_keeps_the_answer_secret():
    from compresslab.checks import check_at_least, check_at_most, check_choice, decide

    reference = _records_of(lambda: check_at_least(99.0, 97.0, "accuracy") or check_at_most(0.2, 0.3, "size") or check_choice(" c", "C", "Q5.1"))
    claimed = _records_of(lambda: check_at_least(50.0, 10.0, "accuracy") or check_at_most(0.9, 1.0, "size") or check_choice("b", "B", "Q5.1"))
    with pytest.raises(AssertionError, match="accuracy: got 50, expected at least 97"):
        decide(claimed[0], reference[0])  # the student's process claimed a minimum of 10: the reference run's 97 counts
    with pytest.raises(AssertionError, match="size: got 0.9, expected at most 0.3"):
        decide(claimed[1], reference[1])
    with pytest.raises(AssertionError, match=r"Q5.1: 'B' is not the right choice$"):
        decide(claimed[2], reference[2])
    with pytest.raises(AssertionError, match="expected at least 97"):
        _records_of(lambda: check_at_least(90.0, 97.0, "accuracy"))  # a value that fails in the student's process fails at once
