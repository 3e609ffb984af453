"""Confining the child that runs a student's notebook.

Always: its own process group, an address-space limit (``RLIMIT_AS``) and a process limit
(``RLIMIT_NPROC``: a fork loop fails with ``BlockingIOError`` instead of filling the machine).

When the grader runs as root (a course server, CI), the child also
- gets a private mount namespace in which the grader's secrets (the reference solution, the
  autograder zips, the fixture files with expected outputs, the example submissions, the test
  suite, the git history, the submissions folder and the output folder) are covered by an empty,
  unreadable tmpfs, and a private network namespace with no interfaces;
- works in a fresh scratch folder of its own, then drops to an unprivileged uid of its own
  (``SANDBOX_UID_BASE`` + the zygote's pid, unique among graders running at once), so it cannot
  undo any of this, read root's scratch copies of other submissions, or signal other graders;
  every process left with that uid is killed after.

As an ordinary user none of the root-only steps are possible; the process and memory limits,
the private working copy and the late hand-over of the tests (see ``engine``) still apply.
"""

import ctypes
import functools
import os
import resource
import shutil
import signal
import tempfile
from pathlib import Path

from ..paths import PACKAGE_DIR

ROOT = PACKAGE_DIR.parent


def _git_paths(root: Path) -> tuple[Path, ...]:
    """``root/.git`` and, in a git worktree (where ``.git`` is a file naming its git folder), that folder and the
    repository's common one, which holds the whole history."""
    dot_git = root / ".git"
    if not dot_git.is_file():
        return (dot_git,)
    git_dir = (root / dot_git.read_text().partition("gitdir:")[2].strip()).resolve()
    common = git_dir / "commondir"
    return (dot_git, git_dir, (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir)


SECRET_PATHS = tuple(ROOT / p for p in ("solution", "autograder", "data/fixtures", "data/examples", "tests")) + _git_paths(ROOT)
SANDBOX_UID_BASE = 1_000_000  # uids without a passwd entry: this + the pid of the zygote (pids stay below 2**22)

_CLONE_NEWNS, _CLONE_NEWNET = 0x00020000, 0x40000000
_MS_REC, _MS_PRIVATE, _MS_BIND = 0x4000, 1 << 18, 0x1000


def is_root() -> bool:
    return os.geteuid() == 0


def sandbox_uid(zygote_pid: int) -> int:
    return SANDBOX_UID_BASE + zygote_pid


def make_workdir(notebook: str, uid: int) -> str:
    """A fresh folder holding a copy of ``notebook``, owned by ``uid`` when running as root."""
    workdir = tempfile.mkdtemp(prefix="compresslab-student-")
    copy = os.path.join(workdir, os.path.basename(notebook))
    shutil.copyfile(notebook, copy)
    if is_root():
        for path in (workdir, copy):
            os.chown(path, uid, uid)
    return workdir


@functools.cache
def can_hide() -> bool:
    """Whether this process may create the namespaces that hide the secrets (root, and not forbidden by a container)."""
    if not is_root():
        return False
    pid = os.fork()
    if pid == 0:
        os._exit(0 if ctypes.CDLL(None, use_errno=True).unshare(_CLONE_NEWNS | _CLONE_NEWNET) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def describe() -> str:
    """One line for the instructor: which protections this grader run has."""
    if can_hide():
        return "isolation: each notebook runs as its own unprivileged uid in a private scratch folder, secrets hidden, no network"
    if is_root():
        return "isolation: WARNING: namespaces are not allowed here, so the secrets are not hidden from student code; uid dropped"
    return "isolation: not root, so student code runs as you and can read the repository; process, memory and time limits apply"


def confine(workdir: str, uid: int, memory_bytes: int, processes: int, hidden: tuple[str, ...]) -> None:
    """Called in the child before any student code: hide secrets, drop privileges, set limits."""
    os.setpgid(0, 0)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if is_root():
        if can_hide():
            _hide(tuple(str(p) for p in SECRET_PATHS) + hidden)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        os.environ["HOME"] = workdir
        running = 0
    else:
        running = _tasks_of(os.getuid())
    resource.setrlimit(resource.RLIMIT_NPROC, (running + processes, running + processes))
    os.chdir(workdir)


def _hide(paths: tuple[str, ...]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS | _CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare: cannot create the grading namespaces")
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount: cannot make / private")
    handle, unreadable = tempfile.mkstemp(prefix="compresslab-hidden-")  # root's, mode 000: what a hidden file shows
    os.close(handle)
    os.chmod(unreadable, 0)
    try:
        for path in paths:
            if os.path.isdir(path):
                hidden = libc.mount(b"tmpfs", path.encode(), b"tmpfs", 0, b"size=4k,mode=000")
            elif os.path.isfile(path):
                hidden = libc.mount(unreadable.encode(), path.encode(), None, _MS_BIND, None)
            else:
                continue
            if hidden != 0:
                raise OSError(ctypes.get_errno(), f"mount: cannot hide {path}")
    finally:
        os.unlink(unreadable)  # the bind mounts keep the file itself


def _tasks_of(uid: int) -> int:
    """Processes and threads currently running with real uid ``uid`` (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields.get("Uid", "-1").split()[0]) == uid:
                count += int(fields.get("Threads", "1"))
    return count


def clean_up(workdir: str, uid: int) -> None:
    """After the child: kill whatever still runs with ``uid`` (root only) and delete the scratch folder."""
    if is_root():
        pid = os.fork()
        if pid == 0:  # a killer process with the sandbox uid may signal exactly that uid's processes
            try:
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    shutil.rmtree(workdir, ignore_errors=True)
