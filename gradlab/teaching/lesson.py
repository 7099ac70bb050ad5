"""Running a lesson in the terminal: each cell is shown, and code cells run in one shared namespace.

Markdown cells are rendered with rich; a code cell is printed, then executed, and if its last statement
is an expression the value is displayed the way Jupyter would show it. The code shown is the code run.

With pause=True, and stdin a terminal, the runner waits for Enter before each section (a markdown cell that
starts with a heading) and asks for the predictions of the exercises; q or the end of input stops the lesson
(`Stop`). When stdin is not a terminal, nothing is read and the lesson runs through.
"""

from __future__ import annotations

import ast
import contextlib
import linecache
import sys

from rich.console import Console
from rich.markdown import Markdown
from rich.padding import Padding
from rich.pretty import Pretty
from rich.syntax import Syntax

from gradlab.render import figure_text, is_figure
from gradlab.teaching.lessons import Cell, Lesson

__all__ = ["Stop", "run_cell", "run_lesson", "stdin_is_terminal"]

CODE_INDENT = 4
NEXT_SECTION = "press Enter for the next section, q to stop: "
STOP_WORDS = ("q", "quit")


class Stop(Exception):
    """The learner asked to stop the lesson (q, or the end of input)."""


def stdin_is_terminal() -> bool:
    isatty = getattr(sys.stdin, "isatty", None)
    return bool(sys.stdin is not None and callable(isatty) and isatty())


def run_lesson(lesson: Lesson, console: Console, pause: bool = False) -> dict:
    """Show and run every cell of `lesson` on `console`; return the namespace the cells shared.

    With `pause` (and stdin a terminal) wait for Enter before each section and ask for each prediction;
    raises Stop when the learner types q or ends the input."""
    import gradlab._tf  # noqa: F401  (TensorFlow's start-up notices stay hidden when a cell imports it)
    from gradlab.teaching.exercises import asking

    pause = pause and stdin_is_terminal()
    namespace: dict = {"__name__": "__main__", "Out": {}}
    with asking(_asker(console)) if pause else contextlib.nullcontext():
        for index, cell in enumerate(lesson.cells()):
            starts_a_section = index and cell.kind == "markdown" and cell.source.startswith("#")
            if pause and starts_a_section and _read(console, NEXT_SECTION).lower() in STOP_WORDS:
                raise Stop
            console.print()
            if cell.kind == "markdown":
                console.print(Markdown(cell.source))
            else:
                show_code(cell, console)
                run_cell(cell, namespace, console, f"<lesson {lesson.number} cell {index}>", index)
    return namespace


def _read(console: Console, prompt: str) -> str:
    """One line typed at the terminal, stripped; Stop at the end of input (Ctrl-D)."""
    console.print(prompt, end="", markup=False, highlight=False)
    console.file.flush()
    line = sys.stdin.readline()
    if not line:
        console.print()
        raise Stop
    return line.strip()


def _asker(console: Console):
    """The ask hook of gradlab.teaching.exercises: a prediction typed at the terminal, or ... when skipped."""
    from gradlab.errors import GradlabError
    from gradlab.teaching.exercises import parse_prediction

    def ask(exercise):
        while True:
            text = _read(console, f"your prediction for exercise {exercise.key} (Enter to skip, q to stop): ")
            if not text:
                return Ellipsis
            if text.lower() in STOP_WORDS:
                raise Stop
            try:
                return parse_prediction(text)
            except GradlabError as error:
                console.print(str(error), markup=False, highlight=False, style="yellow")

    return ask


def show_code(cell: Cell, console: Console) -> None:
    syntax = Syntax(cell.source, "python", theme="ansi_dark", background_color="default", word_wrap=True)
    console.print(Padding(syntax, (0, 0, 0, CODE_INDENT)))


def run_cell(cell: Cell, namespace: dict, console: Console, filename: str, index: int) -> None:
    """Execute the cell; print() goes to the console, and a final expression's value is displayed. Figures left
    open by the cell are then described and closed, as a notebook shows and closes them after each cell."""
    body, last = _split_last_expression(cell.source, filename)
    out = console.file
    with contextlib.redirect_stdout(out):
        exec(compile(body, filename, "exec"), namespace)
        value = eval(compile(last, filename, "eval"), namespace) if last is not None else None
    if value is not None:
        namespace["Out"][index] = namespace["_"] = value
        display(value, console)
    pyplot = sys.modules.get("matplotlib.pyplot")
    for number in pyplot.get_fignums() if pyplot is not None else ():
        display(pyplot.figure(number), console)
        pyplot.close(number)


def display(value: object, console: Console) -> None:
    """Rich renderables as themselves, a matplotlib figure described in words (a terminal cannot show it),
    anything else by its repr, spread over lines when long."""
    if hasattr(type(value), "__rich_console__") or hasattr(type(value), "__rich__"):
        console.print(value)
    elif is_figure(value):
        console.print(f"[figure, drawn in the notebook: {figure_text(value)}]", markup=False, highlight=False,
                      style="dim")
    else:
        console.print(Pretty(value))


def _split_last_expression(source: str, filename: str) -> tuple[ast.Module, ast.Expression | None]:
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    tree = ast.parse(source, filename)
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
        return tree, last
    return tree, None
