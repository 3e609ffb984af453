"""Grading the files handed in with a notebook (``compresslab.outcomes``, ``compresslab.quantized_handin``), in the
grader's own process.

No student code runs here: a handed-in model is data, loaded with ``torch.load(weights_only=True)`` (which refuses
pickled code) within ``outcomes.MAX_HANDED_IN_BYTES``, and a configuration is JSON. Each outcome-graded question
becomes one more question of its notebook's outcome, with its own status (``missing``, ``invalid`` or ``graded``), so
``scores.csv``, ``gradebook.csv``, ``report.html``, ``feedback/``, ``canvas.csv`` and Gradescope's ``results.json``
carry it like any other question. A notebook that could not be graded gives its handed-in questions its own status.
The results are not journaled: grading a handed-in file costs inference only (about 0.4 s), so a resumed batch
grades them again. They are measured by ``quantized_handin.grade_handed_in``, the function a student's self-check runs,
on the embedded dataset loaded once per process (``checkpoints.embedded_digits``).
"""

from ..outcomes import outcome_questions
from ..quantized_handin import HandedInResult, grade_handed_in
from .runner import Outcome
from .submissions import Submission


def grade_handed_in_files(submissions: list[Submission],
                          outcomes: dict[tuple[str, str], Outcome]) -> dict[tuple[str, str, str], HandedInResult]:
    """Grade every handed-in file of every notebook the batch graded and add its question to that notebook's outcome
    (``questions[q]``: ``score``, ``possible``, ``failures``, ``status``). Returns ``{(student, notebook, question): result}``."""
    results = {}
    by_student = {s.student: s for s in submissions}
    for (student, notebook), outcome in outcomes.items():
        if outcome.questions is None or student not in by_student:  # not graded: its status and message stand for these questions
            continue
        files = by_student[student].handed_in.get(notebook, {})
        for question in outcome_questions(notebook):
            found = files.get(question.file)
            result = HandedInResult("invalid", 0.0, found) if isinstance(found, str) else grade_handed_in(question, found)
            results[(student, notebook, question.question)] = result
            lost = result.score < question.points
            outcome.questions[question.question] = {"score": result.score, "possible": float(question.points),
                                                    "failures": [f"{question.question} - 1: {result.message}"] if lost else [],
                                                    "status": result.status}
    return results
