"""One module per notebook: ``build(namespace) -> dict`` computes that notebook's hidden-test fixtures from the reference functions in ``namespace``."""
