"""Catalogued wrong implementations lose points through the real grading path; partial credit is
graded (an edge-case slip loses less than a wholesale error); messages say what is wrong; the
README's table matches the catalogs.

``make test`` grades a fixed sample of every catalog (the first ``PER_FUNCTION`` mutant(s) of each
function, plus those named below), to stay within CI's time; ``make mutation`` grades every mutant
and writes the README table, which claims a caught count per function that this file checks
against the catalogs.
"""

import re

import pytest

from compresslab import mutation

from conftest import ROOT

PER_FUNCTION = 1
PARTIAL_CREDIT_PAIRS = [
    ("int8_cnn", "all-zero weights: epsilon instead of scale 1", "floor instead of round"),
    ("pruning", "no num_zeros == 0 case: kthvalue(0) fails at sparsity 0", ">= instead of > (keeps the weight at the threshold and its ties)"),
]
MESSAGE_CASES = ("floor instead of round", "max instead of max-abs: negative extremes overflow",
                 "overwrites instead of appending (keeps only the last batch)", "clamps the int32 bias to the int8 range (seed 001's slip)")
ALWAYS = frozenset(MESSAGE_CASES) | {d for _, edge, wholesale in PARTIAL_CREDIT_PAIRS for d in (edge, wholesale)}


@pytest.fixture(scope="module")
def results():
    return {name: mutation.run(name, mutation.sample(mutation.catalog(name), PER_FUNCTION, ALWAYS)) for name in mutation.catalogued_notebooks()}


def test_every_catalog_has_five_mutants_per_function():
    for notebook in mutation.catalogued_notebooks():
        mutants = mutation.catalog(notebook)
        for function in {m.function for m in mutants}:
            assert sum(m.function == function for m in mutants) >= 5, f"{notebook}/{function}: fewer than 5 mutants"


def test_every_sampled_mutant_loses_points(results):
    survivors = [f"{n}/{r.mutant.function}: {r.mutant.description}" for n, rows in results.items() for r in rows if not r.caught]
    assert not survivors, "mutants that earn full marks: " + "; ".join(survivors)
    assert all(results[n] for n in mutation.catalogued_notebooks())


@pytest.mark.parametrize("notebook, edge_slip, wholesale_error", PARTIAL_CREDIT_PAIRS)
def test_an_edge_case_slip_loses_less_than_a_wholesale_error(results, notebook, edge_slip, wholesale_error):
    by_description = {r.mutant.description: r for r in results[notebook]}
    edge, wholesale = by_description[edge_slip], by_description[wholesale_error]
    assert edge.possible == wholesale.possible, "both graded on the same questions"
    assert wholesale.score < edge.score < edge.possible


def test_readme_mutation_table_matches_the_catalogs():
    """The README's table (written by ``make mutation``) lists every catalogued function with its mutant count, all caught."""
    readme = (ROOT / "README.md").read_text()
    all_caught = {n: [mutation.Result(m, 0.0, 1.0) for m in mutation.catalog(n)] for n in mutation.catalogued_notebooks()}
    assert readme == mutation.readme_with_table(readme, mutation.table(all_caught)), "run `make mutation` and commit README.md"


def test_messages_tell_the_student_what_is_wrong(results):
    """The failure message a wrong answer gets names the quantity, and shows values or the shape it got and expected."""
    by_description = {r.mutant.description: r for r in results["int8_cnn"]}

    def said(description):
        return " | ".join(by_description[description].messages)

    assert re.search(r"quantized weights of .*values differ.*got -?\d+ expected -?\d+", said("floor instead of round"))
    assert re.search(r"weight scale \(expected 127 / max\|w\|\).*got [\d.]+ expected [\d.]+", said("max instead of max-abs: negative extremes overflow"))
    assert re.search(r"fc1\.activations: expected shape \(\d+,\), got .* of shape \(\d+,\)", said("overwrites instead of appending (keeps only the last batch)"))
    assert re.search(r"quantized bias .*got 127 expected \d{3}", said("clamps the int32 bias to the int8 range (seed 001's slip)"))
