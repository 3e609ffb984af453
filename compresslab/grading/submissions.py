"""Finding each student's notebooks in a submissions folder, without modifying anything.

A submissions folder holds one entry per student: a folder, or a ``.zip`` (such as the one
Otter's export cell writes). The student's name is the entry's name (without ``.zip``).
A notebook is found by its release file name (``int8_cnn.ipynb``) anywhere inside the entry,
including inside a zip in a student's folder (an LMS download of an exported submission).
"""

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # a submission zip that expands beyond this is refused


@dataclass
class Submission:
    student: str
    source: Path  # the folder or zip as handed in (never written to)
    notebooks: dict[str, Path] = field(default_factory=dict)  # release name -> private copy to grade
    problem: str | None = None  # why the whole submission could not be read, if it could not


def collect(submissions_dir: Path, notebook_names: list[str], scratch: Path) -> list[Submission]:
    """One ``Submission`` per folder or zip in ``submissions_dir``, sorted by student name.

    Each found notebook is copied under ``scratch/<student>/`` so grading never touches the original.
    """
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"{submissions_dir}: submissions folder not found")
    found = []
    for entry in sorted(submissions_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found.append(_from_folder(entry.name, entry, entry, notebook_names, scratch))
        elif entry.suffix == ".zip":
            found.append(_from_zip(entry, notebook_names, scratch))
    return found


def _from_folder(student: str, source: Path, folder: Path, names: list[str], scratch: Path) -> Submission:
    submission = Submission(student, source)
    search = [folder]
    for index, inner in enumerate(sorted(folder.rglob("*.zip"))):
        target = scratch / student / f"inner-{index}"
        problem = _extract_notebooks(inner, names, target)
        if problem:
            return Submission(student, source, problem=f"{inner.name}: {problem}")
        search.append(target)
    for name in names:
        matches = sorted((p for root in search for p in root.rglob(f"{name}.ipynb")), key=lambda p: (len(p.parts), str(p)))
        if matches:
            copy = scratch / student / f"{name}.ipynb"
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(matches[0], copy)
            submission.notebooks[name] = copy
    return submission


def _from_zip(path: Path, names: list[str], scratch: Path) -> Submission:
    student = path.stem
    target = scratch / student / "unzipped"
    problem = _extract_notebooks(path, names, target)
    if problem:
        return Submission(student, path, problem=problem)
    return _from_folder(student, path, target, names, scratch)


def _extract_notebooks(path: Path, names: list[str], target: Path) -> str | None:
    """Extract the release notebooks found in the zip at ``path`` into ``target``; return why not, if not."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            unsafe = [m.filename for m in members if PurePosixPath(m.filename).is_absolute() or ".." in PurePosixPath(m.filename).parts]
            if unsafe:
                return f"zip holds unsafe paths such as {unsafe[0]!r}; nothing was extracted"
            if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
                return f"zip expands to more than {MAX_UNZIPPED_BYTES // 2**20} MiB; nothing was extracted"
            for member in members:
                if PurePosixPath(member.filename).name in {f"{n}.ipynb" for n in names}:
                    archive.extract(member, target)
    except zipfile.BadZipFile as error:
        return f"not a readable zip file ({error})"
    return None
