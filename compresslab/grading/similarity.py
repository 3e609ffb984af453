"""Copied code flagged per graded function: ``OUT/similarity.csv`` and the report's section on it.

What is compared: every graded function (a function or method of the release notebook whose body holds a
``# YOUR CODE HERE`` stub), taken from each student's notebook by its qualified name (``NetQuantized.forward``; the
last definition in the notebook wins, as when the notebook runs). Before comparing, each function is normalised:

- parsed with ``ast`` (never executed) and written back with ``ast.unparse``: comments, blank lines, layout,
  docstrings and lone strings are gone;
- helpers inlined: a helper of the student's own (a top-level function the release does not define, or one defined in
  the graded function) whose body is straight-line code ending in ``return`` replaces each statement that is one call
  of it (``x = helper(a, b)``), its parameters replaced by the arguments; the bodies of helpers called in other ways are
  appended once. So inlining a helper, or splitting one out, changes little;
- statement order where it does not matter: in every block, statements that touch no common name (neither writes
  what the other reads or writes; a method whose name says it changes its object, ``a.b.append(...)``,
  ``a.b.register_forward_hook(...)``, ``x.add_(...)``, writes ``a.b`` or ``x``) are put in a canonical order (a
  topological order of the block's dependencies, ties broken by the statement's shape with every identifier
  blanked), so reordering independent statements changes nothing; ``return``, ``raise``, ``break``, ``continue``,
  ``yield`` and ``await`` stay where they are relative to everything else;
- identifiers, attribute names and strings are blanked by ``copydetect``'s tokeniser (pygments), which then
  fingerprints the text by MOSS's winnowing (k-grams of ``K`` filtered characters, window ``WINDOW``);
- the release's given code of that function (signature, given lines, the stub itself), normalised the same way, is
  ``copydetect``'s boilerplate: its fingerprints never count.

``similarity`` of a pair is copydetect's: the share of each function's counted code (``token_coverage``, filtered
characters covered by non-boilerplate fingerprints) that the other one also holds, averaged over the two (0..1).

**Threshold, scaled by length** (short functions every correct student writes alike must not flag honest students):
with ``n`` the counted length of the shorter function of the pair (filtered characters), a pair is flagged when
``similarity >= BASE_THRESHOLD + LENGTH_SCALE / n``. Below ``MIN_LENGTH`` characters no pair is flagged at all.
With the constants below: n = 80 needs 0.975 (identical, give or take a few tokens), n = 100 needs 0.90, n = 150 needs
0.80, n = 300 needs 0.70. The reference's graded functions count 20 to 450 (the three-line ``quantized_weights``: 75,
``NetQuantized.forward``: 250), so two- and three-line functions are never flagged, however alike.

Flagging is information for the instructor and never changes a score. Student code is parsed, never run, in the
grader's process, within bounds (``MAX_*``): a cell that does not parse (a syntax error; IPython magics are blanked
first) or is longer than ``MAX_CELL_CHARS`` is skipped, and so is a function longer than ``MAX_FUNCTION_CHARS``.
"""

import ast
import copy
import csv
import io
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from copydetect import CodeFingerprint, compare_files

from ..stubs import STUB_MARKER
from .safe_text import csv_cell
from .submissions import Submission

K = 20  # k-gram length in filtered characters (an identifier is one character): about five tokens
WINDOW = 1  # winnowing window 1 (copydetect's default) keeps every k-gram: functions are short, and which k-grams a wider
# window keeps depends on Python's per-process string hash seed, so scores would change from one run to the next
BASE_THRESHOLD = 0.6  # similarity a long pair must reach to be flagged
LENGTH_SCALE = 30.0  # characters: the threshold rises by LENGTH_SCALE / n for a pair whose shorter function counts n
MIN_LENGTH = 80  # filtered characters: a pair whose shorter function counts less is never flagged (the reference's
# three-line quantized_weights counts 75: many honest students write it character for character)
# Bounds on the work a student's text can cause in the grader's process (real graded functions are under 3,000 characters):
MAX_CELL_CHARS = 100_000  # a code cell longer than this is not parsed
MAX_FUNCTION_CHARS = 20_000  # a graded function or helper longer than this, as written, is not compared or inlined
MAX_INLINED_STATEMENTS = 20  # a helper with more statements is appended, not inlined at each call
MAX_APPENDED_HELPERS = 10  # helpers appended to one function, at most
MAX_REORDERED = 200  # a block with more statements keeps its written order (canonical ordering is quadratic)
MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "add", "discard", "setdefault", "sort", "reverse",
            "popitem", "load_state_dict", "apply", "train", "eval", "to", "step", "zero_grad", "backward"}
CSV_COLUMNS = ["notebook", "function", "student_a", "student_b", "similarity"]
BARRIERS = (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Global, ast.Nonlocal)  # statements nothing moves across
SUSPENSIONS = (ast.Yield, ast.YieldFrom, ast.Await)  # a statement holding one is a barrier too


@dataclass(frozen=True)
class GradedFunction:
    """A function the students write: ``name`` qualified by its class (``NetQuantized.forward``) and the release's
    normalised text of it (the given code, compared as copydetect boilerplate)."""

    name: str
    given: str


@dataclass(frozen=True)
class Pair:
    """Two students' versions of one graded function and how alike they are."""

    notebook: str
    function: str
    student_a: str  # the alphabetically first
    student_b: str
    similarity: float  # 0..1
    length: int  # counted length of the shorter function (filtered characters)
    flagged: bool
    code_a: str  # the normalised code compared (no comments, canonical order)
    code_b: str
    source_a: str  # the function as the student wrote it, for a side-by-side view
    source_b: str


@dataclass(frozen=True)
class Version:
    """One student's graded function: as written, and as compared."""

    source: str
    normalised: str


def threshold(length: int) -> float:
    """The similarity a pair whose shorter function counts ``length`` filtered characters must reach to be flagged
    (above 1, i.e. never, below ``MIN_LENGTH``)."""
    return BASE_THRESHOLD + LENGTH_SCALE / length if length >= MIN_LENGTH else float("inf")


def graded_functions(release_notebook: Path) -> list[GradedFunction]:
    """The graded functions of a release notebook, in notebook order: those whose source holds ``YOUR CODE HERE``."""
    found = []
    for source in _code_cells(json.loads(release_notebook.read_text(encoding="utf-8"))):
        if STUB_MARKER not in source:
            continue
        tree = _parse(source)
        lines = source.splitlines()
        for name, node in _functions(tree):
            if any(STUB_MARKER in line for line in lines[node.lineno - 1:node.end_lineno]):
                found.append(GradedFunction(name, normalise(node, {})))
    return found


def student_functions(notebook: dict, wanted: set[str], release_names: set[str]) -> dict[str, Version]:
    """Each wanted function a student's notebook (parsed JSON) defines, as written and normalised; the last definition
    wins.

    release_names: top-level names the release defines; any other top-level function of the student is a helper,
    inlined where the graded function calls it (``normalise``).
    """
    defined, helpers = {}, {}
    for source in _code_cells(notebook):
        tree = _parse(source)
        for name, node in _functions(tree):
            written = "\n".join(source.splitlines()[node.lineno - 1:node.end_lineno])
            too_long = len(written) > MAX_FUNCTION_CHARS  # then this definition, the one that counts, is not compared
            if name in wanted:
                defined[name] = None if too_long else (node, textwrap.dedent(written))
            elif "." not in name and name not in release_names:
                helpers[name] = None if too_long else node
    helpers = {name: node for name, node in helpers.items() if node is not None}
    versions = {}
    for name, found in defined.items():
        if found is None:
            continue
        node, written = found
        try:
            versions[name] = Version(written, normalise(node, helpers))
        except (RecursionError, ValueError):  # an expression nested beyond the interpreter's stack: not compared
            continue
    return versions


def normalise(function: ast.FunctionDef, helpers: dict[str, ast.FunctionDef]) -> str:
    """The function's body as compared: no docstring or comments, helpers inlined, independent statements in canonical
    order.

    helpers: the student's own top-level functions by name. These, and the functions defined directly in the body, are
    inlined where a statement is one call of them (``x = helper(a, b)``, ``return helper(a)``, ``helper(a)``) and
    their body is straight-line code ending in one ``return``: the body with its parameters replaced by the arguments,
    its ``return E`` becoming ``x = E``. A nested helper inlined everywhere is dropped; the bodies of helpers called in
    any other way are appended once.
    """
    body = _without_docstring(_Undocumented().visit(copy.deepcopy(function)).body)
    local = {s.name: s for s in body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    available = {name: node for name, node in (helpers | local).items() if _inlinable(node)}
    body = _inline_block(body, available)
    still_called = {n.id for s in body for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    body = [s for s in body if not (s.__class__ is ast.FunctionDef and s.name in available and s.name not in still_called)]
    for name in sorted(still_called & set(helpers))[:MAX_APPENDED_HELPERS]:
        body += _without_docstring(_Undocumented().visit(copy.deepcopy(helpers[name])).body)
    local_names = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    local_names |= {n.id for s in body for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return ast.unparse(ast.fix_missing_locations(ast.Module(body=_canonical_block(body, local_names), type_ignores=[])))


def code_fingerprint(code: str, boilerplate: list[int]) -> CodeFingerprint:
    """copydetect's fingerprint of normalised code, without the ``boilerplate`` fingerprints (``given_fingerprints``)."""
    return CodeFingerprint("student.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code), language="python")


def given_fingerprints(function: GradedFunction) -> list[int]:
    """The fingerprints of the release's own code of ``function``: copydetect's boilerplate."""
    return sorted(CodeFingerprint("given.py", K, WINDOW, fp=io.StringIO(function.given), language="python").hashes)


def compare(notebook: str, function: GradedFunction, versions: dict[str, Version]) -> list[Pair]:
    """Every pair of students sharing at least one fingerprint of ``function``, most similar first.

    versions: student -> their function (``student_functions``). Each distinct normalised code is fingerprinted and
    compared once (in a class, many students write a short function identically); pairs sharing nothing have
    similarity 0 and are left out.
    """
    students: dict[str, list[str]] = {}
    for student, version in sorted(versions.items()):
        students.setdefault(version.normalised, []).append(student)
    boilerplate = given_fingerprints(function)
    prints = {code: code_fingerprint(code, boilerplate) for code in students}
    distinct = sorted(code for code, p in prints.items() if p.hashes)
    pairs = []
    for index, code_a in enumerate(distinct):
        for code_b in distinct[index:]:
            if code_a == code_b and len(students[code_a]) < 2 or prints[code_a].hashes.isdisjoint(prints[code_b].hashes):
                continue
            _, (share_a, share_b), _ = compare_files(prints[code_a], prints[code_b])
            similarity = float(share_a + share_b) / 2
            length = min(prints[code_a].token_coverage, prints[code_b].token_coverage)
            for a, b in {tuple(sorted((a, b))) for a in students[code_a] for b in students[code_b] if a != b}:
                pairs.append(Pair(notebook, function.name, a, b, round(similarity, 4), int(length), similarity >= threshold(length),
                                  versions[a].normalised, versions[b].normalised, versions[a].source, versions[b].source))
    return sorted(pairs, key=lambda p: (-p.similarity, p.student_a, p.student_b))


def class_pairs(release_dir: Path, notebooks: dict[str, dict[str, Path]]) -> list[Pair]:
    """Pairs of every graded function of every notebook in a class, most similar first.

    release_dir: the folder of release notebooks (``assignment/``).
    notebooks: notebook name -> {student: path of that student's notebook}. A notebook that is not JSON is skipped
    (its grading row already says why).
    """
    pairs = []
    for name, by_student in notebooks.items():
        release = json.loads((release_dir / f"{name}.ipynb").read_text(encoding="utf-8"))
        release_names = {n.name for source in _code_cells(release) for n in _parse(source).body
                         if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        functions = graded_functions(release_dir / f"{name}.ipynb")
        wanted = {f.name for f in functions}
        versions: dict[str, dict[str, Version]] = {f.name: {} for f in functions}
        for student, path in by_student.items():
            try:
                notebook = json.loads(path.read_bytes())
            except (OSError, ValueError, RecursionError):
                continue
            for function, version in student_functions(notebook, wanted, release_names).items():
                versions[function][student] = version
        for function in functions:
            pairs += compare(name, function, versions[function.name])
    return sorted(pairs, key=lambda p: (not p.flagged, -p.similarity, p.notebook, p.function, p.student_a, p.student_b))


def write_similarity(submissions: list[Submission], notebooks: list[str], release_dir: Path, path: Path) -> list[Pair]:
    """Compare the graded functions of every student's ``notebooks``; write the flagged pairs, most similar first, to
    ``path`` (``similarity.csv``: ``CSV_COLUMNS``; student names through ``safe_text.csv_cell``) and return every pair
    (flagged first) for the report. Submissions that could not be read hold no notebook and are left out."""
    pairs = class_pairs(
        release_dir, {name: {s.student: s.notebooks[name] for s in submissions if name in s.notebooks} for name in notebooks}
    )
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([csv_cell(p.notebook), csv_cell(p.function), csv_cell(p.student_a), csv_cell(p.student_b), csv_cell(p.similarity)]
                         for p in pairs if p.flagged)
    return pairs


def _code_cells(notebook: dict) -> list[str]:
    """The sources of a notebook's code cells (parsed JSON; anything malformed is skipped)."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    sources = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source")
            source = "".join(source) if isinstance(source, list) and all(isinstance(s, str) for s in source) else source
            if isinstance(source, str):
                sources.append(source)
    return sources


def _parse(source: str) -> ast.Module:
    """A cell's syntax tree, IPython magics and shell lines blanked; an empty module when it does not parse."""
    if len(source) > MAX_CELL_CHARS:
        return ast.Module(body=[], type_ignores=[])
    source = re.sub(r"(?m)^\s*[%!].*$", "", source)
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ast.Module(body=[], type_ignores=[])


def _functions(tree: ast.Module):
    """(qualified name, node) of the module's top-level functions and of its top-level classes' methods."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


class _Undocumented(ast.NodeTransformer):
    """Drops every statement that is a lone string (docstrings of nested functions and classes, strings as comments)."""

    def visit_Expr(self, node):
        return None if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) else node


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        return body[1:]
    return body


def _canonical_block(statements: list[ast.stmt], local_names: set[str]) -> list[ast.stmt]:
    """The block with nested blocks canonical and its statements in the canonical order of their dependencies."""
    statements = [_with_canonical_blocks(s, local_names) for s in statements]
    if len(statements) > MAX_REORDERED:
        return statements
    effects = [_effects(s, local_names) for s in statements]
    after = {j: {i for i in range(j) if _depends(effects[i], effects[j])} for j in range(len(statements))}
    shapes = [_shape(s) for s in statements]
    ordered, done = [], set()
    while len(ordered) < len(statements):
        ready = [j for j in range(len(statements)) if j not in done and after[j] <= done]
        chosen = min(ready, key=lambda j: (shapes[j], j))
        ordered.append(statements[chosen])
        done.add(chosen)
    return ordered


def _with_canonical_blocks(statement: ast.stmt, local_names: set[str]) -> ast.stmt:
    statement = copy.copy(statement)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(statement, field, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            setattr(statement, field, _canonical_block(block, local_names))
    return statement


def _effects(statement: ast.stmt, local_names: set[str]) -> tuple[set[str], set[str], bool]:
    """(dotted names written, dotted names read, whether the statement is a barrier nothing moves across).

    A method call counts as writing its object when its name says it changes it (``_mutates``) and the object is reached
    from a local name (a parameter or a name the function assigns): ``model.fc1.register_forward_hook(h)`` and
    ``x.add_(1)`` write ``model.fc1`` and ``x``; ``x.abs()``, ``np.abs(x)`` (a module) and ``f(x).append(1)`` (a
    temporary) write nothing.
    A nested ``def``, ``lambda`` or ``class`` counts as writing its name only: its body runs later, when called.
    """
    writes, reads, barrier = set(), set(), isinstance(statement, BARRIERS)
    pending = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            writes.add(node.name)
            if node is not statement:
                continue
            pending += node.decorator_list + ([node.args] if hasattr(node, "args") else [])
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)) and isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)):
            writes.add(_dotted(node))
        elif isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load) and _dotted(node) != "?":
            reads.add(_dotted(node))  # an attribute of a temporary (``f(x).y``) reads what its parts read, walked anyway
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = _dotted(node.func.value)
            if receiver.split(".")[0] in local_names and _mutates(node.func.attr):
                writes.add(receiver)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            writes.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        barrier = barrier or isinstance(node, SUSPENSIONS)
        pending += list(ast.iter_child_nodes(node))
    return writes, reads, barrier


def _mutates(method: str) -> bool:
    """Whether a method of this name changes its object: PyTorch's in-place methods (trailing ``_``), the mutators of
    lists, dicts and sets, and ``register_*`` hooks and buffers of a module."""
    return method.endswith("_") or method.startswith("register_") or method in MUTATORS


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for an attribute chain on a name, the name for a subscript of one; ``?`` for anything else."""
    parts = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
        else:
            parts.clear()  # x[i].y written: count it as x written
        node = node.value
    return ".".join([node.id] + parts[::-1]) if isinstance(node, ast.Name) else "?"


def _overlap(names: set[str], others: set[str]) -> bool:
    """Whether some name in one set is another's prefix (``model`` and ``model.fc1.weight``), or equal; ``?`` (an
    unknown object) overlaps everything."""
    if "?" in names and others or "?" in others and names:
        return True
    return any(a == b or a.startswith(b + ".") or b.startswith(a + ".") for a in names for b in others)


def _depends(first: tuple, second: tuple) -> bool:
    """Whether ``second`` must stay after ``first``."""
    writes_1, reads_1, barrier_1 = first
    writes_2, reads_2, barrier_2 = second
    return barrier_1 or barrier_2 or _overlap(writes_1, reads_2 | writes_2) or _overlap(writes_2, reads_1)


def _inlinable(helper: ast.FunctionDef) -> bool:
    """Straight-line code ending in its only ``return E``, no ``*args``/``**kwargs``, not calling itself."""
    body = _without_docstring(helper.body)
    if (
        not body
        or len(body) > MAX_INLINED_STATEMENTS
        or not isinstance(body[-1], ast.Return)
        or body[-1].value is None
        or helper.args.vararg
        or helper.args.kwarg
    ):
        return False
    nodes = [n for s in body for n in ast.walk(s)]
    return (all(isinstance(s, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)) for s in body[:-1])
            and not any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom, ast.Await)) for s in body[:-1] for n in ast.walk(s))
            and not any(isinstance(n, ast.Name) and n.id == helper.name for n in nodes))


def _inline_block(statements: list[ast.stmt], helpers: dict[str, ast.FunctionDef]) -> list[ast.stmt]:
    """``statements`` with every statement that is one call of a helper replaced by the helper's body (nested blocks
    too)."""
    out = []
    for statement in statements:
        statement = copy.copy(statement)
        for field in ("body", "orelse", "finalbody"):
            block = getattr(statement, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt) and not isinstance(statement, ast.FunctionDef):
                setattr(statement, field, _inline_block(block, helpers))
        call = statement.value if isinstance(statement, (ast.Assign, ast.Return, ast.Expr)) else None
        bound = _bind(helpers[call.func.id], call) if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                                                        and call.func.id in helpers) else None
        if bound is None:
            out.append(statement)
            continue
        helper = helpers[call.func.id]
        assigned = {n.id for s in helper.body for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        substituted = {name: value for name, value in bound.items() if name not in assigned}
        steps = [ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value) for name, value in bound.items() if name in assigned]
        steps += [_Substitute(substituted).visit(copy.deepcopy(s)) for s in _without_docstring(helper.body)]
        result = steps.pop().value
        out += steps + [ast.Return(value=result) if isinstance(statement, ast.Return) else ast.Expr(value=result)
                        if isinstance(statement, ast.Expr) else ast.Assign(targets=statement.targets, value=result)]
    return out


def _bind(helper: ast.FunctionDef, call: ast.Call) -> dict[str, ast.expr] | None:
    """Parameter name -> argument expression of ``call`` (defaults filled in); ``None`` when the call cannot be bound
    plainly (``*args``, unknown keywords, missing arguments)."""
    parameters = [a.arg for a in helper.args.posonlyargs + helper.args.args + helper.args.kwonlyargs]
    defaults = dict(zip([a.arg for a in helper.args.posonlyargs + helper.args.args][::-1], helper.args.defaults[::-1]))
    defaults |= {a.arg: d for a, d in zip(helper.args.kwonlyargs, helper.args.kw_defaults) if d is not None}
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords) or len(call.args) > len(parameters):
        return None
    bound = dict(zip(parameters, call.args)) | {k.arg: k.value for k in call.keywords}
    bound = {name: bound.get(name, defaults.get(name)) for name in parameters}
    return bound if set(bound) == set(parameters) and all(v is not None for v in bound.values()) else None


class _Substitute(ast.NodeTransformer):
    """Replaces each read of a parameter by (a copy of) its argument expression."""

    def __init__(self, values: dict[str, ast.expr]):
        self.values = values

    def visit_Name(self, node):
        return copy.deepcopy(self.values[node.id]) if isinstance(node.ctx, ast.Load) and node.id in self.values else node


class _Blank(ast.NodeTransformer):
    """Blanks every identifier, so a statement's shape does not depend on the names a student chose."""

    def visit_Name(self, node):
        return ast.Name(id="_", ctx=node.ctx)

    def visit_Attribute(self, node):
        return ast.Attribute(value=self.visit(node.value), attr="_", ctx=node.ctx)

    def visit_arg(self, node):
        return ast.arg(arg="_")

    def generic_visit(self, node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.name = "_"
        return super().generic_visit(node)


def _shape(statement: ast.stmt) -> str:
    return ast.dump(_Blank().visit(copy.deepcopy(statement)))
