"""Shared fixtures: the released notebooks, a warm grader, and helpers to grade and to run the masters' code."""

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from compresslab.grading.engine import Zygote
from compresslab.release import reference_code

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "solution").glob("*.ipynb"))
RELEASED = sorted(p.name.removesuffix("-autograder.zip") for p in (ROOT / "autograder").glob("*-autograder.zip"))
EXAMPLES = ROOT / "data" / "examples"
FIRST = "int8_cnn"  # the quickest notebook to grade


def reference_definitions(notebook: str, namespace: dict, first_line: str) -> dict:
    """Execute in ``namespace`` the master's code cells (solution markers removed, test cells left out) that hold a line
    matching the regular expression ``first_line`` (e.g. ``^(def |class )``); return the namespace. No training or plots run."""
    nb = nbformat.read(ROOT / "solution" / f"{notebook}.ipynb", as_version=4)
    in_tests = False
    for cell in nb.cells:
        if cell.cell_type == "raw":
            in_tests = cell.source.startswith("# BEGIN TESTS") or (in_tests and not cell.source.startswith("# END TESTS"))
        elif cell.cell_type == "code" and not in_tests and re.search(first_line, reference_code(cell.source), flags=re.M):
            exec(reference_code(cell.source), namespace)
    return namespace


def run_make_grade(submissions: Path, out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``make grade`` exactly as an instructor runs it (the venv already exists, so make reuses it); ``env``: variables
    added to the environment (e.g. ``ATEN_CPU_CAPABILITY``)."""
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), "grade", f"SUBMISSIONS={submissions}", f"OUT={out}"],
        capture_output=True, text=True, timeout=1800, env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def zygote():
    """One warm grader for every test that grades single notebooks, as one zygote grades a whole batch in ``make grade``
    (starting one imports torch and the rest again: seconds per module)."""
    warm = Zygote()
    yield warm
    warm.close()


@pytest.fixture
def notebook_copy(tmp_path):
    """Copy ``folder/name.ipynb`` into an empty temporary folder and return the copy's path."""

    def copy(folder: str, name: str) -> Path:
        target = tmp_path / f"{name}.ipynb"
        shutil.copyfile(ROOT / folder / f"{name}.ipynb", target)
        return target

    return copy


def _digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """`make grade` on the examples and a set of broken submissions, once per run (``test_grading``, and
    ``test_gradescope`` compares its results.json with these scores); return (rows, gradebook, stdout, before, after digests)."""
    submissions = tmp_path_factory.mktemp("submissions")
    for example in ("reference", "blank", "partial"):
        shutil.copytree(EXAMPLES / example, submissions / example)
    # Cases that grade a notebook again use only the quickest notebook (FIRST): the same submission graded twice must
    # score the same (every notebook's reference is graded again in test_bundle.py, from its export); packaging cases
    # test finding files, not grading.
    (submissions / "reference_again").mkdir()
    shutil.copyfile(EXAMPLES / "reference" / f"{FIRST}.ipynb", submissions / "reference_again" / f"{FIRST}.ipynb")
    with zipfile.ZipFile(submissions / "zipped.zip", "w") as archive:  # an export zip with the notebook one folder down
        archive.write(EXAMPLES / "reference" / f"{FIRST}.ipynb", f"export/{FIRST}.ipynb")
    (submissions / "lms").mkdir()  # an LMS download: the student's folder holds their export zip
    with zipfile.ZipFile(submissions / "lms" / "export_2026_11_23.zip", "w") as archive:
        archive.write(EXAMPLES / "blank" / f"{FIRST}.ipynb", f"{FIRST}.ipynb")
    (submissions / "nothing").mkdir()
    (submissions / "broken").mkdir()
    for name in RELEASED:
        (submissions / "broken" / f"{name}.ipynb").write_text("{ this is not json")
    with zipfile.ZipFile(submissions / "evil.zip", "w") as archive:
        archive.writestr(f"../escape/{RELEASED[0]}.ipynb", "{}")
    before = _digest(submissions)
    out = tmp_path_factory.mktemp("grades")
    done = run_make_grade(submissions, out)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(out / "gradebook.csv", newline="") as f:
        book = {line["student"]: line for line in csv.DictReader(f)}
    return rows, book, done.stdout, before, _digest(submissions), out


def conv_params(c_in: int, c_out: int, k: int) -> int:
    """Weights of a bias-free k x k convolution."""
    return c_in * c_out * k * k


def bn_params(c: int) -> int:
    """Learned parameters of a batch norm over c channels: weight and bias."""
    return 2 * c
