"""The grading engine: execute a notebook and run its Otter tests in a forked child, within limits.

``make grade`` starts ``JOBS`` *zygotes*: single-threaded processes that import the heavy
libraries (torch, numpy, matplotlib, otter, compresslab) once. For each notebook a zygote forks a
child that executes the notebook's code cells in order (plain ``exec``, IPython syntax
transformed, magics and shell lines ignored), skipping the release's time-only cells, then runs
the autograder zip's Otter test files against the notebook's globals, exactly as ``otter run``
scores them. The zygote watches the child: a cell that runs longer than ``cell_seconds`` or a
notebook longer than ``notebook_seconds`` is killed (status ``timeout``), a child that dies
without reporting is ``crashed``, and ``memory_bytes`` bounds the child's address space (a cell
that exceeds it fails with a memory error, status ``memory``). The child runs in its own
process group, which is killed afterwards, so nothing it started outlives it.

Compared with ``otter run`` (a fresh Jupyter kernel and interpreter per notebook, about 8 s
before the first cell runs), a forked child starts in milliseconds with everything imported.
"""

import json
import multiprocessing
import os
import resource
import selectors
import signal
import sys
import time
import zipfile
from dataclasses import dataclass

PRELOAD = ("numpy", "torch", "torchvision", "matplotlib.pyplot", "sklearn.datasets", "nbformat", "otter", "otter.test_files",
           "IPython.core.inputtransformer2", "compresslab.checks", "compresslab.checkpoints", "compresslab.data", "compresslab.models",
           "compresslab.plots", "compresslab.training")
MEMORY_ERRORS = ("MemoryError", "OutOfMemoryError")


@dataclass(frozen=True)
class Limits:
    notebook_seconds: float = 600.0  # wall time for executing the notebook and its tests
    cell_seconds: float = 300.0  # wall time for one cell
    memory_bytes: int = 8 * 2**30  # address-space limit of the child (RLIMIT_AS)


@dataclass
class Task:
    notebook: str  # path of a private copy of the submission (the child runs in its folder)
    autograder: str  # path of the Otter autograder zip
    skip: frozenset  # sources of cells to skip (grading mode)
    limits: Limits


class Zygote:
    """A warm, single-threaded process that grades one notebook at a time in forked children."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_zygote_main, args=(child_conn,), daemon=True)
        self._process.start()

    def grade(self, task: Task) -> dict:
        """Outcome dict: ``status`` (graded | memory | timeout | crashed), ``message``, ``questions``, ``skipped``, ``seconds``."""
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
    while (task := conn.recv()) is not None:
        conn.send(_grade_in_child(task))


def _grade_in_child(task: Task) -> dict:
    start = time.monotonic()
    progress_r, progress_w = os.pipe()
    result_r, result_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(progress_r)
        os.close(result_r)
        try:
            _child_main(task, progress_w, result_w)
        finally:
            os._exit(0)
    os.close(progress_w)
    os.close(result_w)
    outcome = _watch(pid, progress_r, result_r, task.limits, start)
    outcome["seconds"] = time.monotonic() - start
    return outcome


def _watch(pid: int, progress_r: int, result_r: int, limits: Limits, start: float) -> dict:
    """Follow the child's progress; kill it on a timeout; return its outcome."""
    selector = selectors.DefaultSelector()
    selector.register(progress_r, selectors.EVENT_READ, "progress")
    selector.register(result_r, selectors.EVENT_READ, "result")
    result, cell, cell_start, timeout = b"", "", time.monotonic(), None
    while selector.get_map():
        now = time.monotonic()
        remaining = min(start + limits.notebook_seconds, cell_start + limits.cell_seconds) - now
        if remaining <= 0:
            timeout = (f"cell {cell} ran longer than {limits.cell_seconds:g} s" if now - cell_start >= limits.cell_seconds
                       else f"the notebook ran longer than {limits.notebook_seconds:g} s")
            break
        for key, _ in selector.select(timeout=remaining):
            data = os.read(key.fd, 1 << 16)
            if not data:
                selector.unregister(key.fd)
            elif key.data == "result":
                result += data
            else:
                cell, cell_start = data.decode().split()[-1], time.monotonic()
    for fd in (progress_r, result_r):
        os.close(fd)
    _kill_group(pid)
    _, status = os.waitpid(pid, 0)
    if timeout:
        return {"status": "timeout", "message": timeout}
    try:
        report = json.loads(result)
    except json.JSONDecodeError:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.waitstatus_to_exitcode(status)}"
        return {"status": "crashed", "message": f"the notebook stopped the grader during cell {cell or '?'} ({how}), e.g. with os._exit or a crash"}
    memory = [f"cell {i}: {name}" for i, name, _ in report["errors"] if name in MEMORY_ERRORS or "allocate memory" in _]
    status, message = ("memory", f"out of memory (limit {limits.memory_bytes / 2**30:g} GiB) in " + ", ".join(memory)) if memory else ("graded", "")
    return {"status": status, "message": message, "questions": report["questions"], "skipped": report["skipped"]}


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


def _child_main(task: Task, progress_w: int, result_w: int) -> None:
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager
    from otter.test_files import ExceptionTestFile

    from .grading_mode import skipped_indices

    os.setpgid(0, 0)  # own process group: killed as a whole afterwards
    resource.setrlimit(resource.RLIMIT_AS, (task.limits.memory_bytes, task.limits.memory_bytes))
    folder = os.path.dirname(os.path.abspath(task.notebook))
    os.chdir(folder)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.argv = [task.notebook]
    nb = nbformat.read(task.notebook, as_version=4)
    with zipfile.ZipFile(task.autograder) as archive:
        tests = {name: archive.read(name).decode() for name in sorted(archive.namelist()) if name.startswith("tests/") and name.endswith(".py")}
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "display": lambda *a, **k: None, "get_ipython": _IgnoredIPython}
    transform = TransformerManager().transform_cell
    skipped = set(skipped_indices(nb, task.skip))
    errors = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or index in skipped:
            continue
        os.write(progress_w, f"{index}\n".encode())
        try:
            exec(compile(transform(cell.source), f"<cell {index}>", "exec"), namespace)
        except BaseException as error:  # a cell's failure (even SystemExit) must not stop the grading
            errors.append((index, type(error).__name__, str(error)[:200]))
    os.write(progress_w, b"tests\n")
    questions = {}
    for path, source in tests.items():
        test_file = ExceptionTestFile.from_string(source, path=path)
        test_file.run(namespace)
        failures = [(r.test_case.name, failure_reason(r.message)) for r in test_file.test_case_results if not r.passed]
        questions[test_file.name] = {"score": float(test_file.score), "possible": float(test_file.possible), "failures": summarize_failures(failures)}
    payload = json.dumps({"questions": questions, "errors": errors, "skipped": len(skipped)}).encode()
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
