"""Undoing what a notebook's cells did to the libraries the tests rely on.

A cell can replace ``torch.testing.assert_close``, ``torch.equal``, ``compresslab.checks.check_close``,
an Otter function or a builtin with one that always agrees. ``snapshot()`` (taken in the grading
child before the first cell) records the attributes of those modules and of ``torch.Tensor`` and
``torch.nn.Module``; ``restore()`` (just before the tests) puts every replaced, added or deleted
attribute back, so the tests check with the real functions.

This defeats patches made by cells. It cannot stop a student's function from patching while the
tests call it: the tests still run in the student's process (see the README's isolation section).
"""

import sys
import types

TRUSTED_PREFIXES = ("builtins", "torch", "numpy", "otter", "compresslab", "math", "operator")


def _trusted_objects() -> list:
    import torch

    modules = [m for name, m in list(sys.modules.items()) if m is not None and name.split(".")[0] in TRUSTED_PREFIXES]
    return modules + [torch.Tensor, torch.nn.Module]


def snapshot() -> tuple[dict, list[tuple[object, dict]]]:
    """``sys.modules`` and the attributes of every trusted module and class, as they are now."""
    return dict(sys.modules), [(obj, dict(vars(obj))) for obj in _trusted_objects()]


def restore(saved: tuple[dict, list[tuple[object, dict]]]) -> list[str]:
    """Put back every module and attribute changed since ``snapshot``; the names of those that were changed.

    Submodules imported since are kept (importing is not patching); any other added attribute is removed.
    """
    modules, objects = saved
    changed = []
    for name, module in modules.items():
        if name.split(".")[0] in TRUSTED_PREFIXES and sys.modules.get(name) is not module:
            changed.append(f"sys.modules[{name!r}]")
            sys.modules[name] = module
    for obj, attributes in objects:
        current = vars(obj)
        for name in [n for n, v in current.items() if n not in attributes and not isinstance(v, types.ModuleType)]:
            changed.append(f"{getattr(obj, '__name__', obj)}.{name}")
            delattr(obj, name)
        for name, value in attributes.items():
            if current.get(name, _MISSING) is not value:
                changed.append(f"{getattr(obj, '__name__', obj)}.{name}")
                setattr(obj, name, value)
    return changed


_MISSING = object()
