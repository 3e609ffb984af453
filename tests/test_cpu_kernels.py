"""The same scores on any CPU.

PyTorch picks its kernels by the CPU: ATen's vectorized kernels by ``ATEN_CPU_CAPABILITY`` (AVX-512, AVX2, or the
portable ``default`` of a CPU without AVX2), oneDNN's convolutions by ``ONEDNN_MAX_CPU_ISA``. Both variables force a
lesser set on this machine, as another CPU would have. They are read when torch is imported, so each variant grades
in its own ``make grade``. What was measured under them, and the rules that follow, are written down next to the
tolerances (``compresslab/fixtures.py``, ``compresslab/portable_random.py``); this file checks the outcome.
"""

import csv
import shutil
import subprocess
import sys

import pytest
import torch

from compresslab import checks
from compresslab.grading.autograders import questions

from conftest import ROOT, run_make_grade

RELEASED = sorted(p.name.removesuffix("-autograder.zip") for p in (ROOT / "autograder").glob("*-autograder.zip"))

# variant -> (its environment, a probe printing what torch then uses, what the probe must print)
VARIANTS = {
    "aten-default": ({"ATEN_CPU_CAPABILITY": "default"}, "import torch; print(torch.backends.cpu.get_cpu_capability())", "DEFAULT"),
    "onednn-sse41": ({"ONEDNN_MAX_CPU_ISA": "SSE41", "ONEDNN_VERBOSE": "1"},
                     "import torch; torch.nn.functional.conv2d(torch.zeros(8, 16, 32, 32), torch.zeros(16, 16, 3, 3))", "isa:Intel SSE4.1"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_reference_keeps_full_marks_under_other_cpu_kernels(variant, tmp_path):
    """The reference example, all four notebooks, graded under the variant: every question at full marks, the scores
    of the default run (``test_grading.py::test_reference_earns_full_marks``). Before the fix, ATen's default kernels
    cost the reference 4 of 135 points (pruning q3, q6, q7)."""
    env, probe, expected_probe = VARIANTS[variant]
    probed = subprocess.run([sys.executable, "-c", probe], env=env | {"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    assert expected_probe in probed.stdout, f"{env} does not change torch's kernels here: {probed.stdout[-500:]}"
    grading_env = {k: v for k, v in env.items() if k != "ONEDNN_VERBOSE"}  # verbose output would flood the grader's log
    shutil.copytree(ROOT / "data" / "examples" / "reference", tmp_path / "submissions" / "reference")
    done = run_make_grade(tmp_path / "submissions", tmp_path / "grades", env=grading_env)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(tmp_path / "grades" / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    full_marks = {(name, q.name): q.points for name in RELEASED for q in questions(ROOT / "autograder" / f"{name}-autograder.zip")}
    scores = {(r["notebook"], r["question"]): float(r["score"]) for r in rows}
    lost = [f"{r['notebook']}/{r['question']} {r['score']}/{r['possible']}: {r['message'][:300]}" for r in rows if float(r["score"]) != float(r["possible"])]
    assert scores == full_marks, "\n".join(lost)


def test_a_mismatch_message_shows_the_difference():
    """A float32 weight one unit in the last place off prints differently from the expected one (it read
    ``got 0.37874 expected 0.37874`` at 6 digits)."""
    expected = torch.tensor([0.37874, -1.5])
    actual = torch.nextafter(expected, torch.tensor(1.0))
    with pytest.raises(AssertionError, match=r"\[0\] got 0\.37874004 expected 0\.37874001"):
        checks.check_equal(actual, expected, "w")
    with pytest.raises(AssertionError, match=r"got 96\.38888, expected at least 96\.38889"):
        checks.check_at_least(96.38888, 96.388885, "accuracy")
    with pytest.raises(AssertionError, match=r"values in \[3, 1\.000001e\+06\]; did you clamp"):  # not [3, 1e+06]
        checks.check_integer_valued(torch.tensor([3.0, 1000001.0]), "q", -1e6, 1e6)
