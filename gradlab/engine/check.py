"""check: is a TensorFlow function's gradient right? The tape against finite differences, entry by entry.

Each compared value ends in one of four states (gradlab.engine.ladder): ok, kink (not differentiable within
the step, the tape between the one-sided estimates), inconclusive (the estimate is too coarse to tell) and
fail. A check is ok when nothing fails and some value was judged ok (kinks and inconclusive values are not
failures, but they prove nothing either).
"""

import time
from dataclasses import dataclass, field, replace

import numpy as np

from gradlab._tf import tf
from gradlab.engine.evaluate import Evaluator
from gradlab.engine.forward import add_forward, check_modes
from gradlab.engine.inputs import Point, call, resolve, snapshot, variables_point
from gradlab.engine.judge import excess, judge
from gradlab.engine.ladder import FAIL, OK, column_ladder, ladder, projected_ladder
from gradlab.engine.numeric import check_method, to_jacobian
from gradlab.engine.restore import claimed, restoring
from gradlab.engine.tape import gradients, none_cause, record
from gradlab.engine.tolerances import (BYTES_PER_JACOBIAN_ENTRY, EPS, MAX_EVALUATIONS, MAX_MEMORY, MAX_SECONDS,
                                       NONDET_ULPS, STATES, lowest_precision, relative_step, tolerance)
from gradlab.errors import GradlabError, NotDeterministicError, TooExpensiveError, summary
from gradlab.render import Result

MODES = ("full", "fast")
UNCONNECTED = ("error", "zero")
REFERENCES = (None, "float64")
#: Inputs up to this many entries are re-checked in full mode when a fast check fails, to name the wrong entries.
FULL_RECHECK_LIMIT = 10_000
WORST_SHOWN = 5
#: f evaluations per entry in full mode (the first rung of the ladder), by method.
EVALUATIONS_PER_ENTRY = {"forward": 2, "central": 4, "richardson": 4}


@dataclass
class Entry:
    """One compared value: which input and index, both sides, the errors, the threshold and its state."""

    input: str
    index: tuple
    tape: float
    numeric: float
    abs_error: float
    rel_error: float
    numeric_error: float
    allowed: float
    ok: bool
    state: str = "ok"
    step: float = float("nan")


@dataclass
class InputReport:
    """What was checked of one input, and how it came out (`ok`: nothing failed)."""

    name: str
    shape: tuple
    dtype: str
    checked: int
    total: int
    ok: bool
    max_abs_error: float
    max_rel_error: float
    note: str = ""
    compared: int = 0
    failed: int = 0
    kinks: int = 0
    inconclusive: int = 0


@dataclass
class GradCheck(Result):
    """The result of gradlab.check: numbers and verdicts; rendering only shows them.

    `tape[i]` and `numeric[i]` hold what was compared for input i: in full mode the whole Jacobians (output
    shape + input shape); in fast mode the tape's vector-Jacobian product J^T v and the numeric estimate at the
    sampled entries (NaN elsewhere). `state` is "ok", "fail" or "inconclusive" (nothing failed, but nothing
    could be judged either); `ok` is state == "ok". `order` is 2 for check(..., order=2), whose compared values
    are second derivatives (gradlab.engine.second_order).
    """

    ok: bool
    mode: str
    method: str
    dtype: str
    tolerance: object
    inputs: list
    worst: list
    tape: list
    numeric: list
    projection: Entry | None = None
    notes: list = field(default_factory=list)
    evaluation: str = ""
    state: str = "ok"
    reference: str = ""
    evaluations: int = 0
    order: int = 1
    modes: list = field(default_factory=list)

    @property
    def max_abs_error(self):
        return max((r.max_abs_error for r in self.inputs), default=0.0)

    @property
    def max_rel_error(self):
        return max((r.max_rel_error for r in self.inputs), default=0.0)

    @property
    def kinks(self):
        return sum(r.kinks for r in self.inputs) + int(self.projection is not None and self.projection.state == "kink")

    @property
    def inconclusive(self):
        return sum(r.inconclusive for r in self.inputs) + int(
            self.projection is not None and self.projection.state == "inconclusive")

    def __rich__(self):
        from gradlab.render import gradcheck_view

        return gradcheck_view(self)

    def __bool__(self):
        return self.ok


def check(f, *args, variables=None, mode="full", rtol=None, atol=None, seed=0, unconnected="error",
          samples=64, method="richardson", names=None, reference=None, nondet_tol=None, max_memory=None,
          max_evaluations=None, order=1, modes=("rev",)):
    """Check the tape's gradient of f against finite differences; returns a GradCheck (`.ok`, worst entries).

    mode="full" compares every entry of the Jacobian; mode="fast" compares v^T J u along seeded random
    directions (four evaluations of f, whatever the number of parameters) plus `samples` random single
    entries of each input (for variables, weighed up inside the projection and checked one by one only if
    it fails). With `variables=[...]`, f takes no arguments and the gradient is taken with respect to those
    tf.Variables (or Keras variables), which are restored bit for bit afterwards, also when f raises or
    Ctrl-C interrupts. `rtol`/`atol` override the per-dtype defaults of gradlab.engine.tolerances;
    `unconnected="zero"` compares a None gradient as zeros instead of failing it.

    Every entry's step shrinks where the estimate is not settled (gradlab.engine.ladder); values at kinks and
    values too noisy to judge are counted apart, never as failures. `reference="float64"` evaluates the
    numeric side of a float32 f in float64 (where f accepts float64 arguments). f is called twice at the
    point first: values that differ by more than `nondet_tol` (default: a few ulps) stop the check with
    NotDeterministicError. Full mode is refused up front (TooExpensiveError) past `max_memory` bytes or
    `max_evaluations` calls of f (defaults in gradlab.engine.tolerances).

    `order=2` checks the tape's second derivatives instead (gradlab.engine.second_order): the Hessian from
    nested tapes against finite differences of the tape gradient, of v^T f for a seeded random v where f is
    vector-valued; full mode compares every Hessian entry, fast mode u^T H v plus sampled entries.

    `modes=("rev", "fwd")` also checks forward mode (gradlab.engine.forward): tf.autodiff.ForwardAccumulator's
    J u against finite differences along u, and against the tape (v^T (J u) against (v^T J) u); `.modes`
    holds a row per mode, and the check's state is the worst of them.
    """
    for name, value in (("samples", samples), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise GradlabError(f"{name} must be a whole number >= 0, got {value!r}")
    for name, value in (("nondet_tol", nondet_tol), ("max_memory", max_memory),
                        ("max_evaluations", max_evaluations)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                                  or not value >= 0):
            raise GradlabError(f"{name} must be a number >= 0, got {value!r}")
    choose("mode", mode, MODES)
    choose("unconnected", unconnected, UNCONNECTED)
    choose("reference", reference, REFERENCES)
    check_method(method)
    if not callable(f):
        raise GradlabError(f"f must be a function (a callable), got a {type(f).__name__}")
    limits = (max_memory, max_evaluations)
    options = dict(mode=mode, rtol=rtol, atol=atol, seed=seed, unconnected=unconnected, samples=samples,
                   method=method, reference=reference, nondet_tol=nondet_tol, limits=limits)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order not in (1, 2):
        raise GradlabError(f"order must be 1 (the gradient) or 2 (second derivatives), got {order!r}")
    modes = check_modes(modes, order)
    if order == 2:
        from gradlab.engine.second_order import second_order_check

        return second_order_check(f, args, variables, names, options)
    result = reverse_check(f, args, variables, names, options)
    return add_forward(result, f, args, variables, names, options) if "fwd" in modes else result


def reverse_check(f, args, variables, names, options):
    """The first-order reverse-mode check of check(), with its arguments already validated into `options`."""
    reference = options["reference"]
    if variables is not None:
        if args:
            raise GradlabError("with variables=, f takes no arguments; pass either arguments or variables, not both")
        if reference is not None:
            raise GradlabError("reference='float64' needs f's arguments to evaluate in float64; with "
                               "variables=, build the model in float64 instead")
        point = variables_point(variables, names)
        with claimed(point.variables, point.names):
            point.values = snapshot(point.variables)  # read again once this thread holds them
            with restoring(point.variables, point.values):
                return check_recorded(f, point, record(f, point), **options)
    if not args:
        raise GradlabError("check needs arguments of f, or variables=[...] for a function of no arguments")
    point, recorded = resolve(f, args, names, run=record)
    return check_recorded(f, point, recorded, **options)


def assert_gradients_close(f, *args, **options):
    """Raise AssertionError, with the report as its message, unless gradlab.check(f, *args, **options) passes."""
    result = check(f, *args, **options)
    if not result.ok:
        raise AssertionError("\n" + str(result))
    return result


def check_recorded(f, point, recorded, mode, rtol, atol, seed, unconnected, samples, method, reference,
                   nondet_tol, limits):
    """The check at a resolved point, given f's value and the tape that recorded it (`recorded`: (y, tape));
    the tape may be any object whose gradients the check should judge (check_distributed's all-reduce)."""
    y, tape = recorded
    seconds = _deterministic(f, point, y, nondet_tol)
    dtype = lowest_precision([*point.dtypes, y.dtype.name])
    tol = tolerance(dtype, rtol, atol)
    max_memory, max_evaluations = limits
    with np.errstate(all="ignore"):
        run = _Run(f, point, y, tape, tol, method, unconnected, np.random.default_rng(seed), nondet_tol or 0.0,
                   seconds, MAX_SECONDS if max_evaluations is None else None)
        if reference == "float64":
            run.use_float64_reference()
        if mode == "full":
            _guard(point, y, method, max_memory, max_evaluations, samples)
            return run.full()
        return run.fast(samples, max_memory)


def _deterministic(f, point, y, nondet_tol):
    """Call f again at the point; stop if the two values differ. Returns the seconds the call took."""
    start = time.perf_counter()
    again = call(f, point)
    seconds = time.perf_counter() - start
    with np.errstate(invalid="ignore"):  # nan and inf values are compared below, not warned about
        a, b = (np.asarray(v.numpy(), dtype=np.float64) for v in (y, again))
    if a.shape != b.shape:
        raise NotDeterministicError(f"f is not deterministic: two calls at the same point return shapes "
                                    f"{a.shape} and {b.shape}")
    with np.errstate(invalid="ignore"):
        differ = np.where((a == b) | (np.isnan(a) & np.isnan(b)), 0.0, np.abs(a - b))
        largest = float(np.nanmax(np.where(np.isfinite(a), np.abs(a), 0.0), initial=0.0))
    gap = float(np.max(differ, initial=0.0))
    allowed = nondet_tol if nondet_tol is not None else NONDET_ULPS * np.finfo(y.dtype.as_numpy_dtype).eps * largest
    if not gap <= allowed:
        raise NotDeterministicError(
            f"f is not deterministic: two calls at the same point differ by {gap:.2g} (dropout? tf.random? "
            f"training=True?); call layers with training=False, use seeded stateless ops "
            f"(tf.random.stateless_normal), or pass nondet_tol= to accept that much noise")
    return seconds


def _guard(point, y, method, max_memory, max_evaluations, samples):
    """Refuse a full check past its limits, with the estimate and what to do instead."""
    entries = sum(v.shape.num_elements() for v in point.values)
    outputs = y.shape.num_elements()
    evaluations = EVALUATIONS_PER_ENTRY[method] * entries
    memory = entries * outputs * BYTES_PER_JACOBIAN_ENTRY
    memory_limit = MAX_MEMORY if max_memory is None else max_memory
    evaluation_limit = MAX_EVALUATIONS if max_evaluations is None else max_evaluations
    if memory <= memory_limit and evaluations <= evaluation_limit:
        return
    raise TooExpensiveError(
        f"full mode here needs at least {evaluations:,} evaluations of f and {_bytes(memory)} for "
        f"{outputs:,} x {entries:,} Jacobian entries, past the limits ({evaluation_limit:,} evaluations, "
        f"{_bytes(memory_limit)}); use mode='fast' (about {4 + 4 * samples * len(point.values)} "
        f"evaluations), check fewer entries, or raise max_evaluations= / max_memory=")


def _bytes(n):
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def sample_index(rng, size, samples):
    """`samples` distinct random flat indices of an input of `size` entries (all of them if it is smaller)."""
    if size <= samples:
        return np.arange(size)
    return np.sort(rng.choice(size, size=samples, replace=False))


def detection_chance(fraction, samples):
    """The chance that `samples` random entries include at least one of a wrong `fraction` of all entries."""
    return 1.0 - (1.0 - fraction) ** samples


def choose(what, value, allowed):
    if value not in allowed:
        raise GradlabError(f"unknown {what} {value!r}; choose one of {', '.join(map(repr, allowed))}")


class _Run:
    """One check in progress: the point, the tape, the tolerance and what has been found so far."""

    def __init__(self, f, point, y, tape, tol, method, unconnected, rng, noise, call_seconds, max_seconds):
        self.f, self.point, self.y, self.tape, self.tol = f, point, y, tape, tol
        self.method, self.unconnected, self.rng, self.noise = method, unconnected, rng, noise
        self.call_seconds, self.max_seconds = call_seconds, max_seconds  # for the evaluators' choice of way
        self.numeric_point, self.numeric_y = point, y
        self.sources = point.variables or point.values
        self.notes = []
        self.evaluators = []
        self.reference = y.dtype.name
        self.nonfinite = not np.all(np.isfinite(y.numpy()))
        if self.nonfinite:
            self.notes.append("f's value at this point is not finite: a verdict there is meaningless")

    def use_float64_reference(self):
        """Evaluate the numeric side in float64, if f takes float64 arguments and agrees with itself there."""
        if all(d == "float64" for d in self.point.dtypes):
            return
        wide = Point([tf.cast(v, tf.float64) for v in self.point.values], self.point.names, [], self.point.promoted)
        try:
            y64 = call(self.f, wide)
        except Exception as exc:  # noqa: BLE001 - f insists on float32: the reference stays in f's dtype
            self.notes.append(f"reference='float64' not used: f does not take float64 arguments ({summary(exc)})")
            return
        if y64.dtype.name != "float64":
            self.notes.append(f"reference='float64' not used: f returns {y64.dtype.name} for float64 arguments "
                              "(its own variables or casts are float32)")
            return
        close = judge(y64.numpy(), self.y.numpy(), 0.0, self.tol)
        if not np.all(close.ok | ~close.finite):
            self.notes.append("reference='float64' not used: f's float64 value differs from its float32 value "
                              "by more than the tolerance")
            return
        self.numeric_point, self.numeric_y, self.reference = wide, y64, "float64"

    def evaluator(self, cotangent=None):
        evaluator = Evaluator(self.f, self.numeric_point, self.numeric_y, cotangent, self.call_seconds,
                              self.max_seconds)
        self.evaluators.append(evaluator)
        return evaluator

    def result(self, mode, reports, entries, tape, numeric, projection=None):
        entries.sort(key=lambda e: (-STATES.index(e.state), -excess(e.abs_error, e.allowed)))  # fail first
        failed = any(r.failed or (not r.ok) for r in reports) or (projection is not None and not projection.ok)
        judged = any(r.compared - r.inconclusive - r.kinks > 0 for r in reports) or (
            projection is not None and projection.state == "ok")
        state = "fail" if failed or self.nonfinite else "ok" if judged else "inconclusive"
        how = "; ".join(dict.fromkeys(e.describe() for e in self.evaluators if e.how))
        result = GradCheck(state == "ok", mode, self.method, self.tol.dtype, self.tol, reports,
                           entries[:WORST_SHOWN], tape, numeric, projection, self.notes, how, state, self.reference,
                           sum(e.evaluations for e in self.evaluators))
        self.explain(result)
        return result

    def explain(self, result):
        """Notes on kinks and inconclusive values, in the report's words, and on a failure where to look next."""
        compared = sum(r.compared for r in result.inputs) + int(result.projection is not None)
        if result.state == "fail" and not self.nonfinite:
            name = getattr(self.f, "__name__", "")
            name = name if name.isidentifier() else "f"
            given = "variables=[...]" if self.point.variables else ", ".join(self.point.names)
            self.notes.append(f"run gradlab.locate({name}, {given}) with the same arguments to find the operation "
                              "whose gradient is wrong")
        if result.kinks:
            self.notes.append(f"{result.kinks} of {compared} compared values are at kinks: f is not differentiable "
                              "within the smallest useful step there (a kink, a pole or a domain edge), and "
                              "where the one-sided estimates settle the tape lies between them; not failures")
        if result.inconclusive:
            if self.tol.dtype == "float32" and self.reference != "float64":
                hint = ("reference='float64' (or float64 inputs) judges them" if not self.point.variables
                        else "a float64 copy of the model judges them")
            else:
                hint = "f changes too fast, or is too noisy, for finite differences there"
            self.notes.append(f"{result.inconclusive} of {compared} compared values are inconclusive: the "
                              f"numeric estimate's own error is larger than the tolerance there; {hint}")

    # full mode -------------------------------------------------------------------------------------------------

    def full(self):
        evaluator = self.evaluator()
        reports, entries, tapes, numerics = [], [], [], []
        jacobians = gradients(self.tape, self.y, self.sources, pfor=not evaluator.unsafe)
        for i in range(len(self.sources)):
            report, worst, tape_i, numeric_i = self.full_input(evaluator, i, jacobians[i])
            reports.append(report)
            entries += worst
            tapes.append(tape_i)
            numerics.append(numeric_i)
        return self.result("full", reports, entries, tapes, numerics)

    def full_input(self, evaluator, i, jacobian):
        x = self.point.values[i]
        n = x.shape.num_elements()
        index = np.arange(n)
        missing = jacobian is None
        if missing and self.unconnected == "zero":
            jacobian = np.zeros(tuple(self.y.shape) + tuple(x.shape))
        rows = None if jacobian is None else _columns(jacobian, n)
        outcome = column_ladder(evaluator, i, index, self.method, self.tol, tape=rows, noise=self.noise)
        numeric, error = (to_jacobian(a, self.y.shape, x.shape) for a in (outcome.value, outcome.error))
        note = self.none_note(numeric, error) if missing else ""
        if rows is None:
            return self.missing(i, n, note), [], None, numeric
        report, worst = self.judged(i, n, rows, outcome, note, jacobian_shape=numeric.shape)
        return report, worst, jacobian, numeric

    # fast mode -------------------------------------------------------------------------------------------------

    def fast(self, samples, max_memory):
        rng, point = self.rng, self.point
        cotangent = rng.standard_normal(self.y.shape) if self.y.shape.rank else np.float64(1.0)
        v = np.asarray(cotangent, dtype=np.float64).reshape(-1)
        vjps = gradients(self.tape, self.y, self.sources, cotangent=cotangent)
        evaluator = self.evaluator(cotangent=v)
        values = [x.numpy() for x in point.values]
        indices = [sample_index(rng, x.size, samples) for x in values]
        directions = [(2.0 * rng.integers(0, 2, size=x.shape, dtype=np.int8) - 1.0) * np.maximum(1.0, np.abs(x))
                      for x in values]  # random signs, scaled like the entries
        over = "every entry"
        sampled = sum(len(index) for index in indices)
        total = sum(x.size for x in values)
        weighted = bool(point.variables) and 0 < sampled < total
        if weighted:
            # Each sampled entry of a variable would cost four calls of f, one at a time. Instead the direction
            # weighs the sampled entries up (the rest by sampled/total), so that one projection checks both:
            # a wrong sampled entry is diluted by about 2 * sampled entries, not by all of them.
            weight = sampled / total
            for d, index in zip(directions, indices):
                mask = np.zeros(d.size, dtype=bool)
                mask[index] = True
                d *= np.where(mask, 1.0, weight).reshape(d.shape)
            over = f"every entry, the {sampled} sampled ones weighted up"
        projection = self.projection(evaluator, vjps, directions, over)
        together = weighted and projection.ok
        reports, entries, tapes, numerics = [], [], [], []
        outputs = self.y.shape.num_elements()
        for i, x in enumerate(values):
            if together:
                report, worst, numeric = self.sampled_together(i, indices[i], projection)
            else:
                report, worst, numeric = self.sample(evaluator, i, vjps[i], indices[i])
            suspect = not report.ok or not projection.ok
            fits = x.size * outputs * BYTES_PER_JACOBIAN_ENTRY <= (MAX_MEMORY if max_memory is None else max_memory)
            if suspect and not point.variables and x.size <= FULL_RECHECK_LIMIT and vjps[i] is not None and fits:
                jacobian = gradients(self.tape, self.y, [self.sources[i]], pfor=not evaluator.unsafe)[0]
                report, worst, _, _ = self.full_input(self.evaluator(), i, jacobian)
                report.note = (report.note + "; " if report.note else "") + "re-checked in full mode"
            reports.append(report)
            entries += worst
            tapes.append(vjps[i])
            numerics.append(numeric)
        return self.result("fast", reports, entries, tapes, numerics, projection)

    def projection(self, evaluator, vjps, directions, over):
        """v^T J u: the tape's sum(vjp * u) against d/dt v . f(x + t u) by finite differences in t, on the ladder.

        The step starts at |u|^(-1/2) times the usual one for long directions, which keeps the move |t u|
        small enough for truncation and large enough for round-off as the number of entries grows.
        """
        dtype = self.tol.dtype
        length = np.sqrt(sum(float(np.sum((u / np.maximum(1.0, np.abs(x))) ** 2))
                             for u, x in zip(directions, self.point.values)))
        h = relative_step(dtype, self.method) / np.sqrt(max(length, 1.0))
        connected = [g if g is not None else np.zeros_like(u) for g, u in zip(vjps, directions)]
        tape_value = sum(float(np.sum(g * u)) for g, u in zip(connected, directions))
        scale = sum(float(np.sum(np.abs(g * u))) for g, u in zip(connected, directions))
        y0 = evaluator.cotangent @ evaluator.y0
        base = float(np.abs(evaluator.cotangent) @ np.abs(evaluator.y0))

        def evaluate(which, moves):
            ys = evaluator.along(directions, [float(m[0]) for m in moves]).reshape(len(moves), 1, 2)
            return ys[..., :1], np.maximum(ys[..., 1:].max(axis=0), base)

        tol = replace(self.tol, atol=self.tol.atol + self.tol.rtol * scale)  # judged against sum |g * u|
        outcome = ladder(evaluate, np.zeros(1), np.array([h]), np.array([y0]), self.method, EPS[dtype], tol,
                         np.array([[tape_value]]), noise=self.noise * float(np.sum(np.abs(evaluator.cotangent))))
        value, error = float(outcome.value[0, 0]), float(outcome.error[0, 0])
        verdict = judge(tape_value, value, error, tol)  # the threshold the ladder decided with
        state = STATES[int(outcome.state[0, 0])]
        return Entry(f"v^T J u over {over}", (), tape_value, value, float(verdict.abs_error),
                     float(verdict.rel_error), error, float(verdict.allowed), state != "fail", state,
                     float(outcome.step[0, 0]))

    def sampled_together(self, i, index, projection):
        x = self.point.values[i]
        n = x.shape.num_elements()
        note = (f"{len(index)} of {n} entries sampled, checked within the projection, where they weigh most "
                f"(one by one only if it fails)")
        report = InputReport(self.point.names[i], tuple(x.shape), x.dtype.name, len(index), n, projection.ok,
                             projection.abs_error, projection.rel_error, note)
        return report, [], np.full(x.shape, np.nan)

    def sample(self, evaluator, i, vjp, index):
        x = self.point.values[i]
        n = x.shape.num_elements()
        numeric = np.full(n, np.nan)
        coverage = "every entry" if len(index) == n else "no entries sampled: the projection alone" if not len(index) else (
            f"{len(index)} of {n} entries sampled: a wrong fraction p of them is caught by the sample with "
            f"probability 1-(1-p)^{len(index)} ({detection_chance(0.01, len(index)):.0%} for p=1%, "
            f"{detection_chance(0.05, len(index)):.0%} for p=5%)")
        missing = vjp is None
        if missing and self.unconnected == "zero":
            vjp = np.zeros(x.shape)
        tape_sampled = None if vjp is None else vjp.reshape(-1)[index]
        outcome = projected_ladder(evaluator, i, index, self.method, self.tol, tape=tape_sampled, noise=self.noise)
        numeric[index] = outcome.value[:, 0]
        note = self.none_note(outcome.value[:, 0], outcome.error[:, 0]) if missing else ""
        if vjp is None:
            return self.missing(i, len(index), note, total=n), [], numeric.reshape(x.shape)
        report, entries = self.judged(i, len(index), tape_sampled[:, None], outcome, note, total=n,
                                      coverage=coverage, index=index)
        return report, entries, numeric.reshape(x.shape)

    # shared ----------------------------------------------------------------------------------------------------

    def none_note(self, numeric, error):
        """Why the tape returned None, judged from whether the numeric estimates show f moving with the input."""
        with np.errstate(invalid="ignore"):
            moves = np.any(np.abs(numeric) > self.tol.allowed(0.0, error))
        cause = f"the tape returned None: {none_cause(bool(moves))}"
        return cause + "; compared as zeros (unconnected='zero')" if self.unconnected == "zero" else cause

    def missing(self, i, checked, note, total=None):
        x = self.point.values[i]
        return InputReport(self.point.names[i], tuple(x.shape), x.dtype.name, checked,
                           checked if total is None else total, False, np.inf, np.inf, note)

    def judged(self, i, checked, rows, outcome, note, total=None, coverage="every entry", index=None,
               jacobian_shape=None):
        """The report and worst entries of input i from the ladder's outcome, rows and outcome (entries, outputs)."""
        x = self.point.values[i]
        verdict = judge(rows, outcome.value, outcome.error, self.tol)
        states = outcome.state
        counts = {s: int(np.count_nonzero(states == STATES.index(s))) for s in STATES}
        nonfinite = int(np.count_nonzero(~np.isfinite(rows)))
        parts = [note] if note else []
        if coverage != "every entry":
            parts.append(coverage)
        if counts["fail"]:
            each = f" ({checked} entries × {rows.shape[1]} outputs)" if rows.shape[1] > 1 else ""
            parts.append(f"{counts['fail']} of {states.size} compared values fail{each}")
        if counts["kink"]:
            parts.append(f"{counts['kink']} at kinks")
        if counts["inconclusive"]:
            parts.append(f"{counts['inconclusive']} inconclusive")
        if nonfinite:
            parts.append(f"{nonfinite} of the tape's values not finite")
        shrunk = outcome.shrunk > 0
        if np.any(shrunk):
            parts.append(f"step shrunk for {int(np.count_nonzero(shrunk))} of {len(shrunk)} entries "
                         f"(down to {np.nanmin(outcome.step):.1e})")
        decided = (states == OK) | (states == FAIL)
        report = InputReport(self.point.names[i], tuple(x.shape), x.dtype.name, checked,
                             checked if total is None else total, counts["fail"] == 0,
                             float(np.max(verdict.abs_error, where=decided, initial=0.0)),
                             float(np.max(verdict.rel_error, where=decided, initial=0.0)), "; ".join(parts),
                             int(states.size), counts["fail"], counts["kink"], counts["inconclusive"])
        return report, self.worst(i, rows, outcome, verdict, index, jacobian_shape)

    def worst(self, i, rows, outcome, verdict, index=None, jacobian_shape=None):
        """The values of input i furthest past their thresholds, failures first."""
        order = np.lexsort((-verdict.excess.reshape(-1), -outcome.state.reshape(-1)))[:WORST_SHOWN]  # fail first
        outputs = rows.shape[1]
        input_shape = tuple(self.point.values[i].shape)
        entries = []
        for flat in order:
            entry, output = divmod(int(flat), outputs)
            position = entry if index is None else int(index[entry])
            where = np.unravel_index(position, input_shape) if input_shape else ()
            if index is None and jacobian_shape is not None and outputs > 1:
                out_shape = tuple(self.y.shape)
                where = tuple(np.unravel_index(output, out_shape)) + tuple(where)
            state = STATES[int(outcome.state.reshape(-1)[flat])] if outcome.state.reshape(-1)[flat] >= 0 else "ok"
            entries.append(Entry(self.point.names[i], tuple(int(w) for w in where), float(rows.reshape(-1)[flat]),
                                 float(outcome.value.reshape(-1)[flat]), float(verdict.abs_error.reshape(-1)[flat]),
                                 float(verdict.rel_error.reshape(-1)[flat]), float(outcome.error.reshape(-1)[flat]),
                                 float(verdict.allowed.reshape(-1)[flat]), state != "fail", state,
                                 float(outcome.step.reshape(-1)[flat])))
        return entries


def _columns(jacobian, n):
    """A Jacobian (output shape + input shape) as rows per input entry: (entries, outputs)."""
    return np.asarray(jacobian, dtype=np.float64).reshape(-1, n).T
