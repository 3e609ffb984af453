"""Where compresslab finds the course's files: one course folder, and its data folder.

The *course folder* holds what grading reads besides the package: ``autograder/<notebook>-autograder.zip``,
``assignment/<notebook>.ipynb`` (the release, whose ``# grading: skip`` cells grading mode skips) and
``data/`` (``checkpoints/``, ``fixtures/<notebook>.pt`` and ``<notebook>.checks.pt``, ``<notebook>/`` public data).
In a checkout (or an editable install) it is the repository around the package. An installed wheel holds
the code only (the fixtures and reference checks are the grader's secrets and must stay out of the
library folder that student code may read), so it is given the course folder with ``COMPRESSLAB_COURSE``.
``COMPRESSLAB_DATA`` moves the data folder alone (a student bundle, a grading machine).
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def course_dir() -> Path:
    """The course folder: ``$COMPRESSLAB_COURSE`` if set, else the repository holding the package."""
    override = os.environ.get("COMPRESSLAB_COURSE")
    return Path(override).resolve() if override else PACKAGE_DIR.parent


def data_dir() -> Path:
    """The data folder: ``$COMPRESSLAB_DATA`` if set, else ``<course folder>/data``."""
    override = os.environ.get("COMPRESSLAB_DATA")
    return Path(override) if override else course_dir() / "data"


def checkpoint_path(name: str) -> Path:
    """Path of the shipped fp32 checkpoint ``data/checkpoints/<name>.pt``."""
    return data_dir() / "checkpoints" / f"{name}.pt"


PUBLIC_DATA = ("checkpoints", "sawb_qat")  # folders of the data folder that student code may read (the rest, fixtures and examples, is the grader's)


def grader_only_paths() -> list[Path]:
    """The grader's secrets in the course folder: the tests (``autograder/``, or ``tests/`` where an autograder zip was
    unpacked as the course folder, as on Gradescope), the masters (``solution/``), the fixtures and reference checks
    (``data/fixtures/``) and the example submissions, reference included (``data/examples/``)."""
    return [course_dir() / "autograder", course_dir() / "tests", course_dir() / "solution", data_dir() / "fixtures", data_dir() / "examples"]
