"""``make merge``: one class graded on several machines, merged into one set of outputs.

Split the submissions folder into parts, grade part k on machine k (``make grade SUBMISSIONS=part-k OUT=grades-k``), copy
the ``grades-k`` folders back, then::

    python -m compresslab.grading.merge grades-1 grades-2 ... --out grades SUBMISSIONS

(``make merge PARTS="grades-1 grades-2" SUBMISSIONS=all OUT=grades``) appends every outcome recorded in the parts'
``journal.jsonl`` to ``OUT/journal.jsonl`` and runs ``make grade SUBMISSIONS --out OUT``, which resumes from that journal:
``scores.csv``, ``gradebook.csv``, ``report.html`` and ``feedback/`` are written for the whole class and nothing is graded
again. A notebook no part graded (or graded against other fixtures, autograders, library code or limits: the journal's
key) is graded then, and the count of reused outcomes is printed. The parts' folders are only read.
"""

import argparse
import sys
from pathlib import Path

from . import cli
from .journal import FILE_NAME, Journal, recorded_outcomes


def merge_journals(parts: list[Path], out: Path) -> int:
    """Append the outcomes recorded in each part's journal to ``out``'s journal (created if missing); return how many.
    A later part wins for the same key. ``FileNotFoundError`` names a part without a journal; nothing is written then."""
    missing = [part / FILE_NAME for part in parts if not (part / FILE_NAME).is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no journal here; is this an OUT folder of `make grade`?")
    merged: dict[str, dict] = {}
    for part in parts:
        merged.update(recorded_outcomes((part / FILE_NAME).read_text(errors="replace")))
    journal = Journal(out)
    try:
        for key, outcome in merged.items():
            if journal.recorded.get(key) != outcome:
                journal.record(key, outcome)
    finally:
        journal.close()
    return len(merged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Merge the outputs of a class graded in parts on several machines.")
    parser.add_argument("parts", nargs="+", type=Path, help="the OUT folders of the parts")
    parser.add_argument("--out", type=Path, required=True, help="the merged output folder")
    parser.add_argument("--submissions", type=Path, required=True, help="the whole class's submissions folder (every part's students)")
    parser.add_argument("--notebooks", nargs="+", help="notebooks to grade (default: all released), as the parts were graded")
    args = parser.parse_args(argv)
    if any(part.resolve() == args.out.resolve() for part in args.parts):
        print(f"error: --out {args.out} is one of the parts; choose a new folder so no part is changed", file=sys.stderr)
        return 2
    try:
        count = merge_journals(args.parts, args.out)
    except (FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"merged {count} graded notebooks from {len(args.parts)} parts into {args.out / FILE_NAME}")
    return cli.main([str(args.submissions), "--out", str(args.out), *(["--notebooks", *args.notebooks] if args.notebooks else [])])


if __name__ == "__main__":
    sys.exit(main())
