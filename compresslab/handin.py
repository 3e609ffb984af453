"""The student's ``grader``: Otter's ``Notebook`` whose export hands in the notebook the student edited.

A release notebook's setup cell creates ``grader = StudentNotebook(NOTEBOOK, BUNDLE)``; its checks are
Otter's (``grader.check("q2")``); its last cell is Otter's ``grader.export(pdf=False)``, which here:

- packs ``<NOTEBOOK>.ipynb`` from the kernel's working directory, the folder of the open notebook (the
  setup cell never changes directory, so this is the file the student edits, not the copy inside an
  unzipped bundle beside it), and prints the absolute path of the zip it wrote;
- adds the files the notebook's open-ended questions hand in (``outcomes.handed_in_files``: ``ResNet20_W4A4.pt`` ...)
  from the same folder, beside the notebook in the zip, and names each one missing, too large or a link (the grader
  refuses a link and a file over ``outcomes.MAX_HANDED_IN_BYTES``, so it is not packed);
- warns when the saved notebook answers nothing (every answer cell still holds its stub), and when a
  cell run in this kernel differs from the saved notebook (edits not saved before exporting);
- in Colab (detected by ``google.colab``), where the notebook lives in Google Drive and not on the
  kernel's disk, exports nothing and says how to hand in: File > Download > Download .ipynb.

Otter's grading mode (``otter run``, Gradescope) is unchanged: ``StudentNotebook`` inherits it.
"""

import datetime
import os
import sys
import zipfile

import nbformat
import otter

from .outcomes import MAX_HANDED_IN_BYTES, handed_in_files
from .stubs import ANSWER_TAG, STUB_MARKER, UNANSWERED_MARKDOWN


def in_colab() -> bool:
    """Whether this kernel is Colab's (it imports ``google.colab`` at start-up)."""
    return "google.colab" in sys.modules


def colab_instructions(notebook: str) -> str:
    """How to hand in from Colab, where ``grader.export`` cannot read the notebook."""
    return (
        f"Colab keeps this notebook in your Google Drive, not on this machine, so it cannot be zipped here.\n"
        f"To hand in: save (Ctrl+S), then File > Download > Download .ipynb, make sure the downloaded file is named "
        f"{notebook}.ipynb, and hand in that file"
        + (
            f", with {', '.join(handed_in_files(notebook))} beside it (Files panel: right-click, Download)."
            if handed_in_files(notebook)
            else "."
        )
    )


def write_public_tests(release: str, tests_dir: str) -> str:
    """Write the public tests stored in the metadata of the release notebook ``release`` as ``tests_dir/<q>.py``.

    Otter reads tests from a notebook's metadata only when it can open the notebook file, which Colab's
    kernel cannot; from files it can. Returns ``tests_dir``.
    """
    tests = nbformat.read(release, as_version=4).metadata.get("otter", {}).get("tests", {})
    os.makedirs(tests_dir, exist_ok=True)
    for question, source in tests.items():
        with open(os.path.join(tests_dir, f"{question}.py"), "w", encoding="utf-8") as f:
            f.write(source)
    return tests_dir


def unanswered_cells(nb: nbformat.NotebookNode) -> tuple[int, int]:
    """(answer cells still as released, answer cells) of a saved notebook."""
    answers = [c for c in nb.cells if ANSWER_TAG in c.metadata.get("tags", [])]
    blank = [c for c in answers if STUB_MARKER in c.source or c.source.strip() == UNANSWERED_MARKDOWN]
    return len(blank), len(answers)


def unsaved_runs(nb: nbformat.NotebookNode, executed: list[str]) -> list[str]:
    """First lines of the saved code cells whose latest run in the kernel (``executed``, oldest first) differs from them.

    A cell is recognized by its first line (the ``def``/``class`` line of an answer cell); first lines shared by
    several saved cells (e.g. ``# grading: skip ...``) are ambiguous and skipped, and so are cells never run.
    """
    saved: dict[str, list[str]] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.strip():
            saved.setdefault(_first_line(cell.source), []).append(cell.source.strip())
    latest = {_first_line(source): source.strip() for source in executed if source.strip()}
    return [line for line, sources in saved.items() if len(sources) == 1 and line in latest and latest[line] != sources[0]]


def pack_handed_in_files(zip_path: str, notebook: str) -> list[str]:
    """Add ``notebook``'s handed-in files found in the working directory to the zip, at its top level beside the
    notebook; returns one line per file saying what happened to it."""
    lines = []
    with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in handed_in_files(notebook):
            if os.path.islink(name):
                lines.append(f"WARNING: {name} is a symbolic link, which the grader refuses: copy the file itself here. Not packed.")
            elif not os.path.isfile(name):
                lines.append(f"WARNING: no {name} in {os.getcwd()}: its question gets no points until you save it here and export again.")
            elif os.path.getsize(name) > MAX_HANDED_IN_BYTES:
                lines.append(f"WARNING: {name} is larger than {MAX_HANDED_IN_BYTES // 2**20} MiB, which the grader refuses. Not packed.")
            else:
                archive.write(name, arcname=name)
                lines.append(
                    f"Packed {os.path.abspath(name)} (modified "
                    f"{datetime.datetime.fromtimestamp(os.path.getmtime(name)):%Y-%m-%d %H:%M:%S})."
                )
    return lines


def _first_line(source: str) -> str:
    return source.strip().split("\n", 1)[0]


def _executed_sources() -> list[str]:
    """Sources of the cells run in this IPython kernel, oldest first (empty outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    return list(shell.user_ns.get("In", [])) if shell is not None else []


class StudentNotebook(otter.Notebook):
    """``otter.Notebook`` for the release notebook ``notebook`` (name without ``.ipynb``).

    bundle: absolute path of the unzipped bundle folder when ``compresslab`` came from it (``None`` in the
    course repository); in Colab its release notebook supplies the public tests.
    """

    def __init__(self, notebook: str, bundle: str | None = None):
        self.notebook_name = notebook
        if in_colab() and bundle is not None:
            release = os.path.join(bundle, f"{notebook}.ipynb")
            super().__init__(release, tests_dir=write_public_tests(release, os.path.join(bundle, "tests")))
        else:
            super().__init__(f"{notebook}.ipynb")

    def export(self, pdf: bool = False, **kwargs):
        """Zip the saved ``<notebook>.ipynb`` of the working directory, say where the zip is and what it holds."""
        if type(self)._grading_mode:
            return super().export(pdf=pdf, **kwargs)
        if in_colab():
            print(colab_instructions(self.notebook_name))
            return None
        path = f"{self.notebook_name}.ipynb"
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"no {path} in {os.getcwd()}: save this notebook as {path} in this folder (its name is how it is graded), "
                "then run this cell again"
            )
        nb = nbformat.read(path, as_version=4)
        blank, answers = unanswered_cells(nb)
        if answers and blank == answers:
            print(f"WARNING: the saved {path} answers nothing: all {answers} answer cells are still as released. "
                  "Save (Ctrl+S) and run this cell again.")
        elif blank:
            print(f"Note: {blank} of {answers} answer cells of the saved {path} are still as released.")
        stale = unsaved_runs(nb, _executed_sources())
        if stale:
            print(f"WARNING: the saved {path} is older than what you ran: {len(stale)} cell(s) differ from it, e.g. "
                  f"{stale[0]!r}. Save (Ctrl+S) and run this cell again, or the zip holds the older version.")
        stamp = datetime.datetime.now().strftime("%Y_%m_%dT%H_%M_%S")
        zip_path = f"{self.notebook_name}_{stamp}.zip"
        super().export(nb_path=path, export_path=zip_path, pdf=pdf, **kwargs)
        for line in pack_handed_in_files(zip_path, self.notebook_name):
            print(line)
        print(f"Wrote {os.path.abspath(zip_path)}: it holds {os.path.abspath(path)} as saved "
              f"(modified {datetime.datetime.fromtimestamp(os.path.getmtime(path)):%Y-%m-%d %H:%M:%S}). Hand in that zip.")
        return zip_path
