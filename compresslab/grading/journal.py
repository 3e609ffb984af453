"""A durable record of finished gradings, so that a batch killed half-way resumes where it stopped.

``OUT/journal.jsonl`` holds one JSON line per graded (student, notebook), appended and flushed to disk as soon as that
notebook is graded. Each line carries a *key*: the student, the notebook, digests of everything that decides its grade
(the submitted notebook's bytes, the autograder zip, the fixture file ``data/fixtures/<notebook>.pt``, the reference
checks ``data/fixtures/<notebook>.checks.pt`` and the recorded mistakes ``<notebook>.mistakes.pt``, the grading mode:
the skipped cells; also the library's code and the data the tests load: ``data/checkpoints/`` and ``data/<notebook>/``)
and the limits. A re-run reuses a recorded outcome only when the whole key matches, so a resubmitted notebook, a new
autograder, fixtures re-recorded by ``make fixtures``, retrained checkpoints, an edited library or other limits are
graded again. A line cut short by a kill (the last one), or any line that is not a record (damaged bytes), is ignored; a
later line for the same key wins. The runner also re-grades a record whose outcome does not have the shape it writes.
"""

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from ..paths import PACKAGE_DIR, course
from .engine import Limits

FILE_NAME = "journal.jsonl"


def digest(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of the file's bytes; ``"missing"`` for no file (the grader then says what is missing)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "missing"


_FOLDER_DIGESTS: dict[tuple, str] = {}  # (folder, suffix, names, sizes and mtimes) -> digest: a batch hashes each folder once


def folder_digest(folder: Path, suffix: str) -> str:
    """Digest of the names and bytes of every ``*<suffix>`` file under ``folder`` (``"missing"`` for no folder)."""
    if not folder.is_dir():
        return "missing"
    files = sorted(p for p in folder.rglob(f"*{suffix}") if p.is_file())
    stamp = (str(folder), suffix, tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if stamp not in _FOLDER_DIGESTS:
        h = hashlib.sha256()
        for path in files:
            h.update(path.relative_to(folder).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        _FOLDER_DIGESTS[stamp] = h.hexdigest()[:16]
    return _FOLDER_DIGESTS[stamp]


def grading_key(student: str, notebook: str, submitted: Path, autograder: Path, skip: frozenset[str], limits: Limits) -> str:
    """What an outcome depends on, as one string: the student, the notebook, digests of the submission, the autograder,
    the notebook's fixtures, reference checks and recorded mistakes (its feedback names them; where the grader reads
    them: ``COMPRESSLAB_DATA`` or ``data/``), the grading mode, the library's code and the data its tests load, and the
    limits."""
    mode = hashlib.sha256("\0".join(sorted(skip)).encode()).hexdigest()[:16]
    folder = course()
    decided_by = [
        digest(submitted),
        digest(autograder),
        digest(folder.fixture(notebook)),
        digest(folder.reference_checks(notebook)),
        digest(folder.mistakes(notebook)),
        mode,
        folder_digest(PACKAGE_DIR, ".py"),
        folder_digest(folder.data / "checkpoints", ".pt"),
        folder_digest(folder.public_data(notebook), ""),
    ]
    return json.dumps([student, notebook, *decided_by, asdict(limits)])


def recorded_outcomes(text: str) -> dict[str, dict]:
    """``{key: outcome fields}`` of a journal's text; a line that is not a record (cut short by a kill, damaged) is
    skipped, and a later line for the same key wins."""
    recorded = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            recorded[entry["key"]] = dict(entry["outcome"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return recorded


class Journal:
    """Append-only ``journal.jsonl`` in the output folder (created if missing)."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / FILE_NAME
        text = self.path.read_text(errors="replace") if self.path.exists() else ""  # a damaged line is skipped, not fatal
        self.recorded: dict[str, dict] = recorded_outcomes(text)  # key -> outcome fields
        self._file = open(self.path, "a")
        if text and not text.endswith("\n"):
            self._file.write("\n")  # end the cut line so the next record starts on its own line

    def record(self, key: str, outcome: dict) -> None:
        """Append one finished outcome (its fields) and force it to disk."""
        self._file.write(json.dumps({"key": key, "outcome": outcome}) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.recorded[key] = outcome

    def close(self) -> None:
        self._file.close()
