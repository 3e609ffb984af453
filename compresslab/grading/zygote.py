"""The zygote: a warm process, started in the sandbox, that runs each notebook in a forked, confined child.

``python -m compresslab.grading.zygote FD [MODE]`` is started by ``engine.Zygote`` inside bubblewrap (see
``sandbox``), with the socket ``FD`` to the grader. It imports the heavy libraries once (``PRELOAD``) and
then, per notebook the grader sends (its bytes, the cells to skip, the limits, two pipe ends), forks:

- the *keeper*, which makes the notebook's namespaces and scratch space (``sandbox.enter_notebook_namespaces``),
  forks their *init*, tells the zygote its pid and waits for it;
- the *init* of the notebook's PID namespace (``_init``), which forks the notebook's process, reaps, and passes on
  how that process ended; when it ends, the kernel kills whatever the notebook left running;
- the *notebook's process*, which confines itself (``sandbox.confine_student``),
  writes the notebook into its private working folder, parses it, and executes its code cells in order
  (plain ``exec``, IPython syntax transformed, magics and shell lines ignored, the release's time-only
  cells skipped), telling the grader each cell as it starts (``protocol``). After the last cell it undoes
  library patches made by the cells (``patches``), waits for the tests the grader then hands over (Otter
  test files and the fixture file with every secret zeroed), runs each case against the notebook's globals
  as ``otter run`` does, with ``compresslab.checks`` recording what each check compares, and sends the report.

The zygote never holds anything secret: no expected value, tolerance, threshold or reference record ever
reaches it; the grader decides every verdict in its own process (``engine``). It never reads what a notebook's
process writes either: that goes straight to the grader over the pipe the grader made.
"""

import json
import os
import pickle
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback

from . import sandbox

PRELOAD = ("numpy", "pandas", "torch", "torchvision", "torchprofile", "torch.ao.quantization.observer", "matplotlib.pyplot",
           "sklearn.datasets", "sklearn.model_selection", "sklearn.cluster", "nbformat", "otter", "otter.test_files",
           "IPython.core.inputtransformer2", "compresslab.checks", "compresslab.checkpoints", "compresslab.data",
           "compresslab.fixtures", "compresslab.models", "compresslab.plots", "compresslab.profiling",
           "compresslab.training", "compresslab.int8_cnn_helpers", "compresslab.pruning_helpers", "compresslab.plots.pruning",
           "compresslab.hidden.pruning", "compresslab.kmeans_linear_helpers", "compresslab.plots.kmeans_linear",
           "compresslab.hidden.common", "compresslab.hidden.kmeans_linear", "compresslab.integer_kernels",
           "compresslab.fake_quantization", "compresslab.sawb_qat_helpers", "compresslab.plots.sawb_qat", "compresslab.zero_shot",
           "compresslab.hidden.sawb_qat", "compresslab.quantized_handin", "compresslab.handin")
_LENGTH = struct.Struct(">Q")


def send_message(sock: socket.socket, message: dict) -> None:
    """Zygote to grader: one length-prefixed JSON object."""
    data = json.dumps(message).encode()
    sock.sendall(_LENGTH.pack(len(data)) + data)


def receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def main(fd: int, mode: str) -> None:
    import importlib

    sock = socket.socket(fileno=fd)
    os.environ.setdefault("MPLBACKEND", "Agg")
    for module in PRELOAD:
        importlib.import_module(module)
    import torch

    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the zygote does no tensor work; its forks must not inherit a thread pool they would hang in
    from tqdm.auto import tqdm

    tqdm.get_lock()  # create tqdm's multiprocessing lock here, once: a child that made its own would leak it at os._exit
    send_message(sock, {"event": "ready", "threads": default_threads})
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(sock, 1, 2)
            (length,) = _LENGTH.unpack(receive_exactly(sock, _LENGTH.size))
            task = pickle.loads(receive_exactly(sock, length))  # from the grader, which started this process
        except (EOFError, OSError, struct.error):
            return
        if task is None:
            return
        send_message(sock, _run_notebook(task, fds, sock, mode, default_threads))


def _run_notebook(task: dict, fds: list[int], sock: socket.socket, mode: str, default_threads: int) -> dict:
    """Fork the keeper, follow it until the notebook's process has ended (or the grader says kill), and say how it ended."""
    to_grader, from_grader = fds
    status_r, status_w = os.pipe()
    workdir = None if sandbox.uses_namespaces(mode) else tempfile.mkdtemp(prefix="compresslab-student-")
    cpu_start = _children_cpu()
    keeper = os.fork()
    if keeper == 0:
        os.close(status_r)
        _close_all_but(to_grader, from_grader, status_w)
        code = 125
        try:
            code = _keep(task, to_grader, from_grader, status_w, mode, workdir, default_threads)
        except BaseException:  # the grader reads it as a crash of the grading machinery, not of the notebook
            traceback.print_exc()
        finally:
            os._exit(code)
    for fd in (to_grader, from_grader, status_w):
        os.close(fd)
    init, killed, status_bytes = None, False, b""
    pidfd = os.pidfd_open(keeper)
    watched = [pidfd, sock, status_r]
    while pidfd in watched:
        ready, _, _ = select.select(watched, [], [])
        if status_r in ready:
            chunk = os.read(status_r, 64)
            status_bytes += chunk
            if not chunk:
                watched.remove(status_r)
            if init is None and len(status_bytes) >= 4:
                (init,) = struct.unpack(">i", status_bytes[:4])
        if sock in ready:
            if not sock.recv(1):  # any byte from the grader, or its end, means: kill this notebook now
                watched.remove(sock)
            killed = True
            for pid in filter(None, (init, keeper)):
                _kill(pid, mode)
        if pidfd in ready:
            watched.remove(pidfd)
    _, keeper_status = os.waitpid(keeper, 0)
    while chunk := os.read(status_r, 64):  # the keeper has exited: whatever it wrote is in the pipe
        status_bytes += chunk
    reported = len(status_bytes) >= 8
    wait_status = struct.unpack(">i", status_bytes[4:8])[0] if reported else keeper_status
    os.close(pidfd)
    os.close(status_r)
    if init is not None:
        _kill(init, mode)  # without namespaces: whatever the notebook left in its process group
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"event": "done", "wait_status": wait_status, "killed": killed, "keeper_failed": not reported and not killed,
            "cpu": _children_cpu() - cpu_start}


def _kill(pid: int, mode: str) -> None:
    try:
        if not sandbox.uses_namespaces(mode):
            os.killpg(pid, signal.SIGKILL)  # the init leads the notebook's process group
        else:
            os.kill(pid, signal.SIGKILL)  # the init of the notebook's PID namespace: the kernel kills every process in it
    except (ProcessLookupError, PermissionError):
        pass


def _keep(task: dict, to_grader: int, from_grader: int, status_w: int, mode: str, workdir: str | None, default_threads: int) -> int:
    """The keeper: make the notebook's namespaces, fork their init, tell the zygote its pid, wait for it."""
    if sandbox.uses_namespaces(mode):
        sandbox.enter_notebook_namespaces(task["limits"]["scratch_bytes"], task["shown"])
    init = os.fork()
    if init == 0:
        code = 125
        try:
            code = _init(task, to_grader, from_grader, status_w, mode, workdir, default_threads)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    for fd in (to_grader, from_grader):
        os.close(fd)
    os.write(status_w, struct.pack(">i", init))
    os.waitpid(init, 0)
    return 0


def _init(task: dict, to_grader: int, from_grader: int, status_w: int, mode: str, workdir: str | None, default_threads: int) -> int:
    """The init of the notebook's PID namespace: fork the notebook's process, reap whatever ends until it has ended,
    pass on how it ended. When this process ends, the kernel kills every process left in the namespace."""
    if sandbox.uses_namespaces(mode):
        sandbox.mount_proc()
    else:
        os.setpgid(0, 0)  # a process group of its own, which the notebook's process and its children join
    student = os.fork()
    if student == 0:
        os.close(status_w)
        try:
            _notebook_process(task, to_grader, from_grader, mode, workdir, default_threads)
        finally:
            os._exit(0)
    for fd in (to_grader, from_grader):
        os.close(fd)
    while (ended := os.waitpid(-1, 0))[0] != student:
        pass  # an orphan the notebook left: reaped here, so it cannot linger as a zombie
    os.write(status_w, struct.pack(">i", ended[1]))
    return 0


def _notebook_process(task: dict, to_grader: int, from_grader: int, mode: str, workdir: str | None, default_threads: int) -> None:
    import nbformat
    import torch
    from IPython.core.inputtransformer2 import TransformerManager
    from otter.test_files import ExceptionTestFile

    from .. import fixtures
    from . import patches, protocol
    from .grading_mode import skipped_indices

    limits = task["limits"]
    if not sandbox.uses_namespaces(mode):
        sandbox.confine_without_namespaces(workdir, limits["memory_bytes"], limits["processes"], limits["scratch_bytes"])
    else:
        sandbox.confine_student(limits["memory_bytes"], limits["processes"], limits["scratch_bytes"])
    path = os.path.join(os.getcwd(), task["name"])
    with open(path, "wb") as file:
        file.write(task["notebook"])
    me = os.getpid()
    torch.set_num_threads(task["threads"] or default_threads)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    nb = nbformat.reads(task["notebook"].decode(), as_version=4)  # parsed here, inside the limits
    sys.argv = [path]
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "display": lambda *a, **k: None, "get_ipython": _IgnoredIPython}
    transform = TransformerManager().transform_cell
    skipped = set(skipped_indices(nb, task["skip"]))
    code_cells = [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code" and index not in skipped]
    protocol.write_all(to_grader, protocol.notebook_frame(code_cells))
    errors = []
    trusted = patches.snapshot()
    busy_start = time.monotonic()
    for index in code_cells:
        protocol.write_all(to_grader, protocol.cell_frame(index))
        try:
            exec(compile(transform(nb.cells[index].source), f"<cell {index}>", "exec"), namespace)
        except BaseException as error:  # a cell's failure (even SystemExit) must not stop the grading
            errors.append([index, type(error).__name__, str(error)[:200]])
        if os.getpid() != me:  # a process the student's code forked: it must not go on grading
            os._exit(0)
    busy = time.monotonic() - busy_start
    undone = patches.restore(trusted)
    protocol.write_all(to_grader, protocol.frame(protocol.CELLS_DONE))
    chunks = []
    while chunk := os.read(from_grader, 1 << 20):
        chunks.append(chunk)
    payload = pickle.loads(b"".join(chunks))  # from the grader
    if payload["fixtures"] is not None:
        fixtures.provide(payload["notebook"], payload["fixtures"])
    cases, tests_start = {}, time.monotonic()
    for name, source in payload["tests"].items():
        test_file = ExceptionTestFile.from_string(source, path=name)
        cases[test_file.name] = {case.name: _run_case(case, namespace) for case in test_file.test_cases}
    busy += time.monotonic() - tests_start
    if os.getpid() != me:
        os._exit(0)
    report = protocol.encode_report({"cases": cases, "errors": errors, "skipped": len(skipped), "undone": undone, "busy": busy})
    protocol.write_all(to_grader, protocol.frame(protocol.REPORT, report))
    os.close(to_grader)


def _run_case(case, namespace: dict) -> dict:
    """Run one Otter test case as ``otter run`` does; its exception (or ``None``) and the records of its checks."""
    from ..checks import record_into

    records = []
    record_into(records)
    try:
        case.body.call_func(namespace)
        error = None
    except Exception as exception:
        error = f"{type(exception).__name__}: {exception}"
    finally:
        record_into(None)
    return {"error": error, "records": records}


class _IgnoredIPython:
    """Stands in for ``get_ipython()``: magics and shell commands do nothing while grading."""

    def run_line_magic(self, *args, **kwargs):
        return None

    run_cell_magic = run_line_magic
    system = run_line_magic
    getoutput = run_line_magic


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's children that have exited, all threads."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _close_all_but(*keep: int) -> None:
    """Close every inherited file descriptor above stderr except ``keep`` (e.g. the zygote's socket to the grader)."""
    for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the descriptor listdir itself used


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
