"""Exercises: the grader's verdicts and hints, every exercise of the bank, the lesson cells, and --pause."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

import gradlab
from gradlab import cli
from gradlab.errors import GradlabError, LessonNotFoundError
from gradlab.teaching.exercises import Exercise, exercise, exercises, grade, parse_prediction
from gradlab.teaching.lesson import Stop, run_lesson
from gradlab.teaching.lessons import LESSONS, Cell

BANK = exercises()
IDS = [e.key for e in BANK]

# (answer, expected, state, text the hint or entry must contain); names ("df/dw1", "df/dw2") for lists of two.
GRADES = [
    (36, 36.0, "right", ""),
    (np.float32(36.000004), 36.0, "right", ""),
    ([10, 4], [np.float32(10), np.float32(4)], "right", ""),
    (36.01, 36.0, "close", ""),
    ([10, 4.001], [10.0, 4.0], "close", "df/dw2"),
    (-36, 36.0, "wrong", "sign is flipped"),
    (72, 36.0, "wrong", "factor 2 too many"),
    (18, 36.0, "wrong", "factor 2 is missing"),
    (None, 36.0, "wrong", "tape.watch"),
    ([1, 2, 3], [[1.0, 2.0, 3.0]], "wrong", "expected (1, 3)"),
    ([[1, 2], [3, 4], [5, 6]], np.ones((2, 3)), "wrong", "transposed"),
    (0, None, "wrong", "not zero"),
    (None, None, "right", ""),
    (float("nan"), float("nan"), "right", ""),
    ([float("nan"), 1.0], [0.0, 1.0], "wrong", "not finite"),
    (np.array([10, 4]), [10.0, 4.0], "right", ""),
    (np.array([10, 4], np.float32), [10.0, 4.0], "right", ""),
    ((10.0, 4.0), [10.0, 4.0], "right", ""),
    ([4, 10], [10.0, 4.0], "wrong", "wrong order"),
    (None, [10.0, 4.0], "wrong", "tape.watch"),
]


def _names(expected):
    return ("df/dw1", "df/dw2") if isinstance(expected, list) and len(expected) == 2 else ()


@pytest.mark.parametrize(("answer", "expected", "state", "said"), GRADES)
def test_grade(answer, expected, state, said):
    feedback = grade(answer, expected, names=_names(expected))
    assert feedback.state == state and said in feedback.hint + feedback.entry, feedback


def test_close_names_the_worst_entry_and_its_difference():
    feedback = grade([10, 4.001], [10.0, 4.0], names=("df/dw1", "df/dw2"))
    assert feedback.entry == "df/dw2" and feedback.max_difference == pytest.approx(1e-3)
    assert str(feedback).startswith("~ close: max difference 1.0e-03 at df/dw2")


def test_a_missing_term_is_named():
    feedback = grade(12, 10.0, terms=[("2*w2", -2.0)])
    assert feedback.hint == "the term 2*w2 is missing"


def test_a_float32_answer_is_judged_with_float32_rounding():
    assert grade(np.float32(1 / 3), 1 / 3).state == "right"
    assert grade(1 / 3 + 1e-6, 1 / 3).state == "close"


def test_right_reads_like_a_tutor():
    assert str(grade(36, 36.0)) == "✓ right: 36 (max difference 0.0)\n"
    assert str(grade(-36, 36.0)).startswith("✗ wrong: you gave -36: the sign is flipped")
    assert "36" not in str(grade(-36, 36.0)).replace("-36", "")  # a wrong answer does not give the right one away


def test_unanswered_is_never_a_failure():
    feedback = exercise(1, 1).check(...)
    assert feedback.state == "unanswered" and "replace ... with your answer" in str(feedback)


# answers to the exercises of lesson 1 and how they grade: (lesson, number, answer, state, text of the hint)
ANSWERS = [
    (1, 1, [10, 4], "right", ""),
    (1, 1, [12, 4], "wrong", "the term 2*w2 of df/dw1 is missing"),
    (1, 2, lambda w1, w2: w1 ** 2 + 3 * w2 ** 2, "right", ""),
    (1, 2, lambda w1, w2: -(w1 ** 2 + 3 * w2 ** 2), "wrong", "sign is flipped"),
    (1, 2, lambda w1, w2: w1 ** 2, "wrong", "the term 3*w2**2 is missing"),
    (1, 2, lambda w1, w2: 2 * w1 * w2, "wrong", "that is dg/dw1"),
    (2, 1, [-4, 0], "wrong", "not zero"),
    (3, 1, 2, "wrong", "dy1/dw1 = x alone"),
    (6, 2, [3, 4, 2], "wrong", "the target's axes come first"),
    (8, 1, 3.3, "close", "f'''/6*h**2"),
    (11, 1, [5, 2, 5, 3], "wrong", "tape.jacobian's shape"),
]


@pytest.mark.parametrize(("lesson", "number", "answer", "state", "said"), ANSWERS)
def test_answers(lesson, number, answer, state, said):
    feedback = exercise(lesson, number).check(answer)
    assert feedback.state == state and said in feedback.hint, feedback


@pytest.mark.parametrize("key", ["2.2", "4.1", "5.2", "7.2", "10.2"])
def test_a_fix_that_still_returns_none_is_told_why(key):
    e = exercise(*map(int, key.split(".")))
    broken = e._starter()
    feedback = e.check(lambda: broken())
    assert feedback.state == "wrong" and feedback.hint.startswith("you gave None"), feedback


def test_a_fix_that_raises_says_what_it_raised():
    e = exercise(3, 2)
    broken = e._starter()
    feedback = e.check(lambda: broken())
    assert feedback.state == "wrong" and "raised RuntimeError" in feedback.hint and "persistent=True" in feedback.hint


def _custom(gradient):
    from gradlab._tf import tf

    @tf.custom_gradient
    def swish(x):
        s = tf.sigmoid(x)

        def grad(dy):
            return gradient(dy, x, s)
        return x * s, grad

    return swish


@pytest.mark.parametrize(("gradient", "state", "said"), [
    (lambda dy, x, s: dy * s * (1 + x * (1 - s)), "right", ""),
    (lambda dy, x, s: s * (1 + x * (1 - s)), "wrong", "must multiply by dy"),
    (lambda dy, x, s: -dy * s * (1 + x * (1 - s)), "wrong", "sign is flipped"),
    (lambda dy, x, s: dy * s, "wrong", ""),
])
def test_write_a_custom_gradient(gradient, state, said):
    feedback = exercise(9, 1).check(_custom(gradient))
    assert feedback.state == state and said in feedback.hint, feedback
    if state == "wrong":
        assert feedback.entry.startswith("dy[") and "/dx[" in feedback.entry


def _traced(function):
    from gradlab._tf import tf

    return tf.function(function)


@pytest.mark.parametrize("wrap", [lambda f: f, _traced], ids=["plain", "tf.function"])
def test_write_refuses_a_function_that_is_not_a_custom_gradient(wrap):
    """Its value and Jacobian are right, but the tape differentiated x * sigmoid(x) itself: no grad was written."""
    from gradlab._tf import tf

    def swish(x):
        return x * tf.sigmoid(x)

    feedback = exercise(9, 1).check(wrap(swish))
    assert feedback.state == "wrong" and "put the decorator back" in feedback.hint, feedback
    assert exercise(9, 1).check(wrap(_custom(lambda dy, x, s: dy * s * (1 + x * (1 - s))))).state == "right"


def test_write_names_the_input_whose_gradient_is_wrong():
    from gradlab._tf import tf

    @tf.custom_gradient
    def scale(x, w):
        def grad(dy):
            return dy * w, 2 * tf.reduce_sum(dy * x, axis=0)
        return x * w, grad

    feedback = exercise(15, 2).check(scale)
    assert feedback.state == "wrong" and feedback.hint.startswith("dy/dw: twice"), feedback
    assert "/dw[" in feedback.entry


@pytest.mark.parametrize("e", BANK, ids=IDS)
def test_every_solution_grades_right(e):
    assert e.solution().feedback.state == "right"


@pytest.mark.parametrize("e", BANK, ids=IDS)
def test_every_answer_cell_as_given_grades_unanswered(e):
    assert e.check(...).state == "unanswered"
    if e.starter:
        assert e.check(e._starter()).state == "unanswered"


@pytest.mark.parametrize("e", BANK, ids=IDS)
def test_every_exercise_is_well_formed(e):
    assert e.kind in ("predict", "derive", "fix", "write") and e.title and e.statement and e.hints
    assert (e.kind == "predict") == (not e.starter) and (e.kind in ("derive", "write")) == bool(e.points)


@pytest.mark.parametrize("number", sorted(LESSONS))
def test_every_lesson_ends_with_its_exercises(number):
    mine = exercises(number)
    assert len(mine) >= 2 and [e.number for e in mine] == list(range(1, len(mine) + 1))
    expected = [cell for e in mine for cell in (Cell("markdown", e.markdown()), Cell("code", e.code()))]
    cells = LESSONS[number].cells()
    assert cells[-len(expected):] == expected
    assert cells[-len(expected) - 1].source.startswith("## Exercises")


@pytest.mark.parametrize("number", sorted(LESSONS))
def test_the_lesson_shows_no_solution(number, lesson_run):
    text = lesson_run(number).text
    shown = [value for value in lesson_run(number).namespace["Out"].values() if isinstance(value, gradlab.Feedback)]
    assert len(shown) == len(exercises(number)) and all(f.state == "unanswered" for f in shown)
    source, shown_lines = LESSONS[number].source(), {line.strip() for line in text.splitlines()}
    for e in exercises(number):
        answer_lines = [line.strip() for line in e.solution_source.splitlines() if line.strip() not in source]
        assert not [line for line in answer_lines if line in shown_lines], e.key
    assert "a solution of exercise" not in text


def test_exercise_lookup_errors_say_what_to_change():
    with pytest.raises(LessonNotFoundError, match="lesson 1 has no exercise 9; choose one of 1, 2"):
        gradlab.exercise(1, 9)
    with pytest.raises(LessonNotFoundError, match="no lesson 99"):
        gradlab.exercise(99, 1)
    with pytest.raises(GradlabError, match="a number, a list of numbers"):
        gradlab.exercise(3, 1).check("36")
    with pytest.raises(GradlabError, match="asks for a function"):
        gradlab.exercise(1, 2).check(36)


def test_the_public_names():
    assert gradlab.exercise(1, 1) is exercise(1, 1) and isinstance(gradlab.exercise(1, 1), gradlab.Exercise)
    assert "Exercise 1: " in str(gradlab.exercise(1, 1))


@pytest.mark.parametrize(("text", "value"), [
    ("36", 36), (" -4 ", -4), ("[10, 4]", [10, 4]), ("None", None), ("[-4, None]", [-4, None]),
    ("2*5 + 2*(-1)", 8), ("1/2", 0.5), ("10, 4", [10, 4]),
])
def test_parse_prediction(text, value):
    assert parse_prediction(text) == value


@pytest.mark.parametrize("text", ["x", "__import__('os')", "[1, 'a']", "9**9**9", ""])
def test_parse_prediction_refuses_what_is_not_a_number(text):
    with pytest.raises(GradlabError, match="is not an answer"):
        parse_prediction(text)


class FakeTerminal:
    """A stdin that says it is a terminal and answers with the given lines, then the end of input."""

    def __init__(self, *lines):
        self.lines = list(lines)

    def isatty(self):
        return True

    def readline(self):
        return self.lines.pop(0) + "\n" if self.lines else ""


def _exercises_only_lesson(tmp_path):
    """Lesson 3's file cut to its exercises, so that a --pause run stays short."""
    from dataclasses import replace

    source = LESSONS[3].source()
    head = source.split("# %%")[0]
    exercises_part = source[source.index("# %% [markdown]\n# ## Exercises"):]
    path = tmp_path / "lesson_03.py"
    path.write_text(head + "# %%\nimport gradlab\n\n" + exercises_part, encoding="utf-8")
    return replace(LESSONS[3], path=path)


def test_pause_grades_the_typed_prediction(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.stdin", FakeTerminal("", "", "-2", "", ""))
    console = Console(file=io.StringIO(), width=100)
    namespace = run_lesson(_exercises_only_lesson(tmp_path), console, pause=True)
    text = console.file.getvalue()
    assert "press Enter for the next section" in text and "your prediction for exercise 3.1" in text
    assert "✓ right: -2" in text
    assert [f.state for f in namespace["Out"].values()] == ["right", "unanswered"]


def test_pause_asks_again_after_a_typing_mistake_and_q_stops(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.stdin", FakeTerminal("", "", "two", "q"))
    console = Console(file=io.StringIO(), width=100)
    with pytest.raises(Stop):
        run_lesson(_exercises_only_lesson(tmp_path), console, pause=True)
    assert "'two' is not an answer" in console.file.getvalue()


def test_cli_pause_stops_cleanly_at_the_end_of_input(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", FakeTerminal())
    assert cli.main(["lesson", "2", "--pause"]) == 0
    out = capsys.readouterr().out
    assert "press Enter for the next section" in out and out.rstrip().endswith("stopped")


def test_cli_pause_without_a_terminal_runs_through_and_says_so(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("36\n"))
    assert cli.main(["lesson", "2", "--pause"]) == 0
    out, err = capsys.readouterr()
    assert err == "gradlab: --pause needs a terminal on stdin; running without pausing\n"
    assert "press Enter" not in out and "not answered yet" in out


def test_cli_pause_and_json_exclude_each_other(capsys):
    assert cli.main(["lesson", "2", "--pause", "--json"]) == 2
    assert "choose one" in capsys.readouterr().err


def test_an_exercise_is_a_frozen_dataclass():
    with pytest.raises(AttributeError):
        exercise(1, 1).title = "x"
    assert isinstance(exercise(1, 1), Exercise)


@pytest.mark.parametrize("answer", ["10, 4", {"df/dw1": 10}, ["10", 4]])
def test_an_answer_that_is_not_numbers_is_a_gradlab_error(answer):
    with pytest.raises(gradlab.GradlabError, match="not text"):
        gradlab.exercise(1, 1).check(answer)


def test_a_tensor_answer_is_graded_like_the_list():
    import tensorflow as tf

    assert gradlab.exercise(1, 1).check(tf.constant([10.0, 4.0])).state == "right"


def test_a_written_gradient_that_returns_none_says_so():
    import tensorflow as tf

    @tf.custom_gradient
    def swish(x):
        return x * tf.sigmoid(x), lambda dy: None

    feedback = gradlab.exercise(9, 1).check(swish)
    assert feedback.state == "wrong" and "is None" in feedback.hint
