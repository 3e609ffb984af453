"""Where compresslab finds its data files.

The default is the repository's ``data/`` folder (next to the package). A student
bundle or a grading machine can point elsewhere with ``COMPRESSLAB_DATA``.
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The data folder: ``$COMPRESSLAB_DATA`` if set, else ``<repo>/data``."""
    override = os.environ.get("COMPRESSLAB_DATA")
    return Path(override) if override else PACKAGE_DIR.parent / "data"


def checkpoint_path(name: str) -> Path:
    """Path of the shipped fp32 checkpoint ``data/checkpoints/<name>.pt``."""
    return data_dir() / "checkpoints" / f"{name}.pt"


PUBLIC_DATA = ("checkpoints", "sawb_qat")  # folders of the data folder that student code may read (the rest, fixtures and examples, is the grader's)
