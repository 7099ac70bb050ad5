"""The lesson registry: the lesson_NN.py files beside this module, read as text and split into cells.

Each lesson file is in jupytext's "py:percent" format: a module docstring (title line, blank line,
one-line summary), then cells that start with `# %%` (code) or `# %% [markdown]` (markdown, every line
commented with `# `). The files are never imported, so listing lessons does not import TensorFlow.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from gradlab.errors import LessonNotFoundError

__all__ = ["Cell", "Lesson", "LESSONS", "escape_markdown", "get", "parse_cells"]

_FILE_NAME = re.compile(r"lesson_(\d+)\.py")
_CELL_MARKER = re.compile(r"^# %%(?P<rest>.*)$")


@dataclass(frozen=True)
class Cell:
    """One notebook cell: `kind` is "code" or "markdown"; `source` has no markdown comment prefixes."""

    kind: str
    source: str


@dataclass(frozen=True)
class Lesson:
    """A lesson file: its number, title and summary (from the docstring) and its cells."""

    number: int
    title: str
    summary: str
    path: Path

    @property
    def slug(self) -> str:
        """The title in lower case with runs of other characters turned into '-': 'partial-derivatives'."""
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    @property
    def heading(self) -> str:
        return f"Lesson {self.number}: {self.title}"

    def source(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def cells(self) -> list[Cell]:
        """A markdown heading cell made from the docstring, then the file's own cells."""
        source = self.source()
        intro = escape_markdown(_docstring(source).split("\n\n", 1)[1].strip())
        heading = escape_markdown(self.heading)
        return [Cell("markdown", f"# {heading}\n\n{intro}"), *parse_cells(source)]


def parse_cells(text: str) -> list[Cell]:
    """Split py:percent text into cells; whatever comes before the first `# %%` line is skipped."""
    cells: list[Cell] = []
    kind, lines = None, []
    for number, line in enumerate(text.splitlines(), start=1):
        marker = _CELL_MARKER.match(line)
        if marker:
            _close_cell(cells, kind, lines)
            kind, lines = ("markdown" if "[markdown]" in marker["rest"] else "code"), []
        elif kind == "markdown":
            lines.append(_uncomment(line, number))
        elif kind == "code":
            lines.append(line)
    _close_cell(cells, kind, lines)
    return cells


def _close_cell(cells: list[Cell], kind: str | None, lines: list[str]) -> None:
    source = "\n".join(lines).strip("\n")
    if kind is not None and source.strip():
        cells.append(Cell(kind, source))


def _uncomment(line: str, number: int) -> str:
    if line == "" or line == "#":
        return ""
    if line.startswith("# "):
        return line[2:]
    raise ValueError(f"line {number}: a markdown cell line must start with '# ': {line!r}")


def escape_markdown(text: str) -> str:
    """Plain docstring text as markdown that shows it unchanged (so `3*w1**2` keeps its stars)."""
    return re.sub(r"([\\`*_\[\]<>])", r"\\\1", text)


def _docstring(text: str) -> str:
    docstring = ast.get_docstring(ast.parse(text))
    if not docstring or "\n\n" not in docstring:
        raise ValueError("a lesson starts with a docstring: a title line, a blank line, then a summary")
    return docstring


def _read_lesson(path: Path) -> Lesson:
    docstring = _docstring(path.read_text(encoding="utf-8"))
    title, rest = docstring.split("\n\n", 1)
    summary = " ".join(rest.split("\n\n", 1)[0].split())
    return Lesson(int(_FILE_NAME.fullmatch(path.name)[1]), title.strip(), summary, path)


def _discover(folder: Path) -> dict[int, Lesson]:
    paths = [path for path in folder.glob("lesson_*.py") if _FILE_NAME.fullmatch(path.name)]
    lessons = [_read_lesson(path) for path in paths]
    return {lesson.number: lesson for lesson in sorted(lessons, key=lambda lesson: lesson.number)}


LESSONS: dict[int, Lesson] = _discover(Path(__file__).parent)


def get(key: int | str) -> Lesson:
    """The lesson with this number (7, "7" or "07") or slug ("partial-derivatives")."""
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise LessonNotFoundError(f"a lesson is named by its number or slug, got {key!r}")
    for lesson in LESSONS.values():
        if _matches(lesson, key):
            return lesson
    choices = ", ".join(str(number) for number in LESSONS)
    raise LessonNotFoundError(f"no lesson {key}; choose one of {choices}")


def _matches(lesson: Lesson, key: int | str) -> bool:
    if isinstance(key, int):
        return lesson.number == key
    key = key.strip()
    return (key.isdigit() and int(key) == lesson.number) or key.lower() == lesson.slug
