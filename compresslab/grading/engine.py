"""The grading engine: run a notebook and its Otter tests in a confined child, and decide every verdict here.

Three kinds of process, and only the first holds a secret:

- **The grader** (this module, in ``make grade``'s own process): it reads the autograder's tests and the
  reference checks (expected values, tolerances, thresholds: ``reference_checks``), makes the fixture
  payload with every declared secret zeroed (``fixtures.without``), watches each notebook, and decides
  each test case from the records the notebook's process reports.
- **The zygote** (``zygote``): a warm process started in the bubblewrap sandbox (``sandbox``) with torch,
  Otter and the library imported, which never receives anything secret. ``make grade`` starts ``JOBS``
  of them; each grades one notebook at a time.
- **The notebook's process**, forked by the zygote in new namespaces, which executes the cells and then the
  tests, and talks to the grader over a pipe the grader made, in ``protocol`` frames the grader validates.

The grader decides when the tests begin (it hands them over after the process's last cell, never before
it says so, and only once), and reads nothing but typed, size-capped frames in order: a frame out of order,
too large, or a malformed or inconsistent report makes the notebook ``crashed`` with the reason. A cell
that runs longer than ``cell_seconds`` or a notebook longer than ``notebook_seconds`` is killed (``timeout``);
a process that ends without a report is ``crashed``; ``memory_bytes`` bounds its address space (``memory``)
and ``processes`` what it may start (``processes``). A zygote that dies raises ``ZygoteLost``: the caller
starts another one (``runner``).
"""

import argparse
import json
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import cgroups, diagnosis, protocol, reference_checks, sandbox

MEMORY_ERRORS = ("MemoryError", "OutOfMemoryError")
PROCESS_ERRORS = ("BlockingIOError",)  # fork() refused: the process limit was reached
READY_SECONDS = 300.0  # a zygote must have imported its libraries by then
UNSAFE_NOTE = "graded unsafely (UNSAFE=1: no isolation)"  # starts the message of every notebook graded without the sandbox
WITHHELD = "the exception's message quoted the hidden test's code, so it is withheld"


# The limits' command-line options: (option, type, environment variable giving the default, default, meaning).
LIMIT_OPTIONS = (
    ("--timeout", float, "TIMEOUT", 600, "seconds allowed per notebook"),
    ("--cell-timeout", float, "CELL_TIMEOUT", 300, "seconds allowed per cell"),
    ("--memory-gb", float, "MEMORY_GB", 8, "address-space limit per notebook in GiB"),
    ("--processes", int, "PROCESSES", 64, "processes and threads a notebook may start"),
    ("--scratch-gb", float, "SCRATCH_GB", 1, "private tmpfs per notebook (its /tmp, /var/tmp, /dev/shm and folder together) in GiB"),
)


@dataclass(frozen=True)
class Limits:
    notebook_seconds: float = 600.0  # wall time for executing the notebook and its tests
    cell_seconds: float = 300.0  # wall time for one cell
    memory_bytes: int = 8 * 2**30  # address-space limit of the notebook's process (RLIMIT_AS)
    processes: int = 64  # processes and threads the notebook may run (RLIMIT_NPROC, in its own user namespace)
    scratch_bytes: int = 2**30  # its private tmpfs (/tmp, /var/tmp, /dev/shm and its folder together), and the largest file

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """The limits as command-line options whose defaults come from the environment (``make grade``'s variables), for
        ``make grade`` and Gradescope's runner alike; ``from_arguments`` makes the ``Limits`` of the parsed options."""
        for option, kind, variable, default, meaning in LIMIT_OPTIONS:
            parser.add_argument(option, type=kind, default=kind(os.environ.get(variable, default)),
                                help=f"{meaning} (default: ${variable} or {default})")

    @staticmethod
    def from_arguments(args: argparse.Namespace) -> "Limits":
        return Limits(notebook_seconds=args.timeout, cell_seconds=args.cell_timeout, memory_bytes=int(args.memory_gb * 2**30),
                      processes=args.processes, scratch_bytes=int(args.scratch_gb * 2**30))


@dataclass
class Task:
    notebook: str  # path of the submitted notebook (read here; the notebook's process gets its bytes)
    autograder: str  # path of the Otter autograder zip
    skip: frozenset  # sources of cells to skip (grading mode)
    limits: Limits
    threads: int = 0  # torch threads in the child (0: torch's default); notebooks graded side by side share the cores
    questions: frozenset[str] | None = None  # run only these questions' tests (None: all)
    trace: bool = False  # a trusted reference run: full fixtures, and its records are returned to make the reference checks


class ZygoteLost(Exception):
    """The zygote died or stopped answering; the notebook it was grading has no outcome."""


class Zygote:
    """A warm process in the sandbox that runs one notebook at a time; the verdicts are decided here, in the caller."""

    def __init__(self, mode: str | None = None) -> None:
        """mode: ``sandbox.isolation_mode``'s answer (default: ask it, accepting ``unsafe`` only when ``$UNSAFE`` is 1)."""
        self.mode = mode or sandbox.isolation_mode(unsafe_allowed=os.environ.get("UNSAFE") == "1")
        index = sandbox.next_zygote_index()
        mine, theirs = socket.socketpair()
        arguments = ["-m", "compresslab.grading.zygote", str(theirs.fileno()), self.mode]
        command = {"unsafe": [sys.executable, *arguments], "uid": sandbox.separate_uid_command(index, arguments)}.get(
            self.mode) or sandbox.zygote_command(index, arguments)
        as_root = self.mode in ("root", "uid")
        self._cgroup = cgroups.Cgroup(f"compresslab-{os.getpid()}-{index}") if as_root and cgroups.available() else None
        if self._cgroup is not None:  # its limits are set per notebook (``grade``)
            command = self._cgroup.enter_command(command)
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=self._stderr, start_new_session=True)
        finally:
            theirs.close()
        self.sock = mine
        self._buffer = b""
        self._default_threads = None
        self._shown = sandbox.shown_in_private_folders() if sandbox.uses_namespaces(self.mode) else []

    def grade(self, task: Task) -> dict:
        """Outcome dict: ``status`` (graded | memory | processes | timeout | crashed), ``message``, ``questions``, ``skipped``,
        ``seconds`` (wall time in all), ``busy`` (time spent in the notebook's cells and the tests), ``cpu`` (CPU seconds
        of the notebook's processes and of the grader's own work for it) and, for a ``trace`` task, ``cases`` (every test
        case's records). Raises ``reference_checks.StaleChecks`` when the notebook's reference checks do not belong to
        its tests and fixtures, ``ZygoteLost`` when the zygote dies."""
        self.wait_ready()
        start, cpu_start = time.monotonic(), time.thread_time()
        tests = _Tests(task)
        if self._cgroup is not None:
            self._cgroup.set_limits(task.limits.memory_bytes + task.limits.scratch_bytes, task.limits.processes)
        oom_kills = self._cgroup.oom_kills() if self._cgroup is not None else 0
        to_grader_r, to_grader_w = os.pipe()
        from_grader_r, from_grader_w = os.pipe()
        limits = {"memory_bytes": task.limits.memory_bytes, "processes": task.limits.processes, "scratch_bytes": task.limits.scratch_bytes}
        message = pickle.dumps({"notebook": Path(task.notebook).read_bytes(), "name": Path(task.notebook).name, "skip": task.skip,
                                "limits": limits, "threads": task.threads or self._default_threads, "shown": self._shown})
        try:
            socket.send_fds(self.sock, [b"T"], [to_grader_w, from_grader_r])
            self.sock.sendall(struct.pack(">Q", len(message)) + message)
        except OSError as error:
            raise ZygoteLost(f"the zygote stopped ({error}){self.last_words()}") from None
        finally:
            os.close(to_grader_w)
            os.close(from_grader_r)
        watch = _Watch(self, to_grader_r, from_grader_w, tests, task.limits, start)
        outcome = watch.run()
        killed = self._cgroup.oom_kills() - oom_kills if self._cgroup is not None else 0
        if killed and outcome["status"] in ("crashed", "graded"):
            total = (task.limits.memory_bytes + task.limits.scratch_bytes) / 2**30
            why = f"the memory limit for all its processes and files ({total:g} GiB) killed {killed} of its processes"
            outcome = (
                {"status": "memory", "message": f"{why}, the notebook's own during {watch.where()}"}
                if outcome["status"] == "crashed"
                else {**outcome, "status": "memory", "message": "; ".join(filter(None, [why, outcome["message"]]))}
            )
        zygote_cpu = watch.done.get("cpu", 0.0) if watch.done else 0.0
        if self.mode == "unsafe":
            outcome["message"] = "; ".join(filter(None, [UNSAFE_NOTE, outcome["message"]]))
        outcome["seconds"] = time.monotonic() - start
        outcome["cpu"] = zygote_cpu + time.thread_time() - cpu_start
        return outcome

    def wait_ready(self) -> None:
        """Wait until the zygote has imported its libraries (``ZygoteLost`` if it does not within ``READY_SECONDS``)."""
        if self._default_threads is None:
            self._default_threads = self._receive(READY_SECONDS)["threads"]

    def kill_current(self) -> None:
        try:
            self.sock.send(b"K")
        except OSError:
            pass  # the zygote is gone, and its notebook with it

    def _receive(self, seconds: float) -> dict:
        """The zygote's next message, within ``seconds``, else ``ZygoteLost``."""
        deadline = time.monotonic() + seconds
        while (message := self.take_message()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                raise ZygoteLost(f"the zygote did not answer within {seconds:g} s{self.last_words()}")
            self.feed(self.sock.recv(1 << 16))
        return message

    def feed(self, data: bytes) -> None:
        """Take bytes read from the zygote's socket (empty: it ended)."""
        if not data:
            raise ZygoteLost(f"the zygote ended{self.last_words()}")
        self._buffer += data

    def take_message(self) -> dict | None:
        """The next complete message the zygote sent, if one has arrived whole."""
        if len(self._buffer) < 8:
            return None
        (length,) = struct.unpack_from(">Q", self._buffer)
        if len(self._buffer) < 8 + length:
            return None
        message, self._buffer = json.loads(self._buffer[8:8 + length]), self._buffer[8 + length:]
        return message

    def last_words(self) -> str:
        """The end of what the zygote wrote on stderr, if anything."""
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return f": {lines[-1][:300]}" if lines else ""

    def close(self) -> None:
        """Stop the zygote (and everything it runs), asking first; never hangs."""
        self.sock.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self) -> None:
        """Stop the zygote and everything it runs at once (a zygote that died or stopped answering)."""
        self.sock.close()
        try:
            os.killpg(self._process.pid, signal.SIGKILL)  # bubblewrap's session: the zygote and the notebook it runs
        except ProcessLookupError:
            pass  # it has ended
        self._process.wait()
        self._stderr.close()
        if self._cgroup is not None:
            self._cgroup.remove()


class _Watch:
    """Follows one notebook: its frames on the pipe, the time limits, the zygote's word that its process ended."""

    def __init__(self, zygote: Zygote, pipe: int, tests_pipe: int, tests: "_Tests", limits: Limits, start: float) -> None:
        self.zygote, self.pipe, self.tests_pipe, self.tests, self.limits, self.start = zygote, pipe, tests_pipe, tests, limits, start
        self.conversation = protocol.Conversation()
        self.cell, self.cell_start = None, time.monotonic()
        self.report = None
        self.done = None
        self.problem = None
        self.timeout = None
        self.killed = False
        self.sender = None

    def run(self) -> dict:
        try:
            self._follow()
        finally:
            os.close(self.pipe)
            if self.sender is None:
                os.close(self.tests_pipe)
            else:
                self.sender.join()
        return self._outcome()

    def _follow(self) -> None:
        watched = [self.pipe, self.zygote.sock]
        while self.done is None:
            now = time.monotonic()
            remaining = min(self.start + self.limits.notebook_seconds, self.cell_start + self.limits.cell_seconds) - now
            if remaining <= 0 and not self.killed:
                self.timeout = (f"cell {self.cell} ran longer than {self.limits.cell_seconds:g} s"
                                if now - self.cell_start >= self.limits.cell_seconds and self.cell is not None
                                else f"the notebook ran longer than {self.limits.notebook_seconds:g} s")
                self._kill()
            ready, _, _ = select.select(watched, [], [], max(0.05, min(remaining, 0.5)) if not self.killed else 5.0)
            if self.killed and not ready and time.monotonic() - now >= 5.0:
                raise ZygoteLost("the zygote did not end a notebook it was told to kill")
            if self.pipe in ready:
                data = os.read(self.pipe, 1 << 20)
                if not data:
                    watched.remove(self.pipe)
                elif not self.killed:
                    self._feed(data)
            if self.zygote.sock in ready:
                self.zygote.feed(self.zygote.sock.recv(1 << 16))
                self.done = self.zygote.take_message()
        os.set_blocking(self.pipe, False)
        try:  # what the process wrote before it ended (a process it left behind may keep the pipe open: do not wait)
            while not self.killed and (data := os.read(self.pipe, 1 << 20)):
                self._feed(data)
        except BlockingIOError:
            pass
        if self.report is None and self.conversation.pending() and self.problem is None:
            self.problem = "a truncated message on the grader's pipe"

    def _feed(self, data: bytes) -> None:
        try:
            events = self.conversation.feed(data)
        except protocol.ProtocolError as error:
            self.problem = str(error)
            self._kill()
            return
        for event, value in events:
            if event in ("notebook", "cell"):
                self.cell, self.cell_start = value if event == "cell" else None, time.monotonic()
            elif event == "cells_done":
                self.sender = threading.Thread(target=_send_and_close, args=(self.tests_pipe, self.tests.payload()), daemon=True)
                self.sender.start()
                self.conversation.tests_sent()
            else:
                self.report = value

    def _kill(self) -> None:
        if not self.killed:
            self.killed = True
            self.zygote.kill_current()

    def where(self) -> str:
        return f"cell {self.cell}" if self.cell is not None else "the start"

    def _outcome(self) -> dict:
        if self.timeout:
            return {"status": "timeout", "message": self.timeout}
        if self.problem:
            return {"status": "crashed", "message": f"the notebook's process broke the grader's protocol: {self.problem}"}
        if self.done.get("keeper_failed"):
            return {"status": "crashed", "message": f"the grader could not set up the notebook's sandbox{self.zygote.last_words()}"}
        where = self.where()
        if self.report is None:
            status = self.done["wait_status"]
            how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.waitstatus_to_exitcode(status)}"
            return {
                "status": "crashed",
                "message": f"the notebook stopped the grader during {where} ({how}), e.g. with os._exit or a crash",
            }
        try:
            return self.tests.outcome(protocol.Report(self.report), self.limits)
        except protocol.ProtocolError as error:
            return {"status": "crashed", "message": f"the notebook's process sent a malformed report: {error}"}


class _Tests:
    """The notebook's hidden tests as the grader holds them: Otter test files, parsed here (points, cases), the
    reference checks the verdicts compare with, and the payload for the child: the tests' sources and the fixture
    file with the declared secrets zeroed (all of it for a ``trace`` task, which is the trusted reference run)."""

    def __init__(self, task: Task) -> None:
        from otter.test_files import ExceptionTestFile

        from ..fixtures import declared_secrets, without
        from ..paths import course
        from .autograders import notebook_of, otter_tests

        every = otter_tests(Path(task.autograder))
        self.notebook = notebook_of(Path(task.autograder))
        path = course().fixture(self.notebook)
        fixture_bytes = path.read_bytes() if path.is_file() else None
        self.reference = None if task.trace else reference_checks.load_checks(self.notebook, every, fixture_bytes)
        self.mistakes = None if task.trace else diagnosis.load_mistakes(self.notebook, every, fixture_bytes)
        if fixture_bytes is not None and not task.trace:
            fixture_bytes = without(fixture_bytes, declared_secrets(self.notebook))
        self.sources = {name: source for name, source in every.items() if task.questions is None or Path(name).stem in task.questions}
        self.files = [ExceptionTestFile.from_string(source, path=name) for name, source in self.sources.items()]
        self.hidden_lines = {line.strip() for source in self.sources.values() for line in source.splitlines() if len(line.strip()) >= 12}
        self.trace = task.trace
        self.fixture_bytes = fixture_bytes

    def payload(self) -> bytes:
        return pickle.dumps({"tests": self.sources, "notebook": self.notebook, "fixtures": self.fixture_bytes})

    def outcome(self, report: protocol.Report, limits: Limits) -> dict:
        """The notebook's outcome from its process's report, every part validated (``ProtocolError`` otherwise)."""
        data = report.data
        if not isinstance(data, dict) or not isinstance(data.get("cases"), dict):
            raise protocol.ProtocolError("the report has no test cases")
        errors = [(_integer(e[0]), protocol.text(e[1], "an error name"), protocol.text(e[2], "an error message"))
                  for e in _list(data.get("errors"), "errors") if isinstance(e, list) and len(e) == 3]
        undone = [protocol.text(name, "a patched name") for name in _list(data.get("undone"), "undone")]
        skipped, busy = _integer(data.get("skipped")), data.get("busy")
        if not isinstance(busy, (int, float)):
            raise protocol.ProtocolError("the report's busy time is not a number")
        cases = self._cases(report)
        questions = self.decide(cases)
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
            message = "; ".join(
                filter(None, [message, f"the notebook changed library functions the tests use; undone before the tests: {names}"])
            )
        outcome = {"status": status, "message": message, "questions": questions, "skipped": skipped, "busy": float(busy)}
        if self.trace:
            outcome["cases"] = cases
        return outcome

    def _cases(self, report: protocol.Report) -> dict:
        """``{file: {case: {"error", "records"}}}`` for the test cases the grader ran, records built as tensors only after
        their dtype, shape and size were checked against the reference run's record of the same check."""
        cases = {}
        for test_file in self.files:
            sent = report.data["cases"].get(test_file.name, {})
            references = self.reference["cases"].get(test_file.name, {}) if self.reference is not None else {}
            cases[test_file.name] = {}
            for case in test_file.test_cases:
                result = sent.get(case.name) if isinstance(sent, dict) else None
                if result is None:
                    continue
                if not isinstance(result, dict) or not isinstance(result.get("records"), list):
                    raise protocol.ProtocolError(f"the result of {case.name} is malformed")
                error = result.get("error")
                error = None if error is None else protocol.text(error, f"the error of {case.name}")
                expected = references.get(case.name)
                records = [self._record(report, r, None if expected is None or i >= len(expected) else expected[i], case.name)
                           for i, r in enumerate(result["records"][:len(expected) + 1 if expected is not None else None])]
                cases[test_file.name][case.name] = {"error": error, "records": records}
        return cases

    def _record(self, report: protocol.Report, sent, reference: dict | None, case: str) -> dict:
        if not isinstance(sent, dict) or not isinstance(sent.get("kind"), str) or not isinstance(sent.get("name"), str):
            raise protocol.ProtocolError(f"a malformed check record in {case}")
        record = {
            "kind": sent["kind"][:32],
            "name": protocol.text(sent["name"], "a check name"),
            "from_student": bool(sent.get("from_student")),
        }
        if reference is None:  # the trusted trace run, or a record the reference run does not have (its count decides)
            if self.trace:
                record.update({key: report.tensor(sent.get(key), None, f"{case}: {key}") for key in ("actual", "expected")})
                record.update({key: float(sent.get(key, 0.0)) for key in ("rtol", "atol")})
            return record
        like = reference["expected"] if reference["kind"] in ("close", "equal") else reference["expected"].reshape(())
        record["actual"] = report.tensor(sent.get("actual"), like, f"{case}: {record['name']}")
        if reference["from_student"]:
            record["expected"] = report.tensor(sent.get("expected"), reference["expected"], f"{case}: {record['name']}")
        return record

    def decide(self, cases: dict) -> dict:
        """Scores of the questions from the validated per-case results ``{file: {case: {"error", "records"}}}``.

        A case passes when it raised nothing and each of its records matches the reference run's record of the
        same check (``checks.decide``); a trace task's records are compared with themselves. A failed case's reason
        then names the catalogued mistake it behaves like, if any (``diagnosis.explain``: information only, after
        the score is counted)."""
        from ..checks import decide

        reference = self.reference["cases"] if self.reference is not None else {
            name: {case: report["records"] for case, report in file_cases.items()} for name, file_cases in cases.items()}
        questions = {}
        for test_file in self.files:
            failures, score = [], 0.0
            for case in test_file.test_cases:
                report, expected = cases.get(test_file.name, {}).get(case.name), reference.get(test_file.name, {}).get(case.name, [])
                reason = case_verdict(report, expected, decide)
                if reason is None:
                    score += case.points
                else:
                    shown = self._withhold_test_code(reason) if case.hidden else reason
                    mistake = (
                        diagnosis.explain(self.mistakes, test_file.name, case.name, report, reason, expected, decide)
                        if self.mistakes
                        else None
                    )
                    failures.append((case.name, f"{mistake}; {shown}" if mistake else shown))  # first: a row's message is cut at its end
            if test_file.all_or_nothing and failures:
                score = 0.0
            questions[test_file.name] = {
                "score": float(score),
                "possible": float(test_file.possible),
                "failures": summarize_failures(failures),
            }
        return questions

    def _withhold_test_code(self, reason: str) -> str:
        """A hidden case's failure as the student may see it: not when it quotes the hidden tests' code."""
        return WITHHELD if any(line in reason for line in self.hidden_lines) else reason


def _integer(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise protocol.ProtocolError("a count in the report is not an integer")
    return value


def _list(value, what: str) -> list:
    if not isinstance(value, list):
        raise protocol.ProtocolError(f"the report's {what} is not a list")
    return value


def case_verdict(report: dict | None, reference: list[dict], decide) -> str | None:
    """Why one test case failed (``None``: it passed)."""
    if report is None:
        return "no result for this test in the report of the notebook's process"
    if report["error"] is not None:
        return failure_reason(report["error"])
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
        protocol.write_all(fd, payload)
    except OSError:
        pass  # the child was killed before it read everything
    finally:
        os.close(fd)


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
