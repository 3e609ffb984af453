"""Grading a folder of submissions: ``python -m compresslab.grading.cli SUBMISSIONS --out OUT`` (``make grade``).

- ``submissions``: find each student's notebooks (folder or zip) without modifying them; refuse links, special files, duplicates
- ``safe_text``: student names and messages made inert for terminals, Markdown and spreadsheets
- ``autograders``: read the question list and points from an Otter autograder zip
- ``engine``: execute one notebook and its Otter tests in a forked child, within time, memory and process limits
- ``sandbox``: confine that child (limits; as root: own uid, scratch folder, secrets hidden, no network)
- ``patches``: undo what a notebook's cells did to the libraries the tests use
- ``grading_mode``: which release cells are skipped when grading (time-only cells)
- ``runner``: grade every (student, notebook) in parallel, replace a dead zygote, turn outcomes into rows
- ``journal``: record each graded notebook at once, so a killed batch resumes
- ``reports``: ``scores.csv``, ``gradebook.csv`` and the printed gradebook
- ``html_report``: ``report.html`` (histograms per question, slowest notebooks, every lost point)
- ``feedback``: ``feedback/<student>/<notebook>.md``, what the student may see
"""
