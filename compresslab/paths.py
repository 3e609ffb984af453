"""The course-folder map: where every file of the course pipeline lives (after nbgrader's ``coursedir``).

Every command asks ``course()`` and never spells a path itself::

    course folder (COMPRESSLAB_COURSE; in a checkout, the repository around the package)
      solution/<nb>.ipynb                   master (Otter Assign format)            course().master(nb)
      assignment/<nb>.ipynb                 student release                         course().release(nb)
      assignment/<nb>.zip                   student bundle                          course().bundle(nb)
      autograder/<nb>-autograder.zip        Otter's tests + the Gradescope upload   course().autograder(nb)
      data/ (COMPRESSLAB_DATA moves it, and everything below, at once)
        checkpoints/<name>.pt               shipped fp32 checkpoints                course().checkpoint(name)
        <nb>/                               the notebook's public data              course().public_data(nb)
        fixtures/<nb>.pt                    hidden inputs and reference outputs     course().fixture(nb)
        fixtures/<nb>.checks.pt             what each hidden check expects          course().reference_checks(nb)
        fixtures/<nb>.mistakes.pt           how each catalogued mistake fails       course().mistakes(nb)
        examples/<kind>/<nb>.ipynb          reference, blank and partial examples   course().example(kind, nb)
      mutants/<nb>.py                       catalog of wrong answers (mutation)     course().mutant_catalog(nb)

An installed wheel holds the code only (the fixtures and reference checks are the grader's secrets and must stay
out of the library folder that student code may read), so it is given the course folder with
``COMPRESSLAB_COURSE``. Where an autograder zip is unpacked as the course folder (Gradescope's
``/autograder/source``), the tests are its ``tests/`` and ``course().autograder(nb)`` is that folder itself.
"""

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
EXAMPLE_KINDS = ("reference", "blank", "partial")  # the example submissions ``make release`` writes
PUBLIC_DATA = ("checkpoints", "sawb_qat")  # folders of the data folder that student code may read


@dataclass(frozen=True)
class CourseFolder:
    """One course: ``root`` holds masters, releases and autograders; ``data`` the checkpoints, fixtures and examples."""

    root: Path
    data: Path

    def master(self, notebook: str) -> Path:
        return self.root / "solution" / f"{notebook}.ipynb"

    @property
    def release_dir(self) -> Path:
        """The folder of the student releases and bundles (``assignment/``)."""
        return self.root / "assignment"

    def release(self, notebook: str) -> Path:
        return self.release_dir / f"{notebook}.ipynb"

    def bundle(self, notebook: str) -> Path:
        return self.release_dir / f"{notebook}.zip"

    def autograder(self, notebook: str) -> Path:
        """The notebook's autograder zip; the course folder itself where one was unpacked as it (``tests/`` present)."""
        return self.root if self.unpacked_autograder else self.root / "autograder" / f"{notebook}-autograder.zip"

    @property
    def unpacked_autograder(self) -> bool:
        return (self.root / "tests").is_dir() and not (self.root / "solution").is_dir()

    def checkpoint(self, name: str) -> Path:
        return self.data / "checkpoints" / f"{name}.pt"

    def public_data(self, notebook: str) -> Path:
        return self.data / notebook

    def readable_by_students(self) -> list[Path]:
        """The folders of the data folder that student code may read (``PUBLIC_DATA``), where they exist; the rest of
        it, fixtures and examples, is the grader's."""
        return [self.data / name for name in PUBLIC_DATA if (self.data / name).is_dir()]

    def fixture(self, notebook: str) -> Path:
        return self.data / "fixtures" / f"{notebook}.pt"

    def reference_checks(self, notebook: str) -> Path:
        return self.data / "fixtures" / f"{notebook}.checks.pt"

    def mistakes(self, notebook: str) -> Path:
        return self.data / "fixtures" / f"{notebook}.mistakes.pt"

    def example_dir(self, kind: str) -> Path:
        """The folder of one kind of example submission: its notebooks and the files they hand in beside them."""
        if kind not in EXAMPLE_KINDS:
            raise ValueError(f"no example kind {kind!r}: the examples are {', '.join(EXAMPLE_KINDS)}")
        return self.data / "examples" / kind

    def example(self, kind: str, notebook: str) -> Path:
        return self.example_dir(kind) / f"{notebook}.ipynb"

    def archive_name(self, path: Path) -> str:
        """The name a course file has inside a bundle or autograder zip, as if unpacked into a course folder:
        ``data/...`` for a file of the data folder (wherever ``COMPRESSLAB_DATA`` put it), else relative to the root."""
        if path.is_relative_to(self.data):
            return (Path("data") / path.relative_to(self.data)).as_posix()
        return path.relative_to(self.root).as_posix()

    def mutant_catalog(self, notebook: str) -> Path:
        return self.root / "mutants" / f"{notebook}.py"

    def catalogued(self) -> list[str]:
        """Names of the notebooks with a mutant catalog, sorted."""
        return sorted(p.stem for p in (self.root / "mutants").glob("*.py") if not p.name.startswith("_"))

    def masters(self) -> list[str]:
        """Names of the notebooks with a master in ``solution/``, sorted."""
        return sorted(p.stem for p in (self.root / "solution").glob("*.ipynb"))

    def released(self) -> list[str]:
        """Names of the notebooks with an autograder zip in ``autograder/``, sorted."""
        return sorted(p.name.removesuffix("-autograder.zip") for p in (self.root / "autograder").glob("*-autograder.zip"))

    def grader_only(self) -> list[Path]:
        """The grader's secrets: the tests (``autograder/``, or ``tests/`` of an unpacked autograder zip), the masters,
        the mutant catalogs (they quote the reference code), the fixtures, reference checks and recorded mistakes
        (``data/fixtures/``) and the examples, reference included."""
        return [self.root / "autograder", self.root / "tests", self.root / "solution", self.root / "mutants", self.data / "fixtures",
                self.data / "examples"]


def course() -> CourseFolder:
    """The course folder: ``$COMPRESSLAB_COURSE`` if set, else the repository holding the package; its data folder:
    ``$COMPRESSLAB_DATA`` if set, else ``<course folder>/data``. Read at each call, so a test or a grader that sets
    them is followed."""
    root = Path(os.environ["COMPRESSLAB_COURSE"]).resolve() if os.environ.get("COMPRESSLAB_COURSE") else PACKAGE_DIR.parent
    data = Path(os.environ["COMPRESSLAB_DATA"]) if os.environ.get("COMPRESSLAB_DATA") else root / "data"
    return CourseFolder(root, data)
