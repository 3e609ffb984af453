"""The adversarial suite at the batch's edges (issue 17, items 3, 7, 8): one batch holding every hostile entry and an
honest one, graded through the real CLI (``python -m compresslab.grading.cli``, as ``make grade`` runs it) once as
root and once as an unprivileged user this test creates. Each entry must gain nothing over the blank release, the batch
must complete with a row for everyone, the honest submission keeps full marks, nothing leaks into the outputs, and
no submission is modified. Only int8_cnn is graded (``--notebooks int8_cnn``): it grades fastest.

Classes: symlinks (to the reference example, to a classmate, to /etc/shadow, as the entry itself), a FIFO, a device, a
zip with a symlink member, ``dup/`` + ``dup.zip``, formula-injection, ANSI-escape and over-long student names, a message with
escapes raised by the student's code, an oversized folder notebook, a notebook that kills its zygote (its parent).
A zygote killed between two grades is also replaced directly (``test_a_zygote_killed_between_two_grades_is_replaced``).
"""

import csv
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import psutil
import pytest

from compresslab.grading.autograders import questions
from compresslab.grading.engine import Limits
from compresslab.grading.feedback import student_folder
from compresslab.grading.runner import close_zygote, grade_all, start_zygote
from compresslab.grading.submissions import MAX_NOTEBOOK_BYTES, Submission

from conftest import ROOT

NAME = "int8_cnn"
EXAMPLES = ROOT / "data" / "examples"
AUTOGRADER = ROOT / "autograder" / f"{NAME}-autograder.zip"
QUESTIONS = questions(AUTOGRADER)
POSSIBLE = sum(q.points for q in QUESTIONS)
USER = f"clab-hostile-{os.getpid()}"
ESCAPES = "\x1b]0;owned\x07\x1b[31m"
FORMULA = "=1+2"
ANSI_NAME, ANSI_SHOWN = "\x1b[31mansi\x1b[0m", "\\x1b[31mansi\\x1b[0m"
# student shown in the outputs -> (status, words in its message); None: graded normally
INVALID = {
    "link_reference": "link_reference/int8_cnn.ipynb is a symbolic link",
    "link_classmate": "link_classmate/int8_cnn.ipynb is a symbolic link",
    "link_shadow": "link_shadow/int8_cnn.ipynb is a symbolic link",
    "link_entry": "link_entry is a symbolic link",
    "fifo": "fifo/int8_cnn.ipynb is a FIFO",
    "device": "device/int8_cnn.ipynb is a character device",
    "zip_link": "zip entry 'int8_cnn.ipynb' is a symbolic link",
    "dup": "2 entries for one student (dup/, dup.zip)",
    "huge": f"over the {MAX_NOTEBOOK_BYTES // 2**20} MiB limit",
}
LONG_NAME, LONG_SHOWN = "\x01" * 250, "\\x01" * 250  # a valid file name; escaped, too long for one
HONEST = ("honest", FORMULA)
GRADED = ("blank", ANSI_SHOWN, "escape_message", "a_zygote_killer")
MISSING = (LONG_SHOWN,)


def _notebook(example: str, target: Path, replace: tuple[str, str] | None = None, extra_cell: str | None = None) -> None:
    notebook = json.loads((EXAMPLES / example / f"{NAME}.ipynb").read_text())
    if replace is not None:
        cell = next(c for c in notebook["cells"] if c["cell_type"] == "code" and replace[0] in "".join(c["source"]))
        cell["source"] = "".join(cell["source"]).replace(replace[0], replace[1], 1)
    if extra_cell is not None:
        notebook["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": extra_cell})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook))


def _build(submissions: Path) -> None:
    """Every hostile entry, the blank release and two honest submissions (one with a formula for a name)."""
    for student in HONEST:
        _notebook("reference", submissions / student / f"{NAME}.ipynb")
    _notebook("blank", submissions / "blank" / f"{NAME}.ipynb")
    _notebook("blank", submissions / ANSI_NAME / f"{NAME}.ipynb")
    _notebook("blank", submissions / "escape_message" / f"{NAME}.ipynb",
              replace=("raise NotImplementedError()", f"raise ValueError({ESCAPES + FORMULA!r})"))
    # today the zygote is the child's parent; as root the child's uid may not signal it (the cell fails, nothing else)
    _notebook("blank", submissions / "a_zygote_killer" / f"{NAME}.ipynb", extra_cell="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    links = {"link_reference": EXAMPLES / "reference" / f"{NAME}.ipynb", "link_classmate": Path("..") / "honest" / f"{NAME}.ipynb",
             "link_shadow": Path("/etc/shadow")}
    for student, target in links.items():
        (submissions / student).mkdir()
        (submissions / student / f"{NAME}.ipynb").symlink_to(target)
    (submissions / "link_entry").symlink_to("honest")
    (submissions / "fifo").mkdir()
    os.mkfifo(submissions / "fifo" / f"{NAME}.ipynb")
    (submissions / "device").mkdir()
    os.mknod(submissions / "device" / f"{NAME}.ipynb", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero: never ends
    member = zipfile.ZipInfo(f"{NAME}.ipynb")
    member.create_system, member.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(submissions / "zip_link.zip", "w") as archive:
        archive.writestr(member, f"../honest/{NAME}.ipynb")
    _notebook("reference", submissions / "dup" / f"{NAME}.ipynb")
    with zipfile.ZipFile(submissions / "dup.zip", "w") as archive:
        archive.write(EXAMPLES / "reference" / f"{NAME}.ipynb", f"{NAME}.ipynb")
    (submissions / LONG_NAME).mkdir()  # no notebook in it: missing
    (submissions / "huge").mkdir()
    with open(submissions / "huge" / f"{NAME}.ipynb", "wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)  # sparse


def _state(folder: Path) -> dict:
    """Every path under ``folder`` with its kind and content (links by target, special files by mode: never opened)."""
    state = {}
    for root, dirs, files in os.walk(folder):
        for item in dirs + files:
            path = Path(root) / item
            mode = path.lstat().st_mode
            state[str(path.relative_to(folder))] = (os.readlink(path) if stat.S_ISLNK(mode) else hashlib.sha256(path.read_bytes()).hexdigest()
                                                    if stat.S_ISREG(mode) else stat.S_IFMT(mode))
    return state


def _as_user(command: list[str], home: Path) -> list[str]:
    environment = [f"HOME={home}", "PATH=/usr/bin:/bin", "PYTHONHASHSEED=0", "MPLBACKEND=Agg", f"PYTHONPATH={ROOT}"]
    return ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "env", "-i", *environment, *command]


@pytest.fixture(scope="module", params=["root", "user"])
def batch(request):
    """The hostile batch graded once per mode: (mode, completed process, scores rows, gradebook lines, OUT)."""
    if os.geteuid() != 0:
        pytest.skip("the hostile batch needs root (device nodes, a throwaway user): run `sudo .venv/bin/python -m pytest "
                    "tests/test_hostile_batch.py` (CI runs as root)")
    base = Path(tempfile.mkdtemp(prefix="clab-hostile-"))  # not under pytest's tmp (mode 700): the user must read it
    os.chmod(base, 0o755)
    submissions, out, home = base / "submissions", base / "out", base / "home"
    _build(submissions)
    out.mkdir()
    home.mkdir()
    command = [sys.executable, "-m", "compresslab.grading.cli", str(submissions), "--out", str(out), "--notebooks", NAME, "--jobs", "1"]
    created = False
    if request.param == "user":
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
        created = True
        for folder in (out, home):
            shutil.chown(folder, USER, USER)
        command = _as_user(command, home)
    try:
        if request.param == "user":
            probe = subprocess.run(_as_user([sys.executable, "-c", "import compresslab"], home), cwd=ROOT, capture_output=True, text=True)
            assert probe.returncode == 0, (f"user {USER} cannot run {sys.executable} from {ROOT} (the checkout and its venv must be "
                                           f"readable by other users): {probe.stderr[-500:]}")
        before = _state(submissions)
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        assert (out / "scores.csv").is_file(), f"the batch wrote no scores.csv (as {request.param}): {done.stderr[-3000:]}"
        with open(out / "scores.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        with open(out / "gradebook.csv", newline="") as f:
            book = list(csv.DictReader(f))
        yield request.param, done, rows, book, out, before == _state(submissions)
    finally:
        if created:
            for leftover in psutil.process_iter(["username"]):  # e.g. a notebook's orphan: only this batch ran as USER
                if leftover.info["username"] == USER:
                    leftover.kill()
            subprocess.run(["userdel", USER], check=False)
        shutil.rmtree(base, ignore_errors=True)


def _mine(batch, student):
    return [r for r in batch[2] if r["student"] == student]


def _total(batch, student):
    return sum(float(r["score"]) for r in _mine(batch, student))


def test_the_batch_completes_with_one_row_per_student_and_question(batch):
    mode, done, rows = batch[:3]
    assert done.returncode == 0, done.stderr[-3000:]
    keys = [(r["student"], r["notebook"], r["question"]) for r in rows]
    students = set(INVALID) | set(HONEST) | set(GRADED) | set(MISSING)
    assert len(keys) == len(set(keys)) == len(students) * len(QUESTIONS)
    assert {r["student"] for r in rows} == students - {FORMULA} | {"'" + FORMULA}


def test_honest_submissions_keep_full_marks(batch):
    for student in ("honest", "'" + FORMULA):
        assert _total(batch, student) == POSSIBLE and {r["status"] for r in _mine(batch, student)} == {"graded"}, _mine(batch, student)


def test_no_hostile_entry_gains_a_point_over_the_blank_release(batch):
    blank = _total(batch, "blank")
    assert blank == 0
    for student in set(INVALID) | set(GRADED) | set(MISSING):
        assert _total(batch, student) <= blank, (student, _mine(batch, student))


@pytest.mark.parametrize("student", sorted(INVALID))
def test_links_special_files_duplicates_and_oversized_notebooks_are_invalid_with_a_reason(batch, student):
    rows = _mine(batch, student)
    assert rows and all(r["status"] == "invalid" and INVALID[student] in r["message"] for r in rows), rows


def test_a_notebook_that_kills_its_zygote_touches_that_notebook_only(batch):
    # its parent is the init of its own PID namespace, which ignores the signal: the zygote is out of its reach (as root
    # and as an ordinary user), so the notebook is graded as the blank it is; a zygote that dies anyway is replaced
    # (test_a_zygote_killed_between_two_grades_is_replaced)
    rows = _mine(batch, "a_zygote_killer")
    assert {r["status"] for r in rows} == {"graded"} and sum(float(r["score"]) for r in rows) == 0, rows


def test_csv_cells_are_neutralized_and_scores_stay_numbers(batch):
    out = batch[4]
    for name in ("scores.csv", "gradebook.csv"):
        with open(out / name, newline="") as f:
            cells = [cell for line in csv.reader(f) for cell in line]
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))], name
        assert "'" + FORMULA in cells
    assert {r["student"]: float(r["total"]) for r in batch[3]}["'" + FORMULA] == POSSIBLE


def test_no_control_character_reaches_the_terminal_the_csv_or_the_feedback(batch):
    done, out = batch[1], batch[4]
    texts = {"stdout": done.stdout, "stderr": done.stderr}
    texts |= {str(p): p.read_text() for p in out.rglob("*") if p.is_file() and p.suffix in (".csv", ".md", ".html")}
    for where, text in texts.items():
        assert "\x1b" not in text and "\x07" not in text, where
    assert ANSI_SHOWN in done.stdout and "\\x1b]0;owned\\x07" in (out / "feedback" / "escape_message" / f"{NAME}.md").read_text()
    assert not [p for p in (out / "feedback").iterdir() if any(ord(c) < 32 for c in p.name)]
    assert {r["status"] for r in _mine(batch, LONG_SHOWN)} == {"missing"} and (out / "feedback" / student_folder(LONG_SHOWN) / f"{NAME}.md").is_file()


def test_nothing_of_a_linked_file_leaks_into_the_outputs(batch):
    out = batch[4]
    secrets = [line for line in Path("/etc/shadow").read_text().splitlines() if line.strip()][:3]
    reference_code = "torch.clamp((weights * scale).round(), min=-128, max=127)"  # the reference's quantized_weights
    for page in out.rglob("*"):
        if page.is_file() and page.suffix in (".csv", ".md", ".html"):
            text = page.read_text()
            assert not [line for line in secrets if line in text], page
            assert reference_code not in text, page


def test_no_submission_is_modified(batch):
    assert batch[5], "a file in the submissions folder changed"


def test_a_zygote_killed_between_two_grades_is_replaced(tmp_path):
    """Kill the zygote's process, then grade a batch on it: the first notebook is crashed with a reason, the zygote is
    replaced in the caller's list and the next notebook is graded on the new one (our runner's own code path)."""
    me = psutil.Process()
    before = {child.pid for child in me.children()}
    zygote = start_zygote()
    started = [child for child in me.children() if child.pid not in before and "resource_tracker" not in " ".join(child.cmdline())]
    assert len(started) == 1, started
    os.kill(started[0].pid, signal.SIGKILL)
    started[0].wait(timeout=30)
    submissions = []
    for student, example in (("first", "blank"), ("second", "reference")):
        _notebook(example, tmp_path / student / f"{NAME}.ipynb")
        submissions.append(Submission(student, tmp_path / student, {NAME: tmp_path / student / f"{NAME}.ipynb"}))
    zygotes = [zygote]
    try:
        rows, outcomes = grade_all(submissions, {NAME: AUTOGRADER}, {NAME: QUESTIONS}, 1, Limits(cell_seconds=120), progress=False, zygotes=zygotes)
    finally:
        for warm in zygotes:
            close_zygote(warm)
    assert outcomes[("first", NAME)].status == "crashed" and "the grader's process died" in outcomes[("first", NAME)].message
    assert outcomes[("second", NAME)].status == "graded" and sum(q["score"] for q in outcomes[("second", NAME)].questions.values()) == POSSIBLE
    assert zygotes[0] is not zygote, "the dead zygote was replaced in the caller's list"
    assert len(rows) == 2 * len(QUESTIONS)
