"""The autograder zips (``autograder/<notebook>-autograder.zip``), run as Gradescope runs them: the same scores as ``make grade``.

One image per run, as Gradescope builds one per assignment: a temporary folder is bound at ``/autograder`` in a private
mount namespace, with ``python3`` on PATH from a bare venv that holds nothing of this checkout, and the checkout itself
covered by an empty folder (``tests/gradescope_container.py``). ``setup.sh`` installs the pinned requirements from the
registries into ``/autograder/venv``; the four notebooks' zips share that image (their ``setup.sh``, requirements and
library are byte-identical, which a test checks), and each run unpacks its notebook's zip into ``/autograder/source``
and runs ``run_autograder`` on one example, as Gradescope does per submission.

Gradescope's containers forbid user namespaces (Docker's seccomp profile), so runs use ``--docker``: a user namespace
whose root maps to the host's root but can create no user namespace, where bubblewrap fails and the grader falls back
to the separate-uid mode. One run keeps user namespaces, to show the full sandbox there too. Needs root (CI is root).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from compresslab.grading.autograders import questions
from compresslab.outcomes import handed_in_files, outcome_questions

from conftest import EXAMPLES, FIRST, RELEASED, ROOT

CONTAINER = Path(__file__).with_name("gradescope_container.py")
SHARED_ENTRIES = ("setup.sh", "run_autograder", "requirements.txt")  # and the library: what the image is built from

if os.geteuid() != 0 and os.environ.get("CI") != "true":
    pytest.skip("the Gradescope simulation binds /autograder in a mount namespace and needs root: run `sudo make test` "
                "(CI runs it as root)", allow_module_level=True)


class Image:
    """The built image: the folder bound at /autograder, the bare venv giving ``python3``, and the zip of each notebook."""

    def __init__(self, folder: Path, zips: dict[str, Path]) -> None:
        self.folder, self.zips = folder, zips
        self.autograder = folder / "autograder"
        self.bare = folder / "bare-python"

    def run(self, command: list[str], docker: bool = True) -> subprocess.CompletedProcess:
        """``command`` in the container, with the environment Gradescope gives (PATH to ``python3``, HOME), nothing of ours."""
        options = [str(self.autograder), "--hide", str(ROOT)] + (["--docker"] if docker else [])
        environment = {"PATH": f"{self.bare / 'bin'}:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
        return subprocess.run([sys.executable, str(CONTAINER), *options, "--", *command], capture_output=True, text=True,
                              timeout=1800, env=environment)

    def grade(self, notebook: str, submitted: Path, docker: bool = True) -> tuple[dict, subprocess.CompletedProcess]:
        """Gradescope's run for one submission: the course files of ``notebook``'s zip, the submitted notebook (and the
        files handed in beside it) in ``/autograder/submission``, ``run_autograder``; the results.json it wrote."""
        source = self.autograder / "source"
        shutil.rmtree(source)
        with zipfile.ZipFile(self.zips[notebook]) as archive:
            archive.extractall(source)
        for script in ("setup.sh", "run_autograder"):
            (source / script).chmod(0o755)
        shutil.copyfile(source / "run_autograder", self.autograder / "run_autograder")  # Gradescope copies it there
        (self.autograder / "run_autograder").chmod(0o755)
        for folder in ("submission", "results"):
            shutil.rmtree(self.autograder / folder, ignore_errors=True)
            (self.autograder / folder).mkdir(mode=0o755)
        shutil.copyfile(submitted, self.autograder / "submission" / f"{notebook}.ipynb")
        for file in handed_in_files(notebook):  # uploaded beside the notebook, as a student hands them in
            if (submitted.parent / file).is_file():
                shutil.copyfile(submitted.parent / file, self.autograder / "submission" / file)
        done = self.run(["/autograder/run_autograder"], docker=docker)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads((self.autograder / "results" / "results.json").read_text()), done


@pytest.fixture(scope="module")
def image():
    folder = Path(tempfile.mkdtemp(prefix="compresslab-gradescope-"))
    folder.chmod(0o755)  # the sandbox's uid reads the installed venv under it
    try:
        built = Image(folder, {notebook: ROOT / "autograder" / f"{notebook}-autograder.zip" for notebook in RELEASED})
        subprocess.run(["/usr/bin/python3.11", "-m", "venv", "--without-pip", str(built.bare)], check=True, timeout=300)
        (built.autograder / "source").mkdir(parents=True)
        with zipfile.ZipFile(built.zips[FIRST]) as archive:
            archive.extractall(built.autograder / "source")
        setup = built.run(["bash", "-c", "cd /autograder/source && bash setup.sh"])
        assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-3000:]
        yield built
    finally:
        shutil.rmtree(folder)


@pytest.fixture(scope="module")
def results(image):
    """results.json of every example of every notebook, graded as on Gradescope."""
    return {(example, notebook): image.grade(notebook, EXAMPLES / example / f"{notebook}.ipynb")[0]
            for notebook in RELEASED for example in ("reference", "blank", "partial")}


def test_one_image_serves_every_notebook(image):
    contents = {}
    for notebook, path in image.zips.items():
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            library = [n for n in names if n.startswith("compresslab/")]
            contents[notebook] = {name: archive.read(name) for name in [*SHARED_ENTRIES, *library]}
            assert {"compresslab/grading/gradescope.py", f"data/fixtures/{notebook}.pt", f"data/fixtures/{notebook}.checks.pt",
                    f"assignment/{notebook}.ipynb"} <= set(names)
            assert {f"tests/{q.name}.py" for q in questions(path) if q.name not in {o.question for o in outcome_questions(notebook)}} <= set(names)
            assert not [n for n in names if n.startswith(("solution/", "data/examples/"))]
    assert len({repr(sorted(c.items())) for c in contents.values()}) == 1


def test_the_image_runs_the_shipped_library_not_the_checkout(image):
    done = image.run(["env", "PYTHONPATH=/autograder/source", "/autograder/venv/bin/python", "-c",
                      "import compresslab, torch; print(compresslab.__file__); print(torch.__version__)"])
    assert done.returncode == 0, done.stderr[-2000:]
    location, version = done.stdout.split()
    assert location == "/autograder/source/compresslab/__init__.py"
    assert version.startswith("2.14.1")
    bare = image.run(["python3", "-c", "import compresslab"])
    assert bare.returncode != 0 and "No module named 'compresslab'" in bare.stderr  # python3 itself holds nothing of ours
    hidden = image.run(["ls", "-A", str(ROOT)])
    assert hidden.returncode == 0 and hidden.stdout.strip() == ""


def test_results_json_scores_equal_make_grade(results, graded):
    rows = graded[0]
    for (example, notebook), result in results.items():
        expected = {r["question"]: float(r["score"]) for r in rows if r["student"] == example and r["notebook"] == notebook}
        assert {t["name"]: t["score"] for t in result["tests"]} == expected, (example, notebook)
        assert result["score"] == pytest.approx(sum(expected.values()))


def test_results_json_follows_gradescopes_format(results):
    for (example, notebook), result in results.items():
        question_list = questions(ROOT / "autograder" / f"{notebook}-autograder.zip")
        assert [t["name"] for t in result["tests"]] == [q.name for q in question_list]
        for test, question in zip(result["tests"], question_list):
            assert set(test) == {"name", "score", "max_score", "output", "visibility"}
            assert test["max_score"] == question.points and 0 <= test["score"] <= test["max_score"]
            assert test["visibility"] == ("after_published" if question.hidden_cases else "visible")
            assert isinstance(test["output"], str) and test["output"]
        assert isinstance(result["output"], str) and notebook in result["output"]
    blank = results[("blank", FIRST)]
    assert all(t["score"] == 0 and t["output"] != "full marks" for t in blank["tests"])  # the feedback says what was wrong
    assert all(t["output"] == "full marks" for t in results[("reference", FIRST)]["tests"])


def test_the_full_sandbox_is_used_where_user_namespaces_work(image, graded):
    result, done = image.grade(FIRST, EXAMPLES / "reference" / f"{FIRST}.ipynb", docker=False)
    assert "bubblewrap allow-list" in done.stdout
    expected = {r["question"]: float(r["score"]) for r in graded[0] if r["student"] == "reference" and r["notebook"] == FIRST}
    assert {t["name"]: t["score"] for t in result["tests"]} == expected


def test_a_submission_cannot_read_the_secrets_or_forge_results_json(image, tmp_path):
    probe = Path(tempfile.mkdtemp(prefix="compresslab-probe-")) / "found.json"
    probe.parent.chmod(0o777)
    attack = f"""import json
found = {{}}
for path in ["/autograder/source/data/fixtures/{FIRST}.pt", "/autograder/source/data/fixtures/{FIRST}.checks.pt",
             "/autograder/source/tests/q2.py"]:
    try:
        open(path, "rb").read(1)
        found[path] = "read"
    except OSError as error:
        found[path] = type(error).__name__
try:
    open("/autograder/results/results.json", "w").write('{{"score": 1000, "tests": []}}')
    found["results.json"] = "written"
except OSError as error:
    found["results.json"] = type(error).__name__
open({str(probe)!r}, "w").write(json.dumps(found))
"""
    nb = nbformat.read(EXAMPLES / "blank" / f"{FIRST}.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(attack))
    hostile = tmp_path / f"{FIRST}.ipynb"
    nbformat.write(nb, hostile)
    try:
        result, done = image.grade(FIRST, hostile)
        found = json.loads(probe.read_text())
    finally:
        shutil.rmtree(probe.parent)
    assert "separate unprivileged uid" in done.stdout
    assert found and all(outcome == "PermissionError" for outcome in found.values()), found
    assert result["score"] == 0 and len(result["tests"]) == len(questions(ROOT / "autograder" / f"{FIRST}-autograder.zip"))
