"""Student bundles run on their own, with only the pinned requirements importable (not this repository), in each
layout the README documents: the unzipped bundle, and the notebook with the bundle zip beside it (Colab's layout).
The blank notebook runs with only stub errors and its export warns that it answers nothing; the reference-filled one
passes every public check, and the zip its export cell writes grades to full marks with ``make grade``."""

import csv
import json
import re
import subprocess
import zipfile

import nbformat
import pytest

from compresslab.bundle import module_closure, notebook_sources

from conftest import NOTEBOOKS, ROOT, run_make_grade
from student_env import student_python

DRIVER = """
import json, re, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient
path = Path(sys.argv[1])
nb = nbformat.read(path, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("import compresslab; print('COMPRESSLAB_FROM', compresslab.__file__)"))
NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(path.parent)}}).execute()
def text(cell):
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", []))
print(json.dumps({
    "errors": [o.ename for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"],
    "checks": [text(c) for c in nb.cells if c.cell_type == "code" and c.source.startswith("grader.check(")],
    "export": "".join(text(c) for c in nb.cells if c.cell_type == "code" and re.search(r"^grader[.]export[(]", c.source, re.M)),
    "last": text(nb.cells[-1]),
}))
"""


@pytest.fixture(scope="session")
def bundle_python(tmp_path_factory):
    """A Python that has the pinned requirements but not the repository's compresslab."""
    return student_python(tmp_path_factory.mktemp("bundle-env"))


def _unzip(name, folder):
    with zipfile.ZipFile(ROOT / "assignment" / f"{name}.zip") as archive:
        archive.extractall(folder)
    return folder / name


def _execute(python, notebook):
    """Run the notebook top to bottom with the driver, in its own folder; nothing is checked yet."""
    return subprocess.run([python, "-c", DRIVER, str(notebook)], capture_output=True, text=True, timeout=1800, cwd=notebook.parent)


def _result(done, bundle):
    """The driver's report, once it is clear the run finished with the compresslab of the unzipped ``bundle`` folder."""
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"COMPRESSLAB_FROM {bundle / 'compresslab'}" in result["last"], result["last"]
    return result


def _zip_beside(name, folder):
    """The layout "notebook with the zip beside it": ``folder`` holds ``name.ipynb`` (to be written) and ``name.zip``."""
    (folder / f"{name}.zip").write_bytes((ROOT / "assignment" / f"{name}.zip").read_bytes())
    return folder / f"{name}.ipynb", folder / name


# Each layout: how to lay out the bundle of a notebook in a folder -> (the student's notebook, the unzipped bundle).
LAYOUTS = {
    "unzipped": lambda name, folder: (_unzip(name, folder) / f"{name}.ipynb", folder / name),
    "zip-beside": _zip_beside,
}
END_TO_END_ZIP_BESIDE = "int8_cnn"  # the quickest notebook runs in the second layout too


@pytest.fixture(scope="module")
def exported_references(bundle_python, tmp_path_factory):
    """Each notebook's reference run top to bottom in its unzipped bundle (and the quickest one also beside its zip),
    then what each export cell wrote graded in one ``make grade`` batch (one student per run, named ``layout-notebook``):
    {(layout, name): (bundle folder, driver run, exports, rows)}, exports as {file name: path written beside the notebook}.

    One batch, not one per run: the grader starts once and grades the exports side by side."""
    submissions = tmp_path_factory.mktemp("submissions")
    runs = {}
    for layout, name in [("unzipped", name) for name in NOTEBOOKS] + [("zip-beside", END_TO_END_ZIP_BESIDE)]:
        notebook, bundle = LAYOUTS[layout](name, tmp_path_factory.mktemp(f"{layout}-{name}"))
        notebook.write_bytes((ROOT / "data" / "examples" / "reference" / f"{name}.ipynb").read_bytes())
        done = _execute(bundle_python, notebook)
        student = submissions / f"{layout}-{name}"
        student.mkdir()
        exports = {export.name: export for export in sorted(notebook.parent.glob(f"{name}_*.zip"))}
        for export in exports.values():
            export.rename(student / export.name)
        runs[(layout, name)] = (bundle, done, exports)
    out = tmp_path_factory.mktemp("grades")
    graded = run_make_grade(submissions, out)
    assert graded.returncode == 0, graded.stderr[-2000:]
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {(layout, name): (*run, [r for r in rows if r["student"] == f"{layout}-{name}" and r["notebook"] == name])
            for (layout, name), run in runs.items()}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_bundle_holds_no_solution_hidden_test_or_expected_output(name):
    with zipfile.ZipFile(ROOT / "assignment" / f"{name}.zip") as archive:
        names = archive.namelist()
        text = "\n".join(archive.read(n).decode(errors="replace") for n in names)
    assert f"{name}/{name}.ipynb" in names and f"{name}/requirements.txt" in names
    forbidden = ("notebook_fixtures", "/grading/", "/hidden/", "release.py", "bundle.py", "autograder_zip.py", "record_fixtures.py", "/fixtures.py",
                 "/mistakes.py", "/mutation.py", "/notebooks.py", "/bench.py", "data/fixtures", "data/examples", "solution/", "mutants/")
    assert not [n for n in names if any(f in n for f in forbidden)]
    release = nbformat.read(ROOT / "assignment" / f"{name}.ipynb", as_version=4)
    imported = {f"{name}/{path.relative_to(ROOT).as_posix()}" for path in module_closure(notebook_sources(release))}
    assert {n for n in names if n.startswith(f"{name}/compresslab/")} == imported, "the bundle ships exactly the modules its notebook imports"
    assert "BEGIN SOLUTION" not in text and "hidden=True" not in text and "fixtures.load(" not in text
    flat = " ".join(text.split())
    pairs = _answer_line_pairs(name)
    assert pairs, "the reference adds no code to the stubs?"
    leaked = [pair for pair in pairs if pair in flat]
    assert not leaked, f"reference code found in the bundle: {leaked[:3]}"


def _answer_line_pairs(name):
    """Each two consecutive code lines the reference adds to a stub (whitespace-normalized)."""
    reference = nbformat.read(ROOT / "data" / "examples" / "reference" / f"{name}.ipynb", as_version=4)
    student = nbformat.read(ROOT / "assignment" / f"{name}.ipynb", as_version=4)
    given = {line.strip() for c in student.cells for line in c.source.splitlines()}
    pairs = []
    for cell in reference.cells:
        if cell.cell_type != "code":
            continue
        added = [" ".join(line.split()) for line in cell.source.splitlines() if line.strip() and line.strip() not in given and not line.strip().startswith("#")]
        pairs += [f"{a} {b}" for a, b in zip(added, added[1:])]
    return pairs


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_blank_notebook_runs_from_the_bundle_with_only_stub_errors(name, bundle_python, tmp_path):
    notebook = _unzip(name, tmp_path) / f"{name}.ipynb"
    result = _result(_execute(bundle_python, notebook), notebook.parent)
    assert result["errors"] and result["errors"][0] == "NotImplementedError", result["errors"][:3]
    assert set(result["errors"]) <= {"NotImplementedError", "NameError"}, result["errors"]
    assert f"WARNING: the saved {name}.ipynb answers nothing" in result["export"], result["export"]


@pytest.mark.parametrize("layout, name", [("unzipped", name) for name in NOTEBOOKS] + [("zip-beside", END_TO_END_ZIP_BESIDE)])
def test_reference_passes_public_checks_and_its_export_grades_full(layout, name, exported_references):
    bundle, done, exports, rows = exported_references[(layout, name)]
    result = _result(done, bundle)
    assert result["errors"] == []
    assert result["checks"] and all(re.search(r"passed", c) and not re.search(r"failed", c) for c in result["checks"]), result["checks"]
    assert len(exports) == 1, "the export cell should write exactly one submission zip, beside the notebook"
    (written,) = exports.values()
    assert f"Wrote {written}" in result["export"] and "WARNING" not in result["export"], result["export"]
    assert rows and all(r["status"] == "graded" and float(r["score"]) == float(r["possible"]) for r in rows), rows
