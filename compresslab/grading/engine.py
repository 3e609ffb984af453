"""The grading engine: execute a notebook and run its Otter tests in a forked child, within limits.

``make grade`` starts ``JOBS`` *zygotes*: single-threaded processes that import the heavy
libraries (torch, numpy, matplotlib, otter, compresslab) once. For each notebook a zygote forks a
child, confined by ``sandbox`` (limits; as root its own uid, a scratch folder, the secrets hidden,
no network), that executes the notebook's code cells in order (plain ``exec``, IPython syntax
transformed, magics and shell lines ignored), skipping the release's time-only cells. Only then
does the zygote hand it the autograder's Otter test files and the fixture file through a pipe;
the child undoes library patches made by the cells (``patches``), runs the tests against the
notebook's globals, exactly as ``otter run`` scores them, and reports one JSON line. The zygote
watches the child: a cell that runs longer than ``cell_seconds`` or a notebook longer than
``notebook_seconds`` is killed (status ``timeout``), a child that dies without reporting is
``crashed``, ``memory_bytes`` bounds its address space (status ``memory``) and ``processes`` the
processes and threads it may start (status ``processes``). The child runs in its own process
group, which is killed afterwards, so nothing it started outlives it.

Compared with ``otter run`` (a fresh Jupyter kernel and interpreter per notebook, about 8 s
before the first cell runs), a forked child starts in milliseconds with everything imported.
"""

import json
import multiprocessing
import os
import pickle
import resource
import selectors
import signal
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import sandbox

PRELOAD = ("numpy", "pandas", "torch", "torchvision", "torchprofile", "torch.ao.quantization.observer", "matplotlib.pyplot",
           "sklearn.datasets", "sklearn.model_selection", "sklearn.cluster", "nbformat", "otter", "otter.test_files",
           "IPython.core.inputtransformer2", "compresslab.checks", "compresslab.checkpoints", "compresslab.data",
           "compresslab.fixtures", "compresslab.models", "compresslab.plots", "compresslab.profiling", "compresslab.stats",
           "compresslab.training", "compresslab.int8_helpers", "compresslab.pruning_helpers", "compresslab.quantization_helpers",
           "compresslab.sawb_helpers")
MEMORY_ERRORS = ("MemoryError", "OutOfMemoryError")
PROCESS_ERRORS = ("BlockingIOError",)  # fork() refused: the process limit was reached


@dataclass(frozen=True)
class Limits:
    notebook_seconds: float = 600.0  # wall time for executing the notebook and its tests
    cell_seconds: float = 300.0  # wall time for one cell
    memory_bytes: int = 8 * 2**30  # address-space limit of the child (RLIMIT_AS)
    processes: int = 64  # processes and threads the child may add (RLIMIT_NPROC)


@dataclass
class Task:
    notebook: str  # path of a private copy of the submission (the child runs in its folder)
    autograder: str  # path of the Otter autograder zip
    skip: frozenset  # sources of cells to skip (grading mode)
    limits: Limits
    hidden: tuple[str, ...] = ()  # folders hidden from student code besides sandbox.SECRET_PATHS (when root)
    threads: int = 0  # torch threads in the child (0: torch's default); notebooks graded side by side share the cores
    questions: frozenset[str] | None = None  # run only these questions' tests (None: all)


class Zygote:
    """A warm, single-threaded process that grades one notebook at a time in forked children."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_zygote_main, args=(child_conn,), daemon=True)
        self._process.start()
        self.uid = sandbox.sandbox_uid(self._process.pid)  # its children's uid when grading as root

    def grade(self, task: Task) -> dict:
        """Outcome dict: ``status`` (graded | memory | processes | timeout | crashed), ``message``, ``questions``, ``skipped``,
        ``seconds`` (wall time in all), ``busy`` (time spent in the notebook's cells and the tests) and ``cpu`` (CPU seconds)."""
        self._conn.send(task)
        return self._conn.recv()

    def close(self) -> None:
        self._conn.send(None)
        self._process.join(timeout=10)


def _zygote_main(conn) -> None:
    import importlib

    os.environ.setdefault("MPLBACKEND", "Agg")
    for module in PRELOAD:
        importlib.import_module(module)
    from tqdm.auto import tqdm

    tqdm.get_lock()  # create tqdm's multiprocessing lock here, once: a child that made its own would leak it at os._exit
    sandbox.can_hide()  # probed once here, inherited by every child
    while (task := conn.recv()) is not None:
        conn.send(_grade_in_child(task, sandbox.sandbox_uid(os.getpid())))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _grade_in_child(task: Task, uid: int) -> dict:
    start, cpu_start = time.monotonic(), _children_cpu()
    workdir = sandbox.make_workdir(task.notebook, uid)
    progress_r, progress_w = os.pipe()
    result_r, result_w = os.pipe()
    tests_r, tests_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        _close_all_but(progress_w, result_w, tests_r)  # nothing else inherited, e.g. the zygote's own connection
        try:
            _child_main(task, workdir, uid, progress_w, result_w, tests_r)
        finally:
            os._exit(0)
    for fd in (progress_w, result_w, tests_r):
        os.close(fd)
    try:
        outcome = _watch(pid, progress_r, result_r, tests_w, task, start)
    finally:
        sandbox.clean_up(workdir, uid)
    outcome["seconds"] = time.monotonic() - start
    outcome["cpu"] = _children_cpu() - cpu_start
    return outcome


def _close_all_but(*keep: int) -> None:
    """Close every inherited file descriptor above stderr except ``keep``."""
    for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the descriptor listdir itself used


def _tests_payload(task: Task) -> bytes:
    """The hidden tests and the notebook's fixture file, read by the grader only once the cells have run."""
    from ..fixtures import fixture_path

    with zipfile.ZipFile(task.autograder) as archive:
        tests = {name: archive.read(name).decode() for name in sorted(archive.namelist()) if name.startswith("tests/") and name.endswith(".py")
                 and (task.questions is None or Path(name).stem in task.questions)}
    notebook = Path(task.autograder).name.removesuffix("-autograder.zip")
    fixtures = fixture_path(notebook)
    return pickle.dumps({"tests": tests, "notebook": notebook, "fixtures": fixtures.read_bytes() if fixtures.is_file() else None})


def _send_and_close(fd: int, payload: bytes) -> None:
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass  # the child was killed before it read everything
    finally:
        os.close(fd)


def _watch(pid: int, progress_r: int, result_r: int, tests_w: int, task: Task, start: float) -> dict:
    """Follow the child's progress; hand it the tests when its cells are done; kill it on a timeout; return its outcome.

    The child's report is one line of JSON on the result pipe; it counts only after the tests were
    handed over. Processes the student's code forked may keep the pipes open, so the watch ends when
    the report's line is complete or the child has exited, not at end-of-file.
    """
    limits = task.limits
    sender = None
    selector = selectors.DefaultSelector()
    selector.register(progress_r, selectors.EVENT_READ, "progress")
    selector.register(result_r, selectors.EVENT_READ, "result")
    result, cell, cell_start, timeout, status = b"", "", time.monotonic(), None, None
    while not result.endswith(b"\n") and result_r in selector.get_map():
        now = time.monotonic()
        remaining = min(start + limits.notebook_seconds, cell_start + limits.cell_seconds) - now
        if remaining <= 0:
            timeout = (f"cell {cell} ran longer than {limits.cell_seconds:g} s" if now - cell_start >= limits.cell_seconds
                       else f"the notebook ran longer than {limits.notebook_seconds:g} s")
            break
        events = selector.select(timeout=min(remaining, 0.5))
        for key, _ in events:
            data = os.read(key.fd, 1 << 16)
            if not data:
                selector.unregister(key.fd)
            elif key.data == "result":
                result += data if sender is not None else b""
            else:
                cell, cell_start = data.decode(errors="replace").split()[-1], time.monotonic()
                if cell == "tests" and sender is None:
                    sender = threading.Thread(target=_send_and_close, args=(tests_w, _tests_payload(task)), daemon=True)
                    sender.start()
        if not events:
            if status is not None:
                break  # the child has exited and nothing more is coming
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            status = wait_status if done == pid else None
    for fd in (progress_r, result_r):
        os.close(fd)
    _kill_group(pid)
    if status is None:
        status = os.waitpid(pid, 0)[1]
    if sender is None:
        os.close(tests_w)
    else:
        sender.join()
    if timeout:
        return {"status": "timeout", "message": timeout}
    try:
        report = json.loads(result)
    except json.JSONDecodeError:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.waitstatus_to_exitcode(status)}"
        return {"status": "crashed", "message": f"the notebook stopped the grader during cell {cell or '?'} ({how}), e.g. with os._exit or a crash"}
    memory = [f"cell {i}: {name}" for i, name, _ in report["errors"] if name in MEMORY_ERRORS or "allocate memory" in _]
    forks = [f"cell {i}" for i, name, _ in report["errors"] if name in PROCESS_ERRORS]
    if memory:
        status, message = "memory", f"out of memory (limit {limits.memory_bytes / 2**30:g} GiB) in " + ", ".join(memory)
    elif forks:
        status, message = "processes", f"process limit ({limits.processes} processes and threads) reached in " + ", ".join(forks)
    else:
        status, message = "graded", ""
    if report["undone"]:
        names = ", ".join(report["undone"][:5]) + (", ..." if len(report["undone"]) > 5 else "")
        message = "; ".join(filter(None, [message, f"the notebook changed library functions the tests use; undone before the tests: {names}"]))
    return {"status": status, "message": message, "questions": report["questions"], "skipped": report["skipped"], "busy": report["busy"]}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _IgnoredIPython:
    """Stands in for ``get_ipython()``: magics and shell commands do nothing while grading."""

    def run_line_magic(self, *args, **kwargs):
        return None

    run_cell_magic = run_line_magic
    system = run_line_magic
    getoutput = run_line_magic


def _child_main(task: Task, workdir: str, uid: int, progress_w: int, result_w: int, tests_r: int) -> None:
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager
    from otter.test_files import ExceptionTestFile

    from .. import fixtures
    from . import patches
    from .grading_mode import skipped_indices

    nb = nbformat.read(task.notebook, as_version=4)  # read before confinement: the grader's copy is not the student's to see
    sandbox.confine(workdir, uid, task.limits.memory_bytes, task.limits.processes, task.hidden)
    me = os.getpid()
    if task.threads:
        import torch

        torch.set_num_threads(task.threads)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.argv = [os.path.join(workdir, os.path.basename(task.notebook))]
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "display": lambda *a, **k: None, "get_ipython": _IgnoredIPython}
    transform = TransformerManager().transform_cell
    skipped = set(skipped_indices(nb, task.skip))
    errors = []
    trusted = patches.snapshot()
    busy_start = time.monotonic()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or index in skipped:
            continue
        os.write(progress_w, f"{index}\n".encode())
        try:
            exec(compile(transform(cell.source), f"<cell {index}>", "exec"), namespace)
        except BaseException as error:  # a cell's failure (even SystemExit) must not stop the grading
            errors.append((index, type(error).__name__, str(error)[:200]))
        if os.getpid() != me:  # a process the student's code forked: it must not go on grading
            os._exit(0)
    busy = time.monotonic() - busy_start
    undone = patches.restore(trusted)
    os.write(progress_w, b"tests\n")
    chunks = []
    while chunk := os.read(tests_r, 1 << 20):
        chunks.append(chunk)
    payload = pickle.loads(b"".join(chunks))
    if payload["fixtures"] is not None:
        fixtures.provide(payload["notebook"], payload["fixtures"])
    questions, tests_start = {}, time.monotonic()
    for path, source in payload["tests"].items():
        test_file = ExceptionTestFile.from_string(source, path=path)
        test_file.run(namespace)
        failures = [(r.test_case.name, failure_reason(r.message)) for r in test_file.test_case_results if not r.passed]
        questions[test_file.name] = {"score": float(test_file.score), "possible": float(test_file.possible), "failures": summarize_failures(failures)}
    busy += time.monotonic() - tests_start
    if os.getpid() != me:
        os._exit(0)
    report = {"questions": questions, "errors": errors, "skipped": len(skipped), "undone": undone, "busy": busy}
    payload = json.dumps(report).encode() + b"\n"
    view = memoryview(payload)
    while view:
        view = view[os.write(result_w, view):]
    os.close(result_w)


def failure_reason(message: str) -> str:
    """The last line of an Otter failure message (the exception), e.g. ``AssertionError: ...``."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    reason = lines[-1] if lines else "failed"
    if reason.startswith("NotImplementedError"):
        return "not implemented (the stub still raises NotImplementedError)"
    return reason


def summarize_failures(failures: list[tuple[str, str]]) -> list[str]:
    """``[(case name, reason)]`` -> one entry per distinct reason, naming its cases: ``q2 - 1, q2 - 3: reason``."""
    cases_by_reason: dict[str, list[str]] = {}
    for case, reason in failures:
        cases_by_reason.setdefault(reason, []).append(case)
    return [f"{', '.join(cases)}: {reason}" for reason, cases in cases_by_reason.items()]
