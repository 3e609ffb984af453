"""The grading engine bounds each notebook: endless cells time out, huge allocations hit the memory
limit, fork loops hit the process limit, an interpreter exit is a crash; none of them affects the next
notebook graded by the same zygote. What hostile code can and cannot reach is tests/test_hostile_notebooks.py."""

import os

import nbformat
import pytest

from compresslab import mutation
from compresslab.grading import cgroups, grading_mode
from compresslab.grading.engine import Limits
from compresslab.grading.runner import grade_notebook

from conftest import ROOT

NAME = "int8_cnn"
# Generous limits: a loaded CI machine must not turn a normal cell into a timeout.
LIMITS = Limits(notebook_seconds=600, cell_seconds=20, memory_bytes=6 * 2**30)


def _reference_with(tmp_path, extra_cell: str | None):
    nb = nbformat.read(ROOT / "data" / "examples" / "reference" / f"{NAME}.ipynb", as_version=4)
    if extra_cell is not None:
        position = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "class NetQuantizedWithBias" in c.source) + 1
        nb.cells.insert(position, nbformat.v4.new_code_cell(extra_cell))
    path = tmp_path / f"{NAME}.ipynb"
    nbformat.write(nb, path)
    return path


def _grade(path, zygote, limits=LIMITS):
    skip = grading_mode.marked_sources(nbformat.read(ROOT / "assignment" / f"{NAME}.ipynb", as_version=4))
    return grade_notebook(path, ROOT / "autograder" / f"{NAME}-autograder.zip", limits, skip, zygote)


def _total(outcome):
    return sum(q["score"] for q in outcome.questions.values()), sum(q["possible"] for q in outcome.questions.values())


@pytest.mark.parametrize(
    "cell, status, words",
    [
        ("while True:\n    pass", "timeout", "ran longer than 8 s"),
        ("import os\nos._exit(3)", "crashed", "exit code 3"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "crashed", "signal 9"),
    ],
)
def test_a_hostile_cell_ends_the_notebook_with_a_clear_status(cell, status, words, tmp_path, zygote):
    # 8 s per cell: the reference's cells take well under a second each (grading mode), so only the loop reaches it
    outcome = _grade(_reference_with(tmp_path, cell), zygote, Limits(notebook_seconds=600, cell_seconds=8, memory_bytes=LIMITS.memory_bytes))
    assert outcome.status == status and words in outcome.message, (outcome.status, outcome.message)
    assert outcome.questions is None


def test_a_huge_allocation_hits_the_memory_limit_and_the_rest_is_still_graded(tmp_path, zygote):
    outcome = _grade(_reference_with(tmp_path, "hog = bytearray(30 * 2**30)"), zygote)
    assert outcome.status == "memory" and "out of memory" in outcome.message
    score, possible = _total(outcome)
    assert score == possible > 0


MEMORY_IN_MANY_PROCESSES = """import os, time
for _ in range(8):
    if os.fork() == 0:
        block = b"x" * 2**30  # 1 GiB each, written: within the per-process limit, not all together
        time.sleep(60)
        os._exit(0)
time.sleep(15)
"""


@pytest.mark.skipif(not cgroups.available() and os.environ.get("CI") != "true", reason="memory across processes is bounded by a cgroup, which needs root: run `sudo make test`")
def test_memory_across_processes_hits_the_cgroup_limit_and_the_rest_is_still_graded(tmp_path, zygote):
    outcome = _grade(_reference_with(tmp_path, MEMORY_IN_MANY_PROCESSES), zygote, Limits(notebook_seconds=600, cell_seconds=120, memory_bytes=6 * 2**30, scratch_bytes=2**28))
    assert outcome.status == "memory" and "killed" in outcome.message and "of its processes" in outcome.message, outcome.message
    score, possible = _total(outcome)
    assert score == possible > 0


def test_sys_exit_in_a_cell_does_not_stop_grading(tmp_path, zygote):
    outcome = _grade(_reference_with(tmp_path, "import sys\nsys.exit(0)"), zygote)
    assert outcome.status == "graded"
    score, possible = _total(outcome)
    assert score == possible


def test_the_zygote_grades_normally_after_hostile_notebooks(tmp_path, zygote):
    (tmp_path / "hostile").mkdir()
    assert _grade(_reference_with(tmp_path / "hostile", "import os\nos._exit(1)"), zygote).status == "crashed"
    outcome = _grade(_reference_with(tmp_path, None), zygote)
    assert outcome.status == "graded" and _total(outcome)[0] == _total(outcome)[1]


SLOW_WHEN_TESTED = """import time
_fast_quantized_weights = quantized_weights
def quantized_weights(*args, **kwargs):
    time.sleep(60)
    return _fast_quantized_weights(*args, **kwargs)
"""


def test_a_notebook_time_limit_covers_the_tests_too(tmp_path, zygote):
    # The cells finish at once (the slow wrapper is only defined), so only the tests, which call
    # quantized_weights, can reach the limit; no dependence on how fast the machine runs the cells.
    outcome = _grade(_reference_with(tmp_path, SLOW_WHEN_TESTED), zygote, Limits(notebook_seconds=12, cell_seconds=50))
    assert outcome.status == "timeout" and "notebook ran longer than 12 s" in outcome.message


FORK_BOMB = """import os, time
while True:
    if os.fork() == 0:
        time.sleep(60)
"""


def test_a_fork_loop_hits_the_process_limit_and_the_rest_is_still_graded(tmp_path, zygote):
    outcome = _grade(_reference_with(tmp_path, FORK_BOMB), zygote, Limits(notebook_seconds=600, cell_seconds=60, processes=32))
    assert outcome.status == "processes" and "process limit (32 processes and threads)" in outcome.message, outcome.message
    score, possible = _total(outcome)
    assert score == possible > 0


PATCH_THE_CHECKERS = """import builtins, numpy, torch, compresslab.checks
agree = lambda *args, **kwargs: None
torch.testing.assert_close = agree
numpy.testing.assert_allclose = agree
torch.equal = lambda *args, **kwargs: True
torch.allclose = lambda *args, **kwargs: True
for name in dir(compresslab.checks):
    if name.startswith("check"):
        setattr(compresslab.checks, name, agree)
builtins.isinstance = lambda *args: True
"""


def _floor_mutant(tmp_path, extra_cell):
    catalog = {m.description: m for m in mutation.catalog(NAME)}
    nb = mutation.mutate(nbformat.read(_reference_with(tmp_path, extra_cell), as_version=4), catalog["you rounded with floor instead of round"])
    path = tmp_path / f"{NAME}.ipynb"
    nbformat.write(nb, path)
    return path


def test_patching_the_checkers_in_a_cell_gains_nothing(tmp_path, zygote):
    (tmp_path / "plain").mkdir()
    plain = _grade(_floor_mutant(tmp_path / "plain", None), zygote)
    patched = _grade(_floor_mutant(tmp_path, PATCH_THE_CHECKERS), zygote)
    assert _total(plain)[0] < _total(plain)[1], "the mutant alone should lose points"
    assert patched.status == "graded" and patched.questions == plain.questions, patched.message
    assert "undone before the tests: torch.testing.assert_close" in patched.message or "torch.equal" in patched.message, patched.message


FAKE_RESULTS = """import json, pickle
for name in ("results.json", "results.pkl", ".OTTER_RESULTS.json"):
    with open(name, "w") as f:
        json.dump({"total": 22, "possible": 22, "q2": {"score": 5}}, f)
"""

FORGE_THE_REPORT = """import json, os
fake = json.dumps({"questions": {"q2": {"score": 5.0, "possible": 5.0, "failures": []}}, "errors": [], "skipped": 0, "undone": []})
for fd in map(int, os.listdir("/proc/self/fd")):
    try:
        os.write(fd, b"tests\\n" + fake.encode() + b"\\n")
    except OSError:
        pass
os._exit(0)
"""


def _blank_with(tmp_path, extra_cell):
    nb = nbformat.read(ROOT / "data" / "examples" / "blank" / f"{NAME}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(extra_cell))
    path = tmp_path / f"{NAME}.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_fake_results_file_gains_nothing(tmp_path, zygote):
    outcome = _grade(_blank_with(tmp_path, FAKE_RESULTS), zygote)
    assert outcome.status == "graded" and _total(outcome)[0] == 0


def test_forging_the_grader_report_from_a_cell_gains_nothing(tmp_path, zygote):
    outcome = _grade(_blank_with(tmp_path, FORGE_THE_REPORT), zygote)
    assert outcome.status == "crashed" and outcome.questions is None, (outcome.status, outcome.message)
