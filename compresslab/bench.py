"""``make bench``: how long each notebook takes to run and to grade, written to a Markdown file.

Per notebook: the master executed top to bottom (nbclient), and the bundled reference and blank
submissions graded through the real grading path in grading mode (one zygote, one torch thread, as
``make grade`` runs each notebook of a class with ``JOBS`` = cores): wall time, CPU time, and the grader's own
cost per notebook (wall time minus the time spent in the notebook's cells and the tests). Then a throughput comparison on the quickest
notebook: ``COPIES`` copies each of the reference and the blank, graded by ``make grade``'s
``grade_all`` at ``JOBS`` at a time, against a sequential loop of ``otter run`` on the same files.
Then the cost of the isolation boundary: the same notebooks graded ``REPEATS`` times on one zygote in the
sandbox and without it (``unsafe``), and a zygote's start in each; the projected time for a class
of ``CLASS_SIZE`` students; the size of ``report.html`` for a generated class of ``CLASS_SIZE`` (``synthetic_class``:
rows and outcomes built directly, no grading) and the time to write it; and the cost of naming the mistake in the
feedback (``bench_diagnosis``). Timings are measurements, never test assertions.
"""

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch
from tqdm.auto import tqdm

from .grading import grading_mode, sandbox
from .grading.autograders import questions
from .grading.engine import Limits, Zygote
from .grading.html_report import write_report
from .grading.runner import Outcome, Row, grade_all, grade_notebook, rows_for
from .grading.submissions import Submission
from .notebooks import execute_notebook
from .paths import course

CLASS_SIZE = 300  # students in the projection
COPIES = 3  # copies of the reference and of the blank in the throughput comparison
LIMITS = Limits(notebook_seconds=3600, cell_seconds=3600)
REPEATS = 5  # gradings of each example per mode in the boundary comparison (medians reported)
DIAGNOSIS_BUDGET_MS = 100  # matching a failed notebook's cases against the recorded mistakes, grader's CPU per notebook
GRADING_THREADS = 1  # torch threads per graded notebook, as in a class batch with JOBS = cores (spinning idle threads would count as CPU)


def _skip(name: str) -> frozenset[str]:
    return grading_mode.marked_sources(nbformat.read(course().release(name), as_version=4))


def _example(name: str, example: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(course().example(example, name), folder / f"{name}.ipynb"))


def _score(outcome: Outcome) -> tuple[float, float]:
    graded = outcome.questions or {}
    return sum(q["score"] for q in graded.values()), sum(q["possible"] for q in graded.values())


def bench_notebook(name: str) -> dict:
    """Seconds to execute the master, and the outcomes of grading the reference and blank examples of ``name``."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        execute_notebook(course().master(name), cwd=tmp)
        result = {"run": time.perf_counter() - start}
    for example in ("reference", "blank"):
        with tempfile.TemporaryDirectory() as tmp:
            result[example] = grade_notebook(_example(name, example, Path(tmp)), course().autograder(name), LIMITS, _skip(name),
                                             threads=GRADING_THREADS)
    return result


def bench_throughput(name: str, jobs: int) -> dict:
    """Wall seconds to grade ``COPIES`` references and blanks: our grader at ``jobs`` at a time vs sequential ``otter run``."""
    autograder = course().autograder(name)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [_example(name, example, Path(tmp) / f"{example}-{i}") for i in range(COPIES) for example in ("reference", "blank")]
        submissions = [Submission(p.parent.name, p.parent, {name: p}) for p in paths]
        start = time.perf_counter()
        grade_all(submissions, {name: autograder}, {name: questions(autograder)}, jobs, LIMITS, {name: _skip(name)}, progress=False)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        for path in tqdm(paths, desc="otter run", unit="notebook"):
            out = path.parent / "otter-out"
            out.mkdir()
            subprocess.run([sys.executable, "-m", "otter", "run", "-a", str(autograder), "-o", str(out), str(path)],
                           cwd=path.parent, capture_output=True, check=False, timeout=3600)
        otter = time.perf_counter() - start
    return {"notebooks": len(paths), "ours": ours, "otter": otter}


def bench_boundary(name: str) -> dict[str, dict]:
    """Per mode (this host's sandbox, and ``unsafe``): seconds for a zygote to start, and median wall and CPU seconds to
    grade the reference and the blank of ``name`` on it, ``REPEATS`` times each."""
    autograder = course().autograder(name)
    results = {}
    for mode in (sandbox.isolation_mode(unsafe_allowed=False), "unsafe"):
        start = time.perf_counter()
        zygote = Zygote(mode)
        zygote.wait_ready()
        results[mode] = {"start": time.perf_counter() - start}
        try:
            for example in ("reference", "blank"):
                with tempfile.TemporaryDirectory() as tmp:
                    path = _example(name, example, Path(tmp))
                    runs = [grade_notebook(path, autograder, LIMITS, _skip(name), zygote, threads=GRADING_THREADS) for _ in range(REPEATS)]
                results[mode][example] = (statistics.median(o.seconds for o in runs), statistics.median(o.cpu for o in runs))
        finally:
            zygote.close()
    return results


SYNTHETIC_REASONS = [  # reasons shaped like the engine's, with numbers that vary from student to student
    "AssertionError: quantized weights (conv_like): values differ from the expected ones; {a} of 450 differ, "
    "e.g. [{b}] got {c} expected {d}",
    "AssertionError: dtype: expected torch.float32, got torch.int64",
    "TypeError: unsupported operand type(s) for *: 'NoneType' and 'float'",
    "AssertionError: accuracy {a}.{b}% is below the threshold of {c}% (fp32: {d}%)",
    "RuntimeError: The size of tensor a ({a}) must match the size of tensor b ({b}) at non-singleton dimension 1",
]


def synthetic_reason(chance: random.Random) -> str:
    """One of ``SYNTHETIC_REASONS`` with its numbers drawn from ``chance``."""
    return chance.choice(SYNTHETIC_REASONS).format(**{k: chance.randint(1, 99) for k in "abcd"})


NOT_IMPLEMENTED = "not implemented (the stub still raises NotImplementedError)"


def synthetic_class(size: int = CLASS_SIZE, seed: int = 0) -> tuple[list[Row], dict[tuple[str, str], Outcome]]:
    """Rows and outcomes of a made-up class of ``size`` students over every released notebook, without grading: about 8%
    hand in blank notebooks, 3% miss a notebook, 1% time out, the others lose random test cases (2 to 4 per question)
    with the reasons of ``SYNTHETIC_REASONS``. For ``make bench`` and the report's size test."""
    chance = random.Random(seed)
    released = {name: questions(course().autograder(name)) for name in course().released()}
    rows, outcomes = [], {}
    for index in range(size):
        student = f"student{index:03d}"
        blank = chance.random() < 0.08
        for notebook, question_list in released.items():
            draw = chance.random()
            if draw < 0.03:
                outcome = Outcome("missing", f"no {notebook}.ipynb in {student}")
            elif draw < 0.04:
                outcome = Outcome("timeout", "the notebook ran longer than 600 s", seconds=600.0)
            else:
                graded = {}
                for question in question_list:
                    cases = [f"{question.name} - {case}" for case in range(1, chance.randint(2, 4) + 1)]
                    lost = cases if blank else [c for c in cases if chance.random() < 0.25]
                    failures = [f"{case}: {NOT_IMPLEMENTED if blank else synthetic_reason(chance)}" for case in lost]
                    graded[question.name] = {
                        "score": question.points * (1 - len(lost) / len(cases)),
                        "possible": question.points,
                        "failures": failures,
                    }
                outcome = Outcome("graded", "", graded, seconds=chance.uniform(2, 30))
            outcomes[(student, notebook)] = outcome
            rows += rows_for(student, notebook, question_list, outcome)
    return rows, outcomes


def bench_report(size: int = CLASS_SIZE) -> dict:
    """Bytes of ``report.html`` for ``synthetic_class(size)`` and the seconds to write it."""
    rows, outcomes = synthetic_class(size)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_report(rows, outcomes, Path(tmp) / "report.html")
        seconds = time.perf_counter() - start
        return {"students": size, "rows": len(rows), "bytes": (Path(tmp) / "report.html").stat().st_size, "seconds": seconds}


def bench_diagnosis(name: str, zygote: Zygote) -> dict:
    """The cost of naming mistakes (``grading.diagnosis``) in grading ``name``: the mistakes file's size and load time, and
    the grader's CPU seconds spent matching failed cases, over the first catalogued mutant of each function graded
    on the questions naming it (as ``make mutation``'s first round), against those notebooks' whole grading CPU."""
    from . import mutation
    from .grading import diagnosis
    from .grading.autograders import otter_tests

    autograder = course().autograder(name)
    tests = otter_tests(autograder)
    fixture_bytes = course().fixture(name).read_bytes()
    start = time.thread_time()
    stored = diagnosis.load_mistakes(name, tests, fixture_bytes)
    result = {"bytes": course().mistakes(name).stat().st_size if stored else 0, "load": time.thread_time() - start,
              "explain": 0.0, "cases": 0, "named": 0, "grading": 0.0, "mutants": 0}
    explain = diagnosis.explain

    def timed(*args, **kwargs):
        begin = time.thread_time()
        said = explain(*args, **kwargs)
        result["explain"] += time.thread_time() - begin
        result["cases"] += 1
        result["named"] += said is not None
        return said

    reference = nbformat.read(course().example("reference", name), as_version=4)
    code = "\n".join(c.source for c in reference.cells if c.cell_type == "code")
    questions_of = mutation.testing_questions(autograder)
    firsts = list({m.function: m for m in reversed(mutation.catalog(name))}.values())
    diagnosis.explain = timed
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for mutant in firsts:
                path = Path(tmp) / f"{name}.ipynb"
                nbformat.write(mutation.mutate(reference, mutant), path)
                only = mutation.rounds(mutation.questions_using(mutant, questions_of, code), questions_of)[0]
                outcome = grade_notebook(path, autograder, LIMITS, _skip(name), zygote, threads=GRADING_THREADS, only=only)
                result["grading"] += outcome.cpu
                result["mutants"] += 1
    finally:
        diagnosis.explain = explain
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results.md"))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", os.cpu_count() or 1)), help="parallel graders")
    parser.add_argument("notebooks", nargs="*", help="default: every master in solution/")
    args = parser.parse_args()
    names = args.notebooks or course().masters()
    lines = [
        "# compresslab benchmark",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}. Grading mode (time-only cells skipped), one notebook at a time with {GRADING_THREADS} torch thread "
        "unless stated.",
        "",
        "| notebook | master top to bottom, nbclient (s) | grade reference: wall (s) | CPU (s) | grader's own cost (s) | score "
        "| grade blank: wall (s) | CPU (s) | score |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    cpu_per_student = cpu_complete = overheads = 0.0
    for name in names:
        r = bench_notebook(name)
        ref, blank = r["reference"], r["blank"]
        cpu_per_student += (ref.cpu + blank.cpu) / 2
        cpu_complete += ref.cpu
        overheads += ref.seconds - ref.busy
        lines.append(
            f"| {name} | {r['run']:.1f} | {ref.seconds:.1f} | {ref.cpu:.1f} | {ref.seconds - ref.busy:.2f} | {'%g/%g' % _score(ref)} "
            f"| {blank.seconds:.1f} | {blank.cpu:.1f} | {'%g/%g' % _score(blank)} |"
        )
        print(lines[-1], flush=True)
    hours, hours_complete = (CLASS_SIZE * cpu / args.jobs / 3600 for cpu in (cpu_per_student, cpu_complete))
    lines += [
        "",
        f"CPU per notebook, mean of reference and blank over {len(names)} notebooks: {cpu_per_student / len(names):.1f} s; "
        f"reference only (a class of complete submissions): {cpu_complete / len(names):.1f} s (target: at most 6 s). "
        f"Grader's own cost per notebook (wall minus cells and tests): {overheads / len(names):.2f} s on average (target: at most 1 s).",
        "",
        f"Projected: {CLASS_SIZE} students x {len(names)} notebooks on {args.jobs} cores: {hours:.2f} h of wall time "
        f"({cpu_per_student:.1f} CPU s per student, half complete and half blank); {hours_complete:.2f} h if every submission is "
        f"complete ({cpu_complete:.1f} CPU s per student).",
    ]
    boundary = bench_boundary("int8_cnn" if "int8_cnn" in names else names[0])
    lines += [
        "",
        f"Cost of the isolation boundary (int8_cnn, one zygote, median of {REPEATS} gradings each):",
        "",
        "| mode | zygote start (s) | grade reference: wall (s) | CPU (s) | grade blank: wall (s) | CPU (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for mode, r in boundary.items():
        lines.append(
            f"| {mode} | {r['start']:.1f} | {r['reference'][0]:.2f} | {r['reference'][1]:.2f} | {r['blank'][0]:.2f} | {r['blank'][1]:.2f} |"
        )
    sandboxed, unsafe = boundary.values()
    lines += [
        "",
        f"The sandbox adds {sandboxed['blank'][0] - unsafe['blank'][0]:+.2f} s wall and {sandboxed['blank'][1] - unsafe['blank'][1]:+.2f} "
        f"s CPU per notebook (blank), {sandboxed['start'] - unsafe['start']:+.1f} s per zygote start.",
    ]
    print("\n".join(lines[-8:]))
    t = bench_throughput(names[0] if "int8_cnn" not in names else "int8_cnn", args.jobs)
    lines += [
        "",
        f"| {t['notebooks']} notebooks (int8_cnn, {COPIES} references + {COPIES} blanks) | wall (s) | notebooks per minute |",
        "| --- | --- | --- |",
        f"| compresslab grader, {args.jobs} at a time | {t['ours']:.1f} | {60 * t['notebooks'] / t['ours']:.1f} |",
        f"| sequential `otter run` loop | {t['otter']:.1f} | {60 * t['notebooks'] / t['otter']:.1f} |",
        "",
        f"Throughput: {t['otter'] / t['ours']:.1f}x a sequential `otter run` loop (target: at least 3x).",
    ]
    print("\n".join(lines[-8:]))
    report = bench_report()
    lines += ["", f"report.html for a generated class of {report['students']} students ({report['rows']} question rows, every released "
              f"notebook): {report['bytes']:,} bytes ({report['bytes'] / 2**20:.2f} MiB; the test keeps it under 5 MB), written in "
              f"{report['seconds']:.1f} s."]
    print(lines[-1])

    lines += [
        "",
        "Cost of naming the mistake (`grading.diagnosis`, in the grader's process): the first catalogued mutant of each "
        "function graded on the questions naming it, one zygote:",
        "",
        "| notebook | mistakes file (KB) | load, once per batch (ms) | mutants | failed cases matched | named | matching CPU (ms) | per "
        "notebook (ms) | share of grading CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    zygote = Zygote()
    try:
        for name in names:
            d = bench_diagnosis(name, zygote)
            lines.append(
                f"| {name} | {d['bytes'] / 1024:.0f} | {1000 * d['load']:.1f} | {d['mutants']} | {d['cases']} | {d['named']} | "
                f"{1000 * d['explain']:.1f} | {1000 * d['explain'] / max(1, d['mutants']):.2f} | "
                f"{100 * d['explain'] / max(d['grading'], 1e-9):.2f}% |"
            )
            print(lines[-1], flush=True)
    finally:
        zygote.close()
    lines += ["", f"Budget: at most {DIAGNOSIS_BUDGET_MS:g} ms of matching per graded notebook (the mutants' outputs are recorded by "
              "`make fixtures`, so nothing runs on a student's behalf)."]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
