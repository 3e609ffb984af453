"""Every catalogued wrong implementation loses points through the real grading path; partial
credit is graded (an edge-case slip loses less than a wholesale error); messages say what is
wrong and name the mistake; the README's table is the one these results give.

``make test`` grades the whole catalog of every notebook (each mutant first on the questions whose
tests name its function, as ``make mutation`` does); ``make mutation`` also writes the per-mutant
report ``mutation-results.md`` and rewrites the README table.
"""

import re
from collections import Counter

import pytest

from compresslab import mutation

from conftest import ROOT

PARTIAL_CREDIT_PAIRS = [  # (notebook, function, an edge-case slip, a wholesale error)
    ("int8_cnn", "quantized_weights", "for all-zero weights you divided by an epsilon instead of using scale 1", "you rounded with floor instead of round"),
    ("pruning", "fine_grained_prune", "you did not handle num_zeros == 0: kthvalue(0) fails at sparsity 0", "you compared with >= instead of >, keeping the weight at the threshold and its ties"),
    ("kmeans_linear", "get_quantization_scale_for_weight", "you left out the lower bound on max|w|, so an all-zero weight gets scale 0", "you took the maximum instead of the maximum absolute value"),
    ("kmeans_linear", "quantized_linear", "in the given code, you removed the clamp to the feature range", "you forgot the linear layer's output zero point"),
    ("sawb_qat", "linear_quantize", "you rounded halves away from zero instead of half to even", "you rounded with floor instead of round"),
    ("sawb_qat", "_quantize_func_STE", "you built the mask from the unrounded x / s - z", "your backward blocks the gradient (returns zeros)"),
]

PUBLIC_CATCHES = [  # (notebook, a common wrong answer, the public case that must fail, what its message must point at)
    ("int8_cnn", "your bias scale ignores the preceding layers' scales (ns) entirely", "q5 - 1", r"every pair in ns counts"),
    ("int8_cnn", "your fc1.activations records fc1's output before the ReLU instead of its input", "q3 - 1", r"fc1\.activations should be recorded after ReLU"),
    ("int8_cnn", "you overwrite the activations instead of appending, so only the last batch is kept", "q3 - 1", r"append with np\.append, do not overwrite"),
    ("sawb_qat", "your 3-sigma range uses the unbiased (n - 1) standard deviation", "q2 - 1", r"population std"),
    ("sawb_qat", "your MSE search never tries k = 100 (range(1, MSE_CANDIDATES))", "q2 - 2", r"did the search try k = 100"),
    ("sawb_qat", "you appended the same dict every step (no copy)", "q8 - 1", r"each entry must be a new dict"),
    ("sawb_qat", "you added the bias along the last (width) axis instead of per output channel", "q5 - 2", r"must broadcast along C_out"),
]
ONE_SLIP_ONE_CASE = [  # (notebook, a slip, the only test case it may fail)
    ("kmeans_linear", "as the seed's one-liner did: you divided the sum by the count, which gives NaN for an empty cluster", "q3 - 2"),
    ("kmeans_linear", "you rounded halves up, floor(x + 0.5), instead of half to even", "q4 - 6"),
    ("kmeans_linear", "you rounded halves away from zero, sign(x) * floor(|x| + 0.5), instead of half to even", "q4 - 6"),
    ("sawb_qat", "you broadcast the per-channel weight scale along the last (width) axis", "q5 - 4"),
]


@pytest.fixture(scope="module")
def results():
    return {name: mutation.run(name, mutation.catalog(name)) for name in mutation.catalogued_notebooks()}


def test_every_catalog_has_five_mutants_per_function():
    for notebook in mutation.catalogued_notebooks():
        mutants = mutation.catalog(notebook)
        for function in {m.function for m in mutants}:
            assert sum(m.function == function for m in mutants) >= 5, f"{notebook}/{function}: fewer than 5 mutants"


def test_every_mutant_is_described_to_the_student_with_a_hint():
    """The catalog is course material: each description speaks to the student ("you rounded with floor ..."), is one
    line and names one mistake of its notebook only (feedback and tests find a mutant by it); each mutant has a hint."""
    for notebook in mutation.catalogued_notebooks():
        mutants = mutation.catalog(notebook)
        for m in mutants:
            assert re.search(r"\byour?\b", m.description), f"{notebook}/{m.function}: {m.description!r} is not written to the student"
            assert "\n" not in m.description, f"{notebook}/{m.function}: {m.description!r} is not one line"
            assert m.hint.strip(), f"{notebook}/{m.function}: {m.description!r} has no hint"
        repeated = [d for d, n in Counter(m.description for m in mutants).items() if n > 1]
        assert not repeated, f"{notebook}: descriptions used by more than one mutant: {repeated}"


def test_every_mutant_loses_points(results):
    survivors = [f"{n}/{r.mutant.function}: {r.mutant.description}" for n, rows in results.items() for r in rows if not r.caught]
    assert not survivors, "mutants that earn full marks: " + "; ".join(survivors)
    assert all(len(results[n]) == len(mutation.catalog(n)) for n in mutation.catalogued_notebooks())


@pytest.mark.parametrize("notebook, function, edge_slip, wholesale_error", PARTIAL_CREDIT_PAIRS)
def test_an_edge_case_slip_loses_less_than_a_wholesale_error(results, notebook, function, edge_slip, wholesale_error):
    mine = {r.mutant.description: r for r in results[notebook] if r.mutant.function == function}
    edge, wholesale = mine[edge_slip], mine[wholesale_error]
    assert edge.possible == wholesale.possible, "both graded on the same questions"
    assert wholesale.score < edge.score < edge.possible


def test_every_mutant_is_named_in_its_own_feedback(results):
    """The graded feedback of every catalogued mistake says, in the catalog's words, which known mistake it behaves like
    (``grading.diagnosis``, from ``data/fixtures/<notebook>.mistakes.pt``): on at least one failing case, its own
    description among those named."""
    unnamed = []
    for notebook, rows in results.items():
        for r in rows:
            named = [m.split("known mistake: ", 1)[1] for m in r.messages if "known mistake: " in m]
            if not any(f"{r.mutant.description} (look at: {r.mutant.hint})" in said for said in named):
                unnamed.append(f"{notebook}/{r.mutant.function}: {r.mutant.description} (told: {' | '.join(r.messages)[:300]})")
    assert not unnamed, f"{len(unnamed)} mistakes not named in their feedback (run `make fixtures` if the catalog changed):\n" + "\n".join(unnamed)


def test_readme_mutation_table_is_the_measured_one(results):
    """The README's table (written by ``make mutation``) is the table these gradings give."""
    readme = (ROOT / "README.md").read_text()
    assert readme == mutation.readme_with_table(readme, mutation.table(results)), "run `make mutation` and commit README.md"


def test_messages_tell_the_student_what_is_wrong(results):
    """The failure message a wrong answer gets names the quantity, and shows values or the shape it got and expected."""
    by_description = {r.mutant.description: r for r in results["int8_cnn"]}

    def said(description):
        return " | ".join(by_description[description].messages)

    assert re.search(r"quantized weights of .*values differ.*got -?\d+ expected -?\d+", said("you rounded with floor instead of round"))
    assert re.search(r"weight scale \(expected 127 / max\|w\|\).*got [\d.]+ expected [\d.]+", said("you took max(w) instead of max(|w|), so negative extremes overflow"))
    assert re.search(r"fc1\.activations: expected shape \(\d+,\), got .* of shape \(\d+,\)", said("you overwrite the activations instead of appending, so only the last batch is kept"))
    assert re.search(r"quantized bias .*got 127 expected \d{3}", said("as seed 001 did: you clamped the int32 bias to the int8 range"))


def test_a_mutant_is_graded_first_on_the_questions_naming_its_function_or_an_alias():
    tests = {"q1": "def test_q1(linear_quantize_STE): ...", "q2": "def test_q2(other): ...", "q3": "def test_q3(Quantizer): ..."}
    step = mutation.Mutant("_quantize_func_STE", "a mistake", "class _quantize_func_STE(torch.autograd.Function):", ())
    assert mutation.questions_using(step, tests) is None, "no test names the class itself: every question"
    assert mutation.questions_using(step, tests, "linear_quantize_STE = _quantize_func_STE.apply\n") == {"q1"}
    method = mutation.Mutant("Quantizer.forward", "a mistake", "class Quantizer(nn.Module):", ())
    assert mutation.questions_using(method, tests) == {"q3"}


def test_mutants_are_graded_in_rounds_cheapest_first():
    tests = {"q1": "model = load_pretrained('vgg', cpu)", "q2": "check_equal(...)", "q3": "check_close(...)"}
    assert mutation.rounds(frozenset({"q1", "q2"}), tests) == [{"q2"}, {"q1", "q2"}, {"q1", "q2", "q3"}]
    assert mutation.rounds(None, tests) == [{"q2", "q3"}, {"q1", "q2", "q3"}]
    assert mutation.rounds(frozenset({"q1"}), tests) == [{"q1"}, {"q1", "q2", "q3"}]
    assert mutation.rounds(frozenset({"q1", "q2", "q3"}), tests) == [{"q2", "q3"}, {"q1", "q2", "q3"}]


@pytest.mark.parametrize("notebook, description, case, pointer", PUBLIC_CATCHES)
def test_a_common_wrong_answer_fails_a_public_check_that_says_what_to_look_at(results, notebook, description, case, pointer):
    result = {r.mutant.description: r for r in results[notebook]}[description]
    assert case in result.caught_by, f"{description}: the public case {case} does not fail (failing: {result.caught_by})"
    message = next(m for m in result.messages if case in m.split(":", 1)[0].split(", "))
    assert re.search(pointer, message), f"{description}: the message of {case} does not say what to look at: {message}"


@pytest.mark.parametrize("notebook, description, case", ONE_SLIP_ONE_CASE)
def test_one_slip_costs_one_test_case(results, notebook, description, case):
    result = {r.mutant.description: r for r in results[notebook]}[description]
    assert result.caught_by == [case], f"{description}: expected to fail only {case}, failed {result.caught_by}"


def test_a_catalog_without_a_hint_for_a_function_is_refused_by_name(tmp_path, monkeypatch):
    (tmp_path / "demo.py").write_text("from compresslab.mutation import Mutant\nHINTS = {}\nMUTANTS = [Mutant('f', 'a mistake', 'def f():', ())]\n")
    (tmp_path / "mutants").mkdir()
    (tmp_path / "demo.py").rename(tmp_path / "mutants" / "demo.py")
    monkeypatch.setenv("COMPRESSLAB_COURSE", str(tmp_path))
    with pytest.raises(ValueError, match=r"demo\.py: no hint for the mutants of f"):
        mutation.catalog("demo")
