"""Regenerate the student release and the autograder from the master notebooks.

``python -m compresslab.release NOTEBOOK ...`` (``make release``) runs Otter Assign on
``solution/NOTEBOOK.ipynb`` and writes, reproducibly (same input, same bytes):

- ``assignment/NOTEBOOK.ipynb``: the student notebook (stubs, public checks only);
- ``assignment/NOTEBOOK.zip``: the student bundle (that notebook and what it needs, see ``bundle``);
- ``autograder/NOTEBOOK-autograder.zip``: the autograder (all tests, and what Gradescope needs to grade with
  compresslab's engine: see ``autograder_zip``), with sorted entries and fixed timestamps;
- ``data/examples/{reference,blank,partial}/NOTEBOOK.ipynb``: example submissions for
  ``make grade``: the release filled with the reference code, the untouched release, and
  the release with only the first ``PARTIAL_ANSWERS`` answers filled;
- beside them, the files those examples hand in for the notebook's outcome-graded questions (``handed_in_examples.example_files``).

``--check`` writes nothing and exits 1 naming every file that is out of date.
"""

import argparse
import hashlib
import io
import re
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

import nbformat

from .autograder_zip import autograder_zip
from .bundle import bundle_bytes
from .handed_in_examples import example_files
from .paths import course
from .stubs import STUB_MARKER

PARTIAL_ANSWERS = 2  # answers filled in the "partial" example submission
BLOCK_DELIMITER = re.compile(r"# (BEGIN|END) (QUESTION|SOLUTION|TESTS|PROMPT)\b")


def release_files(notebook: str) -> dict[Path, bytes]:
    """Every generated file of ``notebook`` as ``{path in the course folder: bytes}``."""
    folder = course()
    master = folder.master(notebook)
    if not master.is_file():
        raise FileNotFoundError(f"{master}: no master notebook named {notebook!r} in solution/")
    check_answer_cells(master)
    with tempfile.TemporaryDirectory() as tmp:
        from otter.assign import main as otter_assign

        with redirect_stdout(io.StringIO()):
            otter_assign(str(master), tmp, no_pdfs=True, no_run_tests=True)
        student = nbformat.read(Path(tmp) / "student" / f"{notebook}.ipynb", as_version=4)
        solved = nbformat.read(Path(tmp) / "autograder" / f"{notebook}.ipynb", as_version=4)
        (zip_path,) = (Path(tmp) / "autograder").glob("*.zip")
        release = _dump(student)
        autograder = autograder_zip(notebook, zip_path, release)
    reference = fill_answers(student, solved)
    partial = fill_answers(student, solved, limit=PARTIAL_ANSWERS)
    handed_in = {
        folder.example_dir(kind) / name: content for kind, files in example_files(notebook).items() for name, content in files.items()
    }
    return handed_in | {
        folder.release(notebook): release,
        folder.bundle(notebook): bundle_bytes(notebook, release),
        folder.autograder(notebook): autograder,
        folder.example("reference", notebook): _dump(reference),
        folder.example("blank", notebook): _dump(student),
        folder.example("partial", notebook): _dump(partial),
    }


def check_answer_cells(master: Path) -> None:
    """Raise ``ValueError`` naming every code cell of ``master`` that holds solution code outside a solution block.

    Otter Assign treats a cell inside ``# BEGIN QUESTION`` but outside ``# BEGIN SOLUTION``/``# END SOLUTION``
    raw cells as question text and locks it (``editable: false``): a student could not type the answer. Every
    answer cell therefore sits in a solution block, which also tags it ``otter_answer_cell`` in the release.
    """
    blocks: list[str] = []
    misplaced = []
    for index, cell in enumerate(nbformat.read(master, as_version=4).cells):
        delimiter = BLOCK_DELIMITER.match(cell.source.strip()) if cell.cell_type == "raw" else None
        if delimiter:
            blocks.append(delimiter[2]) if delimiter[1] == "BEGIN" else blocks.pop()
        elif cell.cell_type == "code" and not {"SOLUTION", "TESTS"} & set(blocks) and _has_solution_code(cell.source):
            misplaced.append(f"cell {index} ({cell.source.split(chr(10), 1)[0][:60]!r})")
    if misplaced:
        raise ValueError(f"{master}: solution code outside a `# BEGIN SOLUTION` / `# END SOLUTION` block would be a locked, "
                         f"read-only cell in the release; put each answer cell between those raw cells: {', '.join(misplaced)}")


def _has_solution_code(source: str) -> bool:
    """Whether a code cell carries Otter's solution markers (``# BEGIN SOLUTION`` or a line ending ``# SOLUTION``)."""
    return any("# BEGIN SOLUTION" in line or line.rstrip().endswith(("# SOLUTION", "# SOLUTION NO PROMPT")) for line in source.splitlines())


def fill_answers(student: nbformat.NotebookNode, solved: nbformat.NotebookNode, limit: int | None = None) -> nbformat.NotebookNode:
    """Copy of the student notebook whose stub cells (``# YOUR CODE HERE``) hold the reference code.

    A stub cell is matched to the solved cell with the same first line (its ``def``/``class`` line).
    limit: fill only the first ``limit`` stub cells (``None``: all).
    """
    by_first_line: dict[str, list[str]] = {}
    for cell in solved.cells:
        if cell.cell_type == "code":
            by_first_line.setdefault(cell.source.split("\n", 1)[0], []).append(reference_code(cell.source))
    filled = nbformat.reads(nbformat.writes(student), as_version=4)
    done = 0
    for cell in filled.cells:
        if cell.cell_type != "code" or STUB_MARKER not in cell.source:
            continue
        if limit is not None and done >= limit:
            break
        first_line = cell.source.split("\n", 1)[0]
        matches = by_first_line.get(first_line, [])
        if len(matches) != 1:
            raise ValueError(f"the answer cell starting {first_line!r} matches {len(matches)} cells of the master; "
                             "give each answer cell a unique first line (its def/class line)")
        cell.source = matches[0]
        done += 1
    return filled


def reference_code(source: str) -> str:
    """A master cell's code as a student would write it: the prompt block and the solution markers removed."""
    kept, in_prompt = [], False
    for line in source.split("\n"):
        marker = line.strip()
        if marker.endswith("# BEGIN PROMPT"):
            in_prompt = True
        elif marker.endswith("# END PROMPT"):
            in_prompt = False
        elif not in_prompt and marker not in ("# BEGIN SOLUTION NO PROMPT", "# BEGIN SOLUTION", "# END SOLUTION"):
            kept.append(line)
    return "\n".join(kept)


def _dump(nb: nbformat.NotebookNode) -> bytes:
    """Notebook bytes with cell ids derived from position and content (Otter draws random ones)."""
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    for i, cell in enumerate(nb.cells):
        cell.id = hashlib.sha1(f"{i}:{cell.cell_type}:{cell.source}".encode()).hexdigest()[:8]
    return (nbformat.writes(nb) + "\n").encode()


def stale_files(notebook: str) -> list[Path]:
    """Generated files of ``notebook`` that are missing or differ from what ``release`` would write."""
    return [path for path, content in release_files(notebook).items() if not path.is_file() or path.read_bytes() != content]


def write_release(notebook: str) -> list[Path]:
    """Write every generated file of ``notebook``; return the paths written."""
    written = []
    for path, content in release_files(notebook).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


def _shown(path: Path) -> str:
    """``path`` relative to the course folder when it lies inside it (as ``make release`` prints it)."""
    return str(path.relative_to(course().root)) if path.is_relative_to(course().root) else str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description="Regenerate assignment/ and autograder/ from solution/")
    parser.add_argument("notebooks", nargs="+", help="master notebook names, e.g. int8_cnn")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any generated file is out of date")
    args = parser.parse_args()
    if args.check:
        stale = [path for notebook in args.notebooks for path in stale_files(notebook)]
        for path in stale:
            print(f"out of date: {_shown(path)} (run `make release`)")
        sys.exit(1 if stale else 0)
    for notebook in args.notebooks:
        for path in write_release(notebook):
            print(f"wrote {_shown(path)}")


if __name__ == "__main__":
    main()
