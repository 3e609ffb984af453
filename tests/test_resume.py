"""A batch killed half-way (SIGKILL) and re-run resumes from OUT/journal.jsonl: nothing lost, nothing duplicated."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from compresslab.grading.autograders import questions
from compresslab.grading.engine import Limits
from compresslab.grading.journal import Journal, grading_key

from conftest import ROOT

NOTEBOOK = "int8_cnn"
QUESTIONS = len(questions(ROOT / "autograder" / f"{NOTEBOOK}-autograder.zip"))  # a row per student and autograded question


def _grade_command(submissions, out):
    return [sys.executable, "-m", "compresslab.grading.cli", str(submissions), "--out", str(out), "--notebooks", NOTEBOOK, "--jobs", "1"]


def test_a_killed_batch_resumes_without_losing_or_duplicating_rows(tmp_path):
    submissions, out = tmp_path / "submissions", tmp_path / "grades"
    for example in ("reference", "blank", "partial", "reference"):
        student = example if not (submissions / example).exists() else "reference_again"
        (submissions / student).mkdir(parents=True)
        shutil.copyfile(ROOT / "data" / "examples" / example / f"{NOTEBOOK}.ipynb", submissions / student / f"{NOTEBOOK}.ipynb")
    batch = subprocess.Popen(_grade_command(submissions, out), cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / "journal.jsonl"
    deadline = time.monotonic() + 600
    while not (journal.exists() and journal.read_text().count("\n") >= 1) and batch.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(batch.pid, signal.SIGKILL)
    batch.wait()
    graded_before_kill = journal.read_text().count("\n")
    assert 1 <= graded_before_kill < 4, "the batch should have been killed half-way"
    with open(journal, "a") as f:
        f.write('{"key": "cut short by the kill')  # the line a kill can leave behind

    done = subprocess.run(_grade_command(submissions, out), cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming: {graded_before_kill} notebooks were already graded" in done.stdout
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [(r["student"], r["notebook"], r["question"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4 * QUESTIONS
    total = {s: sum(float(r["score"]) for r in rows if r["student"] == s) for s in ("reference", "reference_again", "blank", "partial")}
    possible = sum(float(r["possible"]) for r in rows if r["student"] == "reference")
    assert total["reference"] == total["reference_again"] == possible and total["blank"] == 0 < total["partial"] < possible
    entries = [json.loads(line) for line in journal.read_text().splitlines()[graded_before_kill + 1:]]
    assert len(entries) == 4 - graded_before_kill, "only the notebooks not graded before the kill are graded again"


def test_a_changed_submission_autograder_mode_or_limit_is_graded_again(tmp_path):
    notebook = tmp_path / f"{NOTEBOOK}.ipynb"
    shutil.copyfile(ROOT / "data" / "examples" / "blank" / f"{NOTEBOOK}.ipynb", notebook)
    autograder = ROOT / "autograder" / f"{NOTEBOOK}-autograder.zip"
    key = grading_key("ada", NOTEBOOK, notebook, autograder, frozenset(), Limits())
    journal = Journal(tmp_path / "out")
    journal.record(key, {"status": "graded", "message": "", "questions": {}, "seconds": 1.0, "skipped": 0})
    journal.close()
    assert key in Journal(tmp_path / "out").recorded
    others = [
        grading_key("bob", NOTEBOOK, notebook, autograder, frozenset(), Limits()),
        grading_key("ada", NOTEBOOK, notebook, autograder, frozenset({"# grading: skip"}), Limits()),
        grading_key("ada", NOTEBOOK, notebook, autograder, frozenset(), Limits(notebook_seconds=5)),
        grading_key("ada", NOTEBOOK, notebook, ROOT / "autograder" / "pruning-autograder.zip", frozenset(), Limits()),
    ]
    notebook.write_text(notebook.read_text().replace("NotImplementedError", "NotImplementedError ", 1))
    others.append(grading_key("ada", NOTEBOOK, notebook, autograder, frozenset(), Limits()))
    assert len(set(others)) == len(others) and key not in others


def test_an_interrupted_batch_writes_its_outputs_and_a_rerun_completes_them(tmp_path):
    """Ctrl-C (SIGINT to the batch's process group, as a terminal sends it) half-way: the outputs are written in a
    ``finally`` with a row for every (student, notebook, question), those not graded ``interrupted``; a re-run fills them."""
    submissions, out = tmp_path / "submissions", tmp_path / "grades"
    for example in ("reference", "blank", "partial"):
        (submissions / example).mkdir(parents=True)
        shutil.copyfile(ROOT / "data" / "examples" / example / f"{NOTEBOOK}.ipynb", submissions / example / f"{NOTEBOOK}.ipynb")
    batch = subprocess.Popen(_grade_command(submissions, out), cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal = out / "journal.jsonl"
    deadline = time.monotonic() + 600
    while not (journal.exists() and journal.read_text().count("\n") >= 1) and batch.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(batch.pid, signal.SIGINT)
    stderr = batch.communicate(timeout=600)[1]
    assert batch.returncode == 130 and "interrupted: the outputs hold every notebook graded so far" in stderr, stderr[-2000:]
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [(r["student"], r["notebook"], r["question"]) for r in rows]
    assert len(keys) == len(set(keys)) == 3 * QUESTIONS
    graded = {r["student"] for r in rows if r["status"] == "graded"}
    assert 1 <= len(graded) < 3 and {r["status"] for r in rows if r["student"] not in graded} == {"interrupted"}, rows
    assert (out / "feedback" / "reference" / f"{NOTEBOOK}.md").is_file() and (out / "report.html").is_file()

    done = subprocess.run(_grade_command(submissions, out), cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len({(r["student"], r["notebook"], r["question"]) for r in rows}) == len(rows) == 3 * QUESTIONS
    assert {r["status"] for r in rows} == {"graded"}


def test_a_damaged_journal_is_read_past_and_its_forged_records_are_graded_again(tmp_path):
    """Undecodable bytes and records of the wrong shape (a crash mid-write, a hand edit, a forgery) neither stop a re-run
    nor count as grades: the record is ignored and the notebook (the blank release) graded again."""
    from compresslab.grading.autograders import questions
    from compresslab.grading.runner import grade_all
    from compresslab.grading.submissions import Submission

    autograder = ROOT / "autograder" / f"{NOTEBOOK}-autograder.zip"
    notebooks = {}
    for student in ("kept", "forged"):
        notebooks[student] = tmp_path / student / f"{NOTEBOOK}.ipynb"
        notebooks[student].parent.mkdir()
        shutil.copyfile(ROOT / "data" / "examples" / "blank" / f"{NOTEBOOK}.ipynb", notebooks[student])
    keys = {s: grading_key(s, NOTEBOOK, p, autograder, frozenset(), Limits()) for s, p in notebooks.items()}
    out = tmp_path / "out"
    out.mkdir()
    kept = {"status": "graded", "message": "", "questions": {}, "seconds": 1.0, "skipped": 0}
    forged = {"status": "graded", "message": "", "questions": {"q2": {"score": "5", "failures": None}}, "seconds": 1.0}
    with open(out / "journal.jsonl", "wb") as f:
        f.write(b"\xff\xfe not utf-8\n" + json.dumps({"key": keys["kept"], "outcome": kept}).encode() + b"\n"
                + json.dumps({"key": keys["forged"], "outcome": forged}).encode() + b"\n" + b'["a list"]\n')
    journal = Journal(out)
    try:
        _, outcomes = grade_all([Submission(s, p.parent, {NOTEBOOK: p}) for s, p in notebooks.items()], {NOTEBOOK: autograder},
                                {NOTEBOOK: questions(autograder)}, 1, Limits(), progress=False, journal=journal)
    finally:
        journal.close()
    assert outcomes[("kept", NOTEBOOK)].questions == {} and outcomes[("kept", NOTEBOOK)].seconds == 1.0, "a well-formed record is reused"
    regraded = outcomes[("forged", NOTEBOOK)]
    assert regraded.status == "graded" and regraded.questions["q2"]["score"] == 0 and regraded.questions["q2"]["failures"], regraded


def test_fixtures_reference_checks_or_checkpoints_change_the_key(tmp_path, monkeypatch):
    data = tmp_path / "data"
    for folder in ("fixtures", "checkpoints"):
        shutil.copytree(ROOT / "data" / folder, data / folder)
    monkeypatch.setenv("COMPRESSLAB_DATA", str(data))
    notebook, autograder = ROOT / "data" / "examples" / "blank" / f"{NOTEBOOK}.ipynb", ROOT / "autograder" / f"{NOTEBOOK}-autograder.zip"
    keys = [grading_key("ada", NOTEBOOK, notebook, autograder, frozenset(), Limits())]
    for relative in (f"fixtures/{NOTEBOOK}.pt", f"fixtures/{NOTEBOOK}.checks.pt", "checkpoints/net.pt"):
        with open(data / relative, "ab") as f:
            f.write(b"\0")  # any other bytes
        keys.append(grading_key("ada", NOTEBOOK, notebook, autograder, frozenset(), Limits()))
    (data / "fixtures" / f"{NOTEBOOK}.pt").unlink()
    keys.append(grading_key("ada", NOTEBOOK, notebook, autograder, frozenset(), Limits()))
    assert len(set(keys)) == len(keys)


def test_a_resumed_grade_after_the_fixtures_change_grades_again(tmp_path):
    """Grade, re-record the fixtures and reference checks (as ``make fixtures`` does after a master changed), re-run:
    the journal's outcomes are not reused. The fixture tree is saved again with its top-level keys in reverse order
    (other bytes, the same values), so that the re-recorded reference checks still give the reference full marks."""
    import tempfile

    import torch

    from compresslab.paths import course

    # the data copy must be readable by the unprivileged uid that runs student code (pytest's tmp_path is root's, mode 700)
    data = Path(tempfile.mkdtemp(prefix="compresslab-data-")) / "data"
    data.parent.chmod(0o755)
    submissions, out = tmp_path / "submissions", tmp_path / "grades"
    for folder in ("checkpoints", "fixtures"):
        shutil.copytree(ROOT / "data" / folder, data / folder)
    (submissions / "reference").mkdir(parents=True)
    shutil.copyfile(ROOT / "data" / "examples" / "reference" / f"{NOTEBOOK}.ipynb", submissions / "reference" / f"{NOTEBOOK}.ipynb")
    env = {**os.environ, "COMPRESSLAB_DATA": str(data)}

    def grade() -> tuple[str, list[dict]]:
        done = subprocess.run(_grade_command(submissions, out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stderr[-2000:]
        with open(out / "scores.csv", newline="") as f:
            return done.stdout, list(csv.DictReader(f))

    _, first = grade()
    assert all(r["score"] == r["possible"] for r in first), first
    resumed, _ = grade()
    assert "resuming: 1 notebooks were already graded" in resumed

    fixtures = data / "fixtures" / f"{NOTEBOOK}.pt"
    before = fixtures.read_bytes()
    tree = torch.load(fixtures, weights_only=True)
    torch.save(dict(reversed(tree.items())), fixtures)
    assert fixtures.read_bytes() != before
    recorded = subprocess.run([sys.executable, "-m", "compresslab.record_fixtures", "--from", "checks", NOTEBOOK], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=1800)
    assert recorded.returncode == 0, recorded.stderr[-2000:]
    regraded, rows = grade()
    assert "resuming" not in regraded
    assert [(r["question"], r["score"]) for r in rows] == [(r["question"], r["score"]) for r in first]
    assert len((out / "journal.jsonl").read_text().splitlines()) == 2, "graded twice: before and after the fixtures changed"
    assert course().fixture(NOTEBOOK) == ROOT / "data" / "fixtures" / f"{NOTEBOOK}.pt", "the repository's own fixtures were not touched"
    shutil.rmtree(data.parent)
