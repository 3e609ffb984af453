"""Grading mode: skip the cells that only spend time (training, scans, plots) when grading.

A master notebook marks such a cell with a first line starting ``# grading: skip``; Otter's
``grader.check(...)`` and ``grader.export(...)`` cells are skipped too (the grader runs the same
tests itself). The marks are read from the **release** (trusted), never from the submission: a
submission cell is skipped only when its source is identical to a marked release cell, so a
student cannot skip their own code, and a marked cell a student edited runs as written. The
number of skipped cells is reported (never silent). Cells holding student code are never marked
(a test checks it).
"""

import nbformat

SKIP_MARKER = "# grading: skip"
OTTER_CELLS = ("grader.check(", "grader.export(")


def is_marked(source: str) -> bool:
    """Whether a release cell is skipped in grading mode (marker on its first line, or an Otter check/export cell)."""
    stripped = source.lstrip()
    return stripped.startswith(SKIP_MARKER) or stripped.startswith(OTTER_CELLS)


def marked_sources(release: nbformat.NotebookNode) -> frozenset[str]:
    """Sources of the release's code cells that grading mode skips."""
    return frozenset(c.source for c in release.cells if c.cell_type == "code" and is_marked(c.source))


def skipped_indices(submission: nbformat.NotebookNode, marked: frozenset[str]) -> list[int]:
    """Indices of the submission's code cells identical to a marked release cell."""
    return [i for i, c in enumerate(submission.cells) if c.cell_type == "code" and c.source in marked]
