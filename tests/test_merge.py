"""A class graded in parts on several machines and merged (``make merge``): the merged outputs hold every student with the
scores the parts gave, and nothing is graded again."""

import csv
import shutil
import subprocess
import sys

from compresslab.grading.journal import FILE_NAME

from conftest import EXAMPLES, FIRST, ROOT


def _run(module: str, *arguments: str) -> subprocess.CompletedProcess:
    """``python -m compresslab.grading.MODULE ARGUMENTS`` (what ``make grade`` and ``make merge`` run), on FIRST only."""
    return subprocess.run([sys.executable, "-m", f"compresslab.grading.{module}", *arguments, "--notebooks", FIRST],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT)


def _scores(out):
    with open(out / "scores.csv", newline="") as f:
        return {(r["student"], r["notebook"], r["question"]): (r["score"], r["status"]) for r in csv.DictReader(f)}


def test_parts_graded_apart_merge_into_one_class_without_regrading(tmp_path, graded):
    whole = tmp_path / "all"
    for example in ("reference", "blank", "partial"):
        (whole / example).mkdir(parents=True)
        shutil.copyfile(EXAMPLES / example / f"{FIRST}.ipynb", whole / example / f"{FIRST}.ipynb")
    parts = {"grades-1": ("reference", "partial"), "grades-2": ("blank",)}
    for out, students in parts.items():
        for student in students:
            shutil.copytree(whole / student, tmp_path / f"part-{out}" / student)
        done = _run("cli", str(tmp_path / f"part-{out}"), "--out", str(tmp_path / out))
        assert done.returncode == 0, done.stderr[-2000:]
    journals_before = {out: (tmp_path / out / FILE_NAME).read_bytes() for out in parts}

    merged = tmp_path / "grades"
    done = _run("merge", *(str(tmp_path / out) for out in parts), "--submissions", str(whole), "--out", str(merged))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming: 3 notebooks were already graded" in done.stdout
    assert len((merged / FILE_NAME).read_text().splitlines()) == 3  # nothing graded again: no new record
    scores = _scores(merged)
    for out in parts:
        assert _scores(tmp_path / out).items() <= scores.items()
        assert (tmp_path / out / FILE_NAME).read_bytes() == journals_before[out]  # the parts are only read
    whole_class = {(r["student"], r["notebook"], r["question"]): (r["score"], r["status"]) for r in graded[0]
                   if r["notebook"] == FIRST and r["student"] in ("reference", "blank", "partial")}
    assert scores == whole_class  # the same as grading the class on one machine


def test_a_part_without_a_journal_is_refused_and_nothing_written(tmp_path):
    (tmp_path / "grades-1").mkdir()
    done = _run("merge", str(tmp_path / "grades-1"), "--submissions", str(EXAMPLES), "--out", str(tmp_path / "grades"))
    assert done.returncode != 0
    assert f"{tmp_path / 'grades-1' / FILE_NAME}: no journal here" in done.stderr
    assert not (tmp_path / "grades").exists()
