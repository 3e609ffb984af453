"""Fixed test tensors for the hidden tests: inputs and the reference solution's outputs.

``python -m compresslab.fixtures NOTEBOOK`` (``make fixtures``) executes
``solution/NOTEBOOK.ipynb`` and, in its kernel, calls ``record`` on the
notebook's globals: ``compresslab.notebook_fixtures.NOTEBOOK.build`` draws seeded
inputs, feeds them to the reference functions and ``record`` saves inputs and
outputs to ``data/fixtures/NOTEBOOK.pt``. Hidden tests ``load`` that file and compare the
student's outputs with it. The file is never shipped to students.
"""

import argparse
import fnmatch
import importlib
import io
import tempfile
from pathlib import Path

import torch
from torch import nn

from .paths import PACKAGE_DIR, data_dir

SEED = 20261123  # seeds every fixture input; changing it changes the hidden tests


def fixture_path(notebook: str) -> Path:
    return data_dir() / "fixtures" / f"{notebook}.pt"


_PROVIDED: dict[str, bytes] = {}  # fixture files handed over by the grading engine (not on the student's disk)


def provide(notebook: str, content: bytes) -> None:
    """Make ``load(notebook)`` read ``content`` (the bytes of a fixture file) instead of the file system."""
    _PROVIDED[notebook] = content


def load(notebook: str) -> dict:
    """The stored fixtures of ``notebook`` (nested dicts of tensors, floats and lists)."""
    if notebook in _PROVIDED:
        return torch.load(io.BytesIO(_PROVIDED[notebook]), map_location="cpu", weights_only=True)
    path = fixture_path(notebook)
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


def seeded_net(model_class: type, seed: int) -> nn.Module:
    """A model of ``model_class`` with weights drawn from ``torch.manual_seed(seed)``, in eval mode."""
    torch.manual_seed(seed)
    return model_class().eval()


def compute(notebook: str, namespace: dict) -> dict:
    """Run the fixture builder of ``notebook`` (``compresslab.notebook_fixtures.<notebook>.build``)
    on the functions in ``namespace`` (the executed master notebook's globals)."""
    return importlib.import_module(f"compresslab.notebook_fixtures.{notebook}").build(namespace)


def record(notebook: str, namespace: dict) -> Path:
    """Compute and save the fixtures of ``notebook`` from the reference functions in ``namespace``."""
    path = fixture_path(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(compute(notebook, namespace), path)
    return path


# How far a float fixture may move when the same master runs on another CPU. Measured by computing every notebook's
# fixtures under ATEN_CPU_CAPABILITY=default|avx2|avx512, ONEDNN_MAX_CPU_ISA=SSE41|AVX2 and 1 or 2 threads (AMD EPYC
# with AVX-512) against the stored ones (recorded on an AVX2 machine): at most 5.8e-7 of the tensor's largest
# magnitude (int8_cnn /profile/fc2 under SSE41; inputs drawn with torch.randn drift as much under the default
# kernels), about 5 float32 units in the last place of its largest element. Elements near 0 drift by as much as
# the large ones (a logit of 0.01 moved by 0.05%), so the tolerance is relative to the tensor's scale, not to each
# element. 1e-5 leaves a 17x margin; a master that really changed moves values by far more
# (tests/test_notebooks.py: a fused conv that forgets BatchNorm's eps is caught).
FLOAT_RTOL = 1e-5


def differences(fresh, stored, where: str = "") -> list[str]:
    """Paths at which two fixture trees differ: integer and bool tensors exactly (no CPU moved one, measured as for
    ``FLOAT_RTOL``); a floating tensor or a Python float when some element moves by more than ``FLOAT_RTOL`` times
    the stored tensor's largest magnitude; dtypes and shapes exactly."""
    if isinstance(stored, dict):
        if not isinstance(fresh, dict) or fresh.keys() != stored.keys():
            return [f"{where or '/'}: keys differ"]
        return [d for key in stored for d in differences(fresh[key], stored[key], f"{where}/{key}")]
    if isinstance(stored, (list, tuple)):
        if not isinstance(fresh, (list, tuple)) or len(fresh) != len(stored):
            return [f"{where}: lengths differ"]
        return [d for i, (a, b) in enumerate(zip(fresh, stored)) for d in differences(a, b, f"{where}[{i}]")]
    if isinstance(stored, torch.Tensor):
        if not (isinstance(fresh, torch.Tensor) and fresh.dtype == stored.dtype and fresh.shape == stored.shape):
            return [f"{where}: tensors differ in type, dtype or shape"]
        if not stored.is_floating_point():
            return [] if torch.equal(fresh, stored) else [f"{where}: {int((fresh != stored).sum())} of {stored.numel()} values differ"]
        return _float_difference(fresh.double(), stored.double(), where)
    if isinstance(stored, float) and isinstance(fresh, float):
        return _float_difference(torch.tensor(fresh, dtype=torch.float64), torch.tensor(stored, dtype=torch.float64), where)
    return [] if fresh == stored else [f"{where}: {fresh!r} != {stored!r}"]


def _float_difference(fresh: torch.Tensor, stored: torch.Tensor, where: str) -> list[str]:
    """``[]`` if ``fresh`` is within ``FLOAT_RTOL`` of the scale of ``stored`` (float64 tensors of one shape; NaN
    matches NaN), else how far it moved."""
    if not torch.equal(fresh.isnan(), stored.isnan()):
        return [f"{where}: NaN in other places"]
    fresh, stored = fresh.nan_to_num(nan=0.0), stored.nan_to_num(nan=0.0)
    moved = (fresh - stored).abs().max().item() if stored.numel() else 0.0
    scale = stored.abs().max().item() if stored.numel() else 0.0
    if moved <= FLOAT_RTOL * scale:
        return []
    return [f"{where}: moved by up to {moved:.3g}, {moved / scale if scale else float('inf'):.3g} of its largest magnitude {scale:.3g} "
            f"(other CPU kernels move it by less than {FLOAT_RTOL:g})"]


def main() -> None:
    from .notebooks import execute_notebook

    parser = argparse.ArgumentParser(description="Regenerate data/fixtures/NOTEBOOK.pt from solution/NOTEBOOK.ipynb")
    parser.add_argument("notebooks", nargs="+", help="notebook names, e.g. int8_cnn")
    args = parser.parse_args()
    for notebook in args.notebooks:
        master = PACKAGE_DIR.parent / "solution" / f"{notebook}.ipynb"
        with tempfile.TemporaryDirectory() as scratch:  # files the notebook writes stay out of the repository
            execute_notebook(master, cwd=scratch, extra_source=f"import compresslab.fixtures\ncompresslab.fixtures.record({notebook!r}, globals())")
        print(f"wrote {fixture_path(notebook)}")


if __name__ == "__main__":
    main()
