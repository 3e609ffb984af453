"""A control group per zygote, so memory and process limits count everything a notebook uses.

``RLIMIT_AS`` counts one process's address space, not the pages of its tmpfs nor other processes. A cgroup's
memory limit counts both (tmpfs pages are charged to the cgroup of the process that wrote them), and its pids
limit counts every process and thread. The grader makes one below its own cgroup for each zygote when it runs
as root on a host with the controllers: cgroup v2 (``memory.max``, ``pids.max``) or, failing that, cgroup v1's
memory and pids hierarchies (``memory.limit_in_bytes``, ``pids.max``). Elsewhere ``available()`` says so, and
only the per-process limits apply (``sandbox``).

The limit covers the zygote too, which grades one notebook at a time: ``ZYGOTE_BYTES`` is what its preloaded
libraries take. The notebook's process volunteers for the out-of-memory killer (``oom_score_adj`` 1000), so
the zygote survives a notebook that reaches the limit.
"""

import os
from pathlib import Path

# A zygote's own memory on top of the notebook's limit (measured: 0.5 GiB with its libraries imported, 1 GiB at most while
# grading sawb_qat).
ZYGOTE_BYTES = 2**30
ZYGOTE_TASKS = 64  # the zygote's own processes and threads on top of the notebook's limit


def _mount_point(controller: str | None) -> Path | None:
    """Where the cgroup v2 hierarchy (``None``) or the v1 hierarchy of ``controller`` is mounted."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, where, kind, options, *_ = line.split()
        if (controller is None and kind == "cgroup2") or (controller is not None and kind == "cgroup" and controller in options.split(",")):
            return Path(where)
    return None


def _own_path(controller: str | None) -> Path | None:
    """This process's cgroup folder in the v2 hierarchy (``None``) or in ``controller``'s v1 hierarchy."""
    mount = _mount_point(controller)
    if mount is None:
        return None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (controller is not None and controller in controllers.split(",")):
            return mount / path.lstrip("/")
    return None


def _layout() -> dict[str, Path] | None:
    """The folders new cgroups go in, per limit file, or ``None`` where this grader cannot make them."""
    if os.geteuid() != 0:
        return None
    unified = _own_path(None)
    if unified is not None and {"memory", "pids"} <= set((unified / "cgroup.subtree_control").read_text().split()
                                                          if (unified / "cgroup.subtree_control").is_file() else ()):
        return {"memory.max": unified, "pids.max": unified}
    memory, pids = _own_path("memory"), _own_path("pids")
    if memory is not None and pids is not None and (memory / "cgroup.procs").is_file() and (pids / "cgroup.procs").is_file():
        return {"memory.limit_in_bytes": memory, "pids.max": pids}
    return None


def available() -> str | None:
    """Which cgroup limits apply (``None``: none here)."""
    layout = _layout()
    if layout is None:
        return None
    return "cgroup v2 memory.max and pids.max" if "memory.max" in layout else "cgroup v1 memory.limit_in_bytes and pids.max"


class Cgroup:
    """One cgroup (one folder per hierarchy) with a memory and a pids limit."""

    def __init__(self, name: str) -> None:
        layout = _layout()
        if layout is None:
            raise OSError("no cgroup controllers this grader may use")
        self.limits = {limit: parent / name for limit, parent in layout.items()}
        self.folders = sorted(set(self.limits.values()))
        for folder in self.folders:
            folder.mkdir(exist_ok=True)

    def set_limits(self, memory_bytes: int, tasks: int) -> None:
        """The notebook's memory (all its processes and its tmpfs pages) and tasks, plus the zygote's own."""
        for limit, folder in self.limits.items():
            (folder / limit).write_text(str(memory_bytes + ZYGOTE_BYTES if limit.startswith("memory") else tasks + ZYGOTE_TASKS))

    def enter_command(self, command: list[str]) -> list[str]:
        """``command``, run in this cgroup: a shell moves itself into it, then becomes the command."""
        moves = " && ".join(f"echo $$ > '{folder / 'cgroup.procs'}'" for folder in self.folders)
        return ["/bin/sh", "-c", f'{moves} && exec "$@"', "sh", *command]

    def oom_kills(self) -> int:
        """How many processes the memory limit has killed so far."""
        for folder in self.folders:
            for name in ("memory.events", "memory.oom_control"):
                path = folder / name
                if path.is_file():
                    fields = dict(line.split() for line in path.read_text().splitlines() if len(line.split()) == 2)
                    if "oom_kill" in fields:
                        return int(fields["oom_kill"])
        return 0

    def remove(self) -> None:
        """Remove the folders (their processes must have ended)."""
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError:
                pass  # a process still ending; the folder is empty and harmless
