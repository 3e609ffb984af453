"""Stable anonymous codes for students, so written answers are graded without names.

A student's code is ``anon-`` and the first 10 hex digits of HMAC-SHA256(secret, name). The secret is 32 random bytes
in ``OUT/anonymous-codes.secret``, created on the first run and never overwritten, so a student keeps the same code
across runs into the same OUT. ``OUT/written-key.csv`` (beside ``OUT/written/``) maps each code to its student:
share ``written/`` and ``manual.csv`` with graders, keep the key and the secret.
"""

import csv
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .safe_text import csv_cell

SECRET_FILE = "anonymous-codes.secret"
KEY_FILE = "written-key.csv"
PREFIX = "anon-"


def anonymous_codes(out: Path, students: list[str]) -> dict[str, str]:
    """``{student: code}``, with the secret of ``out`` (created if missing, readable by its owner only)."""
    secret = _secret(out / SECRET_FILE)
    return {s: PREFIX + hmac.new(secret, s.encode(errors="surrogatepass"), hashlib.sha256).hexdigest()[:10] for s in students}


def write_key(path: Path, codes: dict[str, str]) -> None:
    """``code,student`` per student, in code order."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["code", "student"])
        writer.writerows([csv_cell(code), csv_cell(student)] for student, code in sorted(codes.items(), key=lambda item: item[1]))


def _secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never replaces an existing secret: codes stay stable
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    return path.read_bytes()
