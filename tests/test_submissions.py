"""Finding notebooks in hostile submission folders (``submissions.collect``), without grading: links, special files,
zip members that are links, two entries for one student, oversized notebooks, a full scratch disk, hostile names.
These run our collection code on real files; the same entries are graded through the real CLI in test_hostile_batch.py."""

import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from compresslab.grading.submissions import MAX_NOTEBOOK_BYTES, collect, notebook_problem

from conftest import ROOT

NAME = "int8_cnn"
REFERENCE = ROOT / "data" / "examples" / "reference" / f"{NAME}.ipynb"


def _folder(parent: Path, student: str) -> Path:
    (parent / student).mkdir(parents=True)
    return parent / student


def _by_student(found):
    return {s.student: s for s in found}


def _zip_with_link(path: Path, member: str, target: str) -> None:
    """A zip whose ``member`` is a symbolic link to ``target`` (mode bits as ``zip --symlinks`` writes them)."""
    info = zipfile.ZipInfo(member)
    info.create_system = 3  # Unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, target)


def test_links_and_special_files_are_refused_unread(tmp_path):
    submissions, scratch = tmp_path / "submissions", tmp_path / "scratch"
    shutil.copyfile(REFERENCE, _folder(submissions, "honest") / f"{NAME}.ipynb")
    (_folder(submissions, "link_classmate") / f"{NAME}.ipynb").symlink_to(submissions / "honest" / f"{NAME}.ipynb")
    (_folder(submissions, "link_deep") / "sub").mkdir()
    (submissions / "link_deep" / "sub" / "notes.txt").symlink_to("/etc/hostname")
    (_folder(submissions, "link_folder") / "inner").symlink_to(submissions / "honest")
    (submissions / "link_entry").symlink_to(submissions / "honest")
    (submissions / "link_entry_zip.zip").symlink_to(REFERENCE)
    os.mkfifo(_folder(submissions, "fifo") / f"{NAME}.ipynb")
    os.mkfifo(submissions / "fifo_entry.zip")
    _zip_with_link(submissions / "zip_link.zip", f"{NAME}.ipynb", "../honest/int8_cnn.ipynb")
    found = _by_student(collect(submissions, [NAME], scratch))
    assert set(found) == {"honest", "link_classmate", "link_deep", "link_folder", "link_entry", "link_entry_zip", "fifo", "fifo_entry", "zip_link"}
    assert found["honest"].problem is None and found["honest"].notebooks[NAME].read_bytes() == REFERENCE.read_bytes()
    expected = {"link_classmate": "link_classmate/int8_cnn.ipynb is a symbolic link", "link_deep": "link_deep/sub/notes.txt is a symbolic link",
                "link_folder": "link_folder/inner is a symbolic link", "link_entry": "link_entry is a symbolic link",
                "link_entry_zip": "link_entry_zip.zip is a symbolic link", "fifo": "fifo/int8_cnn.ipynb is a FIFO",
                "fifo_entry": "fifo_entry.zip is a FIFO", "zip_link": "zip entry 'int8_cnn.ipynb' is a symbolic link"}
    for student, words in expected.items():
        assert found[student].status == "invalid" and found[student].problem and words in found[student].problem, found[student]
        assert not found[student].notebooks
    assert sorted(p.name for p in scratch.rglob("*") if p.is_file()) == [f"{NAME}.ipynb"], "only the honest notebook was copied"


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root: run as root (CI does)")
def test_a_device_is_refused_and_never_opened(tmp_path):
    submissions = tmp_path / "submissions"
    os.mknod(_folder(submissions, "device") / f"{NAME}.ipynb", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero: endless
    (found,) = collect(submissions, [NAME], tmp_path / "scratch")
    assert found.status == "invalid" and "device/int8_cnn.ipynb is a character device" in found.problem and not found.notebooks


def test_a_folder_and_a_zip_of_one_student_are_both_invalid_never_merged(tmp_path):
    submissions = tmp_path / "submissions"
    shutil.copyfile(REFERENCE, _folder(submissions, "dup") / f"{NAME}.ipynb")
    with zipfile.ZipFile(submissions / "dup.zip", "w") as archive:
        archive.write(REFERENCE, f"{NAME}.ipynb")
    (found,) = collect(submissions, [NAME], tmp_path / "scratch")
    assert found.student == "dup" and found.status == "invalid" and not found.notebooks
    assert "2 entries for one student (dup/, dup.zip)" in found.problem


def test_an_oversized_notebook_is_refused_from_a_folder_and_from_a_zip(tmp_path):
    submissions = tmp_path / "submissions"
    with open(_folder(submissions, "huge_folder") / f"{NAME}.ipynb", "wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)  # sparse: costs no disk
    with zipfile.ZipFile(submissions / "huge_zip.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{NAME}.ipynb", b" " * (MAX_NOTEBOOK_BYTES + 1))
    found = _by_student(collect(submissions, [NAME], tmp_path / "scratch"))
    for student in ("huge_folder", "huge_zip"):
        assert found[student].problem is None and not found[student].notebooks
        assert f"over the {MAX_NOTEBOOK_BYTES // 2**20} MiB limit" in found[student].refused[NAME]


def test_notebook_problem_checks_the_structure_the_child_needs_without_nbformat(tmp_path):
    path = tmp_path / f"{NAME}.ipynb"
    assert notebook_problem(REFERENCE) is None
    for text, words in (("{ not json", "not a valid Jupyter notebook: Expecting"), ("[" * 100_000, "not a valid Jupyter notebook"),
                        ('{"nbformat": 4, "cells": [{"source": "x"}]}', "each with a cell_type"), ('{"nbformat": 3, "worksheets": []}', "nbformat 4")):
        path.write_text(text)
        assert words in notebook_problem(path), text[:40]
    with open(path, "wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)
    assert "over the" in notebook_problem(path)


def test_hostile_names_are_escaped_and_collisions_are_duplicates(tmp_path):
    submissions = tmp_path / "submissions"
    for student in ("\x1b[31mred\x1b[0m", "=1+2", "tab\tname", "tab name", "bidi\u202eevil"):
        shutil.copyfile(REFERENCE, _folder(submissions, student) / f"{NAME}.ipynb")
    found = _by_student(collect(submissions, [NAME], tmp_path / "scratch"))
    assert set(found) == {"\\x1b[31mred\\x1b[0m", "=1+2", "tab name", "bidi\\u202eevil"}
    assert found["tab name"].problem.startswith("2 entries for one student")
    assert found["=1+2"].problem is None and found["\\x1b[31mred\\x1b[0m"].notebooks


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root: run as root (CI does)")
def test_a_full_scratch_disk_touches_one_student_only(tmp_path):
    submissions, scratch = tmp_path / "submissions", tmp_path / "scratch"
    shutil.copyfile(REFERENCE, _folder(submissions, "a_big") / f"{NAME}.ipynb")
    (submissions / "a_big" / f"{NAME}.ipynb").write_bytes(REFERENCE.read_bytes() + b" " * 2**20)  # still valid JSON, 1 MiB more
    shutil.copyfile(REFERENCE, _folder(submissions, "b_small") / f"{NAME}.ipynb")
    scratch.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(scratch)], check=True)
    try:
        found = _by_student(collect(submissions, [NAME], scratch))
        assert found["a_big"].status == "crashed" and "the disk is full" in found["a_big"].problem and not found["a_big"].notebooks
        assert found["b_small"].problem is None and found["b_small"].notebooks[NAME].read_bytes() == REFERENCE.read_bytes()
    finally:
        subprocess.run(["umount", str(scratch)], check=True)
