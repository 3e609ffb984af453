"""The class leaderboard of an outcome-graded search (seed 003, 3(a): "the best approaches will be considered for bonus
points"): the smallest models that meet the accuracy constraint, as the grader measured them, for the instructor's
``report.html`` only. Whether it earns a bonus is the course's choice; it never changes a score."""

import html

from ..outcomes import BitwidthsQuestion, outcome_questions
from ..quantized_handin import HandedInResult

KIB_BITS = 8 * 1024


def ranking(results: dict[tuple[str, str, str], HandedInResult], notebook: str, question: str) -> list[tuple[str, HandedInResult]]:
    """``(student, result)`` of the configurations that met ``question``'s constraint, smallest first (then the more
    accurate, then by name)."""
    met = [(student, r) for (student, n, q), r in results.items()
           if n == notebook and q == question and r.score > 0 and r.size_bits is not None]
    return sorted(met, key=lambda item: (item[1].size_bits, -item[1].accuracy, item[0]))


def leaderboard_section(results: dict[tuple[str, str, str], HandedInResult], notebooks: list[str]) -> str:
    """HTML: one ranked table per ``BitwidthsQuestion`` of ``notebooks`` (empty when there is none)."""
    parts = []
    for notebook in notebooks:
        for question in outcome_questions(notebook):
            if not isinstance(question, BitwidthsQuestion):
                continue
            ranked = ranking(results, notebook, question.question)
            handed = sum(1 for (_, n, q), r in results.items() if n == notebook and q == question.question and r.status != "missing")
            rows = "".join(f"<tr><td class='n'>{rank}</td><td>{html.escape(student)}</td><td class='n'>{r.size_bits / KIB_BITS:.1f}</td>"
                           f"<td class='n'>{r.accuracy:.2f}</td></tr>" for rank, (student, r) in enumerate(ranked, 1))
            parts.append(f"<h3>{html.escape(notebook)}/{html.escape(question.question)}: smallest models meeting the constraint</h3>"
                         f"<p>{len(ranked)} of the {handed} configurations handed in ({html.escape(question.file)}) met the constraint "
                         f"(fp32 accuracy minus {question.max_drop:g} points, measured by the grader on the test split). "
                         "Information for a bonus, never a score change.</p>"
                         + (f"<table><tr><th>rank</th><th>student</th><th>size (KiB)</th><th>test accuracy (%)</th></tr>{rows}</table>"
                            if ranked else ""))
    return f"<h2>Leaderboard</h2>{''.join(parts)}" if parts else ""
