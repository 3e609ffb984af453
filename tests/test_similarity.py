"""Copied code flagged per graded function (``compresslab.grading.similarity``), on a class of independent solutions
with planted copies (``tests/similarity_class``): the copies rank first, no honest pair is flagged, and short functions
everyone writes alike are never flagged. These tests run the similarity module on notebooks built from the release;
``tests/test_html_report.py`` runs it through ``make grade``'s CLI."""

import ast
import json
import re
from pathlib import Path

import pytest
from copydetect.utils import filter_code

from compresslab.grading import similarity
from compresslab.stubs import STUB_MARKER
from compresslab.grading.similarity import MIN_LENGTH, class_pairs, graded_functions, normalise, threshold

ROOT = Path(__file__).resolve().parent.parent
CLASS_DIR = Path(__file__).resolve().parent / "similarity_class"
RELEASE = ROOT / "assignment" / "int8_cnn.ipynb"
HONEST = ["ada", "ben", "chen", "dana", "eli", "fay"]
COPIES = {"gus": "ben", "hal": "dana"}  # copier -> the student copied
SHORT = "NetQuantized.quantize_initial_input"  # ada, chen, eli and fay wrote it alike, independently


def student_notebook(student: str) -> dict:
    """The release notebook with each graded function's stub replaced by the student's body from ``CLASS_DIR``
    (sections ``# == <function>``; ``# == helpers`` becomes a new code cell)."""
    sections = {}
    for part in re.split(r"(?m)^# == ", (CLASS_DIR / f"{student}.txt").read_text())[1:]:
        name, _, body = part.partition("\n")
        sections[name.strip()] = body.rstrip("\n")
    notebook = json.loads(RELEASE.read_text())
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or STUB_MARKER not in source:
            continue
        lines = source.splitlines()
        for name, node in sorted(similarity._functions(ast.parse(source)), key=lambda item: -item[1].lineno):
            if name in sections:
                stub = next(i for i in range(node.lineno - 1, node.end_lineno) if STUB_MARKER in lines[i])
                indent = lines[stub][:len(lines[stub]) - len(lines[stub].lstrip())]
                assert "raise NotImplementedError" in lines[stub + 1]
                lines[stub:stub + 2] = [indent + line if line.strip() else "" for line in sections[name].splitlines()]
        cell["source"] = "\n".join(lines)
    if "helpers" in sections:
        notebook["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": sections["helpers"]})
    return notebook


def write_class(folder: Path, students: list[str]) -> dict[str, Path]:
    """One folder per student holding their ``int8_cnn.ipynb``; student -> notebook path."""
    paths = {}
    for student in students:
        path = folder / student / "int8_cnn.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(student_notebook(student)))
        paths[student] = path
    return paths


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> list:
    return class_pairs(ROOT / "assignment", {"int8_cnn": write_class(tmp_path_factory.mktemp("class"), HONEST + list(COPIES))})


def test_the_class_covers_every_compared_function_with_six_independent_solutions():
    compared = {"quantized_weights", "register_activation_profiling_hooks", "NetQuantized.quantize_activations", "NetQuantized.forward", SHORT}
    assert compared <= {f.name for f in graded_functions(RELEASE)}
    for student in HONEST + list(COPIES):
        text = (CLASS_DIR / f"{student}.txt").read_text()
        assert {f"# == {name}" for name in compared - ({SHORT} if student in COPIES else set())} <= set(text.splitlines()), student


def test_planted_copies_rank_first_and_no_honest_pair_is_flagged(pairs):
    copied = {frozenset(item) for item in COPIES.items()}
    for function in {"quantized_weights", "register_activation_profiling_hooks", "NetQuantized.quantize_activations", "NetQuantized.forward"}:
        ranked = [p for p in pairs if p.function == function]
        top = {frozenset((p.student_a, p.student_b)) for p in ranked[:len(copied)]}
        assert top == copied, f"{function}: {[(p.student_a, p.student_b, p.similarity) for p in ranked[:4]]}"
        honest = [p for p in ranked if frozenset((p.student_a, p.student_b)) not in copied]
        assert not any(p.flagged for p in honest), function
        for pair in ranked[:len(copied)]:  # a copy is flagged unless the function is too short to flag anyone
            assert pair.flagged == (pair.length >= MIN_LENGTH), (function, pair.student_a, pair.student_b, pair.similarity, pair.length)
    honest_alike = [p for p in pairs if p.similarity > 0.5 and p.length >= MIN_LENGTH and frozenset((p.student_a, p.student_b)) not in copied]
    assert len(honest_alike) >= 2  # honest solutions that share much (ada and chen's hooks: 0.57) are compared, not flagged
    flagged = {(p.function, p.student_a, p.student_b) for p in pairs if p.flagged}
    assert len(flagged) >= 7  # every copy of the four functions except ben's short quantize_activations
    assert pairs[0].flagged and [p.flagged for p in pairs] == sorted((p.flagged for p in pairs), reverse=True)


def test_a_short_function_everyone_writes_alike_is_never_flagged(pairs):
    alike = [p for p in pairs if p.function == SHORT and {p.student_a, p.student_b} <= {"ada", "chen", "eli", "fay"}]
    assert len(alike) == 6 and all(p.similarity == 1.0 for p in alike)  # the same code, honestly
    assert not any(p.flagged for p in alike) and all(threshold(p.length) > 1 for p in alike)


def test_the_threshold_falls_with_length_and_is_unreachable_below_the_minimum():
    assert threshold(MIN_LENGTH - 1) > 1 >= threshold(MIN_LENGTH)
    lengths = [MIN_LENGTH, 100, 150, 300, 1000]
    assert [threshold(n) for n in lengths] == sorted((threshold(n) for n in lengths), reverse=True)
    assert threshold(150) == pytest.approx(similarity.BASE_THRESHOLD + similarity.LENGTH_SCALE / 150)


def function_of(source: str, helpers: str = "") -> str:
    """normalise() of the function ``f`` in ``source``, with the top-level functions of ``helpers`` as the student's."""
    node = ast.parse(source).body[0]
    return normalise(node, {h.name: h for h in ast.parse(helpers).body})


def blanked(code: str) -> str:
    """The text copydetect fingerprints: identifiers and strings blanked."""
    return filter_code(code, "student.py", "python")[0]


def test_normalising_removes_names_comments_docstrings_and_the_order_of_independent_statements():
    original = function_of('def f(model, x):\n    """Doc."""\n    a = x.abs().max()  # largest\n    b = np.prod(x.shape)\n'
                           '    model.fc1.register_forward_hook(a)\n    model.fc2.register_forward_hook(b)\n    return a / b\n')
    reordered = function_of("def f(model, x):\n    # the count first\n    b = np.prod(x.shape)\n    a = x.abs().max()\n"
                            "    model.fc2.register_forward_hook(b)\n    model.fc1.register_forward_hook(a)\n\n    return a / b\n")
    assert "#" not in original and "Doc" not in original
    assert blanked(reordered) == blanked(original)  # statements of one shape keep their order: only their names differ


def test_dependent_statements_keep_their_order():
    first = function_of("def f(x):\n    x = x + 1\n    y = x * 2\n    return y\n")
    assert first.splitlines() == ["x = x + 1", "y = x * 2", "return y"]
    mutated = function_of("def f(m, v):\n    m.w.append(v)\n    n = len(m.w)\n    return n\n")
    assert mutated.splitlines()[0] == "m.w.append(v)"  # a method call may change its object: len() stays after it


def test_a_helper_is_inlined_where_it_is_called():
    helper = "def requant(t, s):\n    scaled = torch.round(t * s)\n    return torch.clamp(scaled, -128, 127)\n"
    calling = function_of("def f(self, x):\n    y = requant(x, self.scale)\n    return y\n", helper)
    nested = function_of(f"def f(self, x):\n    {helper.replace(chr(10), chr(10) + '    ')}\n    y = requant(x, self.scale)\n    return y\n")
    inlined = function_of("def f(self, x):\n    scaled = torch.round(x * self.scale)\n    y = torch.clamp(scaled, -128, 127)\n    return y\n")
    assert calling == inlined == nested


def test_the_release_code_is_not_counted(tmp_path):
    """Untouched stubs (the blank example) and the given lines of a stub share nothing that could pair students."""
    blank = json.loads((ROOT / "data" / "examples" / "blank" / "int8_cnn.ipynb").read_text())
    paths = {}
    for student in ("blank_a", "blank_b", "blank_c"):
        path = tmp_path / f"{student}.ipynb"
        path.write_text(json.dumps(blank))
        paths[student] = path
    assert class_pairs(ROOT / "assignment", {"int8_cnn": paths}) == []


def test_unparseable_cells_and_malformed_notebooks_are_skipped(tmp_path):
    broken = student_notebook("ada")
    broken["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "source": "def quantized_weights(w:\n    %time x\n"})
    broken["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "source": "(" * 200_000})
    deep = "class NetQuantized:\n    def forward(self, x):\n        return " + "-" * 600 + "x\n"  # parses, but nests beyond the stack
    broken["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "source": deep})
    (tmp_path / "a.ipynb").write_text(json.dumps(broken))
    (tmp_path / "b.ipynb").write_text(json.dumps(student_notebook("ada")))
    (tmp_path / "c.ipynb").write_text("{not json")
    pairs = class_pairs(ROOT / "assignment", {"int8_cnn": {name: tmp_path / f"{name}.ipynb" for name in "abc"}})
    assert {(p.student_a, p.student_b) for p in pairs} == {("a", "b")}
    assert "register_activation_profiling_hooks" in {p.function for p in pairs if p.flagged}
    assert "NetQuantized.forward" not in {p.function for p in pairs}  # a's last forward is the one too deep to compare


def test_a_huge_function_is_not_compared_and_helpers_do_not_multiply_the_work(tmp_path):
    helpers = "".join(f"def h{i}(t):\n" + "".join(f"    t = t + {j}\n" for j in range(19)) + "    return t\n" for i in range(50))
    calls = "".join(f"        x = h{i % 50}(x)\n" for i in range(1500))  # 1,500 calls of 20-statement helpers: 30,000 statements
    huge = "class NetQuantized:\n    def forward(self, x):\n" + "".join(f"        x = x + {i}\n" for i in range(2500)) + "        return x\n"
    for name, source in (("huge", huge), ("calls", "class NetQuantized:\n    def forward(self, x):\n" + calls + "        return x\n")):
        notebook = student_notebook("ada")
        notebook["cells"] += [{"cell_type": "code", "metadata": {}, "outputs": [], "source": code} for code in (helpers, source)]
        (tmp_path / f"{name}.ipynb").write_text(json.dumps(notebook))
    (tmp_path / "ada.ipynb").write_text(json.dumps(student_notebook("ada")))
    pairs = class_pairs(ROOT / "assignment", {"int8_cnn": {name: tmp_path / f"{name}.ipynb" for name in ("huge", "calls", "ada")}})
    forward = {(p.student_a, p.student_b) for p in pairs if p.function == "NetQuantized.forward"}
    assert not any("huge" in pair for pair in forward)  # over MAX_FUNCTION_CHARS: not compared
    assert ("ada", "calls") not in {(p.student_a, p.student_b) for p in pairs if p.function == "NetQuantized.forward" and p.flagged}
    assert ("ada", "huge") in {(p.student_a, p.student_b) for p in pairs if p.flagged}  # its other functions still are


def test_scores_do_not_depend_on_the_order_students_are_given(tmp_path):
    paths = write_class(tmp_path, HONEST + list(COPIES))
    forward = class_pairs(ROOT / "assignment", {"int8_cnn": paths})
    backward = class_pairs(ROOT / "assignment", {"int8_cnn": dict(reversed(list(paths.items())))})
    assert [(p.function, p.student_a, p.student_b, p.similarity) for p in forward] == [(p.function, p.student_a, p.student_b, p.similarity) for p in backward]
