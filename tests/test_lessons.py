"""The lesson registry, the cell parser, and every lesson run in-process: its numbers and its comparisons."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import gradlab
from gradlab.errors import LessonNotFoundError
from gradlab.teaching.lessons import LESSONS, Cell, get, parse_cells

NUMBERS = sorted(LESSONS)
CHOICES = ", ".join(str(number) for number in NUMBERS)
WIDEST_CODE_LINE = 76  # fits an 80-column terminal after the 4-space indent the runner adds

# (lesson, expression evaluated in the lesson's namespace, expected value); compared with ==.
KEY_NUMBERS = [
    (1, "forward_dw1", 36.000003007075065),
    (1, "forward_dw2", 10.000000003174137),
    (1, "[float(g) for g in gradients]", [36.0, 10.0]),
    (1, "[float(g) for g in gradients_inline]", [36.0, 10.0]),
    (1, "analytic", [36, 10]),
    (1, "round(truncation / eps, 9)", 3.0),
    (2, "float(dy_dw)", 10.0),
    (2, "float(analytic)", 10.0),
    (2, "dy_dw_unwatched", None),
    (3, "float(dy2_dw1)", 2.0),
    (3, "float(dy2_dy1 * dy1_dw1)", 2.0),
    (3, "float(dy2_dy1 * dy1_dw1) == float(dy2_dw1)", True),
    (3, "[float(g) for g in (dy2_dy1, dy1_dw1, dy2_dw2, dy2_db2, dy1_db1)]", [2.0, 1.0, 3.0, 1.0, 1.0]),
    # the pictures: every node checked, and the gradients the tape gave
    (1, "[graph[name].gradient for name in ('w1', 'w2')]", [36.0, 10.0]),
    (1, "{node.state for node in graph.nodes}", {"ok"}),
    (1, "[e.contribution for e in graph.out_of(graph['w1'].key)]", [30.0, 6.0]),
    (1, "along_w1.slope", 36.0),
    (1, "curve.max_difference[0]", 0.0),
    (3, "chain.labels", ["x", "w1", "b1", "w2", "b2", "x*w1", "y1", "y1*w2", "y2"]),
    (3, "[chain[n].gradient for n in ('x', 'w1', 'b1', 'w2', 'b2')]", [4.0, 2.0, 2.0, 3.0, 1.0]),
    (3, "chain['w1'].gradient == float(dy2_dw1)", True),
    (3, "{node.state for node in chain.nodes}", {"ok"}),
]

# (py:percent text, the cells it holds)
PARSED = [
    ('"""T\n\nS\n"""\n\n# %%\nx = 1\n', [Cell("code", "x = 1")]),
    ("# %% [markdown]\n# ## Head\n#\n# text\n", [Cell("markdown", "## Head\n\ntext")]),
    ("# %%\na = 1\n\n\nb = 2\n\n# %% [markdown]\n# m\n",
     [Cell("code", "a = 1\n\n\nb = 2"), Cell("markdown", "m")]),
    ("# %%\n\n# %%\nx\n", [Cell("code", "x")]),
    ("# %%\n  indented = 2\n", [Cell("code", "  indented = 2")]),
    ("no cells at all\n", []),
]


def _comparisons(namespace: dict) -> list:
    shown = list(namespace["Out"].values()) + list(namespace.values())
    return [value for value in shown if isinstance(value, gradlab.Comparison)]


@pytest.mark.parametrize("number", NUMBERS)
def test_registry_reads_every_lesson(number):
    lesson = LESSONS[number]
    cells = lesson.cells()
    assert lesson.title and lesson.summary and "\n" not in lesson.summary
    assert lesson.path.name == f"lesson_{number:02d}.py"
    assert cells[0].kind == "markdown" and cells[0].source.startswith(f"# Lesson {number}: ")
    assert any(cell.kind == "code" for cell in cells)


@pytest.mark.parametrize("number", NUMBERS)
def test_lesson_code_parses_and_fits_the_terminal(number):
    for cell in LESSONS[number].cells():
        if cell.kind == "code":
            ast.parse(cell.source)
            assert max(len(line) for line in cell.source.splitlines()) <= WIDEST_CODE_LINE, cell.source


@pytest.mark.parametrize("number", NUMBERS)
def test_markdown_carries_no_computed_figures(number):
    figure = re.compile(r"\d\.\d|\d[eE][-+]?\d")
    for cell in LESSONS[number].cells():
        if cell.kind == "markdown":
            assert not figure.search(cell.source), cell.source


@pytest.mark.parametrize(("text", "cells"), PARSED)
def test_parse_cells(text, cells):
    assert parse_cells(text) == cells


def test_parse_cells_rejects_an_uncommented_markdown_line():
    with pytest.raises(ValueError, match="line 3"):
        parse_cells("# %% [markdown]\n# fine\nnot commented\n")


@pytest.mark.parametrize("key", [1, "1", "01", " 1 ", "partial-derivatives", "Partial-Derivatives"])
def test_get_finds_a_lesson_by_number_or_slug(key):
    assert get(key) is LESSONS[1]


@pytest.mark.parametrize("key", [0, 99, "0", "99", "abc", "", "-1", "1.5"])
def test_get_names_the_choices_for_a_missing_lesson(key):
    with pytest.raises(LessonNotFoundError, match=re.escape(f"; choose one of {CHOICES}")):
        get(key)


def test_listing_lessons_reads_them_as_text():
    assert all(lesson.path.suffix == ".py" for lesson in LESSONS.values())
    assert not any(name.startswith("gradlab.teaching.lessons.lesson_") for name in sys.modules)


@pytest.mark.parametrize("number", NUMBERS)
def test_lesson_runs_and_every_comparison_is_ok(number, lesson_run):
    comparisons = _comparisons(lesson_run(number).namespace)
    assert comparisons, "a lesson compares its gradients with gradlab.compare"
    for comparison in comparisons:
        assert comparison.ok, [(row.name, row.tape, row.numeric, row.analytic) for row in comparison.rows]


@pytest.mark.parametrize("number", NUMBERS)
def test_rendered_lesson_shows_the_code_it_ran(number, lesson_run):
    rendered = {line.rstrip() for line in lesson_run(number).text.splitlines()}
    for cell in LESSONS[number].cells():
        if cell.kind == "code":
            for line in cell.source.splitlines():
                assert ("    " + line).rstrip() in rendered, line


@pytest.mark.parametrize(("number", "expression", "expected"), KEY_NUMBERS)
def test_key_numbers(number, expression, expected, lesson_run):
    assert eval(expression, dict(lesson_run(number).namespace)) == expected


@pytest.mark.parametrize(
    ("number", "printed"),
    [
        (1, "36.000003007075065"),
        (1, "10.000000003174137"),
        (1, "which is 3*eps"),
        (2, "tf.Tensor(10.0, shape=(), dtype=float32)"),
        (2, "None"),
        (3, "the chain rule holds"),
        (3, "RuntimeError: A non-persistent GradientTape"),
        (14, "[figure, drawn in the notebook: “training loss”: mean squared error (log scale) against step.]"),
        (8, "[figure, drawn in the notebook: Plot 1, “d/dx at 1 (float64)”:"),
    ],
)
def test_lesson_prints(number, printed, lesson_run):
    """Word for word, wherever the terminal broke the lines."""
    assert " ".join(printed.split()) in " ".join(lesson_run(number).text.split())


def test_a_final_expression_is_displayed_and_none_is_not():
    import io

    from rich.console import Console

    from gradlab.teaching.lesson import run_cell

    console = Console(file=io.StringIO(), width=80)
    namespace = {"Out": {}}
    run_cell(Cell("code", "x = 'text'\nx"), namespace, console, "<test>", 0)
    run_cell(Cell("code", "None"), namespace, console, "<test>", 1)
    run_cell(Cell("code", "print('printed')"), namespace, console, "<test>", 2)
    assert console.file.getvalue().splitlines() == ["'text'", "printed"]
    assert namespace["Out"] == {0: "text"}


@pytest.mark.parametrize("number", NUMBERS)
def test_readme_lists_every_lesson(number):
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"| {number} | [{LESSONS[number].title}]" in readme
