"""Every catalogued wrong implementation loses points through the real grading path; partial credit
is graded (an edge-case slip loses less than a wholesale error); the README's table is generated."""

import re

import pytest

from compresslab import mutation

from conftest import ROOT


@pytest.fixture(scope="module")
def results():
    return {name: mutation.run(name, mutation.catalog(name)) for name in mutation.catalogued_notebooks()}


def test_every_catalog_has_five_mutants_per_function(results):
    for notebook, rows in results.items():
        for function in {r.mutant.function for r in rows}:
            assert sum(r.mutant.function == function for r in rows) >= 5, f"{notebook}/{function}: fewer than 5 mutants"


def test_every_mutant_loses_points(results):
    survivors = [f"{n}/{r.mutant.function}: {r.mutant.description}" for n, rows in results.items() for r in rows if not r.caught]
    assert not survivors, "mutants that earn full marks: " + "; ".join(survivors)


@pytest.mark.parametrize(
    "notebook, edge_slip, wholesale_error",
    [
        ("int8_cnn", "all-zero weights: epsilon instead of scale 1", "floor instead of round"),
        ("pruning", "no num_zeros == 0 case: kthvalue(0) fails at sparsity 0", ">= instead of > (keeps the weight at the threshold and its ties)"),
    ],
)
def test_an_edge_case_slip_loses_less_than_a_wholesale_error(results, notebook, edge_slip, wholesale_error):
    by_description = {r.mutant.description: r for r in results[notebook]}
    edge, wholesale = by_description[edge_slip], by_description[wholesale_error]
    assert edge.possible == wholesale.possible, "both graded on the same questions"
    assert wholesale.score < edge.score < edge.possible


def test_readme_mutation_table_is_generated(results):
    readme = (ROOT / "README.md").read_text()
    assert readme == mutation.readme_with_table(readme, mutation.table(results)), "run `make mutation` and commit README.md"


def test_messages_tell_the_student_what_is_wrong(results):
    """The failure message a wrong answer gets names the quantity, and shows values or the shape it got and expected."""
    by_description = {r.mutant.description: r for r in results["int8_cnn"]}

    def said(description):
        return " | ".join(by_description[description].messages)

    assert re.search(r"quantized weights of .*values differ.*got -?\d+ expected -?\d+", said("floor instead of round"))
    assert re.search(r"weight scale \(expected 127 / max\|w\|\).*got [\d.]+ expected [\d.]+", said("max instead of max-abs: negative extremes overflow"))
    assert re.search(r"fc1\.activations: expected shape \(\d+,\), got .* of shape \(\d+,\)", said("overwrites instead of appending (keeps only the last batch)"))
    assert re.search(r"quantized bias .*got 127 expected \d{3}", said("clamps the int32 bias to the int8 range (seed 001's slip)"))
