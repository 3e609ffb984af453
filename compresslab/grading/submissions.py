"""Finding each student's notebooks in a submissions folder, without modifying anything and without trusting it.

A submissions folder holds one entry per student: a folder, or a ``.zip`` (such as the one
Otter's export cell writes). The student's name is the entry's name (without ``.zip``), with
control characters written as visible escapes (``safe_text.printable``). A notebook is found by
its release file name (``int8_cnn.ipynb``) anywhere inside the entry, including inside a zip in a
student's folder (an LMS download of an exported submission); the shallowest one wins, and a
notebook in the folder itself wins over one in a zip beside it.

What is refused (status ``invalid``, with the reason; nothing of the entry is graded):
- a symbolic link, device, FIFO or socket anywhere in an entry, or as the entry itself, and a zip
  member whose Unix mode says it is one: git and ``unzip`` keep symlinks, and following one would
  grade (or echo) a file the student does not own. Such a file is only ``lstat``-ed, never opened;
- zip members with absolute paths or ``..``, and zips expanding beyond ``MAX_UNZIPPED_BYTES``;
- two entries that give one student name (``dup/`` and ``dup.zip``): both are reported, never merged.
A notebook larger than ``MAX_NOTEBOOK_BYTES`` (in a folder or in a zip) is refused on its own.

Files handed in with a notebook (``outcomes.handed_in_files``: ``ResNet20_W4A4.pt`` ... beside ``sawb_qat.ipynb``) are
found in the same folder as the chosen notebook (or the same folder of the same zip), under the same refusals; one
larger than ``outcomes.MAX_HANDED_IN_BYTES`` is refused on its own (its question says why).
Copies are read through ``O_NOFOLLOW`` descriptors checked to be regular files, so a file swapped
for a link after the walk is refused too. If the grader's own scratch space fails (a full disk),
that student alone is ``crashed`` and a re-run grades them.

The grader process reads a student's notebook only within ``MAX_NOTEBOOK_BYTES`` (``notebook_problem``);
executing it (and nbformat's full parsing) happens in the grading child, within its limits.
"""

import errno
import json
import os
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..outcomes import MAX_HANDED_IN_BYTES, handed_in_files
from .safe_text import printable

MAX_NOTEBOOK_BYTES = 20 * 2**20  # a notebook beyond this (outputs included) is refused, from a folder or a zip
MAX_UNZIPPED_BYTES = 200 * 2**20  # a submission zip whose members add up beyond this is refused


@dataclass
class Submission:
    student: str  # the entry's name without ``.zip``, control characters escaped
    source: Path  # the folder or zip as handed in (never written to)
    notebooks: dict[str, Path] = field(default_factory=dict)  # release name -> private copy to grade
    refused: dict[str, str] = field(default_factory=dict)  # release name -> why that notebook was not copied (e.g. too large)
    handed_in: dict[str, dict[str, Path | str]] = field(
        default_factory=dict
    )  # release name -> {file beside it: private copy, or why refused}
    problem: str | None = None  # why the whole submission could not be read, if it could not
    status: str = "invalid"  # the status of every notebook when ``problem`` is set: invalid, or crashed (the grader's own failure)


class Refused(Exception):
    """A student's entry holds something the grader does not read; the message says what (status ``invalid``)."""


def collect(submissions_dir: Path, notebook_names: list[str], scratch: Path) -> list[Submission]:
    """One ``Submission`` per student in ``submissions_dir``, sorted by student name.

    Each found notebook is copied under ``scratch/<entry number>/`` so grading never touches the original.
    Entries whose names start with ``.`` and regular files other than ``.zip`` are not submissions and are skipped.
    """
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"{submissions_dir}: submissions folder not found")
    entries: dict[str, list[os.DirEntry]] = {}
    with os.scandir(submissions_dir) as listing:
        for entry in listing:
            regular_file = entry.is_file(follow_symlinks=False)
            if entry.name.startswith(".") or (regular_file and not entry.name.endswith(".zip")):
                continue
            entries.setdefault(printable(entry.name.removesuffix(".zip")), []).append(entry)
    found = []
    for index, (student, same_name) in enumerate(sorted(entries.items())):
        same_name.sort(key=lambda e: e.name)
        if len(same_name) > 1:
            names = ", ".join(printable(e.name) + ("/" if e.is_dir(follow_symlinks=False) else "") for e in same_name)
            found.append(Submission(student, Path(same_name[0].path), problem=f"{len(same_name)} entries for one student ({names}); "
                                    "neither was graded: keep one and grade again"))
        else:
            found.append(_collect_one(student, same_name[0], notebook_names, scratch / str(index)))
    return found


def _collect_one(student: str, entry: os.DirEntry, names: list[str], target: Path) -> Submission:
    source = Path(entry.path)
    submission = Submission(student, source)
    try:
        if entry.is_dir(follow_symlinks=False):
            files = _notebooks_in_folder(source, names)
        elif entry.is_file(follow_symlinks=False):
            try:
                files = _notebooks_in_zip(_read_regular(source, None), names)
            except Refused as refusal:
                raise Refused(f"{printable(entry.name)}: {refusal}") from None
        else:
            raise Refused(
                f"{printable(entry.name)} is {_kind(entry.stat(follow_symlinks=False).st_mode)}, not a folder or a zip; it was not read"
            )
    except Refused as refusal:
        return Submission(student, source, problem=str(refusal))
    except (OSError, RecursionError) as error:  # a file vanished or is unreadable; folders nested beyond os.walk's recursion
        reason = printable(getattr(error, "strerror", None) or type(error).__name__)
        return Submission(student, source, problem=f"{printable(entry.name)} could not be read ({reason})")
    try:
        for name, content in files.items():
            if isinstance(name, tuple):  # (release name, file handed in beside it)
                notebook, file = name
                copy = target / "handed_in" / notebook / file
                if not isinstance(content, str):
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    copy.write_bytes(content)
                submission.handed_in.setdefault(notebook, {})[file] = content if isinstance(content, str) else copy
                continue
            if isinstance(content, str):
                submission.refused[name] = content
                continue
            copy = target / f"{name}.ipynb"
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(content)
            submission.notebooks[name] = copy
    except OSError as error:  # the grader's scratch space, not the student's files: touch this student only
        shutil.rmtree(target, ignore_errors=True)
        reason = "the disk is full" if error.errno == errno.ENOSPC else error.strerror or type(error).__name__
        return Submission(student, source, problem=f"the grader could not copy {printable(entry.name)} to its scratch space ({reason}); "
                          "grade again", status="crashed")
    return submission


def _notebooks_in_folder(folder: Path, names: list[str]) -> dict:
    """The bytes of each release notebook in ``folder`` (or why it was refused), after checking that nothing in it is a
    link or a special file; notebooks in zips inside the folder count when the folder has none of that name.
    Keys: the release name, and ``(release name, file)`` for each file handed in beside that notebook (``handed_in_files``)."""
    wanted = {f"{name}.ipynb" for name in names}
    notebooks, zips = {}, []
    for root, dirs, files in os.walk(folder, onerror=_refuse_unreadable):
        for item in sorted(dirs + files):
            path = Path(root) / item
            mode = path.lstat().st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise Refused(f"{_shown(path, folder.parent)} is {_kind(mode)}; submissions may hold only files and folders, "
                              "so nothing was read")
            if stat.S_ISREG(mode) and item in wanted:
                notebooks.setdefault(item.removesuffix(".ipynb"), []).append(path)
            elif stat.S_ISREG(mode) and item.endswith(".zip"):
                zips.append(path)
    found = {}
    for name, paths in notebooks.items():
        shallowest = min(paths, key=lambda p: (len(p.parts), str(p)))
        found[name] = _read_regular(shallowest, MAX_NOTEBOOK_BYTES, _shown(shallowest, folder.parent))
        for file in handed_in_files(name):
            beside = shallowest.parent / file  # the walk above refused the entry if this is a link or a special file
            if beside.is_file():
                found[(name, file)] = _read_regular(beside, MAX_HANDED_IN_BYTES, _shown(beside, folder.parent))
    for inner in sorted(zips, key=lambda p: (len(p.parts), str(p))):
        try:
            found |= _notebooks_in_zip(_read_regular(inner, None), [name for name in names if name not in found])  # every zip is checked
        except Refused as refusal:
            raise Refused(f"{_shown(inner, folder.parent)}: {refusal}") from None
    return found


def _notebooks_in_zip(archive_file, names: list[str]) -> dict:
    """The bytes of each release notebook in a zip (an open binary file), or why it was refused; keys as
    ``_notebooks_in_folder``'s (files handed in beside a notebook: in the same folder of the zip)."""
    wanted = {f"{name}.ipynb" for name in names}
    try:
        if os.fstat(archive_file.fileno()).st_size > MAX_UNZIPPED_BYTES:  # bounds the central directory zipfile parses
            raise Refused(f"zip is larger than {MAX_UNZIPPED_BYTES // 2**20} MiB; nothing was extracted")
        with zipfile.ZipFile(archive_file) as archive:
            members = archive.infolist()
            for member in members:
                parts = PurePosixPath(member.filename)
                if parts.is_absolute() or ".." in parts.parts:
                    raise Refused(f"zip holds unsafe paths such as {printable(member.filename)!r}; nothing was extracted")
                mode = member.external_attr >> 16
                if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise Refused(f"zip entry {printable(member.filename)!r} is {_kind(mode)}; nothing was extracted")
            if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
                raise Refused(f"zip expands to more than {MAX_UNZIPPED_BYTES // 2**20} MiB; nothing was extracted")
            candidates = sorted((m for m in members if PurePosixPath(m.filename).name in wanted and not m.is_dir()),
                                key=lambda m: (len(PurePosixPath(m.filename).parts), m.filename))
            found = {}
            by_path = {PurePosixPath(m.filename): m for m in members if not m.is_dir()}
            for member in candidates:
                name = PurePosixPath(member.filename).name.removesuffix(".ipynb")
                if name not in found:
                    found[name] = (_too_large(member.filename, member.file_size) if member.file_size > MAX_NOTEBOOK_BYTES
                                   else archive.read(member))
                    for file in handed_in_files(name):
                        beside = by_path.get(PurePosixPath(member.filename).parent / file)
                        if beside is not None:
                            found[(name, file)] = (_too_large(beside.filename, beside.file_size, MAX_HANDED_IN_BYTES)
                                                   if beside.file_size > MAX_HANDED_IN_BYTES else archive.read(beside))
            return found
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        zlib.error,
    ) as error:
        # a corrupt, encrypted or truncated archive, or an unknown compression method
        raise Refused(f"not a readable zip file ({printable(str(error))})") from None
    finally:
        archive_file.close()


def _read_regular(path: Path, limit: int | None, shown: str | None = None):
    """Open ``path`` without following a link (``O_NOFOLLOW``), check it is a regular file, and return its bytes when
    ``limit`` is given (or a refusal message when it is larger), else the open binary file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # NONBLOCK: a FIFO swapped in must not hang the open
    except OSError as error:
        kind = "a symbolic link" if error.errno == errno.ELOOP else f"unreadable ({error.strerror})"
        raise Refused(f"{shown or printable(path.name)} is {kind}; it was not read") from None
    handle = os.fdopen(fd, "rb")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        handle.close()
        raise Refused(f"{shown or printable(path.name)} is {_kind(mode)}; it was not read")
    if limit is None:
        return handle  # an archive: zipfile reads only what its directory points to
    with handle:
        content = handle.read(limit + 1)  # not the size stat gave: the file may grow while it is read
        return _too_large(shown or path.name, max(len(content), os.fstat(fd).st_size), limit) if len(content) > limit else content


def _too_large(name: str, size: int, limit: int = MAX_NOTEBOOK_BYTES) -> str:
    if limit != MAX_NOTEBOOK_BYTES:
        return f"{printable(name)} is {size / 2**20:.1f} MiB, over the {limit // 2**20} MiB limit for a handed-in file; it was not read"
    return (f"{printable(name)} is {size / 2**20:.1f} MiB, over the {MAX_NOTEBOOK_BYTES // 2**20} MiB limit for a notebook; "
            "clear its outputs and hand it in again")


def notebook_problem(path: Path) -> str | None:
    """Why the file at ``path`` is not a notebook the grader can run (``None``: it is), read within ``MAX_NOTEBOOK_BYTES``.

    Only the structure the grading child relies on is checked (JSON, ``nbformat`` 4, a list of cells that each have a
    ``cell_type`` and a ``source``); nbformat's schema validation, which took 31 s on a 47 MB notebook, is not run here.
    """
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return _too_large(path.name, size)
    try:
        notebook = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as error:  # not JSON, not UTF-8, or nested beyond the parser's stack
        return f"{path.name} is not a valid Jupyter notebook: {printable(str(error))[:200]}"
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(notebook, dict) or notebook.get("nbformat") != 4 or not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("cell_type"), str) and isinstance(c.get("source"), (str, list)) for c in cells):
        return f"{path.name} is not a valid Jupyter notebook: expected nbformat 4 with a list of cells, each with a cell_type and a source"
    return None


def _refuse_unreadable(error: OSError) -> None:
    raise Refused(f"{printable(Path(error.filename or '?').name)} could not be read ({error.strerror})")


def _shown(path: Path, base: Path) -> str:
    """``path`` relative to the submissions folder, for a message."""
    return printable(str(path.relative_to(base)))


def _kind(mode: int) -> str:
    """What a file of this mode is, in words."""
    for test, words in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return words
    return "not a regular file"
