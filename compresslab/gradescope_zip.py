"""The Gradescope autograder of a notebook: ``gradescope/<notebook>-gradescope.zip`` (``make gradescope``).

Upload it as a Gradescope programming assignment's autograder ("Zip file upload", Ubuntu base image). It holds
everything grading needs, with no file of this checkout assumed:

- ``setup.sh``: run once by Gradescope, as root, when it builds the image. It picks a ``python3`` of 3.11 or
  newer (on Ubuntu 22.04, whose ``python3`` is 3.10, it installs ``python3.11`` with apt), makes the venv
  ``/autograder/venv``, installs ``requirements.txt`` (every package pinned, the whole closure of the library's
  dependencies as this venv resolved them; the registries only) and the ``compresslab`` wheel shipped here, and
  bubblewrap when apt has it;
- ``run_autograder``: run by Gradescope for each submission; ``python -m compresslab.grading.gradescope`` grades
  ``/autograder/submission`` with the engine ``make grade`` uses and writes ``/autograder/results/results.json``;
- the course folder the grader reads (``COMPRESSLAB_COURSE=/autograder/source``): the notebook's tests
  (``autograder/<notebook>-autograder.zip``), its release (``assignment/<notebook>.ipynb``, for grading mode), its
  fixtures and reference checks (``data/fixtures/``) and the public data its notebook and tests load.

The zip is built from the committed files and a wheel of the library; it is not committed (``gradescope/`` is
ignored): rebuild it after ``make release`` or ``make fixtures``.
"""

import argparse
import importlib.metadata
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
from packaging.requirements import Requirement

from .bundle import ZIP_DATE, data_files, notebook_sources
from .fixtures import fixture_path
from .grading.autograders import otter_tests
from .grading.reference_checks import checks_path
from .paths import PACKAGE_DIR, course_dir

OUT_DIR = Path("gradescope")
VENV = "/autograder/venv"

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
if ! command -v bwrap >/dev/null; then  # the full sandbox where the container allows user namespaces
    (apt-get update && apt-get install -y bubblewrap) || echo "bubblewrap not installed: notebooks run as a separate uid"
fi
"$python" -m venv {VENV}
{VENV}/bin/python -m pip install --quiet --no-cache-dir -r requirements.txt
{VENV}/bin/python -m pip install --quiet --no-cache-dir --no-deps ./compresslab-*.whl
"""

RUN_AUTOGRADER = f"""#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission, write /autograder/results/results.json.
set -euo pipefail
export COMPRESSLAB_COURSE=/autograder/source PYTHONHASHSEED=0 MPLBACKEND=Agg
exec {VENV}/bin/python -m compresslab.grading.gradescope "$@"
"""


def pinned_requirements() -> str:
    """``requirements.txt``: ``name==version`` for every package the library needs at run time (its dependencies and
    theirs, markers evaluated for this platform: Gradescope's is Linux x86_64 too), as installed in this venv. A package
    whose installed version does not meet what asks for it (the venv's own setuptools) gets that range instead."""
    installed: dict[str, str] = {}
    wanted: dict[str, list[Requirement]] = {}
    todo = [Requirement(text) for text in importlib.metadata.requires("compresslab") or []]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra (dev, frontend) or another platform's package
        name = requirement.name.lower().replace("_", "-")
        wanted.setdefault(name, []).append(requirement)
        if name not in installed:
            distribution = importlib.metadata.distribution(requirement.name)
            installed[name] = distribution.version
            todo += [Requirement(text) for text in distribution.requires or []]
    lines = []
    for name in sorted(installed):
        if all(r.specifier.contains(installed[name], prereleases=True) for r in wanted[name]):
            lines.append(f"{name}=={installed[name]}")
        else:
            lines.append(name + ",".join(sorted({str(s) for r in wanted[name] for s in r.specifier})))
    return "".join(line + "\n" for line in lines)


def build_wheel(folder: Path) -> Path:
    """A wheel of the library, built by pip from a copy of the package (pip writes build folders beside its source)."""
    source = folder / "source"
    shutil.copytree(PACKAGE_DIR, source / "compresslab", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(PACKAGE_DIR.parent / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet", "-w", str(folder / "dist")],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"pip wheel {source} failed:\n{built.stderr[-2000:]}")
    (wheel,) = (folder / "dist").glob("compresslab-*.whl")
    return wheel


def course_files(notebook: str) -> dict[str, Path]:
    """``{path in the zip: file}`` of the course folder the grader reads for ``notebook``."""
    course = course_dir()
    autograder = course / "autograder" / f"{notebook}-autograder.zip"
    release = course / "assignment" / f"{notebook}.ipynb"
    for needed in (autograder, release, fixture_path(notebook), checks_path(notebook)):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed}: missing; run `make release` and `make fixtures` first")
    sources = notebook_sources(nbformat.read(release, as_version=4)) + list(otter_tests(autograder).values())
    files = {f"autograder/{autograder.name}": autograder, f"assignment/{release.name}": release,
             f"data/fixtures/{fixture_path(notebook).name}": fixture_path(notebook), f"data/fixtures/{checks_path(notebook).name}": checks_path(notebook)}
    files.update({path.relative_to(course).as_posix(): path for path in data_files(notebook, sources)})
    return files


def gradescope_zip(notebook: str, wheel: Path, requirements: str) -> bytes:
    """The zip's bytes: sorted entries with fixed dates; the scripts executable."""
    entries = {"setup.sh": SETUP_SH.encode(), "run_autograder": RUN_AUTOGRADER.encode(), "requirements.txt": requirements.encode(),
               wheel.name: wheel.read_bytes()}
    entries.update({name: path.read_bytes() for name, path in course_files(notebook).items()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    return buffer.getvalue()


def write_zips(notebooks: list[str], out: Path) -> list[Path]:
    """Write ``out/<notebook>-gradescope.zip`` for each notebook; return the paths."""
    requirements = pinned_requirements()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="compresslab-wheel-") as scratch:
        wheel = build_wheel(Path(scratch))
        for notebook in notebooks:
            target = out / f"{notebook}-gradescope.zip"
            target.write_bytes(gradescope_zip(notebook, wheel, requirements))
            written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the Gradescope autograder zip of each notebook")
    parser.add_argument("notebooks", nargs="+", help="notebook names, e.g. int8_cnn")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default: {OUT_DIR})")
    args = parser.parse_args()
    try:
        for path in write_zips(args.notebooks, args.out):
            print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): upload it as the assignment's autograder")
    except (FileNotFoundError, RuntimeError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
