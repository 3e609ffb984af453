"""The grading engine: execute a notebook and run its Otter tests in a forked child, within limits.

``make grade`` starts ``JOBS`` *zygotes*: single-threaded processes that import the heavy
libraries (torch, numpy, matplotlib, otter, compresslab) once. For each notebook a zygote forks a
child, confined by ``sandbox`` (limits; as root its own uid, a scratch folder, the secrets hidden,
no network), that executes the notebook's code cells in order (plain ``exec``, IPython syntax
transformed, magics and shell lines ignored), skipping the release's time-only cells. Only then
does the zygote hand it the autograder's Otter test files and the fixture file, with every
reference answer zeroed (``reference_checks``), through a pipe; the child undoes library patches
made by the cells (``patches``), runs each test case against the notebook's globals as ``otter
run`` does, with ``compresslab.checks`` recording what each check compares instead of deciding,
and reports every case's exception or records. The zygote decides the cases and scores them as
Otter does: a check passes only when the value the child recorded meets the reference run's
expected value (a case without checks passes when it raised nothing). The zygote watches the
child: a cell that runs longer than ``cell_seconds`` or a notebook longer than
``notebook_seconds`` is killed (status ``timeout``), a child that dies without reporting is
``crashed``, ``memory_bytes`` bounds its address space (status ``memory``) and ``processes`` the
processes and threads it may start (status ``processes``). The child runs in its own process
group, which is killed afterwards, so nothing it started outlives it.

Compared with ``otter run`` (a fresh Jupyter kernel and interpreter per notebook, about 8 s
before the first cell runs), a forked child starts in milliseconds with everything imported.
"""

import io
import multiprocessing
import os
import pickle
import resource
import selectors
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import reference_checks, sandbox

PRELOAD = ("numpy", "pandas", "torch", "torchvision", "torchprofile", "torch.ao.quantization.observer", "matplotlib.pyplot",
           "sklearn.datasets", "sklearn.model_selection", "sklearn.cluster", "nbformat", "otter", "otter.test_files",
           "IPython.core.inputtransformer2", "compresslab.checks", "compresslab.checkpoints", "compresslab.data",
           "compresslab.fixtures", "compresslab.models", "compresslab.plots", "compresslab.profiling", "compresslab.stats",
           "compresslab.training", "compresslab.int8_helpers", "compresslab.pruning_helpers", "compresslab.quantization_helpers",
           "compresslab.sawb_helpers")
MEMORY_ERRORS = ("MemoryError", "OutOfMemoryError")
PROCESS_ERRORS = ("BlockingIOError",)  # fork() refused: the process limit was reached
_TORCH_DEFAULT_THREADS = 1  # torch's own default, read by the zygote before it limits itself to one thread


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
    trace: bool = False  # a trusted reference run: full fixtures, and its records are returned to make the reference checks


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
        ``seconds`` (wall time in all), ``busy`` (time spent in the notebook's cells and the tests), ``cpu`` (CPU seconds
        of the child and of the zygote's own work for it: preparing the tests, watching, deciding)
        and, for a ``trace`` task, ``cases`` (every test case's records). Raises ``reference_checks.StaleChecks`` when the
        notebook's reference checks do not belong to its tests and fixtures."""
        self._conn.send(task)
        outcome = self._conn.recv()
        if outcome["status"] == "setup":
            raise reference_checks.StaleChecks(outcome["message"])
        return outcome

    def close(self) -> None:
        self._conn.send(None)
        self._process.join(timeout=10)


def _zygote_main(conn) -> None:
    import importlib

    os.environ.setdefault("MPLBACKEND", "Agg")
    for module in PRELOAD:
        importlib.import_module(module)
    import torch

    global _TORCH_DEFAULT_THREADS
    _TORCH_DEFAULT_THREADS = torch.get_num_threads()
    torch.set_num_threads(1)  # the zygote's own tensor work (fixtures, verdicts) must not start the thread pool its forks would hang in
    from tqdm.auto import tqdm

    tqdm.get_lock()  # create tqdm's multiprocessing lock here, once: a child that made its own would leak it at os._exit
    sandbox.can_hide()  # probed once here, inherited by every child
    while (task := conn.recv()) is not None:
        try:
            conn.send(_grade_in_child(task, sandbox.sandbox_uid(os.getpid())))
        except reference_checks.StaleChecks as error:
            conn.send({"status": "setup", "message": str(error)})


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its children that have exited, all threads."""
    return sum(usage.ru_utime + usage.ru_stime for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def _grade_in_child(task: Task, uid: int) -> dict:
    start, cpu_start = time.monotonic(), _cpu_seconds()
    tests = _Tests(task)
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
        outcome = _watch(pid, progress_r, result_r, tests_w, task, tests, start)
    finally:
        sandbox.clean_up(workdir, uid)
    outcome["seconds"] = time.monotonic() - start
    outcome["cpu"] = _cpu_seconds() - cpu_start
    return outcome


def _close_all_but(*keep: int) -> None:
    """Close every inherited file descriptor above stderr except ``keep``."""
    for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the descriptor listdir itself used


class _Tests:
    """The notebook's hidden tests as the grader holds them: Otter test files, parsed here (points, cases), the
    reference checks the verdicts compare with, and the payload for the child: the tests' sources and the fixture
    file with the reference answers zeroed (all of it for a ``trace`` task, which is the trusted reference run)."""

    def __init__(self, task: Task) -> None:
        from otter.test_files import ExceptionTestFile

        from ..fixtures import fixture_path, without
        from .autograders import otter_tests

        every = otter_tests(Path(task.autograder))
        self.notebook = Path(task.autograder).name.removesuffix("-autograder.zip")
        path = fixture_path(self.notebook)
        fixture_bytes = path.read_bytes() if path.is_file() else None
        self.reference = None if task.trace else reference_checks.load(self.notebook, every, fixture_bytes)
        if fixture_bytes is not None and self.reference is not None:
            fixture_bytes = without(fixture_bytes, self.reference["secrets"])
        self.sources = {name: source for name, source in every.items() if task.questions is None or Path(name).stem in task.questions}
        self.files = [ExceptionTestFile.from_string(source, path=name) for name, source in self.sources.items()]
        self.trace = task.trace
        self.fixture_bytes = fixture_bytes

    def payload(self) -> bytes:
        return pickle.dumps({"tests": self.sources, "notebook": self.notebook, "fixtures": self.fixture_bytes, "trace": self.trace})

    def decide(self, cases: dict) -> dict:
        """Scores of the questions from the child's per-case report: ``{file: {case: {"error", "records"}}}``.

        A case passes when it raised nothing and each of its records matches the reference run's record of the
        same check (``checks.decide``); a trace task's records are compared with themselves."""
        from ..checks import decide

        reference = self.reference["cases"] if self.reference is not None else {
            name: {case: report["records"] for case, report in file_cases.items()} for name, file_cases in cases.items()}
        questions = {}
        for test_file in self.files:
            failures, score = [], 0.0
            for case in test_file.test_cases:
                reason = _case_verdict(cases.get(test_file.name, {}).get(case.name), reference.get(test_file.name, {}).get(case.name, []), decide)
                if reason is None:
                    score += case.points
                else:
                    failures.append((case.name, reason))
            if test_file.all_or_nothing and failures:
                score = 0.0
            questions[test_file.name] = {"score": float(score), "possible": float(test_file.possible), "failures": summarize_failures(failures)}
        return questions


def _case_verdict(report: dict | None, reference: list[dict], decide) -> str | None:
    """Why one test case failed (``None``: it passed)."""
    if report is None:
        return "no result for this test in the report of the notebook's process"
    if report["error"] is not None:
        return str(report["error"])
    if len(report["records"]) != len(reference):
        return f"the test made {len(report['records'])} checks where it makes {len(reference)} for the reference solution"
    for record, expected in zip(report["records"], reference):
        try:
            decide(record, expected)
        except AssertionError as error:
            return failure_reason(f"AssertionError: {error}")
    return None


def _send_and_close(fd: int, payload: bytes) -> None:
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass  # the child was killed before it read everything
    finally:
        os.close(fd)


def _watch(pid: int, progress_r: int, result_r: int, tests_w: int, task: Task, tests: _Tests, start: float) -> dict:
    """Follow the child's progress; hand it the tests when its cells are done; kill it on a timeout; decide its outcome.

    The child's report (``_frame``: its length on one line, then a ``torch.save`` of plain data and
    tensors) counts only after the tests were handed over. Processes the student's code forked may
    keep the pipes open, so the watch ends when the report is complete or the child has exited, not
    at end-of-file.
    """
    limits = task.limits
    sender = None
    selector = selectors.DefaultSelector()
    selector.register(progress_r, selectors.EVENT_READ, "progress")
    selector.register(result_r, selectors.EVENT_READ, "result")
    result, cell, cell_start, timeout, status = b"", "", time.monotonic(), None, None
    while not _complete(result) and result_r in selector.get_map():
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
                    sender = threading.Thread(target=_send_and_close, args=(tests_w, tests.payload()), daemon=True)
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
        report = _unframe(result)
        questions = tests.decide(report["cases"])
        errors = [(int(index), str(name), str(text)) for index, name, text in report["errors"]]
        undone, skipped, busy = [str(name) for name in report["undone"]], int(report["skipped"]), float(report["busy"])
    except Exception:  # anything but a complete, well-formed report: the child did not finish as the grader's code does
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.waitstatus_to_exitcode(status)}"
        return {"status": "crashed", "message": f"the notebook stopped the grader during cell {cell or '?'} ({how}), e.g. with os._exit or a crash"}
    memory = [f"cell {i}: {name}" for i, name, text in errors if name in MEMORY_ERRORS or "allocate memory" in text]
    forks = [f"cell {i}" for i, name, _ in errors if name in PROCESS_ERRORS]
    if memory:
        status, message = "memory", f"out of memory (limit {limits.memory_bytes / 2**30:g} GiB) in " + ", ".join(memory)
    elif forks:
        status, message = "processes", f"process limit ({limits.processes} processes and threads) reached in " + ", ".join(forks)
    else:
        status, message = "graded", ""
    if undone:
        names = ", ".join(undone[:5]) + (", ..." if len(undone) > 5 else "")
        message = "; ".join(filter(None, [message, f"the notebook changed library functions the tests use; undone before the tests: {names}"]))
    outcome = {"status": status, "message": message, "questions": questions, "skipped": skipped, "busy": busy}
    if task.trace:
        outcome["cases"] = report["cases"]
    return outcome


def _frame(report: dict) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(report, buffer)
    return f"{buffer.tell()}\n".encode() + buffer.getvalue()


def _complete(result: bytes) -> bool:
    header, newline, body = result.partition(b"\n")
    return bool(newline) and header.isdigit() and len(body) >= int(header)


def _unframe(result: bytes) -> dict:
    """The child's report; only plain data and tensors are accepted (``weights_only``), never code."""
    import torch

    header, _, body = result.partition(b"\n")
    return torch.load(io.BytesIO(body[:int(header)]), weights_only=True)


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
    import torch
    from IPython.core.inputtransformer2 import TransformerManager
    from otter.test_files import ExceptionTestFile

    from .. import fixtures
    from . import patches
    from .grading_mode import skipped_indices

    nb = nbformat.read(task.notebook, as_version=4)  # read before confinement: the grader's copy is not the student's to see
    sandbox.confine(workdir, uid, task.limits.memory_bytes, task.limits.processes, task.hidden)
    me = os.getpid()
    torch.set_num_threads(task.threads or _TORCH_DEFAULT_THREADS)
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
    if payload["trace"]:
        fixtures.trace_leaves()
    if payload["fixtures"] is not None:
        fixtures.provide(payload["notebook"], payload["fixtures"])
    cases, tests_start = {}, time.monotonic()
    for path, source in payload["tests"].items():
        test_file = ExceptionTestFile.from_string(source, path=path)
        cases[test_file.name] = {case.name: _run_case(case, namespace) for case in test_file.test_cases}
    busy += time.monotonic() - tests_start
    if os.getpid() != me:
        os._exit(0)
    report = _frame({"cases": cases, "errors": errors, "skipped": len(skipped), "undone": undone, "busy": busy})
    view = memoryview(report)
    while view:
        view = view[os.write(result_w, view):]
    os.close(result_w)


def _run_case(case, namespace: dict) -> dict:
    """Run one Otter test case as ``otter run`` does; return its exception's reason (or ``None``) and the records of its checks."""
    from ..checks import record_into

    records = []
    record_into(records)
    try:
        case.body.call_func(namespace)
        error = None
    except Exception as exception:
        error = failure_reason(f"{type(exception).__name__}: {str(exception).strip(chr(39))}")
    finally:
        record_into(None)
    return {"error": error, "records": records}


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
