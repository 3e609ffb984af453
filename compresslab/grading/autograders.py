"""Questions and points of an Otter autograder zip (``autograder/NOTEBOOK-autograder.zip``)."""

import ast
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..outcomes import outcome_questions


@dataclass(frozen=True)
class Question:
    name: str  # e.g. "q2"
    points: float  # total of the question's test cases
    hidden_cases: int = 0  # how many of its test cases are hidden (``@test_case(hidden=True)``)


def otter_tests(autograder: Path) -> dict[str, str]:
    """``{path in the zip: source}`` of the Otter test files (``tests/*.py``) of an autograder zip, or of the folder it was
    unpacked into (Gradescope's ``/autograder/source``), in name order."""
    if autograder.is_dir():
        return {f"tests/{path.name}": path.read_text() for path in sorted((autograder / "tests").glob("*.py"))}
    with zipfile.ZipFile(autograder) as archive:
        return {
            name: archive.read(name).decode() for name in sorted(archive.namelist()) if name.startswith("tests/") and name.endswith(".py")
        }


def notebook_of(autograder: Path) -> str:
    """The notebook an autograder grades: ``NOTEBOOK`` of ``NOTEBOOK-autograder.zip``, or of the one release
    ``assignment/NOTEBOOK.ipynb`` in the folder an autograder zip was unpacked into."""
    if not autograder.is_dir():
        return autograder.name.removesuffix("-autograder.zip")
    found = sorted(p.stem for p in (autograder / "assignment").glob("*.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"{autograder / 'assignment'}: expected one <notebook>.ipynb (an unpacked autograder zip), found {found or 'none'}"
        )
    return found[0]


def questions(autograder_zip: Path) -> list[Question]:
    """The autograded questions of an autograder zip, in name order, with their total points: one per Otter test file,
    and one per outcome-graded question of its notebook (``outcomes``; graded from the files handed in, no hidden case)."""
    found = [Question(Path(name).stem, _points(source, f"{autograder_zip}:{name}"), _hidden_cases(source))
             for name, source in otter_tests(autograder_zip).items()]
    if not found:
        raise ValueError(f"{autograder_zip}: no tests/*.py in this autograder zip")
    found += [Question(q.question, float(q.points)) for q in outcome_questions(notebook_of(autograder_zip))]
    return sorted(found, key=lambda q: _natural_key(q.name))


def _points(source: str, where: str) -> float:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "points" for t in node.targets):
            value = ast.literal_eval(node.value)
            return float(sum(value) if isinstance(value, list) else value)
    raise ValueError(f"{where}: no `points = ...` in this test file")


def _hidden_cases(source: str) -> int:
    """How many ``@test_case(..., hidden=True)`` functions a test file defines."""
    return sum(isinstance(decorator, ast.Call) and any(k.arg == "hidden" and isinstance(k.value, ast.Constant) and k.value.value is True
                                                       for k in decorator.keywords)
               for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) for decorator in node.decorator_list)


def _natural_key(name: str) -> tuple:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (name.rstrip("0123456789"), int(digits) if digits else -1, name)
