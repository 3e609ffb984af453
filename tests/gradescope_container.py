"""Run a command as Gradescope runs its autograder: root, ``/autograder`` as the container's folder, and (``--docker``) no
user namespaces, as Docker's default seccomp profile forbids them.

``python tests/gradescope_container.py FOLDER [--docker] [--hide PATH] -- COMMAND ...`` binds ``FOLDER`` at ``/autograder``
in a private mount namespace (the host's ``/autograder`` is an empty mount point, created if missing), covers each
``--hide`` folder (the checkout) with an empty read-only tmpfs, and runs ``COMMAND`` there.
With ``--docker`` the command runs in a user namespace that maps every uid to itself (so it is still root, owns its
files and can become other uids, like a container's root) in which ``max_user_namespaces`` is 0: bubblewrap, which
needs a user namespace, is refused there as in a Gradescope container. This stands in for Gradescope's Docker runtime,
which this machine cannot run; needs root.
"""

import ctypes
import os
import sys
from pathlib import Path

CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
MS_RDONLY, MS_BIND, MS_REC, MS_PRIVATE = 1, 0x1000, 0x4000, 1 << 18
ALL_IDS = "0 0 4294967295\n"

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def enter(folder: Path, docker: bool, hidden: list[Path]) -> None:
    """In the child: new namespaces, ``folder`` at ``/autograder``, the ``hidden`` folders empty."""
    if docker:
        go_r, go_w = os.pipe()
        helper = os.fork()
        if helper == 0:  # writes this process's id maps from the parent namespace (a process cannot map more than itself)
            os.read(go_r, 1)
            target = os.getppid()
            for name in ("uid_map", "gid_map"):
                Path(f"/proc/{target}/{name}").write_text(ALL_IDS)
            os._exit(0)
        check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(user, mount)")
        os.write(go_w, b"x")
        os.waitpid(helper, 0)
        Path("/proc/sys/user/max_user_namespaces").write_text("0")  # in this namespace and below: no user namespaces
    else:
        check(libc.unshare(CLONE_NEWNS), "unshare(mount)")
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    check(libc.mount(str(folder).encode(), b"/autograder", None, MS_BIND | MS_REC, None), f"bind {folder} at /autograder")
    for path in hidden:
        check(libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", MS_RDONLY, b"size=4k,mode=755"), f"hide {path}")


def main() -> int:
    arguments = sys.argv[1:]
    split = arguments.index("--")
    options, command = arguments[:split], arguments[split + 1:]
    folder, docker = Path(options[0]).resolve(), "--docker" in options
    hidden = [Path(options[i + 1]).resolve() for i, option in enumerate(options) if option == "--hide"]
    Path("/autograder").mkdir(mode=0o755, exist_ok=True)
    child = os.fork()
    if child == 0:
        try:
            enter(folder, docker, hidden)
            os.chdir("/autograder")
            os.execvp(command[0], command)
        except BaseException as error:
            print(f"gradescope_container: {error}", file=sys.stderr)
        finally:
            os._exit(127)
    return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])


if __name__ == "__main__":
    sys.exit(main())
