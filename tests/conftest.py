"""Shared fixtures: the released notebooks and a graded batch of example submissions."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "solution").glob("*.ipynb"))


def run_make_grade(submissions: Path, out: Path) -> subprocess.CompletedProcess:
    """``make grade`` exactly as an instructor runs it (the venv already exists, so make reuses it)."""
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), "grade", f"SUBMISSIONS={submissions}", f"OUT={out}"],
        capture_output=True, text=True, timeout=1800,
    )


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


@pytest.fixture
def notebook_copy(tmp_path):
    """Copy ``folder/name.ipynb`` into an empty temporary folder and return the copy's path."""

    def copy(folder: str, name: str) -> Path:
        target = tmp_path / f"{name}.ipynb"
        shutil.copyfile(ROOT / folder / f"{name}.ipynb", target)
        return target

    return copy
