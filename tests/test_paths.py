"""Tests of compresslab.paths: the course-folder map."""

import pytest

from compresslab.paths import EXAMPLE_KINDS, PACKAGE_DIR, course

from conftest import ROOT


def test_a_checkout_is_its_own_course_folder(monkeypatch):
    monkeypatch.delenv("COMPRESSLAB_COURSE", raising=False)
    monkeypatch.delenv("COMPRESSLAB_DATA", raising=False)
    folder = course()
    assert (folder.root, folder.data) == (PACKAGE_DIR.parent, PACKAGE_DIR.parent / "data")
    assert folder.master("int8_cnn") == ROOT / "solution" / "int8_cnn.ipynb"
    assert folder.autograder("int8_cnn") == ROOT / "autograder" / "int8_cnn-autograder.zip"
    assert folder.masters() == folder.released() == folder.catalogued(), "every master is released and has a mutant catalog"
    for name in folder.masters():
        for path in (folder.release(name), folder.bundle(name), folder.autograder(name), folder.fixture(name),
                     folder.reference_checks(name), folder.mistakes(name), folder.mutant_catalog(name),
                     *(folder.example(kind, name) for kind in EXAMPLE_KINDS)):
            assert path.is_file(), f"{path} is missing: the map and the repository disagree"


def test_one_setting_moves_all_the_data(tmp_path, monkeypatch):
    """``COMPRESSLAB_DATA`` moves checkpoints, public data, fixtures, checks, mistakes and the examples together; the
    masters, releases, autograders and catalogs stay in the course folder."""
    monkeypatch.setenv("COMPRESSLAB_COURSE", str(tmp_path / "course"))
    monkeypatch.setenv("COMPRESSLAB_DATA", str(tmp_path / "elsewhere"))
    folder = course()
    moved = [folder.checkpoint("net"), folder.public_data("sawb_qat"), folder.fixture("x"), folder.reference_checks("x"),
             folder.mistakes("x"), *(folder.example(kind, "x") for kind in EXAMPLE_KINDS)]
    assert all(path.is_relative_to(tmp_path / "elsewhere") for path in moved), moved
    stayed = [folder.master("x"), folder.release("x"), folder.bundle("x"), folder.autograder("x"), folder.mutant_catalog("x")]
    assert all(path.is_relative_to(tmp_path / "course") for path in stayed), stayed
    assert folder.archive_name(folder.fixture("x")) == "data/fixtures/x.pt", "inside a zip the data folder is data/ again"
    assert folder.archive_name(folder.release("x")) == "assignment/x.ipynb"


def test_an_unpacked_autograder_zip_is_its_own_autograder(tmp_path, monkeypatch):
    """Gradescope unpacks the zip into the course folder: its tests are in ``tests/``, and there are no masters."""
    (tmp_path / "tests").mkdir()
    monkeypatch.setenv("COMPRESSLAB_COURSE", str(tmp_path))
    assert course().autograder("int8_cnn") == tmp_path
    (tmp_path / "solution").mkdir()
    assert course().autograder("int8_cnn") == tmp_path / "autograder" / "int8_cnn-autograder.zip"


def test_the_graders_secrets_include_the_catalogs_and_the_examples():
    secrets = course().grader_only()
    assert {course().root / "solution", course().root / "mutants", course().data / "fixtures", course().data / "examples"} <= set(secrets)
    assert not any(path in secrets for path in course().readable_by_students())


def test_an_unknown_example_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="no example kind 'solved': the examples are reference, blank, partial"):
        course().example("solved", "int8_cnn")
