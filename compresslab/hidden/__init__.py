"""Helpers only the hidden tests import, one module per notebook: the graded subsets of the data, the budgets of
the bounded runs the hidden checks repeat, and those runs themselves.

Nothing here is student-facing: a student bundle ships its notebook's import closure (code cells and public tests),
which never reaches this package, and ``tests/test_bundle.py`` checks that no bundle holds it.
"""
