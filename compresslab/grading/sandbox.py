"""Confining student code: an allow-listed filesystem (bubblewrap) around the zygote, and per notebook
fresh namespaces, private size-capped scratch space and limits.

Two layers, the same with and without root:

1. **The zygote** (``zygote``) is started with bubblewrap (Debian's ``bwrap``), the sandbox Flatpak
   uses: new user, mount, PID, IPC, UTS, cgroup and network namespaces (no network), and a root
   filesystem that holds only the allow-list (``allowed_paths``): the system's ``/usr``, the venv and
   the Python it was made from, the ``compresslab`` package and the public data folders, all
   read-only. Nothing else of the host exists in it: no other checkout, no home folder, no
   ``/etc/shadow``, no fixtures, reference checks, examples, submissions or output folder. As root,
   bwrap runs under ``setpriv`` as a uid of its own (``SANDBOX_UID_BASE`` + a counter) with no
   capability, so the zygote holds no privilege on the host, sandboxes of different zygotes cannot
   touch each other, and ``RLIMIT_NPROC`` applies (the kernel exempts uid 0).
2. **Each notebook** runs in a child the zygote forks (``enter_notebook_namespaces``, then
   ``mount_proc`` in its init, ``confine_student``): a new user namespace in which further user namespaces are forbidden, a new
   mount namespace with one private tmpfs of ``Limits.scratch_bytes`` serving ``/tmp``, ``/var/tmp``,
   ``/dev/shm`` and the working folder, a new PID namespace (whose init, the zygote's code, ends
   when the notebook's process ends; the kernel then kills every process it left, daemons included), new IPC and network
   namespaces, every capability dropped, ``no_new_privs``, and the limits ``RLIMIT_AS``,
   ``RLIMIT_NPROC`` (counted in the notebook's own user namespace), ``RLIMIT_FSIZE``.

Memory that ``RLIMIT_AS`` does not count (tmpfs pages, other processes) is bounded by a cgroup
(``cgroups``) when the grader runs as root on a host with the memory and pids controllers; without
them, by ``RLIMIT_AS`` per process plus the tmpfs cap.

Where bubblewrap or unprivileged user namespaces are missing, ``isolation_mode`` refuses to grade
unless the caller accepts one of two weaker modes:

- ``uid`` (a container such as Gradescope's, where Docker's seccomp profile forbids user namespaces; the
  Gradescope runner asks for it): as root, the zygote runs under ``setpriv`` as an unprivileged uid of its
  own with no capability and ``no_new_privs``, each notebook in a process group of its own with the limits.
  It is accepted only when a probe running as that uid can read none of the grader's secrets
  (``course().grader_only()``: the course's tests, fixtures, reference checks, masters and examples must be
  root-only) and write none of the ``protected`` folders. What it does not give: a private filesystem view
  (the notebook sees the container's world-readable files) and a network namespace.
- ``unsafe`` (``make grade UNSAFE=1``): the zygote runs as a plain process with only the resource limits,
  and every outcome says so.
"""

import ctypes
import functools
import itertools
import os
import platform
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from ..paths import PACKAGE_DIR, course

SANDBOX_UID_BASE = 1_000_000  # uids without a passwd entry; as root, zygote k runs as SANDBOX_UID_BASE + (grader pid * 64 + k) % 2**22
STUDENT_UID = 1000  # the notebook's uid inside its user namespace
WORKDIR = "/home/student"  # the notebook's working folder inside the sandbox
PRIVATE_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")  # each notebook gets its own, empty (its scratch tmpfs)
SCRATCH = "/run/scratch"  # where the notebook's tmpfs is mounted before its parts are bound to /tmp, /var/tmp, /dev/shm, WORKDIR
PASSED_ENVIRONMENT = ("PYTHONHASHSEED", "MPLBACKEND", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS",
                      "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "LANG", "LC_ALL", "TZ")

_CLONE_NEWUSER, _CLONE_NEWNS, _CLONE_NEWPID, _CLONE_NEWIPC, _CLONE_NEWNET, _CLONE_NEWUTS = (
    0x10000000, 0x00020000, 0x20000000, 0x08000000, 0x40000000, 0x04000000)
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 8, 0x1000, 0x4000, 1 << 18
_MNT_DETACH = 2
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)
_zygote_counter = itertools.count()


class IsolationUnavailable(Exception):
    """This host cannot confine student code (no bubblewrap, or user namespaces forbidden)."""


def is_root() -> bool:
    return os.geteuid() == 0


def isolation_mode(unsafe_allowed: bool, separate_uid_for: tuple[Path, ...] | None = None) -> str:
    """``root`` or ``rootless`` (both fully confined); where confinement is impossible here, ``uid`` when
    ``separate_uid_for`` is given (the folders the notebook must not write), this process is root and the sandbox's uid
    can neither read a secret nor write those folders, else ``unsafe`` (limits only) when ``unsafe_allowed``; otherwise
    ``IsolationUnavailable`` saying why."""
    problem = why_unavailable()
    if problem is None:
        return "root" if is_root() else "rootless"
    if separate_uid_for is not None and is_root():
        exposed = reachable_by_sandbox_uid(course().grader_only(), separate_uid_for)
        if not exposed:
            return "uid"
        problem += f"; a separate uid cannot confine it either: it could {'; '.join(exposed)}"
    if unsafe_allowed:
        return "unsafe"
    raise IsolationUnavailable(f"cannot confine student code on this host: {problem}. Fix that, or grade without "
                               "isolation with UNSAFE=1 (the gradebook then records it); see the README's threat model")


def uses_namespaces(mode: str) -> bool:
    """Whether each notebook gets namespaces of its own (``root``, ``rootless``); else a process group (``uid``, ``unsafe``)."""
    return mode in ("root", "rootless")


def reachable_by_sandbox_uid(secrets: list[Path], protected: tuple[Path, ...]) -> list[str]:
    """What the uid of a ``uid``-mode zygote could reach of ``secrets`` (read any file or folder under them) and of
    ``protected`` (write into them), each as a phrase naming the path. A child becomes that uid and asks the kernel
    (``os.access`` checks the real uid), so ownership, modes and ACLs all count; the file list is made here, as root."""
    targets = [(str(path), os.R_OK) for secret in secrets for path in [secret, *sorted(secret.rglob("*"))] if secret.exists()]
    targets += [(str(folder), os.W_OK) for folder in protected if folder.exists()]
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(reader)
            uid = zygote_uid(0)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            found = [f"{'read' if how == os.R_OK else 'write into'} {path}" for path, how in targets if os.access(path, how)]
            os.write(writer, "\n".join(found).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        text = answer.read().decode()
    os.waitpid(child, 0)
    return text.splitlines()


@functools.cache
def why_unavailable() -> str | None:
    """Why this host cannot run the sandbox (``None``: it can): a zygote-like probe starts in bubblewrap and makes a
    notebook's namespaces."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian: apt-get install bubblewrap)"
    exposed = _exposed_secrets()
    if exposed:
        return f"the sandbox would show the grader's secrets ({'; '.join(exposed)}): keep the course folder out of the venv and /usr"
    probe = ("from compresslab.grading import sandbox; import os\n"
             "pid = os.fork()\n"
             "if pid == 0:\n"
             "    sandbox.enter_notebook_namespaces(1 << 20, sandbox.shown_in_private_folders())\n"
             "    os._exit(0)\n"
             "os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n")
    try:
        run = subprocess.run(zygote_command(next(_zygote_counter), ["-c", probe]), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap did not start ({error})"
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or [f"exit code {run.returncode}"])[-1]
        hint = (
            "; as root, the sandbox's unprivileged uid must be able to reach the venv, the library and the data folder" if is_root() else ""
        )
        return f"bubblewrap or a user namespace was refused ({last}{hint})"
    return None


def describe_isolation(mode: str) -> str:
    """One line for the instructor: which protections this grader run has."""
    if mode == "uid":
        return ("isolation: a separate unprivileged uid per zygote, no capabilities, limits per notebook; the grader's secrets "
                "checked unreadable by it (no user namespaces on this host: no private filesystem view, network open)")
    if mode == "unsafe":
        return ("isolation: NONE (UNSAFE=1): student code runs as you, can read this machine's files and signal the grader; "
                "only time, memory and process limits apply, and every row says it was graded unsafely")
    from .cgroups import available

    who = "an unprivileged uid of its own per zygote" if mode == "root" else "your uid, inside user namespaces"
    memory = available() or "no cgroup (needs root and the memory and pids controllers): memory is limited per process"
    return (f"isolation: bubblewrap allow-list (venv, library, public data, read-only), {who}, per notebook new PID/mount/IPC/"
            f"network namespaces, a private size-capped /tmp, no network, no capabilities; memory and processes: {memory}")


def allowed_paths() -> list[Path]:
    """What the sandbox shows of the host, read-only: the venv, the Python it was made from, the site-packages folders on
    the import path (a venv may reach another's), the ``compresslab`` package and the public data folders."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), PACKAGE_DIR}
    paths.update(path for path in (Path(entry).resolve() for entry in sys.path if entry)
                 if path.name in ("site-packages", "dist-packages") and path.is_dir())
    paths.update(course().readable_by_students())
    return sorted(p for p in paths if not any(parent in paths for parent in p.parents))


def _exposed_secrets() -> list[str]:
    """Allowed paths (and the system's /usr) that hold the course folder or the data folder, whose fixtures, reference
    checks and examples the sandbox must not show."""
    secrets = {course().root, course().data.resolve()}
    return [f"{path} holds {secret}" for path in [*allowed_paths(), Path("/usr")] for secret in secrets
            if path == secret or path in secret.parents]


def zygote_command(index: int, arguments: list[str]) -> list[str]:
    """The command that starts ``python ARGUMENTS`` in the sandbox. As root, ``setpriv`` first becomes ``zygote_uid(index)``
    with no capability, so bubblewrap runs unprivileged exactly as without root (that uid must be able to reach the
    allowed paths: no mode-700 folder above the venv, the checkout or the data folder)."""
    argv = []
    if is_root():
        uid = zygote_uid(index)
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]
    argv += ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    argv += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
             "--perms", "1777", "--dir", "/var/tmp", "--dir", SCRATCH, "--dir", WORKDIR, "--chdir", "/tmp"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            argv += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            argv += ["--ro-bind", str(top), str(top)]
    for shared in ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts"):  # libraries, time zone, fonts for plots
        argv += ["--ro-bind-try", shared, shared]
    for device in sorted(Path("/dev").glob("nvidia*")):  # a CUDA host's GPUs
        argv += ["--dev-bind", str(device), str(device)]
    paths = allowed_paths()
    for folder in sorted({parent for path in paths for parent in path.parents if parent != Path("/")}, key=lambda p: len(p.parts)):
        argv += ["--perms", "0755", "--dir", str(folder)]  # bubblewrap would copy the host folder's mode, e.g. 700
    for path in paths:
        argv += ["--ro-bind", str(path), str(path)]
    for name, value in sandbox_environment(WORKDIR).items():
        argv += ["--setenv", name, value]
    return argv + ["--", sys.executable, *arguments]


def separate_uid_command(index: int, arguments: list[str]) -> list[str]:
    """``uid`` mode: ``python ARGUMENTS`` as ``zygote_uid(index)`` with no capability, ``no_new_privs`` and the sandbox's
    environment (nothing of the grader's)."""
    uid = zygote_uid(index)
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
            "--", "env", "-i", *(f"{name}={value}" for name, value in sandbox_environment("/tmp").items()), sys.executable, *arguments]


def sandbox_environment(home: str) -> dict[str, str]:
    """The whole environment of a zygote: the venv's PATH, the library and public data, and the settings that make
    results reproducible (``PASSED_ENVIRONMENT``), nothing else of the grader's."""
    environment = {"PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin", "HOME": home, "USER": "student", "LOGNAME": "student",
                   "PYTHONPATH": str(PACKAGE_DIR.parent), "COMPRESSLAB_DATA": str(course().data), "MPLCONFIGDIR": "/tmp/matplotlib"}
    environment.update({name: os.environ[name] for name in PASSED_ENVIRONMENT if name in os.environ})
    return environment


def zygote_uid(index: int) -> int:
    """As root, the uid of this grader's zygote number ``index``: unique among graders running at once."""
    return SANDBOX_UID_BASE + (os.getpid() * 64 + index) % 2**22


def next_zygote_index() -> int:
    return next(_zygote_counter)


def enter_notebook_namespaces(scratch_bytes: int, shown: list[str]) -> None:
    """In the zygote's child, before forking the notebook's process: new user (no further ones allowed), mount,
    PID, IPC, UTS and network namespaces; one tmpfs of ``scratch_bytes`` bound to /tmp, /var/tmp, /dev/shm and
    ``WORKDIR``, in which the allowed paths that lie in those folders (``shown``, e.g. a checkout in /tmp) are
    bound again, read-only as the sandbox shows them. The next ``fork`` is the init of the new PID namespace."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWIPC | _CLONE_NEWNET | _CLONE_NEWUTS), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{STUDENT_UID} {uid} 1\n"), ("gid_map", f"{STUDENT_UID} {gid} 1\n")):
        Path(f"/proc/self/{name}").write_text(text)
    Path("/proc/sys/user/max_user_namespaces").write_text("0")  # in this namespace: a student cannot mount a tmpfs of its own
    _check(_libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
    _check(
        _libc.mount(b"tmpfs", SCRATCH.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, f"size={scratch_bytes},mode=755".encode()),
        "mount the scratch tmpfs",
    )
    for part, target in (("tmp", "/tmp"), ("var-tmp", "/var/tmp"), ("shm", "/dev/shm"), ("work", WORKDIR)):
        folder = Path(SCRATCH) / part
        folder.mkdir(mode=0o1777 if part != "work" else 0o755)
        os.chmod(folder, 0o1777 if part != "work" else 0o755)
        for path in (Path(p) for p in shown if Path(target) in Path(p).parents):
            inside = folder / path.relative_to(target)
            inside.mkdir(mode=0o755, parents=True, exist_ok=True)
            _check(_libc.mount(str(path).encode(), str(inside).encode(), None, _MS_BIND | _MS_REC, None), f"show {path}")
        _check(_libc.mount(str(folder).encode(), target.encode(), None, _MS_BIND | _MS_REC, None), f"bind {target}")
    _check(_libc.umount2(SCRATCH.encode(), _MNT_DETACH), "detach the scratch staging mount")


def shown_in_private_folders() -> list[str]:
    """The allowed paths inside /tmp, /var/tmp or /dev/shm, which each notebook's private copies must show again."""
    return [str(p) for p in allowed_paths() if any(Path(top) in p.parents for top in PRIVATE_FOLDERS)]


def mount_proc() -> None:
    """In the init of the notebook's PID namespace: a /proc that shows that namespace's processes only."""
    _check(_libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None), "mount /proc")


def confine_student(memory_bytes: int, processes: int, file_bytes: int) -> None:
    """In the notebook's process, before any student code: death with its parent (the namespace's init), first in
    line for the out-of-memory killer, resource limits, no capabilities, no new privileges."""
    _libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)
    Path("/proc/self/oom_score_adj").write_text("1000")
    _set_limits(memory_bytes, processes, file_bytes)
    drop_capabilities()
    os.chdir(WORKDIR)


def _set_limits(memory_bytes: int, processes: int, file_bytes: int) -> None:
    for limit, value in ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_NPROC, processes),
                         (resource.RLIMIT_FSIZE, file_bytes), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))


def confine_without_namespaces(workdir: str, memory_bytes: int, processes: int, file_bytes: int) -> None:
    """``uid`` and ``unsafe`` modes: limits only (``RLIMIT_NPROC`` counts every process of this uid, so it is raised by those
    running)."""
    _set_limits(memory_bytes, _tasks_of(os.getuid()) + processes, file_bytes)
    os.chdir(workdir)


def drop_capabilities() -> None:
    """Empty every capability set and the bounding set, and set ``no_new_privs``: nothing can mount, unmount or gain a
    privilege again, even by running a program."""
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    for capability in range(64):
        if _libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.syscall(_SYS_CAPSET[platform.machine()], header, data), "capset")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


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
