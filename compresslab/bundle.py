"""Student bundles: ``assignment/<notebook>.zip`` holds one notebook and exactly what it needs to run.

Contents, under a top folder ``<notebook>/``:

- ``<notebook>.ipynb``: the student release;
- ``compresslab/...``: the library modules the notebook imports (its code cells and public tests),
  followed through their own imports; nothing else of the package (no grading, release or
  fixture code);
- ``data/checkpoints/<name>.pt``: the shipped checkpoints whose names appear as string literals in
  the notebook's code, and ``data/<notebook>/`` if that folder exists (public data of that notebook);
- ``requirements.txt``: the project's pinned dependencies and the pinned notebook front end (JupyterLab), from
  ``pyproject.toml``.

Hidden tests and their expected outputs (``data/fixtures``) are never included.
"""

import ast
import io
import json
import re
import tomllib
import zipfile
from pathlib import Path

import nbformat

from .checkpoints import PRETRAINED
from .paths import PACKAGE_DIR, course

ZIP_DATE = (2026, 12, 1, 0, 0, 0)  # every zip entry's date: fixed (reproducible bytes) and recent (unzipped files are not "46 years old")


def notebook_sources(nb: nbformat.NotebookNode) -> list[str]:
    """Python sources of a notebook: its code cells (shell and magic lines dropped) and its public tests."""
    sources = [
        "\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("!", "%")))
        for c in nb.cells
        if c.cell_type == "code"
    ]
    sources += list(nb.metadata.get("otter", {}).get("tests", {}).values())
    return sources


def imported_modules(source: str, package: str = "") -> set[str]:
    """Fully qualified ``compresslab`` modules a source imports; ``package`` resolves relative imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return {m for m in found if m == "compresslab" or m.startswith("compresslab.")}


def module_path(module: str) -> Path | None:
    """File of a ``compresslab`` module or package (``None`` for names that are not modules, e.g. functions)."""
    relative = Path(*module.split("."))
    for candidate in (PACKAGE_DIR.parent / relative.with_suffix(".py"), PACKAGE_DIR.parent / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_closure(sources: list[str]) -> set[Path]:
    """Files of every ``compresslab`` module the sources import, transitively, with their packages' ``__init__.py``."""
    pending = {m for s in sources for m in imported_modules(s)} | {"compresslab"}
    files: set[Path] = set()
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_path(module)
        if path is None:
            continue
        files.add(path)
        parts = module.split(".")
        pending |= {".".join(parts[:i]) for i in range(1, len(parts))}
        package = module if path.name == "__init__.py" else ".".join(parts[:-1])
        pending |= imported_modules(path.read_text(), package)
    return files


def data_files(notebook: str, sources: list[str]) -> list[Path]:
    """Checkpoints named in the sources, plus the notebook's own public data folder ``data/<notebook>/``."""
    text = "\n".join(sources)
    files = [course().checkpoint(name) for name in PRETRAINED if re.search(rf"[\"']{name}[\"']", text)]
    own = course().public_data(notebook)
    if own.is_dir():
        files += sorted(p for p in own.rglob("*") if p.is_file())
    return files


def requirements(frontend: bool = True) -> str:
    """The pinned runtime dependencies of ``pyproject.toml``, with its ``frontend`` extra (JupyterLab) if ``frontend``,
    one per line."""
    with open(PACKAGE_DIR.parent / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    return "\n".join(project["dependencies"] + (project["optional-dependencies"]["frontend"] if frontend else [])) + "\n"


def bundle_bytes(notebook: str, release: bytes) -> bytes:
    """The bundle zip of ``notebook`` whose student notebook has the bytes ``release`` (deterministic)."""
    nb = nbformat.reads(release.decode(), as_version=4)
    sources = notebook_sources(nb)
    entries = {f"{notebook}.ipynb": release, "requirements.txt": requirements().encode()}
    entries.update({path.relative_to(PACKAGE_DIR.parent).as_posix(): path.read_bytes() for path in sorted(module_closure(sources))})
    entries.update({course().archive_name(path): path.read_bytes() for path in data_files(notebook, sources)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(f"{notebook}/{name}", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    return buffer.getvalue()


def manifest(bundle: bytes) -> list[str]:
    """Names inside a bundle zip."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return archive.namelist()


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:]:
        print(json.dumps(manifest(course().bundle(name).read_bytes()), indent=1))
