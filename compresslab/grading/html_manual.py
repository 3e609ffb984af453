"""The hand-grading and roster section of ``report.html``: points still ungraded, scores set by hand, roster mismatches.

Every text is HTML-escaped: names, comments and roster cells are not ours.
"""

import html

from .canvas import Matching
from .manual import MANUAL, OVERRIDE_NOTE, UNGRADED
from .runner import Row


def manual_section(rows: list[Row], written_merged: bool, matching: Matching | None) -> str:
    """HTML for the report; ``written_merged``: a manual.csv was merged (else written questions are not in the rows)."""
    parts = ["<h2>Hand grading</h2>"]
    if not written_merged:
        parts.append("<p>No manual.csv merged: written questions are not in these scores. Grade them from <code>written/</code> "
                     "and merge <code>manual.csv</code> with <code>MANUAL=</code>.</p>")
    else:
        ungraded = [r for r in rows if r.status == UNGRADED]
        by_hand = [r for r in rows if r.status == MANUAL]
        parts.append(f"<p>{len(by_hand)} scores set by hand; {len(ungraded)} written answers not graded yet "
                     f"({sum(r.possible for r in ungraded):g} points still ungraded).</p>")
        overrides = [r for r in by_hand if r.message.startswith(OVERRIDE_NOTE)]
        if overrides:
            body = "".join(f"<tr><td>{html.escape(r.student)}</td><td>{html.escape(r.notebook)}/{html.escape(r.question)}</td>"
                           f"<td>{r.score:g}/{r.possible:g}</td><td>{html.escape(r.message)}</td></tr>" for r in overrides)
            parts.append("<h3>Autograded scores overridden by hand</h3><table><tr><th>student</th><th>question</th><th>score</th>"
                         f"<th>why</th></tr>{body}</table>")
    if matching is not None:
        parts.append("<h2>Roster</h2>")
        if not matching.unmatched_students and not matching.unmatched_entries:
            parts.append(f"<p>Every submission matches a roster entry ({len(matching.by_student)}).</p>")
        items = [
            f"<li>submission <b>{html.escape(s)}</b> matches no roster entry: not in canvas.csv</li>" for s in matching.unmatched_students
        ]
        items += [
            f"<li>roster entry <b>{html.escape(e['Student'])}</b> (SIS Login ID {html.escape(e['SIS Login ID'])}) has no submission</li>"
            for e in matching.unmatched_entries
        ]
        if items:
            parts.append(f"<ul>{''.join(items)}</ul>")
    return "".join(parts)
