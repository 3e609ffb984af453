"""``make bench``: how long each notebook takes to run and to grade, written to a Markdown file.

Per notebook: the master executed top to bottom (nbclient), and the bundled reference and
blank submissions graded through the real grading path (one worker process each, as
``make grade`` runs them). Timings are measurements, never test assertions.
"""

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from .grading.runner import grade_notebook
from .notebooks import execute_notebook
from .paths import PACKAGE_DIR

ROOT = PACKAGE_DIR.parent


def bench_notebook(name: str) -> dict:
    """Seconds to execute the master and to grade the reference and blank examples of ``name``."""
    autograder = ROOT / "autograder" / f"{name}-autograder.zip"
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        execute_notebook(ROOT / "solution" / f"{name}.ipynb", cwd=tmp)
        result = {"run": time.perf_counter() - start}
    for example in ("reference", "blank"):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / f"{name}.ipynb"
            copy.write_bytes((ROOT / "data" / "examples" / example / f"{name}.ipynb").read_bytes())
            outcome = grade_notebook(copy, autograder, timeout=3600)
        score = sum(q["score"] for q in outcome.questions.values()) if outcome.questions else 0.0
        possible = sum(q["possible"] for q in outcome.questions.values()) if outcome.questions else 0.0
        result[example] = (outcome.seconds, score, possible)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results.md"))
    parser.add_argument("notebooks", nargs="*", help="default: every master in solution/")
    args = parser.parse_args()
    names = args.notebooks or sorted(p.stem for p in (ROOT / "solution").glob("*.ipynb"))
    lines = [
        "# compresslab benchmark",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "",
        "| notebook | run master (s) | grade reference (s) | reference score | grade blank (s) | blank score |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        r = bench_notebook(name)
        (ref_s, ref, pos), (blank_s, blank, _) = r["reference"], r["blank"]
        lines.append(f"| {name} | {r['run']:.1f} | {ref_s:.1f} | {ref:g}/{pos:g} | {blank_s:.1f} | {blank:g}/{pos:g} |")
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
