"""Grading a folder of submissions: ``python -m compresslab.grading.cli SUBMISSIONS --out OUT`` (``make grade``).

- ``submissions``: find each student's notebooks (folder or zip) without modifying them
- ``autograders``: read the question list and points from an Otter autograder zip
- ``otter_worker``: grade one notebook with ``otter run``'s engine, in its own process
- ``runner``: run the workers in parallel with a time limit, turn results into rows
- ``reports``: ``scores.csv``, ``gradebook.csv`` and the printed gradebook
"""
