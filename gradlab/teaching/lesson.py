"""Running a lesson in the terminal: each cell is shown, and code cells run in one shared namespace.

Markdown cells are rendered with rich; a code cell is printed, then executed, and if its last statement
is an expression the value is displayed the way Jupyter would show it. The code shown is the code run.
"""

from __future__ import annotations

import ast
import contextlib
import linecache

from rich.console import Console
from rich.markdown import Markdown
from rich.padding import Padding
from rich.pretty import Pretty
from rich.syntax import Syntax

from gradlab.teaching.lessons import Cell, Lesson

__all__ = ["run_lesson", "run_cell"]

CODE_INDENT = 4


def run_lesson(lesson: Lesson, console: Console) -> dict:
    """Show and run every cell of `lesson` on `console`; return the namespace the cells shared."""
    import gradlab._tf  # noqa: F401  (TensorFlow's start-up notices stay hidden when a cell imports it)

    namespace: dict = {"__name__": "__main__", "Out": {}}
    for index, cell in enumerate(lesson.cells()):
        console.print()
        if cell.kind == "markdown":
            console.print(Markdown(cell.source))
        else:
            show_code(cell, console)
            run_cell(cell, namespace, console, f"<lesson {lesson.number} cell {index}>", index)
    return namespace


def show_code(cell: Cell, console: Console) -> None:
    syntax = Syntax(cell.source, "python", theme="ansi_dark", background_color="default", word_wrap=True)
    console.print(Padding(syntax, (0, 0, 0, CODE_INDENT)))


def run_cell(cell: Cell, namespace: dict, console: Console, filename: str, index: int) -> None:
    """Execute the cell; print() goes to the console, and a final expression's value is displayed."""
    body, last = _split_last_expression(cell.source, filename)
    out = console.file
    with contextlib.redirect_stdout(out):
        exec(compile(body, filename, "exec"), namespace)
        value = eval(compile(last, filename, "eval"), namespace) if last is not None else None
    if value is not None:
        namespace["Out"][index] = namespace["_"] = value
        display(value, console)


def display(value: object, console: Console) -> None:
    """Rich renderables as themselves, a matplotlib figure as a note (a terminal cannot show it), anything
    else by its repr, spread over lines when long."""
    if hasattr(type(value), "__rich_console__") or hasattr(type(value), "__rich__"):
        console.print(value)
    elif type(value).__name__ == "Figure" and hasattr(value, "savefig"):
        console.print(f"[a matplotlib figure with {len(value.axes)} axes: the notebook shows it as an image]",
                      markup=False, style="dim")
    else:
        console.print(Pretty(value))


def _split_last_expression(source: str, filename: str) -> tuple[ast.Module, ast.Expression | None]:
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    tree = ast.parse(source, filename)
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
        return tree, last
    return tree, None
