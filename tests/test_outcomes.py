"""Outcome-graded questions (``compresslab.outcomes``, ``compresslab.quantized_handin``): a handed-in model or bit-width
choice earns its points only when it is what it claims and meets the stated threshold, and every file that is missing,
unreadable, hostile or lying gets a clear status and message, in every output.

The first tests call ``grade_handed_in`` directly (our own code path, for the many malformed files); then the real
surfaces: a class of hostile hand-ins graded by the real CLI (``python -m compresslab.grading.cli``, what ``make grade``
runs, here with a Canvas roster), the bundled examples as ``make grade`` grades them (the session fixture ``graded``),
``grader.export`` in a real Jupyter kernel, and grading mode with an open-ended cell that must never run.
"""

import csv
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from compresslab.bundle import module_closure
from compresslab.checkpoints import embedded_digits, normalization_of, pretrained_info
from compresslab.data import load_dataset
from compresslab.grading import grading_mode
from compresslab.grading.engine import Limits
from compresslab.grading.leaderboard import ranking
from compresslab.grading.runner import grade_notebook
from compresslab.grading.submissions import collect
from compresslab.hidden.common import grading_digits
from compresslab.outcomes import MAX_HANDED_IN_BYTES, BitwidthsQuestion, QuantizedModelQuestion, handed_in_files, outcome_questions
from compresslab.quantized_handin import QUANTIZED_MODEL_FORMAT, HandedInResult, grade_handed_in

from conftest import EXAMPLES, ROOT

NOTEBOOK = "sawb_qat"
QUESTIONS = {q.question: q for q in outcome_questions(NOTEBOOK)}
W4A4, W8A8, BITS = QUESTIONS["q12"], QUESTIONS["q13"], QUESTIONS["q14"]
FP32 = pretrained_info("resnet20")["fp32_accuracy"]


def _saved(name: str) -> dict:
    return torch.load(EXAMPLES / "reference" / name, weights_only=True)


def _write(tmp_path: Path, content: dict, name: str = "model.pt") -> Path:
    path = tmp_path / name
    torch.save(content, path)
    return path


def test_the_questions_are_declared_as_the_notebook_states_them():
    assert isinstance(W4A4, QuantizedModelQuestion) and (W4A4.file, W4A4.weight_bits, W4A4.act_bits, W4A4.points) == ("ResNet20_W4A4.pt", 4, 4, 4)
    assert isinstance(W8A8, QuantizedModelQuestion) and (W8A8.file, W8A8.weight_bits, W8A8.act_bits, W8A8.points) == ("ResNet20_W8A8.pt", 8, 8, 2)
    assert isinstance(BITS, BitwidthsQuestion) and BITS.file == "variable_precision.json"
    master = (ROOT / "solution" / f"{NOTEBOOK}.ipynb").read_text()
    for question in (W4A4, W8A8, BITS):  # the thresholds the notebook states are the ones graded
        assert f"**{FP32 - question.max_drop:.2f}%**" in master, question


@pytest.mark.parametrize("question", [W4A4, W8A8, BITS], ids=lambda q: q.question)
def test_the_reference_examples_files_earn_full_points(question):
    result = grade_handed_in(question, EXAMPLES / "reference" / question.file)
    assert (result.status, result.score) == ("graded", question.points), result.message
    assert result.accuracy >= FP32 - question.max_drop and "meets the threshold" in result.message


def test_the_students_self_check_grades_on_the_graders_data_and_ships_without_the_examples():
    """``grade_handed_in`` is the same function for the notebook's self-check and for the grader, on the same data: the
    embedded dataset the hidden tests grade on (``hidden.common.grading_digits``), loaded once per process. The examples'
    files are made outside the student-facing module."""
    assert grading_digits() is embedded_digits("resnet20")
    fresh = load_dataset("digits", normalization=normalization_of("resnet20"))
    for split in ("train", "test"):
        for cached, loaded in zip(getattr(grading_digits(), split).dataset.tensors, getattr(fresh, split).dataset.tensors):
            assert torch.equal(cached, loaded), split
    closure = {path.name for path in module_closure(["from compresslab.quantized_handin import grade_handed_in, save_handed_in"])}
    assert "handed_in_examples.py" not in closure and "common.py" not in closure


def test_a_model_below_its_threshold_gets_nothing_and_says_so():
    result = grade_handed_in(W4A4, EXAMPLES / "partial" / W4A4.file)  # 2-bit weights: a true W4A4 model, but 57.8%
    assert (result.status, result.score) == ("graded", 0.0)
    assert result.accuracy < FP32 - W4A4.max_drop and "below the threshold 97.72%" in result.message, result.message


def test_float_weights_declared_8_bit_are_off_the_grid():
    result = grade_handed_in(W8A8, EXAMPLES / "partial" / W8A8.file)
    assert (result.status, result.score) == ("graded", 0.0) and result.accuracy is None  # never evaluated
    assert "is not the model it claims to be" in result.message and "not whole multiples of weight_scale" in result.message


def test_8_bit_weights_declared_4_bit_need_more_bits_than_they_claim(tmp_path):
    saved = _saved(W8A8.file)  # an honest W8A8 model, relabelled W4A4 with the same scales
    for name, entry in saved["layers"].items():
        if name not in ("conv1", "fc"):
            entry["weight_bits"] = entry["act_bits"] = 4
    result = grade_handed_in(W4A4, _write(tmp_path, saved))
    assert result.score == 0.0 and "weights need more than 4 bits" in result.message, result.message


def test_a_model_declaring_more_bits_than_the_question_allows_gets_nothing():
    result = grade_handed_in(W4A4, EXAMPLES / "reference" / W8A8.file)  # handed in under the W4A4 name
    assert result.score == 0.0 and "layer1.0.conv1 declares W8A8, more than the W4A4 allowed" in result.message, result.message


def test_a_missing_file_is_missing():
    result = grade_handed_in(W4A4, None)
    assert (result.status, result.score) == ("missing", 0.0) and "no ResNet20_W4A4.pt beside the notebook" in result.message


class _Payload:
    """Unpickling this would run ``os.system``: ``weights_only`` must refuse it before."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _state_with(change) -> dict:
    saved = _saved(W4A4.file)
    change(saved)
    return saved


MALFORMED = {
    "not a dict": (lambda: [1, 2, 3], "not a quantized model in the notebook's format"),
    "run_table1's format": (lambda: {"state_dict": _saved(W4A4.file)["state_dict"], "method": "sawb"}, "not a quantized model in the notebook's format"),
    "not a state dict": (lambda: _state_with(lambda s: s.update(state_dict="weights")), "'state_dict' is not a dict of tensors"),
    "a layer removed": (lambda: _state_with(lambda s: s["state_dict"].pop("layer3.2.conv2.weight")), "missing layer3.2.conv2.weight"),
    "a layer added": (lambda: _state_with(lambda s: s["state_dict"].update({"fc2.weight": torch.zeros(10, 10)})), "unexpected fc2.weight"),
    "a wrong shape": (lambda: _state_with(lambda s: s["state_dict"].update({"fc.weight": torch.zeros(10, 32)})), "fc.weight has shape (10, 32)"),
    "a wrong dtype": (lambda: _state_with(lambda s: s["state_dict"].update({"fc.bias": s["state_dict"]["fc.bias"].double()})), "dtype torch.float64"),
    "NaN weights": (lambda: _state_with(lambda s: s["state_dict"]["conv1.weight"].fill_(float("nan"))), "NaN or infinite"),
    "no layers": (lambda: _state_with(lambda s: s.pop("layers")), "'layers' must give"),
    "a zero scale": (lambda: _state_with(lambda s: s["layers"]["fc"].update(input_scale=0.0)), "positive finite numbers"),
    "bits as text": (lambda: _state_with(lambda s: s["layers"]["fc"].update(weight_bits="8")), "whole numbers 1 to 32"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_model_is_invalid_with_its_reason(case, tmp_path):
    make, reason = MALFORMED[case]
    result = grade_handed_in(W4A4, _write(tmp_path, make()))
    assert (result.status, result.score) == ("invalid", 0.0) and reason in result.message, result.message


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    result = grade_handed_in(W4A4, _write(tmp_path, {"format": QUANTIZED_MODEL_FORMAT, "state_dict": _Payload(marker)}))
    assert (result.status, result.score) == ("invalid", 0.0) and "torch.load(weights_only=True)" in result.message, result.message
    assert not marker.exists()
    plain = tmp_path / "plain.pt"  # a plain pickle, not a torch file at all
    plain.write_bytes(pickle.dumps(_Payload(marker)))
    assert grade_handed_in(W4A4, plain).status == "invalid" and not marker.exists()


def test_an_oversized_file_is_not_loaded(tmp_path):
    path = tmp_path / "big.pt"
    path.write_bytes(b"\0" * (MAX_HANDED_IN_BYTES + 1))
    result = grade_handed_in(W4A4, path)
    assert result.status == "invalid" and "larger than 4 MiB" in result.message


BAD_BITWIDTHS = {
    "not JSON": ("{bits: 3", "not valid JSON"),
    "not an object": ("[3, 3]", "expected {\"bitwidths\""),
    "a layer missing": (json.dumps({"bitwidths": {"conv1": 4}}), "exactly ResNet-20's 22 layers"),
    "1 bit": (None, "whole numbers from 2 to 8"),
    "a float": (None, "whole numbers from 2 to 8"),
}


@pytest.mark.parametrize("case", list(BAD_BITWIDTHS))
def test_malformed_bit_widths_are_invalid(case, tmp_path):
    text, reason = BAD_BITWIDTHS[case]
    if text is None:
        bitwidths = json.loads((EXAMPLES / "reference" / BITS.file).read_text())
        bitwidths["bitwidths"]["layer2.0.conv1"] = 1 if case == "1 bit" else 3.0
        text = json.dumps(bitwidths)
    path = tmp_path / BITS.file
    path.write_text(text)
    result = grade_handed_in(BITS, path)
    assert (result.status, result.score) == ("invalid", 0.0) and reason in result.message, result.message


def test_bit_widths_below_the_constraint_get_nothing_and_the_grader_measures_the_size(tmp_path):
    names = json.loads((EXAMPLES / "reference" / BITS.file).read_text())["bitwidths"]
    path = tmp_path / BITS.file
    path.write_text(json.dumps({"bitwidths": {name: 2 for name in names}}))
    result = grade_handed_in(BITS, path)
    assert (result.status, result.score) == ("graded", 0.0) and "below the threshold" in result.message
    reference = grade_handed_in(BITS, EXAMPLES / "reference" / BITS.file)
    assert result.size_bits < reference.size_bits and reference.size_bits == sum(  # 3 bits per weight, 32 per other parameter
        (3 if ("conv" in k or "shortcut.0" in k or k == "fc.weight") and k.endswith("weight") else 32) * v.numel()
        for k, v in _saved(W4A4.file)["state_dict"].items() if "running" not in k and "num_batches" not in k)


def test_the_leaderboard_ranks_smallest_first_and_leaves_out_who_missed():
    results = {("ada", NOTEBOOK, "q14"): HandedInResult("graded", 4.0, "", 98.0, 9000),
               ("bob", NOTEBOOK, "q14"): HandedInResult("graded", 4.0, "", 99.0, 8000),
               ("cy", NOTEBOOK, "q14"): HandedInResult("graded", 0.0, "", 50.0, 100),
               ("dee", NOTEBOOK, "q14"): HandedInResult("graded", 4.0, "", 99.5, 9000)}
    assert [student for student, _ in ranking(results, NOTEBOOK, "q14")] == ["bob", "dee", "ada"]


# ---------------------------------------------------------------- the real surfaces


def test_make_grade_grades_the_examples_files_and_ranks_them(graded):
    rows, out = graded[0], graded[5]
    got = {(r["student"], r["question"]): (float(r["score"]), r["status"], r["message"]) for r in rows
           if r["notebook"] == NOTEBOOK and r["question"] in QUESTIONS}
    for question in QUESTIONS.values():
        assert got[("reference", question.question)][:2] == (question.points, "graded")
        assert got[("blank", question.question)][:2] == (0.0, "missing") and f"no {question.file} beside" in got[("blank", question.question)][2]
    assert got[("partial", "q12")][:2] == (0.0, "graded") and "below the threshold" in got[("partial", "q12")][2]
    assert got[("partial", "q13")][:2] == (0.0, "graded") and "not the model it claims" in got[("partial", "q13")][2]
    assert got[("partial", "q14")][:2] == (4.0, "graded")
    report = (out / "report.html").read_text()
    board = report[report.index("<h2>Leaderboard</h2>"):report.index("<h2>Hand grading</h2>")]
    assert board.index("<td>reference</td>") < board.index("<td>partial</td>") and "105.4" in board and "138.4" in board
    feedback = (out / "feedback" / "partial" / f"{NOTEBOOK}.md").read_text()
    assert "| q12 | 0 / 4 |" in feedback and "below the threshold 97.72%" in feedback


def _hostile_class(root: Path) -> Path:
    """One student per way to hand in (each with the blank notebook, so only the handed-in files score)."""
    blank, reference = EXAMPLES / "blank" / f"{NOTEBOOK}.ipynb", EXAMPLES / "reference"
    subs = root / "submissions"

    def student(name: str, files: dict[str, bytes], notebook_folder: str = "") -> Path:
        folder = subs / name / notebook_folder
        folder.mkdir(parents=True)
        shutil.copyfile(blank, folder / f"{NOTEBOOK}.ipynb")
        for file, content in files.items():
            (folder / file).write_bytes(content)
        return folder

    good = {q.file: (reference / q.file).read_bytes() for q in QUESTIONS.values()}
    with zipfile.ZipFile(subs.parent / "zipped.zip", "w") as archive:  # an export zip, notebook one folder down
        archive.write(blank, f"export/{NOTEBOOK}.ipynb")
        for file, content in good.items():
            archive.writestr(f"export/{file}", content)
    subs.mkdir()
    shutil.move(subs.parent / "zipped.zip", subs / "zipped.zip")
    student("folder", good, "deep/down")
    student("oversize", {W4A4.file: b"\0" * (MAX_HANDED_IN_BYTES + 10)})
    buffer = io.BytesIO()
    torch.save({"format": QUANTIZED_MODEL_FORMAT, "state_dict": _Payload(root / "pwned")}, buffer)
    student("code", {W4A4.file: buffer.getvalue()})
    student("liar", {W8A8.file: (EXAMPLES / "partial" / W8A8.file).read_bytes()})
    student("elsewhere", {})
    (subs / "elsewhere" / "models").mkdir()
    (subs / "elsewhere" / "models" / W4A4.file).write_bytes(good[W4A4.file])  # not beside the notebook
    student("linked", {})
    os.symlink(reference / W4A4.file, subs / "linked" / W4A4.file)
    return subs


def test_the_cli_grades_a_hostile_class_into_every_output(tmp_path):
    subs, out = _hostile_class(tmp_path), tmp_path / "grades"
    roster = tmp_path / "roster.csv"
    students = ["zipped", "folder", "oversize", "code", "liar", "elsewhere", "linked"]
    with open(roster, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section"])
        writer.writerows([[name, i, f"S{i}", name, "A"] for i, name in enumerate(students)])
    done = subprocess.run([sys.executable, "-m", "compresslab.grading.cli", str(subs), "--out", str(out), "--notebooks", NOTEBOOK,
                           "--jobs", "1", "--roster", str(roster)], capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "pwned").exists()
    with open(out / "scores.csv", newline="") as f:
        rows = {(r["student"], r["question"]): r for r in csv.DictReader(f)}

    def row(student, question):
        r = rows[(student, question)]
        return float(r["score"]), r["status"], r["message"]

    for student in ("zipped", "folder"):
        assert [row(student, q)[:2] for q in QUESTIONS] == [(q.points, "graded") for q in QUESTIONS.values()], student
    assert row("oversize", "q12")[:2] == (0.0, "invalid") and "over the 4 MiB limit for a handed-in file" in row("oversize", "q12")[2]
    assert row("code", "q12")[:2] == (0.0, "invalid") and "weights_only=True" in row("code", "q12")[2]
    assert row("liar", "q13")[:2] == (0.0, "graded") and "not the model it claims" in row("liar", "q13")[2]
    assert row("elsewhere", "q12")[:2] == (0.0, "missing")
    assert row("linked", "q12")[:2] == (0.0, "invalid") and "symbolic link" in row("linked", "q12")[2]
    with open(out / "gradebook.csv", newline="") as f:
        book = {line["student"]: line for line in csv.DictReader(f)}
    assert float(book["folder"]["sawb_qat/q12"]) == 4 and float(book["folder"]["total"]) == sum(q.points for q in QUESTIONS.values())
    assert "missing" in book["elsewhere"]["status"] and "no ResNet20_W4A4.pt beside the notebook" in book["elsewhere"]["message"]
    with open(out / "canvas.csv", newline="") as f:
        canvas = {line["SIS Login ID"]: line for line in csv.DictReader(f)}
    column = f"compresslab {NOTEBOOK} (points)"
    assert float(canvas["folder"][column]) == sum(q.points for q in QUESTIONS.values()) and float(canvas["liar"][column]) == 0
    feedback = (out / "feedback" / "code" / f"{NOTEBOOK}.md").read_text()
    assert "| q12 | 0 / 4 |" in feedback and "weights_only=True" in feedback
    report = (out / "report.html").read_text()
    board = report[report.index("<h2>Leaderboard</h2>"):]
    assert "2 of the 2 configurations handed in" in board and board.index("<td>folder</td>") < board.index("<td>zipped</td>")  # a tie: by name


def test_collect_finds_files_beside_the_notebook_only(tmp_path):
    subs = _hostile_class(tmp_path)
    found = {s.student: s for s in collect(subs, [NOTEBOOK], tmp_path / "scratch")}
    assert set(found["zipped"].handed_in[NOTEBOOK]) == set(found["folder"].handed_in[NOTEBOOK]) == set(handed_in_files(NOTEBOOK))
    assert found["elsewhere"].handed_in == {} and found["linked"].problem and "symbolic link" in found["linked"].problem
    assert isinstance(found["oversize"].handed_in[NOTEBOOK][W4A4.file], str)


def test_export_packs_the_handed_in_files_beside_the_notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"from compresslab.handin import StudentNotebook\ngrader = StudentNotebook({NOTEBOOK!r})"),
                                         nbformat.v4.new_code_cell("grader.export(pdf=False)")],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                            "otter": {"OK_FORMAT": False, "assignment_name": NOTEBOOK, "tests": {}}})
    nbformat.write(nb, tmp_path / f"{NOTEBOOK}.ipynb")
    shutil.copyfile(EXAMPLES / "reference" / W4A4.file, tmp_path / W4A4.file)
    os.symlink(EXAMPLES / "reference" / W8A8.file, tmp_path / W8A8.file)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert f"Packed {tmp_path / W4A4.file}" in printed
    assert f"WARNING: {W8A8.file} is a symbolic link" in printed and f"WARNING: no {BITS.file}" in printed
    (written,) = tmp_path.glob(f"{NOTEBOOK}_*.zip")
    with zipfile.ZipFile(written) as archive:
        assert archive.read(W4A4.file) == (EXAMPLES / "reference" / W4A4.file).read_bytes()
        assert {f"{NOTEBOOK}.ipynb", W4A4.file} <= set(archive.namelist()) and W8A8.file not in archive.namelist()
    (tmp_path / "class" / "ada").mkdir(parents=True)
    shutil.copyfile(written, tmp_path / "class" / "ada" / written.name)  # an LMS download: the export zip in the student's folder
    (student,) = collect(tmp_path / "class", [NOTEBOOK], tmp_path / "scratch")
    assert set(student.handed_in[NOTEBOOK]) == {W4A4.file}


def test_the_open_ended_cell_never_runs_when_grading(tmp_path, zygote):
    nb = nbformat.read(EXAMPLES / "reference" / f"{NOTEBOOK}.ipynb", as_version=4)
    (index,) = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(grading_mode.OPEN_ENDED_MARKER)]
    nb.cells[index].source = f"{grading_mode.OPEN_ENDED_MARKER} (a student's training)\nimport os\nos._exit(3)  # would crash the notebook if run"
    path = tmp_path / f"{NOTEBOOK}.ipynb"
    nbformat.write(nb, path)
    skip = grading_mode.marked_sources(nbformat.read(ROOT / "assignment" / f"{NOTEBOOK}.ipynb", as_version=4))
    outcome = grade_notebook(path, ROOT / "autograder" / f"{NOTEBOOK}-autograder.zip", Limits(notebook_seconds=1800), skip, zygote)
    assert outcome.status == "graded", outcome.message
    assert all(q["score"] == q["possible"] for q in outcome.questions.values()), outcome.questions
