"""Grading mode: skip the cells that only spend time (training, scans, plots) when grading.

A master notebook marks such a cell with a first line starting ``# grading: skip``. The marks are
read from the **release** (trusted), never from the submission: a submission cell is skipped only
when its source is identical to a marked release cell, so a student cannot skip their own code,
and a marked cell a student edited runs as written. Skipped cells are replaced by a ``print`` that
says so (never silently). Cells holding student code are never marked (a test checks it).
"""

import copy

import nbformat

SKIP_MARKER = "# grading: skip"


def is_marked(source: str) -> bool:
    """Whether a cell's source carries the grading-mode skip marker on its first line."""
    return source.lstrip().startswith(SKIP_MARKER)


def marked_sources(release: nbformat.NotebookNode) -> set[str]:
    """Sources of the release's code cells marked ``# grading: skip``."""
    return {c.source for c in release.cells if c.cell_type == "code" and is_marked(c.source)}


def apply(submission: nbformat.NotebookNode, marked: set[str]) -> tuple[nbformat.NotebookNode, list[int]]:
    """Copy of ``submission`` with every cell identical to a marked release cell replaced by a notice.

    Returns the new notebook and the indices of the replaced cells.
    """
    graded = copy.deepcopy(submission)
    skipped = []
    for index, cell in enumerate(graded.cells):
        if cell.cell_type == "code" and cell.source in marked:
            first = cell.source.split("\n", 2)[1] if "\n" in cell.source else ""
            cell.source = f"print('grading mode: skipped a time-only cell of the release ({first.strip()[:60]} ...)')"
            cell.outputs = []
            skipped.append(index)
    return graded, skipped
