"""Executing notebooks with nbclient (used by fixture generation and the tests)."""

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute_notebook(
    path: str | Path, cwd: str | Path | None = None, extra_source: str | None = None, timeout: int = 600, allow_errors: bool = False
) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` top to bottom in a fresh ``python3`` kernel and return it.

    cwd: working directory of the kernel (default: the notebook's folder); the notebook file is copied
    there first, since a notebook may open itself by name (``otter.Notebook("name.ipynb")``).
    extra_source: code appended as a last cell (e.g. to record results from the notebook's globals).
    timeout: seconds allowed per cell.
    allow_errors: keep going after a failing cell (its error is in the cell's outputs); otherwise the
    first failing cell raises ``nbclient.exceptions.CellExecutionError``.
    """
    path = Path(path)
    if cwd is not None and not (Path(cwd) / path.name).exists():
        shutil.copyfile(path, Path(cwd) / path.name)
    nb = nbformat.read(path, as_version=4)
    if extra_source is not None:
        nb.cells.append(nbformat.v4.new_code_cell(extra_source))
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors, resources={"metadata": {"path": str(cwd or path.parent)}}
    )
    client.execute()
    return nb


def error_names(nb: nbformat.NotebookNode) -> list[str]:
    """Exception names of the error outputs of an executed notebook, in cell order."""
    return [out.ename for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", []) if out.output_type == "error"]
