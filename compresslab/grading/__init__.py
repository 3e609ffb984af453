"""Grading a folder of submissions: ``python -m compresslab.grading.cli SUBMISSIONS --out OUT`` (``make grade``).

- ``submissions``: find each student's notebooks (folder or zip) without modifying them
- ``autograders``: read the question list and points from an Otter autograder zip
- ``engine``: execute one notebook and its Otter tests in a forked child, within time and memory limits
- ``grading_mode``: which release cells are skipped when grading (time-only cells)
- ``runner``: grade every (student, notebook) in parallel, turn outcomes into rows
- ``reports``: ``scores.csv``, ``gradebook.csv`` and the printed gradebook
"""
