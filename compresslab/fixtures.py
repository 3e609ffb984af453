"""Fixed test tensors for the hidden tests, at run time: load them, and hide the reference answers among them.

``data/fixtures/NOTEBOOK.pt`` (``course().fixture``) holds seeded inputs and the reference solution's outputs, recorded
by ``make fixtures`` (``compresslab.record_fixtures``, the command side). Hidden tests ``load`` that file and compare
the student's outputs with it; in grading, the engine ``provide``s the file's bytes with every declared secret
zeroed (``without``). The file is never shipped to students.
"""

import fnmatch
import importlib
import io

import torch

from .paths import course


_PROVIDED: dict[str, bytes] = {}  # fixture files handed over by the grading engine (not on the student's disk)


def provide(notebook: str, content: bytes) -> None:
    """Make ``load(notebook)`` read ``content`` (the bytes of a fixture file) instead of the file system."""
    _PROVIDED[notebook] = content


def load(notebook: str) -> dict:
    """The stored fixtures of ``notebook`` (nested dicts of tensors, floats and lists)."""
    if notebook in _PROVIDED:
        return torch.load(io.BytesIO(_PROVIDED[notebook]), map_location="cpu", weights_only=True)
    path = course().fixture(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"fixture file {path} is missing: run `make fixtures`")
    return torch.load(path, map_location="cpu", weights_only=True)


def declared_secrets(notebook: str) -> tuple[str, ...]:
    """The patterns ``compresslab.notebook_fixtures.<notebook>.SECRETS``: which fixture values are reference answers.

    A pattern is a location with ``/`` between keys; ``*`` stands for any one key (``quantized_weights/*/output``);
    a pattern covers the leaves at that location and everything below it."""
    return tuple(importlib.import_module(f"compresslab.notebook_fixtures.{notebook}").SECRETS)


def is_secret(location: tuple, patterns: tuple[str, ...]) -> bool:
    """Whether the leaf at ``location`` (keys and indices from the root) is covered by one of ``patterns``."""
    keys = [str(key) for key in location]
    return any(len(keys) >= len(parts) and all(fnmatch.fnmatchcase(k, p) for k, p in zip(keys, parts))
               for parts in (pattern.split("/") for pattern in patterns))


def leaves(tree, where: tuple = ()):
    """``(location, leaf)`` of every leaf of a fixture tree (dicts and lists walked; anything else is a leaf)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, where + (key,))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from leaves(value, where + (index,))
    else:
        yield where, tree


def without(content: bytes, patterns: tuple[str, ...]) -> bytes:
    """The fixture file ``content`` with every leaf covered by ``patterns`` (``declared_secrets``) replaced by zeros of
    the same type, dtype and shape (strings by empty strings).

    The grading engine hands this to student code: the reference answers the grader compares with stay out of its reach.
    """
    tree = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
    for location, value in list(leaves(tree)):
        if is_secret(location, patterns):
            *parents, last = location
            node = tree
            for key in parents:
                node = node[key]
            node[last] = torch.zeros_like(value) if isinstance(value, torch.Tensor) else type(value)()
    buffer = io.BytesIO()
    torch.save(tree, buffer)
    return buffer.getvalue()
