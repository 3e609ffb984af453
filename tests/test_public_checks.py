"""Public checks teach without handing out answers.

The public tests ship inside every student notebook (``metadata.otter.tests`` of ``assignment/*.ipynb``), so a
student can read them. The rule, checked here on the release notebooks with ``ast``:

- a public test computes no graded quantity itself: it defines no function and no lambda, and calls none of the
  ``COMPUTING_OPS`` (the rounding, clamping, magnitude ranking, norms, ranges, spreads and arg-searches that the
  graded functions of these notebooks are made of);
- its expected values are literals (written as expressions of literals where that explains them, e.g.
  ``127 / 0.5``), the student's own outputs, or come from an independent library it names (``torch.ao``
  quantization, ``torch.nn.utils.prune``, scikit-learn, ``torch.nn.functional`` as a float oracle);
- it imports only ``ALLOWED_IMPORTS``.

Whether the literals are right is checked elsewhere: the reference solution must pass every public test
(``tests/test_notebooks.py``, ``make fixtures``).
"""

import ast

import nbformat
import pytest

from conftest import ROOT

NOTEBOOKS = sorted(p.stem for p in (ROOT / "solution").glob("*.ipynb"))

# Calls (function or method names) that compute what the graded functions compute. ``abs``, ``max``, ``sum`` and
# ``argmax`` stay allowed: the tests use them to measure a difference, count values or compare predictions.
COMPUTING_OPS = frozenset({
    "round", "clamp", "clamp_", "clip", "floor", "ceil", "trunc",  # quantizers
    "kthvalue", "topk", "sort", "argsort", "quantile", "nanquantile",  # magnitude ranking (pruning masks, orders)
    "norm", "vector_norm", "matrix_norm",  # channel importance
    "amax", "amin", "aminmax", "std", "var", "std_mean", "var_mean",  # ranges and spreads (scales)
    "argmin",  # searches (MSE-optimal scale)
})
ALLOWED_IMPORTS = ("torch", "numpy", "math", "copy", "sklearn", "compresslab")


def public_tests(notebook: str) -> dict[str, str]:
    """Question name -> the source of its public test file, as shipped in the release notebook."""
    nb = nbformat.read(ROOT / "assignment" / f"{notebook}.ipynb", as_version=4)
    return dict(nb.metadata["otter"]["tests"])


def violations(source: str) -> list[str]:
    """Where a public test file breaks the rule above: ``"test_name: what"``, one entry per offence."""
    found = []
    for test in ast.parse(source).body:
        if not isinstance(test, ast.FunctionDef):
            continue
        for node in ast.walk(test):
            where = f"{test.name}, line {getattr(node, 'lineno', '?')}"
            if node is not test and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                found.append(f"{where}: defines a {'lambda' if isinstance(node, ast.Lambda) else 'function'}")
            elif isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in COMPUTING_OPS:
                    found.append(f"{where}: calls {name}()")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{where}: imports {m}" for m in modules if m.split(".")[0] not in ALLOWED_IMPORTS]
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_public_tests_compute_no_graded_quantity(notebook):
    tests = public_tests(notebook)
    assert tests, f"assignment/{notebook}.ipynb ships no public tests"
    found = [f"{question}: {v}" for question, source in sorted(tests.items()) for v in violations(source)]
    assert not found, (f"public tests of {notebook} compute what a graded function computes (write the expected value as a "
                       "literal recorded from the reference, or take it from an independent library): " + "; ".join(found))


def test_the_rule_catches_answer_code():
    """The guard is not vacuous: each way public tests handed out answers before is reported."""
    answers = {
        "lambda": "def test_a(f):\n    g = lambda w: w * 2\n",
        "function": "def test_a(f):\n    def mse(x):\n        return x\n",
        "round": "def test_a(f):\n    e = torch.clamp((w * s).round(), -128, 127)\n",
        "kthvalue": "def test_a(f):\n    m = w.abs() > w.abs().flatten().kthvalue(3).values\n",
        "norm": "def test_a(f):\n    n = w.transpose(0, 1).flatten(1).norm(dim=1)\n",
        "amax": "def test_a(f):\n    s = w.abs().amax(dim=1, keepdim=True)\n",
        "import": "def test_a(f):\n    import scipy.optimize\n",
    }
    for what, source in answers.items():
        assert violations(source), f"the guard misses a public test that uses {what}"
    assert not violations("def test_a(f):\n    import torch\n    check_equal(f(torch.tensor([1.0])), torch.tensor([2.0]), 'x')\n")


def test_multiple_choice_answers_are_not_in_docstrings():
    """kmeans_linear's Questions 5.1 and 5.2 ask for the scale and zero-point formulas: the stub of
    ``get_quantization_scale_and_zero_point`` must not state them."""
    nb = nbformat.read(ROOT / "assignment" / "kmeans_linear.ipynb", as_version=4)
    stub = next(c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith("def get_quantization_scale_and_zero_point("))
    for answer in ("(r_max - r_min) / (q_max - q_min)", "round(q_min - r_min / scale)"):
        assert answer not in stub, f"the docstring of get_quantization_scale_and_zero_point gives away {answer!r}"
