"""A wheel built from the repository, installed into a fresh venv outside the checkout, imports ``compresslab.grading``
and grades the examples with the scores the checkout gives.

The wheel holds the code; the course's files come from a course folder given with ``COMPRESSLAB_COURSE``
(``compresslab/paths.py``). The course folder here holds only what grading int8_cnn needs: its autograder zip, its
release notebook, the checkpoints and its fixtures and reference checks. The fresh venv gets the pinned
dependencies from this environment's site-packages (a ``.pth`` line: nothing is downloaded again, and the
checkout's own editable ``compresslab`` stays out, since ``.pth`` files in that folder are not run).
"""

import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from conftest import ROOT

NOTEBOOK = "int8_cnn"
EXAMPLES = ("reference", "blank", "partial")


@pytest.fixture
def readable_tmp():
    """A temporary folder the unprivileged uid that runs student code can read (pytest's tmp_path is root's, mode 700):
    the installed library and the checkpoints are read from inside the sandbox."""
    folder = Path(tempfile.mkdtemp(prefix="compresslab-wheel-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _scores(out: Path) -> list[tuple[str, str, str, str]]:
    with open(out / "scores.csv", newline="") as f:
        return [(r["student"], r["notebook"], r["question"], r["score"]) for r in csv.DictReader(f)]


def test_installed_wheel_grades_the_examples_like_the_checkout(readable_tmp, tmp_path):
    source = tmp_path / "source"  # pip builds in the source folder (build/, *.egg-info): a copy keeps the checkout clean
    shutil.copytree(ROOT / "compresslab", source / "compresslab", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-w", str(tmp_path / "dist")],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("compresslab-*.whl")

    env_dir = readable_tmp / "venv"
    subprocess.run(["/usr/bin/python3.11", "-m", "venv", str(env_dir)], check=True, timeout=300)
    (site_packages,) = (env_dir / "lib").glob("python*/site-packages")
    (site_packages / "pinned.pth").write_text(str(Path(torch.__file__).parents[1]) + "\n")
    python = env_dir / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]

    course = readable_tmp / "course"
    for relative in (f"autograder/{NOTEBOOK}-autograder.zip", f"assignment/{NOTEBOOK}.ipynb",
                     f"data/fixtures/{NOTEBOOK}.pt", f"data/fixtures/{NOTEBOOK}.checks.pt"):
        (course / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, course / relative)
    shutil.copytree(ROOT / "data" / "checkpoints", course / "data" / "checkpoints")
    submissions = tmp_path / "submissions"
    for example in EXAMPLES:
        (submissions / example).mkdir(parents=True)
        shutil.copyfile(ROOT / "data" / "examples" / example / f"{NOTEBOOK}.ipynb", submissions / example / f"{NOTEBOOK}.ipynb")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {"PATH": "/usr/bin:/bin", "COMPRESSLAB_COURSE": str(course), "HOME": str(outside)}
    where = subprocess.run([str(python), "-c", "import compresslab.grading, compresslab.notebook_fixtures; print(compresslab.__file__)"],
                           cwd=outside, env=env, capture_output=True, text=True, timeout=300)
    assert where.returncode == 0, where.stderr[-2000:]
    assert Path(where.stdout.strip()).is_relative_to(site_packages), f"compresslab imported from {where.stdout.strip()}, not from the wheel"

    graded = subprocess.run([str(python), "-m", "compresslab.grading.cli", str(submissions), "--out", str(tmp_path / "wheel-grades"), "--jobs", "1"],
                            cwd=outside, env=env, capture_output=True, text=True, timeout=1800)
    assert graded.returncode == 0, graded.stderr[-2000:]
    checkout = subprocess.run([sys.executable, "-m", "compresslab.grading.cli", str(submissions), "--out", str(tmp_path / "checkout-grades"),
                               "--notebooks", NOTEBOOK, "--jobs", "1"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert checkout.returncode == 0, checkout.stderr[-2000:]
    assert _scores(tmp_path / "wheel-grades") == _scores(tmp_path / "checkout-grades")
    totals = {s: sum(float(score) for student, _, _, score in _scores(tmp_path / "wheel-grades") if student == s) for s in EXAMPLES}
    with open(tmp_path / "wheel-grades" / "scores.csv", newline="") as f:
        possible = sum(float(r["possible"]) for r in csv.DictReader(f) if r["student"] == "reference")
    assert totals["blank"] == 0 < totals["partial"] < totals["reference"] == possible, totals
