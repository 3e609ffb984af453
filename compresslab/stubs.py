"""How a student release marks what a student fills in (Otter Assign's conventions, read by the release, the export
cell, the written-answer pages and the similarity check):

- ``STUB_MARKER``: the comment in every code stub (``raise NotImplementedError  # YOUR CODE HERE``) and in every
  graded function's body in the release;
- ``ANSWER_TAG``: the tag Otter Assign gives every cell of a solution block in the release;
- ``UNANSWERED_MARKDOWN``: the placeholder text of a written answer not yet given.
"""

STUB_MARKER = "# YOUR CODE HERE"
ANSWER_TAG = "otter_answer_cell"
UNANSWERED_MARKDOWN = "_Type your answer here, replacing this text._"
