"""Grading mode: skip the cells that only spend time (training, scans, plots) when grading.

A master notebook marks such a cell with a first line starting ``# grading: skip``; Otter's
``grader.check(...)`` and ``grader.export(...)`` cells are skipped too (the grader runs the same
tests itself). The marks are read from the **release** (trusted), never from the submission: a
submission cell is skipped only when its source is identical to a marked release cell, so a
student cannot skip their own code, and a marked cell a student edited runs as written. The
number of skipped cells is reported (never silent). Cells holding student code are never marked
(a test checks it).

The one exception, a cell of the student's own: an open-ended question's training or search cell (``outcomes``)
opens with ``# open-ended: not run when grading`` and is skipped whatever it holds, in grading mode and with
``--full`` alike, because its result is graded from the files it saved, handed in beside the notebook. Skipping a
cell can only take away what it defines, so a student who marks another cell with it can lose points, never gain.
"""

import nbformat

SKIP_MARKER = "# grading: skip"
OPEN_ENDED_MARKER = "# open-ended: not run when grading"
OTTER_CELLS = ("grader.check(", "grader.export(")


def is_marked(source: str) -> bool:
    """Whether a release cell is skipped in grading mode (marker on its first line, or an Otter check/export cell)."""
    stripped = source.lstrip()
    return stripped.startswith(SKIP_MARKER) or stripped.startswith(OTTER_CELLS)


def marked_sources(release: nbformat.NotebookNode) -> frozenset[str]:
    """Sources of the release's code cells that grading mode skips."""
    return frozenset(c.source for c in release.cells if c.cell_type == "code" and is_marked(c.source))


def skipped_indices(submission: nbformat.NotebookNode, marked: frozenset[str]) -> list[int]:
    """Indices of the submission's code cells identical to a marked release cell, or opening with ``OPEN_ENDED_MARKER``."""
    return [i for i, c in enumerate(submission.cells)
            if c.cell_type == "code" and (c.source in marked or c.source.lstrip().startswith(OPEN_ENDED_MARKER))]
