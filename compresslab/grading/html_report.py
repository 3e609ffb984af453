"""``report.html``: one page for the instructor after ``make grade``, readable for a class of 300.

Sections, in order: the distribution of total scores; a per-question table (mean, median, share of full marks, share of
zeros, hand-graded or not) with a histogram per question; per test case, how many students failed it and its most
common messages grouped (numbers masked: "values differ ... # of # differ"), linking to those students; notebooks that
could not be graded, grouped by status; the pairs of students flagged for similar code, grouped, side by side
(``similarity``); the slowest notebooks to grade; then one collapsible ``<details>`` section per student with every
lost point and its reason. Histograms have integer axes (matplotlib's ``MaxNLocator(integer=True)``).

Every text cell is HTML-escaped, and text that came from a student (names, messages, code) has its control characters
made visible first (``safe_text.printable``): statuses and messages read back from the journal are not ours either.
The page embeds its plots as PNG and has no script, so a class of 300 opens at once (``make bench`` states its size).
"""

import base64
import html
import io
import math
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .runner import Outcome, Row  # noqa: E402
from .safe_text import printable  # noqa: E402
from .similarity import Pair, threshold  # noqa: E402

SLOWEST = 10  # submissions listed by grading time
MESSAGE_GROUPS = 3  # most common messages shown per test case
SHOWN_GROUPS = 20  # groups of flagged pairs shown side by side (similarity.csv lists every pair)
DETAIL_CHARACTERS = 300  # of a reason in a student's section (scores.csv and feedback/ hold it whole)
CASES = re.compile(r"^((?:[^:,]+ - \d+)(?:, [^:,]+ - \d+)*): (.*)$", re.S)  # engine.summarize_failures: "q2 - 1, q2 - 3: reason"
NOTEBOOK_NOT_GRADED = {"missing", "invalid", "timeout", "crashed", "interrupted"}  # statuses shown once per notebook
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def write_report(rows: list[Row], outcomes: dict[tuple[str, str], Outcome], path: Path, similar: list[Pair] = (),
                 hand_graded: frozenset[str] = frozenset(), extra_sections: str = "") -> None:
    """Write the page.

    rows: every (student, notebook, question) row (``runner.batch_rows``).
    outcomes: (student, notebook) -> its grading outcome (test case failures, status, seconds).
    similar: pairs compared by ``similarity.write_similarity``, flagged first; only flagged ones are shown.
    hand_graded: ``notebook/question`` names whose scores were given by hand (the per-question table says so).
    extra_sections: HTML shown after the per-question table (hand grading and roster, ``html_manual.manual_section``).
    """
    students = sorted({r.student for r in rows})
    anchors = {student: f"s{index}" for index, student in enumerate(students)}
    sections = [
        ("Total scores", _totals(rows)),
        ("Per question", _per_question(rows, hand_graded)),
        ("What the class got wrong, per test case", _per_test_case(outcomes, anchors)),
        ("Notebooks that could not be graded", _ungraded(outcomes, anchors)),
        ("Similar code", _similar(similar)),
        ("Slowest notebooks to grade", _slowest(outcomes)),
        ("Every student", _students(rows, anchors)),
    ]
    headed = [f"<h2>{html.escape(title)}</h2>{content}" for title, content in sections]
    body = "".join(headed[:2]) + extra_sections + "".join(headed[2:])
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>compresslab grades</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left;vertical-align:top}td.n{text-align:right}pre{margin:0;font-size:85%;white-space:pre-wrap}"
        "details{margin:2px 0}summary{cursor:pointer}ul{margin:0;padding-left:1.2em}</style></head><body>"
        f"<h1>compresslab grades</h1><p>{len(students)} students, {len(outcomes)} notebooks, {len(rows)} question rows.</p>"
        + body + "</body></html>\n",
        encoding="utf-8",
    )


def _shown(text: str, limit: int | None = None) -> str:
    """Student text as HTML: control characters made visible, cut to ``limit`` characters, escaped."""
    text = printable(str(text))
    if limit is not None and len(text) > limit:
        text = text[:limit] + " …"
    return html.escape(text)


def _has_score(row: Row) -> bool:
    """Whether the row carries a number (a question left to grade by hand may not)."""
    return isinstance(row.score, (int, float)) and not math.isnan(row.score)


def _scored(rows: list[Row]) -> list[Row]:
    return [r for r in rows if _has_score(r)]


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return f"<img alt='histogram' src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}'>"


def _histogram(ax, scores: list[float], possible: float, title: str) -> None:
    """Counts of ``scores`` in bins one point wide (at most 40 bins), both axes in whole numbers."""
    top = max(possible, max(scores, default=0), 1)
    width = max(1, math.ceil((top + 1) / 40))
    ax.hist(scores, bins=[b - 0.5 for b in range(0, int(math.ceil(top)) + width + 1, width)], color="tab:blue")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(f"score (of {possible:g})", fontsize=8)
    ax.set_ylabel("students", fontsize=8)


def _totals(rows: list[Row]) -> str:
    totals, possible = defaultdict(float), defaultdict(float)
    for row in _scored(rows):
        totals[row.student] += row.score
        possible[row.student] += row.possible
    if not totals:
        return "<p>No scores.</p>"
    most = max(possible.values())
    fig, ax = plt.subplots(figsize=(7, 2.6))
    _histogram(ax, list(totals.values()), most, "total score per student")
    fig.tight_layout()
    values = list(totals.values())
    return (f"<p>Mean {statistics.mean(values):.1f}, median {statistics.median(values):.1f}, of {most:g} points; "
            f"{sum(v >= most for v in values)} students with full marks, {sum(v == 0 for v in values)} with none.</p>" + _png(fig))


def _per_question(rows: list[Row], hand_graded: frozenset[str]) -> str:
    by_question = defaultdict(list)
    for row in _scored(rows):
        by_question[f"{row.notebook}/{row.question}"].append(row)
    if not by_question:
        return "<p>No questions graded.</p>"
    lines = []
    for name, graded in by_question.items():
        scores, possible = [r.score for r in graded], max(r.possible for r in graded)
        lines.append(f"<tr><td>{_shown(name)}</td><td class=n>{possible:g}</td><td class=n>{statistics.mean(scores):.2f}</td>"
                     f"<td class=n>{statistics.median(scores):.3g}</td><td class=n>{_share(scores, lambda s: s >= possible)}</td>"
                     f"<td class=n>{_share(scores, lambda s: s == 0)}</td><td>{'yes' if name in hand_graded else 'no'}</td></tr>")
    table = ("<table><tr><th>question</th><th>points</th><th>mean</th><th>median</th><th>full marks</th><th>zero</th>"
             f"<th>hand-graded</th></tr>{''.join(lines)}</table>")
    columns = 4
    fig, axes = plt.subplots(
        math.ceil(len(by_question) / columns), columns, figsize=(3.2 * columns, 2.4 * math.ceil(len(by_question) / columns)), squeeze=False
    )
    for ax, (name, graded) in zip(axes.flat, by_question.items()):
        _histogram(ax, [r.score for r in graded], max(r.possible for r in graded), name)
    for ax in list(axes.flat)[len(by_question):]:
        ax.axis("off")
    fig.tight_layout()
    return table + "<h3>Scores per question</h3>" + _png(fig)


def _share(scores: list[float], test) -> str:
    return f"{100 * sum(1 for s in scores if test(s)) / len(scores):.0f}%"


def _failed_cases(outcomes: dict[tuple[str, str], Outcome]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(notebook, test case) -> [(student, reason)], from the graded outcomes' failure lists."""
    failed = defaultdict(list)
    for (student, notebook), outcome in sorted(outcomes.items()):
        for question, result in sorted((outcome.questions or {}).items()):
            for entry in result.get("failures", []):
                match = CASES.match(entry)
                cases, reason = (match.group(1).split(", "), match.group(2)) if match else ([question], entry)
                for case in cases:
                    failed[(notebook, case)].append((student, reason))
    return failed


def _per_test_case(outcomes: dict[tuple[str, str], Outcome], anchors: dict[str, str]) -> str:
    failed = _failed_cases(outcomes)
    if not failed:
        return "<p>No test case failed.</p>"
    lines = []
    for (notebook, case), failures in sorted(failed.items(), key=lambda item: (-len(item[1]), item[0])):
        groups = Counter(NUMBER.sub("#", printable(reason)) for _, reason in failures)
        examples = {}
        for _, reason in failures:
            examples.setdefault(NUMBER.sub("#", printable(reason)), reason)
        messages = "".join(
            f"<li>{count} × {_shown(examples[pattern], DETAIL_CHARACTERS)}</li>" for pattern, count in groups.most_common(MESSAGE_GROUPS)
        )
        if len(groups) > MESSAGE_GROUPS:
            messages += f"<li>… {len(groups) - MESSAGE_GROUPS} other messages</li>"
        who = sorted({student for student, _ in failures})
        links = ", ".join(f"<a href='#{anchors[s]}'>{_shown(s)}</a>" for s in who if s in anchors)
        lines.append(f"<tr><td>{_shown(notebook)}</td><td>{_shown(case)}</td><td class=n>{len(who)}</td><td><ul>{messages}</ul>"
                     f"<details><summary>the {len(who)} students</summary>{links}</details></td></tr>")
    return ("<table><tr><th>notebook</th><th>test case</th><th>students</th><th>most common messages (numbers differ)</th></tr>"
            + "".join(lines) + "</table>")


def _ungraded(outcomes: dict[tuple[str, str], Outcome], anchors: dict[str, str]) -> str:
    by_status = defaultdict(list)
    for (student, notebook), outcome in sorted(outcomes.items()):
        if outcome.questions is None:
            by_status[(notebook, outcome.status)].append(student)
    if not by_status:
        return "<p>None: every notebook was graded.</p>"
    lines = "".join(f"<tr><td>{_shown(notebook)}</td><td>{_shown(status)}</td><td class=n>{len(who)}</td><td>"
                    + ", ".join(f"<a href='#{anchors[s]}'>{_shown(s)}</a>" for s in who if s in anchors) + "</td></tr>"
                    for (notebook, status), who in sorted(by_status.items()))
    return f"<table><tr><th>notebook</th><th>status</th><th>students</th><th>who (the reason is in their section)</th></tr>{lines}</table>"


def _similar(pairs: list[Pair]) -> str:
    """The flagged pairs, grouped: students whose functions normalise to the same two codes are one group (five copies
    of one notebook make ten pairs, shown once), most similar first; each group shows what two of its students wrote."""
    flagged = [p for p in pairs if p.flagged]
    if not flagged:
        return (f"<p>No pair flagged among {len(pairs)} compared pairs of graded functions. Flagging is information for the "
                "instructor and never changes a score (README: copied code).</p>")
    groups = defaultdict(list)
    for pair in flagged:
        groups[(pair.notebook, pair.function, frozenset((pair.code_a, pair.code_b)))].append(pair)
    ordered = sorted(groups.values(), key=lambda g: (-g[0].similarity, -len(g), g[0].notebook, g[0].function, g[0].student_a))
    shown = []
    for group in ordered[:SHOWN_GROUPS]:
        first = group[0]
        sides = [sorted({s for p in group for s, c in ((p.student_a, p.code_a), (p.student_b, p.code_b)) if c == code} - {shown_student})
                 for code, shown_student in ((first.code_a, first.student_a), (first.code_b, first.student_b))]
        if first.code_a == first.code_b:
            sides = [sorted({s for p in group for s in (p.student_a, p.student_b)} - {first.student_a, first.student_b}), []]
        headers = [_shown(student) + (f"<br><small>the same code: {', '.join(_shown(s) for s in others)}</small>" if others else "")
                   for student, others in ((first.student_a, sides[0]), (first.student_b, sides[1]))]
        shown.append(f"<h3>{_shown(first.notebook)}: {_shown(first.function)}, similarity {first.similarity:.2f} "
                     f"(flagged from {threshold(first.length):.2f}), {len(group)} pairs</h3>"
                     f"<table><tr><th>{headers[0]}</th><th>{headers[1]}</th></tr>"
                     f"<tr><td><pre>{_code(first.source_a)}</pre></td><td><pre>{_code(first.source_b)}</pre></td></tr></table>")
    return (f"<p>{len(flagged)} pairs flagged (each in similarity.csv) in {len(groups)} groups of students with the same code "
            f"once normalised; the {len(shown)} most similar groups below, as the students wrote them. Compared after "
            "removing comments and docstrings, inlining helpers and ordering independent statements. Flagging never "
            "changes a score.</p>" + "".join(shown))


def _code(code: str) -> str:
    """Student code for a ``<pre>``: each line's control characters made visible, escaped; line breaks kept."""
    return "\n".join(_shown(line) for line in code.splitlines())


def _slowest(outcomes: dict[tuple[str, str], Outcome]) -> str:
    ranked = sorted(outcomes.items(), key=lambda item: -item[1].seconds)[:SLOWEST]
    body = "".join(f"<tr><td>{_shown(s)}</td><td>{_shown(n)}</td><td class=n>{o.seconds:.1f}</td><td>{_shown(o.status)}</td></tr>"
                   for (s, n), o in ranked)
    return f"<table><tr><th>student</th><th>notebook</th><th>seconds</th><th>status</th></tr>{body}</table>"


def _students(rows: list[Row], anchors: dict[str, str]) -> str:
    """One ``<details>`` per student: their total, then each lost point (a notebook that could not be graded: once)."""
    by_student = defaultdict(list)
    for row in rows:
        by_student[row.student].append(row)
    sections = []
    for student, own in sorted(by_student.items()):
        scored = _scored(own)
        total, possible = sum(r.score for r in scored), sum(r.possible for r in scored)
        lines, seen = [], set()
        for row in own:
            if row.status in NOTEBOOK_NOT_GRADED:
                if (row.notebook, row.status) not in seen:
                    seen.add((row.notebook, row.status))
                    lines.append(f"<tr><td>{_shown(row.notebook)}</td><td>{_shown(row.status)}</td>"
                                 f"<td>{_shown(row.message, DETAIL_CHARACTERS)}</td></tr>")
            elif not _has_score(row) or row.score < row.possible or row.status != "graded":
                score = f"{row.score:g}/{row.possible:g}" if _has_score(row) else "ungraded"
                lines.append(
                    f"<tr><td>{_shown(row.notebook)}/{_shown(row.question)}</td><td>{score}"
                    f"{'' if row.status == 'graded' else ' ' + _shown(row.status)}</td>"
                    f"<td>{_shown(row.message, DETAIL_CHARACTERS)}</td></tr>"
                )
        detail = (f"<table><tr><th>question</th><th>score</th><th>reason</th></tr>{''.join(lines)}</table>" if lines
                  else "<p>Full marks.</p>")
        sections.append(
            f"<details id='{anchors[student]}'><summary>{_shown(student)}: {total:g} / {possible:g}</summary>{detail}</details>"
        )
    return "".join(sections)
