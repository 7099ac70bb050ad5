"""check_many: gradlab.check at many points, the worst of them, and the simplest failing one as code to paste.

The points are a list of argument tuples, a function of a numpy Generator that returns the arguments, or a
hypothesis strategy; hypothesis also shrinks a failing point to the simplest it can find. Each point is
judged by gradlab.check as it is; a point where the check refuses (TooExpensiveError, NotDifferentiableError)
is reported for that point, and kinks and inconclusive points are counted apart, never as failures.
"""

import numbers
import random
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from rich.console import Group
from rich.text import Text

from gradlab._tf import tf
from gradlab.engine.check import check
from gradlab.engine.inputs import checked_names, default_names, wrapped_variable
from gradlab.engine.judge import excess
from gradlab.errors import GradlabError, NotDifferentiableError, TooExpensiveError, summary
from gradlab.render import STATE_LABELS, Result, Sized, compact_table, packed, shape_text

#: Seconds hypothesis may spend shrinking a failing point (each candidate is a full gradlab.check).
SHRINK_SECONDS = 20.0
#: Arguments with more entries than this are shown by their shape in the report (the reproduce line has all).
SHOWN_ENTRIES = 9
#: What the check may refuse at one point without stopping the others.
REFUSALS = (TooExpensiveError, NotDifferentiableError)
#: How a point's check came out, worst last.
POINT_STATES = ("ok", "kink", "inconclusive", "refused", "fail")


@dataclass
class PointCheck:
    """One point: its arguments (as plain lists and as Python source), how its check came out, its errors.

    `state` is the check's state, except that an inconclusive check with values at kinks is "kink" and a
    check that refused is "refused" (with its reason in `note`). `excess` is the largest error over what was
    allowed among the values judged (inf for a failure without such a value).
    """

    index: int
    args: list
    code: list
    state: str
    check_state: str
    max_abs_error: float
    max_rel_error: float
    excess: float
    note: str = ""


@dataclass
class ManyChecks(Result):
    """The result of gradlab.check_many: one PointCheck per distinct point, the counts and the verdict.

    `worst` is the point furthest past (or nearest to) what was allowed; `shrunk` the simplest failing point
    (hypothesis's shrink for a strategy, the smallest failing point given otherwise), None when nothing
    failed; `reproduce` the gradlab.assert_gradients_close(...) line that fails there. `state` is "fail" when
    a point failed, "ok" when every point passed, else "inconclusive".
    """

    checks: list
    passed: int
    failed: int
    kinks: int
    inconclusive: int
    refused: int
    worst: PointCheck | None
    shrunk: PointCheck | None
    reproduce: str
    state: str
    ok: bool
    source: str
    names: list
    shrunk_by: str = ""
    notes: list = field(default_factory=list)

    def __rich__(self):
        return many_view(self)

    def __bool__(self):
        return self.ok


def check_many(f, points, count=20, seed=0, **check_options):
    """gradlab.check(f, *args, **check_options) at each point; returns a ManyChecks (`.ok`, `.worst`,
    `.shrunk`, `.reproduce`).

    `points` is a list of argument tuples (anything else in the list is one argument), a function called
    `count` times with np.random.default_rng(seed) that returns the arguments, or a hypothesis strategy
    (gradlab.strategies) drawn `count` times by hypothesis, seeded by `seed`, which on a failure shrinks it to
    the simplest failing point it finds within SHRINK_SECONDS. `seed` is also each check's seed.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise GradlabError(f"count must be a whole number >= 1, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GradlabError(f"seed must be a whole number >= 0, got {seed!r}")
    if not callable(f):
        raise GradlabError(f"f must be a function (a callable), got a {type(f).__name__}")
    if "variables" in check_options:
        raise GradlabError("check_many checks f's arguments at each point; for variables=, use gradlab.check")
    options = {**check_options, "seed": int(seed)}
    run = _Run(f, options)
    if _is_strategy(points):
        source = run.strategy(points, int(count), int(seed))
    elif callable(points):
        rng = np.random.default_rng(seed)
        for _ in range(count):
            run.point(_as_args(points(rng)))
        source = f"{_name(points, 'points')}(rng), seed {seed}"
    elif isinstance(points, list):
        if not points:
            raise GradlabError("points is an empty list; give at least one point, e.g. [(1.0,), (2.0,)]")
        for args in points:
            run.point(_as_args(args))
        source = "the points given"
    else:
        hint = " (a tuple is one point: put it in a list)" if isinstance(points, tuple) else ""
        raise GradlabError(f"points must be a list of argument tuples, a function rng -> args or a "
                           f"hypothesis strategy, got a {type(points).__name__}{hint}")
    return run.result(source)


class _Run:
    """The points checked so far, each once, keyed by its arguments as Python source."""

    def __init__(self, f, options):
        self.f, self.options = f, options
        self.seen = {}
        self.drawn = []
        self.refusals = []
        self.shrunk = None
        self.shrink_until = None
        self.notes = []

    def point(self, args, drawn=True):
        code = [literal(a) for a in args]
        key = ", ".join(code)
        if key not in self.seen:
            self.seen[key] = self.judge(args, code)
        found = self.seen[key]
        if drawn and found.index < 0:
            found.index = len(self.drawn)
            self.drawn.append(found)
        return found

    def judge(self, args, code):
        plain = [_plain(a) for a in args]
        try:
            result = check(self.f, *args, **self.options)
        except REFUSALS as exc:
            self.refusals.append(exc)
            return PointCheck(-1, plain, code, "refused", "", np.nan, np.nan, np.nan, summary(exc))
        return PointCheck(-1, plain, code, point_state(result), result.state, result.max_abs_error,
                          result.max_rel_error, largest_excess(result))

    def strategy(self, strategy, count, seed):
        """Draw `count` examples with hypothesis and check each; on a failure, let hypothesis shrink it."""
        import hypothesis
        from hypothesis import Phase
        from hypothesis.errors import NoSuchExample

        def drawn(args):
            self.point(_as_args(args))
            return False

        def fails(args):
            args = _as_args(args)
            key = ", ".join(literal(a) for a in args)
            late = self.shrink_until is not None and time.monotonic() > self.shrink_until
            if late and key not in self.seen:
                return False  # out of time: candidates not yet checked count as passing
            if self.point(args, drawn=False).state != "fail":
                return False
            if self.shrink_until is None:
                self.shrink_until = time.monotonic() + SHRINK_SECONDS
            return True

        def settings(*phases):
            return hypothesis.settings(max_examples=count, database=None, deadline=None, derandomize=True,
                                       phases=phases, verbosity=hypothesis.Verbosity.quiet)

        try:
            hypothesis.find(strategy, drawn, settings=settings(Phase.generate), random=random.Random(seed))
        except NoSuchExample:
            pass
        if any(p.state == "fail" for p in self.drawn):
            try:
                found = hypothesis.find(strategy, fails, settings=settings(Phase.generate, Phase.shrink),
                                        random=random.Random(seed))
                self.shrunk = self.point(_as_args(found), drawn=False)
            except NoSuchExample:
                pass  # the replay drew no failure: the simplest drawn failure stands in
        if len(self.drawn) < count:
            self.notes.append(f"hypothesis drew {len(self.drawn)} distinct points of the {count} asked for")
        return f"hypothesis strategy, seed {seed}"

    def result(self, source):
        checks = self.drawn
        if self.refusals and all(p.state == "refused" for p in checks):
            raise self.refusals[0]
        counts = {s: sum(p.state == s for p in checks) for s in POINT_STATES}
        judged = [p for p in checks if p.state != "refused"]
        worst = max(judged, key=lambda p: (p.state == "fail", p.state == "ok", p.excess), default=None)
        failing = [p for p in checks if p.state == "fail"]
        shrunk = self.shrunk if self.shrunk is not None else min(failing, key=simplicity, default=None)
        shrunk_by = "shrunk by hypothesis" if self.shrunk is not None else ""
        state = "fail" if failing else "ok" if counts["ok"] == len(checks) else "inconclusive"
        names = checked_names(self.options.get("names"), len(checks[0].args)) if checks else []
        reproduce = reproduce_line(self.f, shrunk.code, self.options) if shrunk is not None else ""
        notes = list(self.notes)
        if counts["refused"]:
            first = next(p for p in checks if p.state == "refused")
            notes.append(f"{_points(counts['refused'])} refused by the check (first #{first.index + 1}: "
                         f"{first.note})")
        if counts["kink"]:
            notes.append(f"{_points(counts['kink'])} at kinks: f is not differentiable within the smallest "
                         "useful step there; not failures")
        if counts["inconclusive"]:
            notes.append(f"{_points(counts['inconclusive'])} inconclusive: the numeric estimate was too "
                         "coarse to judge them; not failures")
        return ManyChecks(checks, counts["ok"], counts["fail"], counts["kink"], counts["inconclusive"],
                          counts["refused"], worst, shrunk, reproduce, state, state == "ok", source, names,
                          shrunk_by, notes)


def point_state(result):
    """A GradCheck's state, with "kink" for an inconclusive check whose unjudged values include kinks."""
    return "kink" if result.state == "inconclusive" and result.kinks else result.state


def largest_excess(result):
    """The largest error / allowed among a GradCheck's judged values (inf for a failure without one)."""
    entries = [*result.worst, *([result.projection] if result.projection is not None else [])]
    ratios = [float(excess(e.abs_error, e.allowed)) for e in entries if e.state in ("ok", "fail")]
    largest = max(ratios, default=0.0)
    return np.inf if result.state == "fail" and not largest > 1.0 else largest


def simplicity(point):
    """Fewer entries first, then smaller values, then the earlier point: which failing point to show."""
    values = [np.abs(np.asarray(a, dtype=np.float64)) for a in point.args if _is_numbers(a)]
    return (sum(v.size for v in values), sum(float(np.sum(v)) for v in values), point.index)


def reproduce_line(f, code, options):
    """gradlab.assert_gradients_close(f, <args>, <options>) as a line of Python that rebuilds the point."""
    name = getattr(f, "__name__", "")
    name = name if name.isidentifier() else "f"
    shown = {k: v for k, v in options.items() if not (k == "seed" and v == 0)}
    parts = [name, *code, *(f"{k}={literal(v)}" for k, v in shown.items())]
    return f"gradlab.assert_gradients_close({', '.join(parts)})"


def literal(value):
    """Python source that rebuilds `value` exactly: numbers, lists, np.array(...), tf.constant(...)."""
    variable = wrapped_variable(value)
    if variable is not None:
        return f"tf.Variable({_nested(variable.numpy())}, dtype=tf.{variable.dtype.name})"
    if isinstance(value, tf.Tensor):
        return f"tf.constant({_nested(value.numpy())}, dtype=tf.{value.dtype.name})"
    if isinstance(value, np.ndarray):
        dtype = "" if value.dtype == np.float64 else f", dtype=np.{value.dtype.name}"
        return f"np.array({_nested(value)}{dtype})"
    if isinstance(value, np.generic) and not isinstance(value, np.bool_):
        return f"np.{value.dtype.name}({_number(value.item())})"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(literal(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' * (len(value) == 1)})"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _number(value)
    return repr(value)


def _nested(array):
    values = np.asarray(array).tolist()
    return literal(values) if isinstance(values, list) else _number(values)


def _number(x):
    if isinstance(x, (int, np.integer)):
        return repr(int(x))
    x = float(x)
    if np.isnan(x):
        return 'float("nan")'
    return repr(x) if np.isfinite(x) else ('float("inf")' if x > 0 else '-float("inf")')


def _plain(value):
    variable = wrapped_variable(value)
    if variable is not None:
        return variable.numpy().tolist()
    if isinstance(value, (tf.Tensor, np.ndarray, np.generic)):
        return np.asarray(value).tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _is_numbers(value):
    try:
        np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _as_args(value):
    return value if isinstance(value, tuple) else (value,)


def _is_strategy(points):
    strategies = sys.modules.get("hypothesis.strategies")  # strategies exist only once hypothesis is imported
    return strategies is not None and isinstance(points, strategies.SearchStrategy)


def _points(n):
    return f"{n} point{'s' * (n != 1)}"


def _name(f, default):
    name = getattr(f, "__name__", "")
    return name if name.isidentifier() else default


# the view --------------------------------------------------------------------------------------------------

def many_view(result):
    """The counts, the worst point, the simplest failing one and the line that reproduces it."""
    n = len(result.checks)
    said = {"ok": f"gradients match at {'every' if n > 1 else 'the'} point",
            "fail": f"gradients differ at {result.failed} of {n} point{'s' * (n != 1)}",
            "inconclusive": "nothing failed; not every point could be judged"}[result.state]
    table = compact_table()
    columns = ["points", "passed", "failed", "kinks", "inconclusive"] + ["refused"] * bool(result.refused)
    for heading in columns:
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_row(*map(str, [n, result.passed, result.failed, result.kinks, result.inconclusive,
                             *[result.refused] * bool(result.refused)]))

    def layout(console, width):
        headline = packed([("", Text.assemble(STATE_LABELS[result.state], f"  {said}")),
                           ("  ", Text(f"({result.source})"))], width, indent="  ")
        parts = [headline, table]
        if result.worst is not None:
            w = result.worst
            parts.append(Text.assemble(f"worst point #{w.index + 1}  ", STATE_LABELS[w.state],
                                       f"  error {w.excess:.2g} × allowed:  {_shown(w, result.names)}"))
        if result.shrunk is not None:
            by = f" ({result.shrunk_by})" if result.shrunk_by else ""
            parts.append(Text(f"simplest failing point{by}: {_shown(result.shrunk, result.names)}"))
            parts.append(Text("reproduce it with:", style="dim"))
            parts.append(Text(result.reproduce))
        parts += [Text(note, style="yellow") for note in result.notes]
        return Group(*parts)

    return Sized(layout)


def _shown(point, names):
    """name=value for each argument, values with many entries by their shape."""
    shown = []
    names = names if len(names) == len(point.code) else default_names(len(point.code))
    for name, code, value in zip(names, point.code, point.args):
        size = np.size(value) if _is_numbers(value) else 1
        shown.append(f"{name}={code if size <= SHOWN_ENTRIES else shape_text(np.shape(value))}")
    return ", ".join(shown)
