"""Grading a folder of submissions: ``python -m compresslab.grading.cli SUBMISSIONS --out OUT`` (``make grade``).

- ``submissions``: find each student's notebooks (folder or zip) without modifying them; refuse links, special files, duplicates
- ``safe_text``: student names and messages made inert for terminals, Markdown and spreadsheets
- ``autograders``: read the question list and points from an Otter autograder zip
- ``engine``: the grader's side of one notebook: hand it to a zygote, watch it, decide every test case (it alone holds the secrets)
- ``zygote``: the warm process in the sandbox that runs each notebook and its Otter tests in a forked, confined child
- ``protocol``: the typed, size-capped frames the notebook's process may send, and the validated report
- ``sandbox``: bubblewrap's allow-listed filesystem around each zygote; per notebook namespaces, private tmpfs, limits
- ``cgroups``: as root, a cgroup per zygote so memory and process limits count everything a notebook uses
- ``reference_checks``: what each hidden check expects, recorded from the reference; finds answers a hidden test would leak
- ``diagnosis``: name the catalogued mistake a failed case behaves like (from ``compresslab.mistakes``' recording; information only)
- ``patches``: undo what a notebook's cells did to the libraries the tests use
- ``grading_mode``: which release cells are skipped when grading (time-only cells)
- ``runner``: grade every (student, notebook) in parallel, replace a dead zygote, turn outcomes into rows
- ``journal``: record each graded notebook at once, so a killed batch resumes
- ``reports``: ``scores.csv``, ``gradebook.csv`` and the printed gradebook
- ``html_report``: ``report.html`` (score distributions, per-question and per-test-case tables, flagged pairs, per-student details)
- ``similarity``: ``similarity.csv``, copied code flagged per graded function (copydetect after ``ast`` normalisation)
- ``feedback``: ``feedback/<student>/<notebook>.md``, what the student may see
- ``merge``: ``make merge``, the outputs of a class graded in parts on several machines
- ``gradescope``: Gradescope's ``run_autograder``, one submission graded as ``make grade`` does, into ``results.json``
- ``written``: the release's written questions, each student's answers, one HTML page per question (``OUT/written/``)
- ``anonymous``: stable anonymous codes for students and the key from codes to names
- ``manual``: ``manual.csv`` (points given by hand, regrades) written, checked and merged into the rows
- ``canvas``: a Canvas roster read and matched, ``canvas.csv`` written
- ``html_manual``: the hand-grading and roster section of ``report.html``
"""
