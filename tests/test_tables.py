"""Every table a lesson shows fits 80 and 60 columns whole; small arrays are shown whole, larger ones by their
worst entry."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from rich.console import Console

import gradlab
from gradlab.render import matrix
from gradlab.teaching.lessons import LESSONS

WIDTHS = (80, 60)
#: Where a tolerance's description may break when it does not fit on one line (gradlab.render.tolerance_caption).
TERM_BREAK = re.compile(r" (?=\+ )|  (?=\[)")


def rendered(result, width):
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(result)
    return console.file.getvalue()


def _comparison_names(result):
    return [row.name for row in result.rows]


def _check_names(result):
    return [r.name for r in result.inputs]


def _location_names(result):
    return [op.name for op in result.wrong]


def _diagnosis_names(result):
    return [f"{f.name}: " for f in result.findings]


def _study_names(result):
    return list(result.best)


#: The names a result's view must show in full, by the result's type name.
NAMES = {"Comparison": _comparison_names, "GradCheck": _check_names, "Location": _location_names,
         "Diagnosis": _diagnosis_names, "StepStudy": _study_names}


def _shown(number, lesson_run):
    out = lesson_run(number).namespace["Out"]
    return [value for value in out.values() if type(value).__module__.startswith("gradlab")]


def _cases():
    return [(number, width) for number in sorted(LESSONS) for width in WIDTHS]


@pytest.mark.parametrize(("number", "width"), _cases())
def test_no_line_is_wider_than_the_terminal(number, width, lesson_run):
    for result in _shown(number, lesson_run):
        text = rendered(result, width)
        assert max(map(len, text.splitlines())) <= width, text


#: A cut: rich's ellipsis right after what it shortened (other views may show "…" as a mark of their own).
CUT = re.compile(r"\S…")


@pytest.mark.parametrize(("number", "width"), _cases())
def test_nothing_is_cut(number, width, lesson_run):
    for result in _shown(number, lesson_run):
        text = rendered(result, width)
        assert not (CUT.search(text) or (type(result).__name__ in NAMES and "…" in text)), text


@pytest.mark.parametrize(("number", "width"), _cases())
def test_every_name_is_shown_in_full(number, width, lesson_run):
    for result in _shown(number, lesson_run):
        text = rendered(result, width)
        for name in NAMES.get(type(result).__name__, lambda r: [])(result):
            assert name in text, (name, text)


@pytest.mark.parametrize(("number", "width"), _cases())
def test_the_tolerance_caption_breaks_only_between_its_parts(number, width, lesson_run):
    for result in _shown(number, lesson_run):
        if not isinstance(result, gradlab.Comparison):
            continue
        text = rendered(result, width)
        for part in result.tolerances:
            pieces = [part] if len(part) + len("pass when ") <= width else TERM_BREAK.split(part)
            assert all(piece in text for piece in pieces), (part, text)


def test_lessons_show_comparisons():
    """The tests above see tables: some lesson displays a comparison and a check."""
    assert any("compare(" in LESSONS[n].source() for n in LESSONS)
    assert any("check(" in LESSONS[n].source() for n in LESSONS)


# --- small arrays whole, larger ones by their worst entry ------------------------------------------------------

A = np.arange(12.0).reshape(4, 3)


def _jacobian_with_wrong(index):
    wrong = A.copy()
    wrong[index] += 1.0
    return wrong


def _hessian():
    import tensorflow as tf

    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x[0] ** 2 * x[1] + x[1] ** 3
        return tape.gradient(y, x)

    x = np.array([1.0, 2.0])
    exact = np.array([[2 * x[1], 2 * x[0]], [2 * x[0], 6 * x[1]]])
    return gradlab.compare(gradient, x, analytic=[exact], names=["H"])


def _matvec(tape, names=None):
    import tensorflow as tf

    return gradlab.compare(lambda x: tf.linalg.matvec(tf.constant(A), x), np.array([1.0, 2.0, 3.0]),
                           tape=[tape], names=names)


SHOWN = [
    ("a 2x2 Hessian shows its four entries", _hessian, ("H    [[4,  2],", "      [2, 12]]")),
    ("a 4x3 Jacobian shows its shape", lambda: _matvec(A), "<4×3>"),
    ("a wrong entry of a Jacobian is named by output and input", lambda: _matvec(_jacobian_with_wrong((2, 1))),
     "worst dy[2]/dx[1]"),
    ("another wrong entry", lambda: _matvec(_jacobian_with_wrong((0, 2))), "worst dy[0]/dx[2]"),
    ("a row named dz/dw names its entries so", lambda: _matvec(_jacobian_with_wrong((3, 0)), ["dz/dw"]),
     "worst dz[3]/dw[0]"),
    ("a row with another name indexes its own value", lambda: _matvec(_jacobian_with_wrong((1, 1)), ["J"]),
     "worst J[1, 1]"),
    ("the worst entry shows both sides", lambda: _matvec(_jacobian_with_wrong((2, 1))), "8       7"),
]


@pytest.mark.parametrize(("what", "make", "shown"), SHOWN, ids=[case[0] for case in SHOWN])
def test_a_comparison_shows(what, make, shown):
    text = "\n".join(line.rstrip() for line in rendered(make(), 100).splitlines())
    assert all(line in text for line in ([shown] if isinstance(shown, str) else shown)), text


MATRICES = [
    (np.array([[1.0, 2.0], [3.0, 4.0]]), "[[1, 2],\n [3, 4]]"),
    (np.array([[4.0, 2.0, 0.0], [2.0, 0.0, 0.87758], [0.0, 0.87758, -0.95892]]),
     "[[4,     2,      0],\n [2,     0,  0.878],\n [0, 0.878, -0.959]]"),
    (np.array([2.54, 5.0]), "[2.54, 5]"),
    (np.array([1.0, 2.0, 3.0, 4.0, 5.0]), "[1, 2, 3,\n 4, 5]   "),
    (np.array([[1.0], [-2.5]]), "[[   1],\n [-2.5]]"),
]


@pytest.mark.parametrize(("array", "text"), MATRICES)
def test_a_small_array_is_written_whole_and_aligned(array, text):
    assert matrix(array) == text


def test_a_jacobian_row_knows_where_the_output_ends():
    assert _matvec(A).rows[0].output_rank == 1


def test_the_worst_entry_is_the_planted_one():
    assert _matvec(_jacobian_with_wrong((2, 1))).rows[0].worst == (2, 1)


def test_the_html_keeps_room_under_its_last_line():
    """rich's <pre> scrolls sideways, which clips what hangs below its last line (the underscores of
    `Identity_1`) unless the box has room under it."""
    from gradlab.render import PRE_ROOM

    html = gradlab.compare(lambda x: x * x, 3.0)._repr_mimebundle_()["text/html"]
    assert html.count(PRE_ROOM) == 1 and html.index(PRE_ROOM) < html.index(">")

