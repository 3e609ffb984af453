"""The autograder zip of a notebook, ``autograder/<notebook>-autograder.zip``: Otter's tests, and everything Gradescope
needs to grade with compresslab's engine (``make release`` writes it, byte for byte the same from the same files).

Upload it as a Gradescope programming assignment's autograder ("Zip file upload", Ubuntu base image); ``make grade``
reads the same zip's ``tests/``. It holds, with no file of this checkout assumed:

- ``tests/*.py``: the notebook's Otter tests (``otter assign``'s), public and hidden;
- ``setup.sh``: run once by Gradescope, as root, when it builds the image. It picks a ``python3`` of 3.11 or newer (on
  Ubuntu 22.04, whose ``python3`` is 3.10, it installs ``python3.11`` with apt: the pinned numpy, pandas and scipy need
  3.11), makes the venv ``/autograder/venv`` and installs ``requirements.txt`` (the pinned dependencies of
  ``pyproject.toml``) from the package registries, and bubblewrap when apt has it;
- ``run_autograder``: run by Gradescope for each submission, ``python -m compresslab.grading.gradescope`` with the
  library and the course folder at ``/autograder/source``: it grades ``/autograder/submission`` as ``make grade`` does
  and writes ``/autograder/results/results.json``;
- ``compresslab/``: the library's source (``*.py``);
- the course files the grader reads: the release (``assignment/<notebook>.ipynb``, for grading mode), the fixtures, the
  reference checks and whatever else ``make fixtures`` records for the notebook (``data/fixtures/<notebook>.*``), and
  the public data the notebook and its tests load (checkpoints, ``data/<notebook>/``). The tests themselves are read
  from this same zip (``autograder/<notebook>-autograder.zip`` in the course folder is the zip itself, unpacked by
  Gradescope into ``/autograder/source``).

Whatever the zip holds of the library, the fixtures or the reference checks, ``make release`` must run after they
change; ``make fixtures`` runs it, and ``tests/test_release.py`` fails on a stale zip.
"""

import io
import zipfile
from pathlib import Path

import nbformat

from .bundle import ZIP_DATE, data_files, notebook_sources, requirements
from .paths import PACKAGE_DIR, course

VENV = "/autograder/venv"
EXECUTABLE = ("setup.sh", "run_autograder")

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
cd /autograder/source
export DEBIAN_FRONTEND=noninteractive
python=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get update && apt-get install -y python3.11 python3.11-venv  # the pinned numpy, pandas and scipy need 3.11
    python=python3.11
fi
if ! command -v bwrap >/dev/null; then  # the full sandbox, where the container allows user namespaces
    (apt-get update && apt-get install -y bubblewrap) || echo "bubblewrap not installed: notebooks run as a separate uid"
fi
"$python" -m venv {VENV}
{VENV}/bin/python -m pip install --quiet --no-cache-dir -r requirements.txt
"""

RUN_AUTOGRADER = f"""#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission, write /autograder/results/results.json.
set -euo pipefail
export COMPRESSLAB_COURSE=/autograder/source PYTHONPATH=/autograder/source PYTHONHASHSEED=0 MPLBACKEND=Agg
exec {VENV}/bin/python -m compresslab.grading.gradescope "$@"
"""


def autograder_zip(notebook: str, otter_zip: Path, release: bytes) -> bytes:
    """The autograder zip's bytes from Otter Assign's zip (its ``tests/``) and the release notebook's bytes: sorted entries,
    fixed dates, the scripts executable."""
    with zipfile.ZipFile(otter_zip) as otter:
        entries = {name: otter.read(name) for name in otter.namelist() if name.startswith("tests/") and name.endswith(".py")}
    sources = notebook_sources(nbformat.reads(release.decode(), as_version=4)) + [s.decode() for s in entries.values()]
    entries.update(
        {
            "setup.sh": SETUP_SH.encode(),
            "run_autograder": RUN_AUTOGRADER.encode(),
            "requirements.txt": requirements(frontend=False).encode(),
            f"assignment/{notebook}.ipynb": release,
        }
    )
    library = sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    folder = course()
    # None yet for a new notebook, before its first make fixtures.
    recorded = [p for p in (folder.fixture(notebook), folder.reference_checks(notebook), folder.mistakes(notebook)) if p.is_file()]
    entries.update({path.relative_to(PACKAGE_DIR.parent).as_posix(): path.read_bytes() for path in library})
    entries.update({folder.archive_name(path): path.read_bytes() for path in [*data_files(notebook, sources), *recorded]})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = (0o755 if name in EXECUTABLE else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    return buffer.getvalue()
