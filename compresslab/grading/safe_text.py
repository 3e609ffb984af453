"""Text that came from a student (file names, exception messages) made safe for the places it ends up.

Student names are the names of the entries in the submissions folder and messages quote what a
student's code raised, so both may hold terminal escape sequences, bidirectional overrides,
newlines or spreadsheet formulas. ``printable`` makes such text inert for a terminal, a Markdown
file or a log; ``csv_cell`` makes a value inert for a spreadsheet that opens the CSV.
"""

import unicodedata

WHITESPACE_CONTROLS = "\t\n\r\v\f\x1c\x1d\x1e\x1f\x85\u2028\u2029"  # shown as one space: line and field breaks
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list of characters a spreadsheet may read as a formula


def printable(text: str) -> str:
    """``text`` with every control or format character (Unicode categories C* and line/paragraph separators:
    ANSI escapes, BEL, bidi overrides, zero-width characters, undecodable file-name bytes) written as a visible
    escape such as ``\\x1b`` or ``\\u202e``, and line and field breaks as one space. Idempotent: the result holds
    only printable characters."""
    out = []
    for char in text:
        if char in WHITESPACE_CONTROLS:
            out.append(" ")
        elif unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def csv_cell(value) -> str | int | float:
    """A CSV cell as OWASP recommends against formula injection: text starting with ``= + - @``, a tab or a carriage
    return gets a leading ``'``. Numbers stay numbers (a negative score is written ``-1``, not ``'-1``) and floats are
    written in their shortest form (``22``, ``0.5``), so an LMS import reads them as scores."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
