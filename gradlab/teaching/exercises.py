"""Exercises and their grader: each answer is compared with what the tape computes, and judged right, close
or wrong, with a hint drawn from what is wrong.

An exercise is one of four kinds: "predict" (a number, a list of numbers or None, given before it is
revealed), "derive" (a function of the inputs, worked out by hand and evaluated at several points), "fix"
(a broken function to repair; it returns the gradient(s)) and "write" (a function with a custom gradient,
whose value and Jacobian are compared with a reference's). The expected answer is never written down: the
exercise's `reference` computes it with TensorFlow when an answer is graded.

An answer cell ships with `...` (or the broken function as given), which grades as "unanswered". The
terminal runner can install an `ask` function (`asking(ask)`): a prediction left as `...` is then asked for.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradlab.errors import GradlabError, LessonNotFoundError, summary
from gradlab.render import Result

__all__ = ["CLOSE", "HINT_RULES", "KINDS", "RIGHT", "STATES", "Exercise", "Feedback", "Solution", "asking",
           "exercise", "exercises", "grade", "parse_prediction"]

KINDS = ("predict", "derive", "fix", "write")
STATES = ("right", "close", "wrong", "unanswered")

#: An answer is right when no entry differs from the expected by more than RIGHT[dtype] times the scale, and
#: close within CLOSE times the scale. The scale is the largest finite expected magnitude (1 where every
#: expected entry is zero); the dtype is the lower precision of the answer and the expected value, so a
#: float32 answer is judged with float32's rounding and a typed number with float64's.
RIGHT = {"float64": 1e-7, "float32": 1e-5}
CLOSE = 1e-2

NONE_HINT = "a None means the tape recorded no path to that input: did it watch it (tape.watch(x))?"

_ASK: contextvars.ContextVar[Callable | None] = contextvars.ContextVar("gradlab_exercise_ask", default=None)


@contextlib.contextmanager
def asking(ask: Callable):
    """While active, a prediction left as `...` is asked for: `ask(exercise)` returns the answer, or `...`."""
    token = _ASK.set(ask)
    try:
        yield
    finally:
        _ASK.reset(token)


# --- the exercise ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Exercise(Result):
    """An exercise of a lesson: its statement, the reference that computes its answer, hints and a solution.

    `reference(*point)` computes the expected answer with TensorFlow: with no arguments for "predict" and
    "fix"; at each of `points` for "derive"; for "write" it is the function the answer must match in value
    and Jacobian. `terms` name the terms of the expected answer, and `mistakes` the values typical slips
    give, each with its hint; both are functions like `reference`. `starter` is the code the lesson's cell
    gives (the broken function of a "fix", the stub of a "write" or "derive"); `solution_source` defines
    `answer_name` and is shown only by `solution()`.
    """

    lesson: int
    number: int
    kind: str
    title: str
    statement: str
    reference: Callable
    solution_source: str
    answer_name: str = "prediction"
    hints: tuple[str, ...] = ()
    terms: tuple[tuple[str, Callable], ...] = ()
    mistakes: tuple[tuple[str, Callable], ...] = ()
    points: tuple[tuple, ...] = ()
    arguments: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    starter: str = ""
    none_hint: str = NONE_HINT

    @property
    def key(self) -> str:
        return f"{self.lesson}.{self.number}"

    def markdown(self) -> str:
        """The statement as the lesson shows it, under its heading, its paragraphs wrapped at 96 columns."""
        return f"### Exercise {self.number}: {self.title}\n\n{_wrapped(self.statement)}"

    def code(self) -> str:
        """The answer cell of the lesson: the starter (or `prediction = ...`), then the check."""
        check = f"gradlab.exercise({self.lesson}, {self.number}).check({self.answer_name})"
        if self.kind == "predict":
            return f"# your prediction: replace ... with your answer, then run the cell\nprediction = ...\n{check}"
        return f"{self.starter}\n\n{check}"

    def check(self, answer) -> Feedback:
        """Grade `answer`: right, close, wrong (with a hint) or unanswered (`...`, or the starter unchanged)."""
        if answer is Ellipsis and self.kind == "predict" and _ASK.get() is not None:
            answer = _ASK.get()(self)
        if self._unanswered(answer):
            return Feedback(self.key, "unanswered", hint=self._todo())
        return _GRADERS[self.kind](self, answer)

    def solution(self) -> Solution:
        """A solution: its code, and how the grader judges it."""
        namespace = _namespace()
        exec(compile(self.solution_source, f"<solution {self.key}>", "exec"), namespace)  # noqa: S102  (the bank's own code)
        return Solution(self.key, self.solution_source, self.check(namespace[self.answer_name]))

    def __rich__(self):
        from rich.markdown import Markdown

        return Markdown(self.markdown())

    def _unanswered(self, answer) -> bool:
        if answer is Ellipsis:
            return True
        if self.kind == "predict" or not callable(answer):
            return False
        return _holds_ellipsis(answer) or (bool(self.starter) and _same_code(answer, self._starter()))

    def _starter(self):
        namespace = _namespace()
        exec(compile(self.starter, f"<starter {self.key}>", "exec"), namespace)  # noqa: S102  (the bank's own code)
        return namespace[self.answer_name]

    def _todo(self) -> str:
        return {"predict": "replace ... with your answer, then run the cell",
                "derive": "replace ... with your formula, then run the cell",
                "fix": "fix the function above, then run the cell",
                "write": "replace ... with your code, then run the cell"}[self.kind]


def _wrapped(text: str, width: int = 96) -> str:
    """Markdown with each paragraph wrapped at `width`; fenced code blocks are kept as they are."""
    import textwrap

    blocks = text.split("```")
    for i in range(0, len(blocks), 2):  # the even blocks are outside the fences
        paragraphs = blocks[i].split("\n\n")
        blocks[i] = "\n\n".join(textwrap.fill(p, width, break_long_words=False, break_on_hyphens=False)
                                 if p.strip() else p for p in paragraphs)
    return "```".join(blocks)


def _namespace() -> dict:
    import gradlab
    from gradlab._tf import tf

    return {"__name__": "__exercise__", "gradlab": gradlab, "np": np, "tf": tf}


def _holds_ellipsis(function) -> bool:
    """The function, or one it defines, still holds `...` (a `return ...` or `x = ...` of a stub)."""
    code = getattr(_unwrap(function), "__code__", None)
    stack = [code] if code is not None else []
    while stack:
        code = stack.pop()
        for constant in code.co_consts:
            if constant is Ellipsis:
                return True
            if hasattr(constant, "co_consts"):
                stack.append(constant)
    return False


def _fingerprint(code):
    """What a function does, wherever it was defined: its bytecode, names and constants, nested ones too."""
    consts = tuple(_fingerprint(c) if hasattr(c, "co_code") else (type(c).__name__, repr(c)) for c in code.co_consts)
    return code.co_code, code.co_names, code.co_varnames, consts


def _same_code(function, starter) -> bool:
    mine, given = (getattr(_unwrap(f), "__code__", None) for f in (function, starter))
    return mine is not None and given is not None and _fingerprint(mine) == _fingerprint(given)


def _decorators(function) -> set:
    """The names of TensorFlow's decorators on `function` or on what it wraps ("custom_gradient", "tf.function"),
    as far as TensorFlow tells (an empty set where it does not)."""
    try:
        from tensorflow.python.util import tf_decorator
    except ImportError:
        return set()
    names = set()
    while function is not None:
        names |= {decorator.decorator_name for decorator in tf_decorator.unwrap(function)[0]}
        function = getattr(function, "__wrapped__", None)
    return names


def _unwrap(function):
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function


# --- feedback --------------------------------------------------------------------------------------------


@dataclass
class Feedback(Result):
    """The grader's answer: its state, both values (plain numbers, lists, None), the worst entry and a hint."""

    exercise: str
    state: str
    expected: object = None
    answer: object = None
    max_difference: float | None = None
    entry: str = ""
    hint: str = ""

    def __rich__(self):
        from rich.text import Text

        marks = {"right": ("✓ right", "bold green"), "close": ("~ close", "bold yellow"),
                 "wrong": ("✗ wrong", "bold red"), "unanswered": ("… not answered yet", "bold")}
        return Text.assemble(marks[self.state], ": ", self.said())

    def said(self) -> str:
        """The sentence after the mark, as plain text."""
        at = f" at {self.entry}" if self.entry and self.max_difference else ""
        if self.state == "unanswered":
            return self.hint
        if self.state == "right":
            return f"{_shown(self.answer)} (max difference {_difference(self.max_difference)}{at})"
        if self.state == "close":
            return (f"max difference {_difference(self.max_difference)}{at}; you gave {_shown(self.answer)}"
                    + (f": {self.hint}" if self.hint else ""))
        given = "" if self.answer is _RAISED else f"you gave {_shown(self.answer)}"
        where = f" (furthest off at {self.entry})" if self.entry and given else ""
        return f"{given}{where}" + (f": {self.hint}" if given and self.hint else self.hint)

    def to_json(self) -> dict:
        from gradlab.export import plain

        return {"kind": "exercise", "exercise": self.exercise, "state": self.state,
                "expected": plain(self.expected), "answer": plain(self.answer),
                "max_difference": plain(self.max_difference), "entry": self.entry, "hint": self.hint}


@dataclass
class Solution(Result):
    """A solution of an exercise: its code and the grader's verdict on it."""

    exercise: str
    source: str
    feedback: Feedback

    def __rich__(self):
        from rich.console import Group
        from rich.syntax import Syntax
        from rich.text import Text

        syntax = Syntax(self.source, "python", theme="ansi_dark", background_color="default", word_wrap=True)
        return Group(Text(f"a solution of exercise {self.exercise}:", style="bold"), syntax, self.feedback)


_RAISED = object()  # the answer of a function that raised: there is no value to show


def _difference(value) -> str:
    if value is None:
        return "—"
    return "0.0" if value == 0 else f"{value:.1e}"


def _shown(value) -> str:
    """A value as a learner would type it: 36, 0.5, [10, 4], None."""
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.7g}"
    return str(value)


def _plain(value):
    """Numbers, nested lists and None, for showing and for JSON."""
    if value is None or value is _RAISED:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    array = np.asarray(value)
    if array.dtype.kind in "iub":
        return array.tolist()
    return np.asarray(array, dtype=np.float64).tolist()


# --- grading ---------------------------------------------------------------------------------------------


def _entry_name(name, index):
    """x[1] for entry (1,) of the part x; the bare name for a scalar."""
    return f"{name}[{', '.join(map(str, index))}]" if index else name


@dataclass
class _Part:
    """One compared array: its name, the answer and the expected value, and how to name one of its entries."""

    name: str
    answer: object
    expected: object
    entry: Callable = _entry_name


def grade(answer, expected, key="", names=(), terms=(), mistakes=(), none_hint=NONE_HINT, hints=()) -> Feedback:
    """Compare an answer with the expected value: a number, an array, None, or a list of such parts
    (`names` names each part). `terms` and `mistakes` are (name, value) and (hint, value) pairs."""
    _require_numbers(answer)
    parts = _parts(answer, expected, names)
    if isinstance(parts, str):
        return Feedback(key, "wrong", _plain(expected), _plain(answer), hint=parts)
    return _judge(parts, answer, expected, key, terms, mistakes, none_hint, hints)


def _parts(answer, expected, names):
    """The answer and the expected value split into parts, or a sentence saying why they cannot be."""
    if len(names) > 1:
        if answer is None:
            return f"{NONE_HINT}; give {len(names)} values, [{', '.join(names)}]"
        if not isinstance(answer, (list, tuple)) and np.ndim(_array(answer)) >= 1:
            answer = list(_array(answer))  # an array or a tensor of the values, one per part
        if not isinstance(answer, (list, tuple)) or len(answer) != len(names):
            count = len(answer) if isinstance(answer, (list, tuple)) else 1
            count = f"{count} value{'s' if count != 1 else ''}"
            return f"give {len(names)} values, [{', '.join(names)}], not {count}"
        return [_Part(n, a, e) for n, a, e in zip(names, answer, expected)]
    return [_Part(names[0] if names else "", answer, expected)]


def _require_numbers(answer):
    """A GradlabError unless the answer is None, a number, an array, a tensor, or a list of them."""
    if isinstance(answer, (list, tuple)):
        for item in answer:
            _require_numbers(item)
    elif answer is not None:
        _array(answer)


def _worst(parts):
    """The largest difference over the parts, the part that holds it and its index there."""
    worst, where, index = 0.0, None, ()
    for part in parts:
        if part.expected is None:
            continue
        difference = _differences(_array(part.answer), _array(part.expected))
        if where is None or (difference.size and float(difference.max()) > worst):
            where = part
            if difference.size:
                worst = float(difference.max())
                index = tuple(int(i) for i in np.unravel_index(int(np.argmax(difference)), difference.shape))
    return worst, where, index


def _judge(parts, answer, expected, key, terms, mistakes, none_hint, hints) -> Feedback:
    shown_answer, shown_expected = _plain(answer), _plain(expected)
    known = _known_mistake(answer, mistakes)
    if known:
        return Feedback(key, "wrong", shown_expected, shown_answer, hint=known)
    for part in parts:
        wrong = _structure(part, none_hint)
        if wrong:
            return Feedback(key, "wrong", shown_expected, shown_answer, hint=wrong)
    arrays = [(_array(p.answer), _array(p.expected)) for p in parts if p.expected is not None]
    precision = "float32" if any(a.dtype == np.float32 or e.dtype == np.float32 for a, e in arrays) else "float64"
    flat_answer = np.concatenate([a.astype(np.float64).ravel() for a, _ in arrays] or [np.zeros(0)])
    flat_expected = np.concatenate([e.astype(np.float64).ravel() for _, e in arrays] or [np.zeros(0)])
    scale = _scale(flat_expected)
    worst, part, index = _worst(parts)
    entry = part.entry(part.name, index) if part is not None and flat_expected.size > 1 else ""
    if worst <= RIGHT[precision] * scale:
        return Feedback(key, "right", shown_expected, shown_answer, worst, entry)
    state = "close" if worst <= CLOSE * scale else "wrong"
    context = _Context(flat_answer, flat_expected, scale, tuple((n, _flat(v)) for n, v in terms),
                       tuple((h, _flat(v)) for h, v in mistakes))
    hint = _hint(context) if state == "wrong" else ""
    if not hint and hints:
        hint = hints[0]
    return Feedback(key, state, shown_expected, shown_answer, worst, entry, hint)


def _known_mistake(answer, mistakes) -> str:
    """The hint of a typical slip the answer matches, whatever its shape (a Jacobian's shape mistaken for
    another, say), or ""."""
    try:
        given = _flat(answer)
    except (GradlabError, TypeError, ValueError):
        return ""
    for hint, value in mistakes:
        value = _flat(value)
        if value.shape == given.shape and np.all(_differences(given, value) <= CLOSE * _scale(value)):
            return hint
    return ""


def _structure(part, none_hint) -> str:
    """What makes an answer part not comparable at all (None, a shape), or ""."""
    named = f" for {part.name}" if part.name else ""
    if part.expected is None:
        return "" if part.answer is None else (
            f"you gave {_shown(_plain(part.answer))}{named}, expected None: the tape records no path there, so "
            "tape.gradient returns None (not zero)")
    if part.answer is None:
        return f"you gave None{named}: {none_hint}"
    answer, expected = _array(part.answer), _array(part.expected)
    if answer.shape == expected.shape or answer.size == expected.size == 1:
        return ""
    if answer.T.shape == expected.shape and answer.ndim == 2:
        return f"the shape {answer.shape}{named} is the expected {expected.shape} transposed: swap the axes"
    return f"the shape of your answer{named} is {answer.shape}, expected {expected.shape}"


def _array(value) -> np.ndarray:
    try:
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    except (TypeError, ValueError):
        raise GradlabError(f"an answer is a number, a list of numbers, an array or a tensor, got "
                           f"{type(value).__name__}") from None
    if array.dtype.kind not in "iufb":
        raise GradlabError(f"an answer is a number, a list of numbers, an array or a tensor, got "
                           f"{value!r:.40}; write numbers, e.g. [1, 2.5], not text")
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _flat(value) -> np.ndarray:
    parts = value if isinstance(value, (list, tuple)) and value and not np.isscalar(value[0]) else [value]
    return np.concatenate([_array(p).astype(np.float64).ravel() for p in parts])


def _differences(answer, expected) -> np.ndarray:
    """|answer - expected| entry by entry; equal non-finite values (nan and nan, inf and inf) differ by 0."""
    a, e = answer.astype(np.float64).reshape(expected.shape), expected.astype(np.float64)
    same = (a == e) | (np.isnan(a) & np.isnan(e))
    with np.errstate(invalid="ignore"):
        difference = np.where(same, 0.0, np.abs(a - e))
    return np.where(np.isnan(difference), np.inf, difference)


def _scale(expected) -> float:
    finite = np.abs(expected[np.isfinite(expected)])
    largest = float(finite.max()) if finite.size else 0.0
    return largest if largest > 0 else 1.0


# --- hints: each rule looks at what is wrong and says so, or returns None --------------------------------


@dataclass(frozen=True)
class _Context:
    answer: np.ndarray  # every entry of the answer, flattened, float64
    expected: np.ndarray
    scale: float
    terms: tuple
    mistakes: tuple

    def near(self, values) -> bool:
        values = np.asarray(values, dtype=np.float64)
        return values.shape == self.answer.shape and bool(
            np.all(_differences(self.answer, values) <= CLOSE * self.scale))


def _not_finite(c):
    if np.any(~np.isfinite(c.answer) & np.isfinite(c.expected)):
        return ("your answer is not finite where the expected value is: a nan or inf in a gradient often comes "
                "from a branch that is not taken (tf.where) or an overflow")
    return None


def _a_known_mistake(c):
    return next((hint for hint, value in c.mistakes if c.near(value)), None)


def _a_missing_term(c):
    return next((f"the term {name} is missing" for name, value in c.terms if c.near(c.expected - value)), None)


def _an_extra_term(c):
    return next((f"the term {name} is counted twice" for name, value in c.terms if c.near(c.expected + value)),
                None)


def _the_sign(c):
    if np.any(np.abs(c.expected) > CLOSE * c.scale) and c.near(-c.expected):
        return "the sign is flipped: check each minus sign, and which side of a difference comes first"
    return None


def _a_factor_two(c):
    if not np.any(np.abs(c.expected) > CLOSE * c.scale):
        return None
    if c.near(2 * c.expected):
        return "twice the expected: a factor 2 too many (is a 2 counted twice?)"
    if c.near(c.expected / 2):
        return "half the expected: a factor 2 is missing (the derivative of w**2 is 2*w)"
    return None


def _swapped(c):
    if c.answer.size > 1 and not c.near(c.expected) and c.near(c.expected[::-1]):
        return "the values are right but in the wrong order: give them in the order the question asks"
    return None


def _zeros(c):
    if np.all(c.answer == 0) and np.any(c.expected != 0):
        return "you gave zeros, but the output does change with the input here"
    return None


def _some_entries(c):
    right = _differences(c.answer, c.expected) <= RIGHT["float32"] * c.scale
    if c.answer.size > 1 and right.any():
        return f"{int(right.sum())} of {right.size} entries are right"
    return None


#: The hint rules, in the order they are tried: the first that recognises the answer gives the hint.
HINT_RULES = (_not_finite, _a_known_mistake, _a_missing_term, _an_extra_term, _the_sign, _a_factor_two, _swapped,
              _zeros, _some_entries)


def _hint(context) -> str:
    return next((hint for rule in HINT_RULES if (hint := rule(context))), "")


# --- the four kinds --------------------------------------------------------------------------------------


def _grade_predict(exercise, answer):
    if callable(answer):
        raise GradlabError(f"exercise {exercise.key} asks for a value, not a function: write it as a number "
                           "or a list, e.g. prediction = 36")
    return _grade_against(exercise, answer, exercise.reference())


def _grade_fix(exercise, answer):
    _callable(exercise, answer, "gradient()")
    expected = exercise.reference()
    try:
        given = answer()
    except Exception as error:  # noqa: BLE001  (a learner's function that fails is an answer: the grader says why)
        return _raised(exercise, expected, error)
    return _grade_against(exercise, given, expected)


def _grade_derive(exercise, answer):
    _callable(exercise, answer, f"{exercise.answer_name}({', '.join(exercise.arguments)})")
    expected, given = [], []
    for point in exercise.points:
        expected.append(_array(exercise.reference(*point)).astype(np.float64))
        try:
            value = answer(*point)
        except Exception as error:  # noqa: BLE001  (a failing answer is graded, not raised)
            return _raised(exercise, _plain(expected[-1]), error)
        if value is Ellipsis:
            return Feedback(exercise.key, "unanswered", hint=exercise._todo())
        if value is None:
            return Feedback(exercise.key, "wrong", _plain(expected[-1]), None,
                            hint=f"your function returned None at {_point(exercise, point)}: end it with return")
        given.append(_array(value))
        if given[-1].size != expected[-1].size:
            return Feedback(exercise.key, "wrong", _plain(expected[-1]), _plain(given[-1]),
                            hint=f"at {_point(exercise, point)} your function gives shape {given[-1].shape}, "
                                 f"expected {expected[-1].shape}")
    stacked = [np.stack([g.reshape(e.shape) for g, e in zip(given, expected)]), np.stack(expected)]
    name = exercise.names[0] if exercise.names else exercise.answer_name

    def entry(_, index):
        inner = f"{name}[{', '.join(map(str, index[1:]))}]" if len(index) > 1 else name
        return f"{inner} at {_point(exercise, exercise.points[index[0]])}"

    terms = tuple((n, np.stack([_array(t(*p)) for p in exercise.points])) for n, t in exercise.terms)
    mistakes = tuple((h, np.stack([_array(m(*p)) for p in exercise.points])) for h, m in exercise.mistakes)
    parts = [_Part(name, stacked[0], stacked[1], entry)]
    feedback = _judge(parts, stacked[0], stacked[1], exercise.key, terms, mistakes, exercise.none_hint,
                      exercise.hints)
    feedback.answer, feedback.expected = _plain(given[-1]), _plain(expected[-1])
    if feedback.state != "right":
        worst = _worst_point(exercise, feedback.entry)
        feedback.answer, feedback.expected = _plain(given[worst]), _plain(expected[worst])
    return feedback


def _grade_write(exercise, answer):
    _callable(exercise, answer, f"{exercise.answer_name}({', '.join(exercise.arguments)})")
    if "custom_gradient" in _decorators(exercise._starter()) - _decorators(answer):
        return Feedback(exercise.key, "wrong", None, _RAISED,
                        hint=f"{exercise.answer_name} is not a custom gradient: without @tf.custom_gradient above "
                             f"def {exercise.answer_name}, the tape differentiates its body itself and never calls "
                             "grad; put the decorator back")
    [point] = exercise.points
    expected = _value_and_jacobians(exercise.reference, point)
    try:
        given = _value_and_jacobians(answer, point)
    except _NoGradient as missing:
        return Feedback(exercise.key, "wrong", None, None,
                        hint=f"the gradient for {exercise.arguments[missing.index]} is None: grad(dy) must return "
                             "dy times the derivative, one value per argument")
    except Exception as error:  # noqa: BLE001  (a failing answer is graded, not raised)
        return _raised(exercise, _plain(expected[0]), error)
    rank = np.ndim(expected[0])
    parts = [_Part("y", given[0], expected[0])]
    parts += [_Part(f"dy/d{a}", g, e, _jacobian_entry(rank)) for a, g, e in zip(exercise.arguments, given[1:],
                                                                                 expected[1:])]
    feedback = _judge(parts, given, expected, exercise.key, (), (), exercise.none_hint, ())
    if feedback.state != "right":
        _, part, index = _worst(parts)
        feedback.answer = float(_array(part.answer).reshape(_array(part.expected).shape)[index])
        feedback.expected = float(_array(part.expected)[index])
    else:
        feedback.answer, feedback.expected = _plain(given[0]), _plain(expected[0])
    if feedback.state == "wrong":
        summed = _gradients_of_sum(answer, point), _gradients_of_sum(exercise.reference, point)
        feedback.hint = _write_hint(exercise, parts, summed)
    return feedback


def _write_hint(exercise, parts, summed) -> str:
    """Why a custom gradient is wrong: dy ignored (the gradient of the sum is right, the Jacobian is not), or
    what the hint rules see in the worst part."""
    _, part, _ = _worst(parts)
    if part.name == "y":
        return "the value is wrong: compute y as the function does, before def grad"
    mine, reference = summed
    if all(np.allclose(a, e, rtol=1e-4, atol=1e-6) for a, e in zip(mine, reference)):
        return ("the gradient of sum(y) is right but the Jacobian is not: grad(dy) must multiply by dy (the "
                "chain rule), not ignore it")
    expected = _flat(part.expected)
    rule = _hint(_Context(_flat(part.answer), expected, _scale(expected), (), ()))
    if rule:
        return f"{part.name}: {rule}"
    return exercise.hints[0] if exercise.hints else ""


def _jacobian_entry(rank):
    def entry(name, index):
        wrt = name[4:]
        out, into = index[:rank], index[rank:]
        target = f"dy[{', '.join(map(str, out))}]" if out else "dy"
        source = f"{wrt}[{', '.join(map(str, into))}]" if into else wrt
        return f"{target}/d{source}"
    return entry


def _gradients_of_sum(function, point):
    """The tape's gradient of sum(f(*point)) for each argument: what a custom gradient gives when every dy is 1."""
    from gradlab._tf import tf

    inputs = [tf.constant(p) for p in point]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        y = tf.reduce_sum(function(*inputs))
    return [np.full(x.shape, np.nan) if g is None else g.numpy() for x, g in zip(inputs, tape.gradient(y, inputs))]


class _NoGradient(Exception):
    """A written custom gradient gave None for argument `index`."""

    def __init__(self, index):
        super().__init__(index)
        self.index = index


def _value_and_jacobians(function, point):
    """f's value at the point and its Jacobian for each argument, from the tape one output entry at a time."""
    from gradlab._tf import tf

    inputs = [tf.constant(p) for p in point]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        y = function(*inputs)
    y = tf.convert_to_tensor(y)
    jacobians = []
    for k, x in enumerate(inputs):
        rows = []
        for i in range(int(np.prod(y.shape))):
            seed = tf.reshape(tf.one_hot(i, int(np.prod(y.shape)), dtype=y.dtype), y.shape)
            g = tape.gradient(y, x, output_gradients=seed)
            if g is None:
                raise _NoGradient(k)
            rows.append(g.numpy())
        jacobians.append(np.stack(rows).reshape(tuple(y.shape) + tuple(x.shape)))
    del tape
    return [y.numpy(), *jacobians]


def _grade_against(exercise, given, expected):
    if isinstance(given, (list, tuple)) and len(exercise.names) <= 1 and _numbers(given):
        given = list(given)
    terms = tuple((n, t()) for n, t in exercise.terms)
    mistakes = tuple((h, m()) for h, m in exercise.mistakes)
    return grade(given, expected, exercise.key, exercise.names, terms, mistakes, exercise.none_hint, exercise.hints)


def _numbers(values) -> bool:
    return all(not isinstance(v, (list, tuple)) for v in values)


def _callable(exercise, answer, example):
    if not callable(answer):
        raise GradlabError(f"exercise {exercise.key} asks for a function, such as {example}, got "
                           f"{type(answer).__name__}")


def _raised(exercise, expected, error) -> Feedback:
    said = f"your function raised {type(error).__name__}: {summary(error)}"
    hint = f"{said}; {exercise.hints[0]}" if exercise.hints else said
    return Feedback(exercise.key, "wrong", _plain(expected), _RAISED, hint=hint)


def _point(exercise, point) -> str:
    shown = [_shown(_plain(p)) for p in point]
    return ", ".join(f"{n}={v}" for n, v in zip(exercise.arguments, shown)) if exercise.arguments else str(shown)


def _worst_point(exercise, entry) -> int:
    for index, point in enumerate(exercise.points):
        if entry.endswith(f" at {_point(exercise, point)}"):
            return index
    return 0


_GRADERS = {"predict": _grade_predict, "derive": _grade_derive, "fix": _grade_fix, "write": _grade_write}


# --- typed predictions -----------------------------------------------------------------------------------

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}
_NAMES = {"None": None, "nan": math.nan, "inf": math.inf, "e": math.e, "pi": math.pi}


def parse_prediction(text: str):
    """A typed prediction as a value: a number or arithmetic (36, -4, 2*5+2), a list ([10, 4]), None, nan."""
    try:
        return _evaluate(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError, RecursionError):
        raise GradlabError(f"{text.strip()!r} is not an answer: write a number such as 2.5, a list such as "
                           "[1, -3], or None") from None


def _evaluate(node):
    if isinstance(node, ast.Constant) and (node.value is None or type(node.value) in (int, float)):
        return node.value
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_evaluate(item) for item in node.elts]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_number(_evaluate(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_number(_evaluate(node.left)), _number(_evaluate(node.right)))
    raise ValueError(ast.dump(node))


def _number(value):
    if type(value) not in (int, float) or (isinstance(value, int) and abs(value) > 1e6):
        raise ValueError(value)
    return value


# --- the bank --------------------------------------------------------------------------------------------


def exercises(lesson: int | None = None) -> list[Exercise]:
    """Every exercise of the bank, in order, or those of one lesson."""
    from gradlab.teaching.exercise_bank import BANK

    return [e for e in BANK if lesson is None or e.lesson == lesson]


def exercise(lesson: int, number: int) -> Exercise:
    """Exercise `number` of `lesson`: it shows its statement; `.check(answer)` grades an answer."""
    from gradlab.teaching.lessons import get

    found = get(lesson).number
    if isinstance(number, bool) or not isinstance(number, int):
        raise GradlabError(f"an exercise is named by two numbers, e.g. gradlab.exercise(1, 2), got {number!r}")
    mine = exercises(found)
    for candidate in mine:
        if candidate.number == number:
            return candidate
    choices = ", ".join(str(e.number) for e in mine)
    raise LessonNotFoundError(f"lesson {found} has no exercise {number}; choose one of {choices}")
