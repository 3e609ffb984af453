"""Outcome-graded open questions: the student hands in a result, the grader measures it.

Seed 003 asks for things no unit test can grade: "fine-tune ... using any desired training method, and save the
best performing model" (2(d)), "use a method of your choice to find the optimal quantized model size" (3(a)). Here
the student trains or searches however they like, saves the result beside the notebook, and hands it in with the
notebook: ``grader.export`` packs the files this module declares (``handed_in_files``), ``submissions.collect``
finds them beside the notebook, ``quantized_handin.grade_handed_in`` grades them in the grader's process. The grader
never runs the student's training: the notebook's open-ended cell opens with ``grading_mode.OPEN_ENDED_MARKER``.

A notebook declares its questions in ``OUTCOME_QUESTIONS``, one dataclass per question (this module imports nothing
heavy: every student bundle ships it with ``handin``):

- ``QuantizedModelQuestion``: a quantized ResNet-20 in ``quantized_handin.QUANTIZED_MODEL_FORMAT``, checked against
  the library's model and the declared bits, then evaluated; points when its test accuracy reaches the threshold.
- ``BitwidthsQuestion``: per-layer weight bit widths in JSON; the grader quantizes the shipped checkpoint with them
  itself and measures accuracy and size; points when the constraint holds (and a class leaderboard by size).
"""

from dataclasses import dataclass

MAX_HANDED_IN_BYTES = 4 * 2**20  # per handed-in file; a ResNet-20 state dict is 1.1 MB


@dataclass(frozen=True)
class QuantizedModelQuestion:
    """A quantized ResNet-20 the student fine-tuned however they liked (seed 003, 2(d))."""

    question: str  # the question's name in the notebook, e.g. "q12"
    file: str  # the file handed in beside the notebook, e.g. "ResNet20_W4A4.pt"
    weight_bits: int  # most weight bits any layer but the first and last may declare
    act_bits: int  # most input bits any layer but the first and last may declare
    edge_bits: int  # most bits (weights and input) of the first convolution and the classifier (the notebook keeps them at 8)
    max_drop: float  # accuracy (points) below the fp32 checkpoint's, on the full test split, the model may lose
    points: float


@dataclass(frozen=True)
class BitwidthsQuestion:
    """Per-layer weight bit widths the student's own search chose (seed 003, 3(a)); the grader quantizes and measures."""

    question: str
    file: str  # JSON: {"bitwidths": {layer name: bits}}
    max_drop: float  # the accuracy constraint: fp32 accuracy minus this, on the full test split
    points: float
    min_bits: int = 2  # allowed weight bit widths per layer
    max_bits: int = 8
    calibration_images: int = 128  # first training images calibrating the 16-bit input scales


OutcomeQuestion = QuantizedModelQuestion | BitwidthsQuestion

OUTCOME_QUESTIONS: dict[str, tuple[OutcomeQuestion, ...]] = {
    "sawb_qat": (
        QuantizedModelQuestion("q12", "ResNet20_W4A4.pt", weight_bits=4, act_bits=4, edge_bits=8, max_drop=2.0, points=4),
        QuantizedModelQuestion("q13", "ResNet20_W8A8.pt", weight_bits=8, act_bits=8, edge_bits=8, max_drop=1.0, points=2),
        BitwidthsQuestion("q14", "variable_precision.json", max_drop=2.0, points=4),
    ),
}


def outcome_questions(notebook: str) -> tuple[OutcomeQuestion, ...]:
    """The outcome-graded questions of ``notebook`` (none for most notebooks)."""
    return OUTCOME_QUESTIONS.get(notebook, ())


def handed_in_files(notebook: str) -> tuple[str, ...]:
    """File names handed in beside ``notebook``'s ``.ipynb``."""
    return tuple(q.file for q in outcome_questions(notebook))
