"""The package's shape, read from its source (``ast``): what CONTRIBUTING.md promises a TA taking it over.

- the import graph (module-level and function-level imports) has no circle;
- a public name is defined in one module only, except the interfaces several modules implement on purpose;
- plots live in ``compresslab/plots/``, training loops in ``compresslab/training.py``, hidden-test helpers in
  ``compresslab/hidden/``, and no student-facing module imports grading, hidden-test or fixture-command code;
- every line is at most ``MAX_LINE`` characters (the generated ``public_mistakes.py`` aside).

These read our own source, not a running surface; the bundle test (``test_bundle.py``) shows what each student bundle
really ships.
"""

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from compresslab.bundle import imported_modules, module_path

from conftest import ROOT

PACKAGE = ROOT / "compresslab"
MAX_LINE = 140
GENERATED = {"compresslab/public_mistakes.py"}  # written by make fixtures, one entry per line
# Names several modules define on purpose, one meaning each: a command's entry point, and the interface of a
# notebook's fixture builder (notebook_fixtures/<nb>.py), which record_fixtures looks up by notebook.
INTERFACES = {"main", "build", "SECRETS"}
# Modules that are not student-facing: the grader, the hidden tests' helpers, fixture builders and the commands that
# build releases, fixtures, catalogs and benchmarks.
NOT_STUDENT_FACING = ("compresslab.grading", "compresslab.hidden", "compresslab.notebook_fixtures", "compresslab.record_fixtures",
                      "compresslab.release", "compresslab.bundle", "compresslab.autograder_zip", "compresslab.mistakes",
                      "compresslab.mutation", "compresslab.bench", "compresslab.notebooks", "compresslab.handed_in_examples")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str) -> set[str]:
    """The package's modules ``module`` imports anywhere in its source (names of functions resolved to their module)."""
    path = MODULES[module]
    named = imported_modules(path.read_text(), _package_of(module, path))
    return {name for name in named if module_path(name) is not None and name != module}


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph as [a, b, ..., a], or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_circle():
    graph = {module: _imports(module) for module in MODULES}
    assert graph["compresslab.grading.engine"], "the graph is read (the engine imports modules of the package)"
    assert _circle(graph) is None, " -> ".join(_circle(graph))


def test_the_circle_finder_finds_a_circle():
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": set()}) is None


def _public_definitions(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return {name for name in names if not name.startswith("_")}


def test_no_public_name_is_defined_in_two_modules():
    where = defaultdict(list)
    for module, path in MODULES.items():
        for name in _public_definitions(path):
            where[name].append(module)
    twice = {name: modules for name, modules in where.items() if len(modules) > 1 and name not in INTERFACES}
    assert not twice, f"one name, one module (rename one, or import it from the other): {twice}"


def _matplotlib_importers() -> set[str]:
    return {module for module, path in MODULES.items() if any(name.split(".")[0] == "matplotlib" for name in _all_imports(path))}


def _all_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_plots_live_in_the_plots_package():
    plotting = {module for module, path in MODULES.items() for name in _public_definitions(path) if name.startswith("plot_")}
    assert plotting, "the notebooks' plot functions are found"
    assert {m for m in plotting if not m.startswith("compresslab.plots")} == set()
    # The grader draws its report's score histograms itself (compresslab/grading/html_report.py): not a notebook's plot.
    outside = {m for m in _matplotlib_importers() if not m.startswith(("compresslab.plots", "compresslab.grading"))}
    assert outside <= {"compresslab"}, f"only plots import matplotlib (the package's __init__ sets its backend): {outside}"


# An optimizer over a model's parameters: a training loop.
OPTIMIZER_OVER_PARAMETERS = re.compile(r"torch\.optim\.\w+\(\s*\w+\.parameters\(\)")


def test_training_loops_live_in_training():
    loops = {module for module, path in MODULES.items() if OPTIMIZER_OVER_PARAMETERS.search(path.read_text())}
    assert loops == {"compresslab.training"}, loops


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith(NOT_STUDENT_FACING) and m != "compresslab.public_mistakes"])
def test_a_student_facing_module_imports_no_grading_hidden_or_command_code(module):
    imported = _imports(module)
    assert not {m for m in imported if m.startswith(NOT_STUDENT_FACING)}, imported


def test_no_line_is_longer_than_the_limit():
    long = [f"{path.relative_to(ROOT)}:{number}" for path in MODULES.values() if path.relative_to(ROOT).as_posix() not in GENERATED
            for number, line in enumerate(path.read_text().splitlines(), 1) if len(line) > MAX_LINE]
    assert not long, f"{len(long)} lines longer than {MAX_LINE} characters: {long[:20]}"


NOTEBOOK_NAMES = sorted(path.stem for path in (ROOT / "solution").glob("*.ipynb"))
# Where a module without a test module of its own name is tested: through the surface that uses it.
TESTED_BY = {
    "compresslab.autograder_zip": "test_gradescope",  # the zip run as Gradescope runs it
    "compresslab.bench": "test_html_report",  # its synthetic class; make bench itself writes bench-results.md
    "compresslab.fixtures": "test_verdicts",  # the secrets zeroed in what the student's process receives
    "compresslab.handed_in_examples": "test_outcomes",
    "compresslab.mistakes": "test_diagnosis",
    "compresslab.portable_random": "test_cpu_kernels",
    "compresslab.public_mistakes": "test_diagnosis",
    "compresslab.quantized_handin": "test_outcomes",
    "compresslab.stubs": "test_release",
    "compresslab.hidden.common": "test_sawb_qat",
    "compresslab.sawb_derivation": "test_sawb_qat",
    "compresslab.fake_quantization": "test_sawb_qat",
    "compresslab.integer_kernels": "test_sawb_qat",
    "compresslab.grading.anonymous": "test_written",
    "compresslab.grading.autograders": "test_grading",
    "compresslab.grading.cgroups": "test_engine",
    "compresslab.grading.cli": "test_hostile_batch",
    "compresslab.grading.feedback": "test_outputs",
    "compresslab.grading.handed_in": "test_outcomes",
    "compresslab.grading.html_manual": "test_instructor_round",
    "compresslab.grading.journal": "test_resume",
    "compresslab.grading.leaderboard": "test_outcomes",
    "compresslab.grading.manual": "test_instructor_round",
    "compresslab.grading.patches": "test_hostile_notebooks",
    "compresslab.grading.protocol": "test_verdicts",
    "compresslab.grading.reference_checks": "test_verdicts",
    "compresslab.grading.reports": "test_outputs",
    "compresslab.grading.runner": "test_grading",
    "compresslab.grading.safe_text": "test_outputs",
    "compresslab.grading.sandbox": "test_hostile_notebooks",
    "compresslab.grading.zygote": "test_engine",
}


def home_test_of(module: str) -> str | None:
    """The test module of ``module``: ``test_<name>``, else its notebook's (``<nb>_helpers``, ``plots.<nb>``,
    ``hidden.<nb>``, ``notebook_fixtures.<nb>``), else the one ``TESTED_BY`` names."""
    name = module.rpartition(".")[2]
    candidates = [f"test_{name}"] + [f"test_{nb}" for nb in NOTEBOOK_NAMES if name in (nb, f"{nb}_helpers")]
    return next((c for c in candidates if (ROOT / "tests" / f"{c}.py").is_file()), TESTED_BY.get(module))


def test_every_module_has_a_test_module():
    modules = [m for m, path in MODULES.items() if path.name != "__init__.py" or m == "compresslab.plots"]
    homeless = [m for m in modules if home_test_of(m) is None]
    assert not homeless, f"write tests/test_<module>.py, or name the test module in TESTED_BY: {homeless}"
    missing = {m: home_test_of(m) for m in modules if not (ROOT / "tests" / f"{home_test_of(m)}.py").is_file()}
    assert not missing, missing
    assert not set(TESTED_BY) - set(MODULES), "TESTED_BY names modules that no longer exist"
