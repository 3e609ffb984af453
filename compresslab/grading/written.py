"""Written questions: found in the release, answers collected from each submission, one HTML page per question.

A written question is what Otter Assign releases for a ``manual: true`` question of the master: a locked
markdown cell opening with ``<!-- BEGIN QUESTION -->`` whose heading reads
``## Question N: title (written, P points)`` (``(lab Question 9.2; written, 1 point)`` also reads), then the
cells of the question up to a cell opening with ``<!-- END QUESTION -->``. Its name is ``qN``, as in the master.
A student's answer is every cell of that block tagged ``otter_answer_cell``, plus any markdown cell the student
added inside it (a front end does not copy tags to a new cell). It is

- ``missing``: the notebook is absent or unreadable, or the question's cell or its answer cells are gone;
- ``untouched``: every answer cell still holds the release's placeholder (or nothing);
- ``answered``: otherwise.

Pages (``OUT/written/<notebook>/<question>.html``) show the question and then every answer, under the student's
anonymous code (``anonymous.py``) unless names are asked for. Answers are the students' text: they are rendered
from Markdown by markdown-it-py with raw HTML disabled (a ``<script>`` shows as text), images off (no remote
fetch when the page opens) and links restricted by markdown-it's ``validateLink`` (no ``javascript:``); maths
(``$...$``, ``$$...$$``, by mdit-py-plugins' dollarmath) is escaped and left to MathJax in the TA's browser.
"""

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from ..stubs import ANSWER_TAG
from .safe_text import printable
from .submissions import Submission, notebook_problem

BEGIN = "<!-- BEGIN QUESTION -->"
END = "<!-- END QUESTION -->"
HEADING = re.compile(r"^##\s*Question\s+(\d+)\s*:\s*(.+?)\s*\((?:[^()]*;\s*)?written,\s*(\d+(?:\.\d+)?)\s+points?\)\s*$", re.M)
MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"  # loaded by the TA's browser only; rendering here is local


@dataclass(frozen=True)
class WrittenQuestion:
    notebook: str
    name: str  # "q4", the master's question name
    title: str  # "Reading the sensitivity curves"
    points: float
    prompt: str  # the question's Markdown, without the BEGIN marker
    cell_source: str  # the locked question cell as released, to find it in a submission
    placeholders: frozenset[str]  # the release's answer cells (stripped): an answer equal to them is untouched
    given: frozenset[str]  # the release's other cells of the question (stripped): not the student's


@dataclass(frozen=True)
class Answer:
    state: str  # answered | untouched | missing
    text: str  # Markdown (code cells as fenced blocks); the reason when missing


def written_questions(release: Path, notebook: str) -> list[WrittenQuestion]:
    """The written questions of a released notebook, in notebook order; ``ValueError`` naming the file and cell when a
    ``BEGIN QUESTION`` cell has no ``(written, P points)`` heading or no ``END QUESTION`` after it."""
    cells = json.loads(release.read_bytes())["cells"]
    found = []
    for index, cell in enumerate(cells):
        source = _source(cell)
        if cell["cell_type"] != "markdown" or not source.startswith(BEGIN):
            continue
        heading = HEADING.search(source)
        block = _block(cells, index)
        if heading is None or block is None:
            raise ValueError(f"{release}: cell {index} opens a question without a `## Question N: title (written, P points)` heading "
                             f"or without a later `{END}` cell")
        placeholders = frozenset(_source(c).strip() for c in block if ANSWER_TAG in _tags(c))
        given = frozenset(_source(c).strip() for c in block if ANSWER_TAG not in _tags(c))
        found.append(WrittenQuestion(notebook, f"q{heading[1]}", heading[2], float(heading[3]), source.removeprefix(BEGIN).strip(),
                                     source, placeholders, given))
    return found


def answers_of(notebook: Path | None, questions: list[WrittenQuestion]) -> dict[str, Answer]:
    """``{question name: Answer}`` of one submitted notebook, read once; ``notebook``: the private copy of the student's
    notebook (``None``: not handed in). Control characters in answers are written as visible escapes, line by line."""
    if notebook is None:
        return {q.name: Answer("missing", f"no {q.notebook}.ipynb handed in") for q in questions}
    problem = notebook_problem(notebook)  # reads at most MAX_NOTEBOOK_BYTES and checks the cells' structure
    if problem:
        return {q.name: Answer("missing", problem) for q in questions}
    cells = json.loads(notebook.read_bytes())["cells"]
    return {q.name: _answer(cells, q) for q in questions}


def _answer(cells: list[dict], question: WrittenQuestion) -> Answer:
    start = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and _source(c) == question.cell_source), None)
    block = None if start is None else _block(cells, start)
    if block is None:
        return Answer("missing", "the question's cell is not in the notebook")
    answers = [c for c in block if ANSWER_TAG in _tags(c) or (c["cell_type"] == "markdown" and _source(c).strip() not in question.given)]
    if not answers:
        return Answer("missing", "the answer cell was deleted")
    texts = [_source(c).strip() for c in answers]
    if all(not t or t in question.placeholders for t in texts):
        return Answer("untouched", "")
    text = "\n\n".join(t if c["cell_type"] == "markdown" else f"```python\n{t}\n```" for c, t in zip(answers, texts) if t)
    return Answer("answered", "\n".join(printable(line) for line in text.split("\n")))


def collect_answers(submissions: list[Submission], questions: dict[str, list[WrittenQuestion]]) -> dict[tuple[str, str, str], Answer]:
    """``{(student, notebook, question): Answer}`` for every submission and written question."""
    found = {}
    for submission in submissions:
        for notebook, notebook_questions in questions.items():
            refused = submission.problem or submission.refused.get(notebook)
            if refused:
                answers = {q.name: Answer("missing", refused) for q in notebook_questions}
            else:
                answers = answers_of(submission.notebooks.get(notebook), notebook_questions)
            found |= {(submission.student, notebook, name): answer for name, answer in answers.items()}
    return found


def write_pages(folder: Path, questions: dict[str, list[WrittenQuestion]], answers: dict[tuple[str, str, str], Answer],
                shown_as: dict[str, str]) -> list[Path]:
    """``folder/<notebook>/<question>.html`` per written question; ``shown_as``: student -> code (or name) on the page, in
    whose order answers are listed. Returns the pages written."""
    pages = []
    for notebook_questions in questions.values():
        for question in notebook_questions:
            path = folder / question.notebook / f"{question.name}.html"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(question_page(question, answers, shown_as), encoding="utf-8")
            pages.append(path)
    return pages


def question_page(question: WrittenQuestion, answers: dict[tuple[str, str, str], Answer], shown_as: dict[str, str]) -> str:
    """One HTML page: the question with its points, then each student's answer, missing or untouched ones marked."""
    sections = []
    for student, label in sorted(shown_as.items(), key=lambda item: item[1]):
        answer = answers.get((student, question.notebook, question.name), Answer("missing", "no submission"))
        if answer.state == "answered":
            body = f"<div class='answer'>{render_markdown(answer.text)}</div>"
        elif answer.state == "untouched":
            body = "<p class='untouched'>Untouched: the answer cell still holds the release's placeholder.</p>"
        else:
            body = f"<p class='missing'>Missing: {html.escape(printable(answer.text))}</p>"
        sections.append(f"<section id='{html.escape(label, quote=True)}'><h2>{html.escape(label)}</h2>{body}</section>")
    counts = {state: sum(1 for s in shown_as if answers.get((s, question.notebook, question.name), Answer("missing", "")).state == state)
              for state in ("answered", "untouched", "missing")}
    title = f"{question.notebook} {question.name}: {question.title} ({question.points:g} points)"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><script defer src='{MATHJAX}'></script>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}section{border-top:1px solid #ccc;padding:.5em 0}"
        ".missing,.untouched{color:#a00;font-style:italic}.prompt{background:#f4f4f4;padding:.5em 1em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class='prompt'>{render_markdown(question.prompt)}</div>"
        f"<p>{len(shown_as)} students: {counts['answered']} answered, {counts['untouched']} untouched, {counts['missing']} missing. "
        "Enter points and comments in <code>manual.csv</code>, one row per student and question.</p>"
        + "".join(sections) + "</body></html>\n"
    )


def render_markdown(text: str) -> str:
    """HTML of student Markdown: raw HTML shown as text, no images, maths escaped inside ``\\( \\)`` / ``\\[ \\]`` for MathJax."""
    return _MARKDOWN.render(text)


def _math(content: str, options: dict) -> str:
    opening, closing = ("\\[", "\\]") if options.get("display_mode") else ("\\(", "\\)")
    return opening + html.escape(content) + closing


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).disable("image").use(dollarmath_plugin, allow_labels=False, renderer=_math)


def _block(cells: list[dict], start: int) -> list[dict] | None:
    """The cells after ``cells[start]`` up to the next ``END QUESTION`` cell (``None``: none before the next question)."""
    for index in range(start + 1, len(cells)):
        source = _source(cells[index]).lstrip()
        if source.startswith(END):
            return cells[start + 1:index]
        if source.startswith(BEGIN):
            return None
    return None


def _source(cell: dict) -> str:
    """A cell's text; a source list holding anything but strings (a hand-edited notebook) keeps only its strings."""
    source = cell.get("source", "")
    return "".join(part for part in source if isinstance(part, str)) if isinstance(source, list) else source


def _tags(cell: dict) -> list:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return tags if isinstance(tags, list) else []
