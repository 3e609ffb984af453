"""``make fixtures``: record everything the hidden tests compare with, from the reference solution, then release.

For each notebook, in this order (each step reads what the one before wrote):

1. **fixtures** (``course().fixture``): execute ``solution/NOTEBOOK.ipynb`` and, in its kernel, run the builder
   ``compresslab.notebook_fixtures.NOTEBOOK.build`` on the notebook's globals: seeded inputs fed to the reference
   functions, saved with their outputs;
2. **reference checks** (``course().reference_checks``): write the release (so the reference example and the tests
   are the master's as it is now), trace-grade the reference example and store what each hidden check expects; the
   reference must earn full marks;
3. **mistakes** (``course().mistakes``, ``compresslab/public_mistakes.py``): how each catalogued mistake fails the
   tests (``compresslab.mistakes``);
4. **release** again: the bundles and autograder zips, which ship the files above.

Only this module runs the grading engine to record; the runtime side (``compresslab.fixtures``,
``compresslab.grading.reference_checks``) only reads what it wrote.
"""

import argparse
import importlib
import os
import tempfile

import nbformat
import torch

from . import mistakes
from .grading.autograders import otter_tests
from .grading.engine import Limits, Task, Zygote
from .grading.grading_mode import marked_sources
from .grading.reference_checks import fingerprint, unusable
from .notebooks import execute_notebook
from .paths import course
from .release import write_release

# How far a float fixture may move when the same master runs on another CPU. Measured by computing every notebook's
# fixtures under ATEN_CPU_CAPABILITY=default|avx2|avx512, ONEDNN_MAX_CPU_ISA=SSE41|AVX2 and 1 or 2 threads (AMD EPYC
# with AVX-512) against the stored ones (recorded on an AVX2 machine): at most 5.8e-7 of the tensor's largest
# magnitude (int8_cnn /profile/fc2 under SSE41; inputs drawn with torch.randn drift as much under the default
# kernels), about 5 float32 units in the last place of its largest element. Elements near 0 drift by as much as
# the large ones (a logit of 0.01 moved by 0.05%), so the tolerance is relative to the tensor's scale, not to each
# element. 1e-5 leaves a 17x margin; a master that really changed moves values by far more
# (tests/test_notebooks.py: a fused conv that forgets BatchNorm's eps is caught).
FLOAT_RTOL = 1e-5


def compute(notebook: str, namespace: dict) -> dict:
    """Run the fixture builder of ``notebook`` (``compresslab.notebook_fixtures.<notebook>.build``)
    on the functions in ``namespace`` (the executed master notebook's globals)."""
    try:
        builder = importlib.import_module(f"compresslab.notebook_fixtures.{notebook}")
    except ModuleNotFoundError as missing:
        raise ModuleNotFoundError(f"no fixture builder for {notebook}: write compresslab/notebook_fixtures/{notebook}.py with "
                                  f"build(namespace) and SECRETS (CONTRIBUTING.md, 'Adding a notebook')") from missing
    return builder.build(namespace)


def save_fixtures(notebook: str, namespace: dict) -> None:
    """Compute and save the fixtures of ``notebook`` from the reference functions in ``namespace`` (run in the
    master's kernel)."""
    path = course().fixture(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(compute(notebook, namespace), path)


def record_fixtures(notebook: str) -> None:
    """Step 1: execute the master and save its fixtures."""
    with tempfile.TemporaryDirectory() as scratch:  # files the notebook writes stay out of the course folder
        execute_notebook(
            course().master(notebook),
            cwd=scratch,
            extra_source=f"import compresslab.record_fixtures\ncompresslab.record_fixtures.save_fixtures({notebook!r}, globals())",
        )


def record_reference_checks(notebook: str) -> None:
    """Step 2: trace-grade the reference example against the autograder and save its checks; the reference must earn
    full marks, every hidden case must make a check, and no expected value may reach the student's process
    (``reference_checks.unusable``); else nothing is saved. The release must be current (``main`` writes it first)."""
    folder = course()
    reference_notebook, autograder = folder.example("reference", notebook), folder.autograder(notebook)
    skip = marked_sources(nbformat.read(folder.release(notebook), as_version=4))
    zygote = Zygote()
    try:
        outcome = zygote.grade(Task(str(reference_notebook), str(autograder), skip, Limits(), trace=True))
    finally:
        zygote.close()
    lost = {name: q["failures"] for name, q in (outcome.get("questions") or {}).items() if q["score"] < q["possible"]}
    if outcome["status"] != "graded" or lost:
        raise RuntimeError(
            f"the reference {reference_notebook} does not earn full marks ({outcome['status']}: {outcome['message']} {lost})"
        )
    fixtures = folder.fixture(notebook)
    content = fixtures.read_bytes() if fixtures.is_file() else None
    cases = {name: {case: [{key: value for key, value in record.items() if key != "actual"} for record in report["records"]]
                    for case, report in file_cases.items()}
             for name, file_cases in outcome["cases"].items()}
    tests = otter_tests(autograder)
    stored = {**fingerprint(tests, content), "cases": cases}
    problems = unusable(notebook, tests, stored, content)
    if problems:
        raise ValueError(f"{folder.master(notebook)}: the hidden tests cannot be decided by the grader:\n  " + "\n  ".join(problems))
    torch.save(stored, folder.reference_checks(notebook))


def differences(fresh, stored, where: str = "") -> list[str]:
    """Paths at which two fixture trees differ: integer and bool tensors exactly (no CPU moved one, measured as for
    ``FLOAT_RTOL``); a floating tensor or a Python float when some element moves by more than ``FLOAT_RTOL`` times
    the stored tensor's largest magnitude; dtypes and shapes exactly."""
    if isinstance(stored, dict):
        if not isinstance(fresh, dict) or fresh.keys() != stored.keys():
            return [f"{where or '/'}: keys differ"]
        return [d for key in stored for d in differences(fresh[key], stored[key], f"{where}/{key}")]
    if isinstance(stored, (list, tuple)):
        if not isinstance(fresh, (list, tuple)) or len(fresh) != len(stored):
            return [f"{where}: lengths differ"]
        return [d for i, (a, b) in enumerate(zip(fresh, stored)) for d in differences(a, b, f"{where}[{i}]")]
    if isinstance(stored, torch.Tensor):
        if not (isinstance(fresh, torch.Tensor) and fresh.dtype == stored.dtype and fresh.shape == stored.shape):
            return [f"{where}: tensors differ in type, dtype or shape"]
        if not stored.is_floating_point():
            return [] if torch.equal(fresh, stored) else [f"{where}: {int((fresh != stored).sum())} of {stored.numel()} values differ"]
        return _float_difference(fresh.double(), stored.double(), where)
    if isinstance(stored, float) and isinstance(fresh, float):
        return _float_difference(torch.tensor(fresh, dtype=torch.float64), torch.tensor(stored, dtype=torch.float64), where)
    return [] if fresh == stored else [f"{where}: {fresh!r} != {stored!r}"]


def _float_difference(fresh: torch.Tensor, stored: torch.Tensor, where: str) -> list[str]:
    """``[]`` if ``fresh`` is within ``FLOAT_RTOL`` of the scale of ``stored`` (float64 tensors of one shape; NaN
    matches NaN), else how far it moved."""
    if not torch.equal(fresh.isnan(), stored.isnan()):
        return [f"{where}: NaN in other places"]
    fresh, stored = fresh.nan_to_num(nan=0.0), stored.nan_to_num(nan=0.0)
    moved = (fresh - stored).abs().max().item() if stored.numel() else 0.0
    scale = stored.abs().max().item() if stored.numel() else 0.0
    if moved <= FLOAT_RTOL * scale:
        return []
    return [f"{where}: moved by up to {moved:.3g}, {moved / scale if scale else float('inf'):.3g} of its largest magnitude {scale:.3g} "
            f"(other CPU kernels move it by less than {FLOAT_RTOL:g})"]


STEPS = ("fixtures", "checks", "mistakes", "release")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook names, e.g. int8_cnn (default: every master in solution/)")
    parser.add_argument("--from", dest="first", choices=STEPS, default="fixtures",
                        help="start at this step (the earlier ones' files are kept as they are)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants graded side by side (step 3)")
    args = parser.parse_args()
    notebooks = args.notebooks or course().masters()
    steps = STEPS[STEPS.index(args.first):]
    for notebook in notebooks:
        if "fixtures" in steps:
            record_fixtures(notebook)
            print(f"wrote {course().fixture(notebook)}")
        if "checks" in steps:
            write_release(notebook)  # the reference example and the tests of the master as it is now
            record_reference_checks(notebook)
            print(f"wrote {course().reference_checks(notebook)}")
        if "mistakes" in steps:
            print(f"wrote {mistakes.record(notebook, args.jobs)}")
    if "mistakes" in steps:
        print(f"wrote {mistakes.write_public_table()}")
    # every bundle and autograder zip ships public_mistakes.py: after the mistakes step, every notebook is released again
    for notebook in course().masters() if "mistakes" in steps else notebooks:
        for path in write_release(notebook):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
