"""``make bench``: how long each notebook takes to run and to grade, written to a Markdown file.

Per notebook: the master executed top to bottom (nbclient), and the bundled reference and
blank submissions graded through the real grading path in grading mode (one worker process
each, as ``make grade`` runs them), then the projected time for a class of ``CLASS_SIZE``
students at ``JOBS`` notebooks at a time. Timings are measurements, never test assertions.
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import nbformat
import torch

from .grading import grading_mode
from .grading.engine import Limits
from .grading.runner import grade_notebook
from .notebooks import execute_notebook
from .paths import PACKAGE_DIR

ROOT = PACKAGE_DIR.parent
CLASS_SIZE = 300  # students in the projection


def bench_notebook(name: str) -> dict:
    """Seconds to execute the master and to grade the reference and blank examples of ``name``."""
    autograder = ROOT / "autograder" / f"{name}-autograder.zip"
    skip = grading_mode.marked_sources(nbformat.read(ROOT / "assignment" / f"{name}.ipynb", as_version=4))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        execute_notebook(ROOT / "solution" / f"{name}.ipynb", cwd=tmp)
        result = {"run": time.perf_counter() - start}
    for example in ("reference", "blank"):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / f"{name}.ipynb"
            copy.write_bytes((ROOT / "data" / "examples" / example / f"{name}.ipynb").read_bytes())
            outcome = grade_notebook(copy, autograder, Limits(notebook_seconds=3600), skip)
        score = sum(q["score"] for q in outcome.questions.values()) if outcome.questions else 0.0
        possible = sum(q["possible"] for q in outcome.questions.values()) if outcome.questions else 0.0
        result[example] = (outcome.seconds, score, possible)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results.md"))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", os.cpu_count() or 1)), help="parallel graders in the projection")
    parser.add_argument("notebooks", nargs="*", help="default: every master in solution/")
    args = parser.parse_args()
    names = args.notebooks or sorted(p.stem for p in (ROOT / "solution").glob("*.ipynb"))
    lines = [
        "# compresslab benchmark",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "",
        "| notebook | run master top to bottom (s) | grade reference, grading mode (s) | reference score | grade blank (s) | blank score |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    per_student = 0.0
    for name in names:
        r = bench_notebook(name)
        (ref_s, ref, pos), (blank_s, blank, _) = r["reference"], r["blank"]
        per_student += (ref_s + blank_s) / 2
        lines.append(f"| {name} | {r['run']:.1f} | {ref_s:.1f} | {ref:g}/{pos:g} | {blank_s:.1f} | {blank:g}/{pos:g} |")
        print(lines[-1], flush=True)
    hours = CLASS_SIZE * per_student / args.jobs / 3600
    lines += ["", f"Projected: {CLASS_SIZE} students x {len(names)} notebooks at {args.jobs} at a time: {hours:.2f} h "
              f"({per_student:.1f} s of grading per student, the mean of reference and blank)."]
    print(lines[-1])
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
