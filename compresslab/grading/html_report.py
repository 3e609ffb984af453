"""``report.html``: one page for the instructor after ``make grade``.

Score histograms per question (matplotlib, embedded as PNG), the submissions that took longest
to grade, and every lost point or ungraded notebook with its reason. Every text cell is HTML-escaped:
student names, messages and even statuses (read back from the journal on a resumed run) are not ours.
"""

import base64
import html
import io
import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .runner import Outcome, Row  # noqa: E402

SLOWEST = 10  # submissions listed by grading time


def write_report(rows: list[Row], outcomes: dict[tuple[str, str], Outcome], path: Path, extra_sections: str = "") -> None:
    """extra_sections: HTML appended at the end (hand grading and roster, ``html_manual.manual_section``)."""
    sections = ["<h2>Scores per question</h2>", _histograms(rows), "<h2>Slowest notebooks to grade</h2>", _slowest(outcomes),
                "<h2>Every lost point</h2>", _failures(rows), extra_sections]
    students = len({r.student for r in rows})
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>compresslab grades</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left;vertical-align:top}</style></head><body>"
        f"<h1>compresslab grades</h1><p>{students} students, {len(outcomes)} notebooks, {len(rows)} question rows.</p>"
        + "".join(sections) + "</body></html>\n",
        encoding="utf-8",
    )


def _histograms(rows: list[Row]) -> str:
    by_question = defaultdict(list)
    for row in rows:
        by_question[f"{row.notebook}/{row.question}"].append((row.score, row.possible))
    if not by_question:
        return "<p>No questions graded.</p>"
    columns = 4
    lines = math.ceil(len(by_question) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.4 * lines), squeeze=False)
    for ax, (name, scores) in zip(axes.flat, by_question.items()):
        possible = max(p for _, p in scores)
        ax.hist([s for s, _ in scores], bins=max(1, min(10, int(possible) + 1)), range=(0, possible or 1), color="tab:blue")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(f"score (of {possible:g})", fontsize=8)
    for ax in list(axes.flat)[len(by_question):]:
        ax.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return f"<img alt='score histograms' src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}'>"


def _slowest(outcomes: dict[tuple[str, str], Outcome]) -> str:
    ranked = sorted(outcomes.items(), key=lambda item: -item[1].seconds)[:SLOWEST]
    body = "".join(f"<tr><td>{html.escape(s)}</td><td>{html.escape(n)}</td><td>{o.seconds:.1f}</td><td>{html.escape(o.status)}</td></tr>" for (s, n), o in ranked)
    return f"<table><tr><th>student</th><th>notebook</th><th>seconds</th><th>status</th></tr>{body}</table>"


def _failures(rows: list[Row]) -> str:
    lost = [r for r in rows if r.score < r.possible or r.status != "graded"]
    if not lost:
        return "<p>None: every question earned full marks.</p>"
    body = "".join(
        f"<tr><td>{html.escape(r.student)}</td><td>{html.escape(r.notebook)}/{html.escape(r.question)}</td><td>{r.score:g}/{r.possible:g}</td>"
        f"<td>{html.escape(r.status)}</td><td>{html.escape(r.message)}</td></tr>"
        for r in lost
    )
    return f"<table><tr><th>student</th><th>question</th><th>score</th><th>status</th><th>reason</th></tr>{body}</table>"
