"""Shared fixtures: the released notebooks, a warm grader, and helpers to grade and to run the masters' code."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from compresslab.grading.engine import Zygote
from compresslab.release import reference_code

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "solution").glob("*.ipynb"))


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
