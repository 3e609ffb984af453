"""A Python like a student's: the pinned requirements importable, this checkout's ``compresslab`` not."""

import subprocess
import sys
from pathlib import Path


def student_python(folder: Path) -> Path:
    """Create at ``folder`` a venv that sees the site-packages of the running interpreter but not the checkout.

    The venv's ``.pth`` lists those site-packages folders (the ``.pth`` files inside them, such as the editable install
    of ``compresslab``, are not run), so the packages of ``make setup`` import and ``compresslab`` only imports from a
    folder on ``sys.path`` such as an unzipped bundle. Returns the venv's ``python``.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    (target,) = (folder / "lib").glob("python*/site-packages")
    site_packages = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (target / "requirements.pth").write_text("".join(f"{p}\n" for p in site_packages))
    python = folder / "bin" / "python"
    found = subprocess.run([python, "-c", "import torch, otter, nbclient"], capture_output=True, text=True)
    assert found.returncode == 0, f"the student venv at {folder} cannot import the requirements: {found.stderr[-1000:]}"
    hidden = subprocess.run([python, "-c", "import compresslab"], capture_output=True, cwd=folder)
    assert hidden.returncode != 0, f"the student venv at {folder} imports this checkout's compresslab"
    return python
