"""CONTRIBUTING.md's two recipes (adding a hidden test, adding a notebook): every forgotten step fails with a message
that names its fix.

The hidden-test recipe was followed once as written: pruning's Question 2 got its sixth case
(``test_q2_hidden_float64``). Each test below removes one step, in a temporary course folder or by leaving out what
the step would have written, and checks the message the pipeline gives. The commands are the real ones
(``compresslab.release``, ``compresslab.record_fixtures``, ``compresslab.mutation``) run in-process; only the
removal of a step is simulated.
"""

import json
import shutil

import pytest

from compresslab import bundle, fixtures, mutation, record_fixtures
from compresslab.grading import reference_checks, zygote
from compresslab.grading.autograders import otter_tests
from compresslab.paths import course
from compresslab.release import release_files

from conftest import RELEASED

NEW_CASE = "q2 - 6"  # pruning's sixth case of Question 2, added by following the recipe


def _pruning_checks() -> tuple[dict, dict, bytes]:
    tests = otter_tests(course().autograder("pruning"))
    content = course().fixture("pruning").read_bytes()
    return tests, reference_checks.load_checks("pruning", tests, content), content


def test_the_case_added_by_the_recipe_is_hidden_and_checked():
    tests, stored, content = _pruning_checks()
    assert stored["cases"]["q2"][NEW_CASE], "the new case makes checks in the reference run"
    assert reference_checks.unusable("pruning", tests, stored, content) == []


def test_a_forgotten_points_entry_is_named_by_the_release(tmp_path, monkeypatch):
    master = json.loads(course().master("pruning").read_text())
    for cell in master["cells"]:
        if cell["cell_type"] == "raw" and "name: q2" in "".join(cell["source"]):
            cell["source"] = [line.replace("points: [1, 1, 2, 1, 1, 1]", "points: [1, 1, 2, 1, 1]") for line in cell["source"]]
    (tmp_path / "solution").mkdir()
    (tmp_path / "solution" / "pruning.ipynb").write_text(json.dumps(master))
    monkeypatch.setenv("COMPRESSLAB_COURSE", str(tmp_path))
    with pytest.raises(ValueError, match=r"question q2: length of 'points' is 5 but there are 6 tests"):
        release_files("pruning")


def test_a_hidden_case_compared_with_a_plain_assert_is_refused_with_the_fix():
    """A plain ``assert`` records no check: the reference run of such a case has no records, and ``make fixtures``
    refuses to save the checks (``record_fixtures.record_reference_checks`` raises with these reasons)."""
    tests, stored, content = _pruning_checks()
    stored["cases"]["q2"][NEW_CASE] = []
    problems = reference_checks.unusable("pruning", tests, stored, content)
    assert len(problems) == 1 and problems[0].startswith(f"{NEW_CASE}: makes no compresslab.checks call")
    assert "check_close, check_equal" in problems[0] and "CONTRIBUTING.md" in problems[0]


def test_an_answer_left_out_of_secrets_is_refused_with_the_fix(monkeypatch):
    tests, stored, content = _pruning_checks()
    declared = fixtures.declared_secrets("pruning")
    monkeypatch.setattr(fixtures, "declared_secrets", lambda notebook: tuple(p for p in declared if "float64" not in p))
    problems = reference_checks.unusable("pruning", tests, stored, content)
    assert problems and all(p.startswith(f"{NEW_CASE}: ") for p in problems), problems
    assert all("declare it in SECRETS of compresslab/notebook_fixtures/pruning.py" in p for p in problems)


def test_a_notebook_without_a_fixture_builder_is_named():
    with pytest.raises(ModuleNotFoundError, match=r"write compresslab/notebook_fixtures/new_notebook\.py with build\(namespace\) and SECRETS"):
        record_fixtures.compute("new_notebook", {})


def test_a_notebook_without_a_mutant_catalog_is_named(tmp_path, monkeypatch):
    (tmp_path / "mutants").mkdir()
    shutil.copy(course().mutant_catalog("pruning"), tmp_path / "mutants" / "pruning.py")
    monkeypatch.setenv("COMPRESSLAB_COURSE", str(tmp_path))
    assert mutation.catalogued_notebooks() == ["pruning"]
    with pytest.raises(FileNotFoundError, match=r"no mutant catalog for new_notebook: write MUTANTS \(at least five per graded function\)"):
        mutation.catalog("new_notebook")


def missing_preloads(notebook: str) -> list[str]:
    """The ``compresslab`` modules the release of ``notebook`` imports that the zygote does not import before forking
    (``zygote.PRELOAD``, directly or through another module): each would be imported again for every student."""
    preloaded = bundle.module_closure([f"import {m}" for m in zygote.PRELOAD if m.startswith("compresslab")])
    release = course().release(notebook)
    needed = bundle.module_closure(bundle.notebook_sources(bundle.nbformat.read(release, as_version=4)))
    return [f"{path.relative_to(course().root)}: imported by {release.name}, not preloaded: add it to compresslab/grading/zygote.py's PRELOAD"
            for path in sorted(needed - preloaded)]


@pytest.mark.parametrize("notebook", RELEASED)
def test_every_module_a_notebook_imports_is_preloaded(notebook):
    assert missing_preloads(notebook) == []


def test_a_forgotten_preload_entry_is_named(monkeypatch):
    monkeypatch.setattr(zygote, "PRELOAD", tuple(m for m in zygote.PRELOAD if m != "compresslab.plots.sawb_qat"))
    assert missing_preloads("sawb_qat") == [
        "compresslab/plots/sawb_qat.py: imported by sawb_qat.ipynb, not preloaded: add it to compresslab/grading/zygote.py's PRELOAD"]
