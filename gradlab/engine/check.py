"""check: is a TensorFlow function's gradient right? The tape against Richardson finite differences, entry by entry."""

from dataclasses import dataclass, field

import numpy as np

from gradlab.errors import GradlabError
from gradlab.engine.evaluate import Evaluator
from gradlab.engine.inputs import resolve, variables_point
from gradlab.engine.judge import excess, judge
from gradlab.engine.numeric import check_method, combine, entry_derivatives, exact_moves, to_jacobian
from gradlab.engine.tape import gradients, none_cause, record
from gradlab.engine.tolerances import EPS, lowest_precision, relative_step, tolerance
from gradlab.render import Result

MODES = ("full", "fast")
UNCONNECTED = ("error", "zero")
#: Inputs up to this many entries are re-checked in full mode when a fast check fails, to name the wrong entries.
FULL_RECHECK_LIMIT = 10_000
WORST_SHOWN = 5


@dataclass
class Entry:
    """One compared value: which input and index, both sides, the errors and the threshold."""

    input: str
    index: tuple
    tape: float
    numeric: float
    abs_error: float
    rel_error: float
    numeric_error: float
    allowed: float
    ok: bool


@dataclass
class InputReport:
    """What was checked of one input, and how it came out."""

    name: str
    shape: tuple
    dtype: str
    checked: int
    total: int
    ok: bool
    max_abs_error: float
    max_rel_error: float
    note: str = ""


@dataclass
class GradCheck(Result):
    """The result of gradlab.check: numbers and verdicts; rendering only shows them.

    `tape[i]` and `numeric[i]` hold what was compared for input i: in full mode the whole Jacobians (output
    shape + input shape); in fast mode the tape's vector-Jacobian product J^T v and the numeric estimate at the
    sampled entries (NaN elsewhere).
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

    @property
    def max_abs_error(self):
        return max((r.max_abs_error for r in self.inputs), default=0.0)

    @property
    def max_rel_error(self):
        return max((r.max_rel_error for r in self.inputs), default=0.0)

    def __rich__(self):
        from gradlab.render import gradcheck_view

        return gradcheck_view(self)

    def __bool__(self):
        return self.ok


def check(f, *args, variables=None, mode="full", rtol=None, atol=None, seed=0, unconnected="error",
          samples=64, method="richardson", names=None):
    """Check the tape's gradient of f against finite differences; returns a GradCheck (`.ok`, worst entries).

    mode="full" compares every entry of the Jacobian; mode="fast" compares v^T J u along seeded random
    directions (four evaluations of f, whatever the number of parameters) plus `samples` random single
    entries of each input (for variables, weighed up inside the projection and checked one by one only if
    it fails). With `variables=[...]`, f takes no arguments and the gradient is taken with respect to those
    tf.Variables (or Keras variables), which are restored bit for bit afterwards, also when f raises.
    `rtol`/`atol` override the per-dtype defaults of gradlab.engine.tolerances; `unconnected="zero"` compares a
    None gradient as zeros instead of failing it.
    """
    for name, value in (("samples", samples), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise GradlabError(f"{name} must be a whole number >= 0, got {value!r}")
    _choose("mode", mode, MODES)
    _choose("unconnected", unconnected, UNCONNECTED)
    check_method(method)
    if variables is not None:
        if args:
            raise GradlabError("with variables=, f takes no arguments; pass either arguments or variables, not both")
        point = variables_point(variables, names)
        y, tape = record(f, point)
    else:
        if not args:
            raise GradlabError("check needs arguments of f, or variables=[...] for a function of no arguments")
        point, (y, tape) = resolve(f, args, names, run=record)
    dtype = lowest_precision([*point.dtypes, y.dtype.name])
    run = _Run(f, point, y, tape, tolerance(dtype, rtol, atol), method, unconnected, np.random.default_rng(seed))
    if not np.all(np.isfinite(y.numpy())):
        run.nonfinite = True
        run.notes.append("f's value at this point is not finite: a verdict there is meaningless")
    return run.full() if mode == "full" else run.fast(samples)


def assert_gradients_close(f, *args, **options):
    """Raise AssertionError, with the report as its message, unless gradlab.check(f, *args, **options) passes."""
    result = check(f, *args, **options)
    if not result.ok:
        raise AssertionError("\n" + str(result))
    return result


def sample_index(rng, size, samples):
    """`samples` distinct random flat indices of an input of `size` entries (all of them if it is smaller)."""
    if size <= samples:
        return np.arange(size)
    return np.sort(rng.choice(size, size=samples, replace=False))


def detection_chance(fraction, samples):
    """The chance that `samples` random entries include at least one of a wrong `fraction` of all entries."""
    return 1.0 - (1.0 - fraction) ** samples


def _choose(what, value, allowed):
    if value not in allowed:
        raise GradlabError(f"unknown {what} {value!r}; choose one of {', '.join(map(repr, allowed))}")


class _Run:
    """One check in progress: the point, the tape, the tolerance and what has been found so far."""

    def __init__(self, f, point, y, tape, tol, method, unconnected, rng):
        self.point, self.y, self.tape, self.tol = point, y, tape, tol
        self.method, self.unconnected, self.rng = method, unconnected, rng
        self.y0 = y.numpy().reshape(-1)
        self.evaluator = Evaluator(f, point, self.y0.size)
        self.sources = point.variables or point.values
        self.notes = []
        self.nonfinite = False

    def result(self, mode, reports, entries, tape, numeric, projection=None):
        entries.sort(key=lambda e: (e.ok, -excess(e.abs_error, e.allowed)))
        ok = all(r.ok for r in reports) and (projection is None or projection.ok) and not self.nonfinite
        return GradCheck(ok, mode, self.method, self.tol.dtype, self.tol, reports, entries[:WORST_SHOWN], tape,
                         numeric, projection, self.notes, ", ".join(sorted(self.evaluator.how)))

    # full mode -------------------------------------------------------------------------------------------------

    def full(self):
        reports, entries, tapes, numerics = [], [], [], []
        jacobians = gradients(self.tape, self.y, self.sources)
        for i in range(len(self.sources)):
            report, worst, tape_i, numeric_i = self.full_input(i, jacobians[i])
            reports.append(report)
            entries += worst
            tapes.append(tape_i)
            numerics.append(numeric_i)
        return self.result("full", reports, entries, tapes, numerics)

    def full_input(self, i, jacobian):
        x = self.point.values[i]
        n = x.shape.num_elements()
        value, error = entry_derivatives(self.evaluator, i, np.arange(n), self.y0, self.method)
        numeric = to_jacobian(value, self.y.shape, x.shape)
        error = to_jacobian(error, self.y.shape, x.shape)
        jacobian, note = self.connect(jacobian, numeric.shape, numeric, error)
        if jacobian is None:
            return self.missing(i, n, note), [], None, numeric
        verdict = judge(jacobian, numeric, error, self.tol)
        report = self.report(i, n, verdict, note)
        return report, self.worst(i, jacobian, numeric, error, verdict), jacobian, numeric

    # fast mode -------------------------------------------------------------------------------------------------

    def fast(self, samples):
        rng, point = self.rng, self.point
        cotangent = rng.standard_normal(self.y.shape) if self.y.shape.rank else np.float64(1.0)
        v = np.asarray(cotangent, dtype=np.float64).reshape(-1)
        vjps = gradients(self.tape, self.y, self.sources, cotangent=cotangent)
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
        projection = self.projection(vjps, directions, v, over)
        together = weighted and projection.ok
        reports, entries, tapes, numerics = [], [], [], []
        for i, x in enumerate(values):
            if together:
                report, worst, numeric = self.sampled_together(i, indices[i], projection)
            else:
                report, worst, numeric = self.sample(i, vjps[i], v, indices[i])
            suspect = not report.ok or not projection.ok
            if suspect and not point.variables and x.size <= FULL_RECHECK_LIMIT and vjps[i] is not None:
                jacobian = gradients(self.tape, self.y, [self.sources[i]])[0]
                report, worst, _, _ = self.full_input(i, jacobian)
                report.note = (report.note + "; " if report.note else "") + "re-checked in full mode"
            reports.append(report)
            entries += worst
            tapes.append(vjps[i])
            numerics.append(numeric)
        return self.result("fast", reports, entries, tapes, numerics, projection)

    def projection(self, vjps, directions, v, over):
        """v^T J u: the tape's sum(vjp * u) against d/dt v . f(x + t u) by finite differences in t.

        The step shrinks like |u|^(-1/2) for long directions, which keeps the move |t u| small enough for
        truncation and large enough for round-off as the number of entries grows.
        """
        dtype = self.tol.dtype
        length = np.sqrt(sum(float(np.sum((u / np.maximum(1.0, np.abs(x))) ** 2))
                             for u, x in zip(directions, self.point.values)))
        h = relative_step(dtype, self.method) / np.sqrt(max(length, 1.0))
        steps = [h, h / 2] if self.method == "forward" else [h, h / 2, -h, -h / 2]
        ys = self.evaluator.along(directions, steps).astype(np.float64)
        along_v = (ys @ v)[:, None, None]
        magnitude = (np.abs(ys) @ np.abs(v)).max()
        value, error = combine(along_v, np.array([self.y0 @ v]), [np.array([s]) for s in steps], self.method,
                               EPS[dtype], magnitude=np.array([[magnitude]]))
        connected = [g if g is not None else np.zeros_like(u) for g, u in zip(vjps, directions)]
        tape_value = sum(float(np.sum(g * u)) for g, u in zip(connected, directions))
        scale = sum(float(np.sum(np.abs(g * u))) for g, u in zip(connected, directions))
        verdict = judge(tape_value, value[0, 0], error[0, 0], self.tol, scale=scale)
        return Entry(f"v^T J u over {over}", (), tape_value, float(value[0, 0]), float(verdict.abs_error),
                     float(verdict.rel_error), float(error[0, 0]), float(verdict.allowed), bool(verdict.ok))

    def sampled_together(self, i, index, projection):
        x = self.point.values[i]
        n = x.shape.num_elements()
        note = (f"{len(index)} of {n} entries sampled, checked within the projection, where they weigh most "
                f"(one by one only if it fails)")
        report = InputReport(self.point.names[i], tuple(x.shape), x.dtype.name, len(index), n, projection.ok,
                             projection.abs_error, projection.rel_error, note)
        return report, [], np.full(x.shape, np.nan)

    def sample(self, i, vjp, v, index):
        x = self.point.values[i]
        n = x.shape.num_elements()
        value, error = entry_derivatives(self.evaluator, i, index, self.y0, self.method)
        value, error = value @ v, np.abs(error) @ np.abs(v)
        numeric = np.full(n, np.nan)
        numeric[index] = value
        numeric = numeric.reshape(x.shape)
        vjp, note = self.connect(vjp, x.shape, value, error)
        if vjp is None:
            return self.missing(i, len(index), note, total=n), [], numeric
        tape_sampled = vjp.reshape(-1)[index]
        verdict = judge(tape_sampled, value, error, self.tol)
        coverage = "every entry" if len(index) == n else "no entries sampled: the projection alone" if not len(index) else (
            f"{len(index)} of {n} entries sampled: a wrong fraction p of them is caught by the sample with "
            f"probability 1-(1-p)^{len(index)} ({detection_chance(0.01, len(index)):.0%} for p=1%, "
            f"{detection_chance(0.05, len(index)):.0%} for p=5%)")
        report = self.report(i, len(index), verdict, note, total=n, coverage=coverage)
        entries = self.worst(i, tape_sampled, value, error, verdict, index=index)
        return report, entries, numeric

    # shared ----------------------------------------------------------------------------------------------------

    def connect(self, tape_value, shape, numeric, error):
        """The tape's value (an array of `shape`), with None replaced by zeros where unconnected="zero"; and a
        note naming the likely cause, judged from whether the numeric estimates show f moving with the input."""
        if tape_value is not None:
            return tape_value, ""
        moves = np.any(np.abs(numeric) > self.tol.allowed(0.0, error))
        cause = f"the tape returned None: {none_cause(bool(moves))}"
        if self.unconnected == "zero":
            return np.zeros(shape), cause + "; compared as zeros (unconnected='zero')"
        return None, cause

    def missing(self, i, checked, note, total=None):
        x = self.point.values[i]
        return InputReport(self.point.names[i], tuple(x.shape), x.dtype.name, checked,
                           checked if total is None else total, False, np.inf, np.inf, note)

    def report(self, i, checked, verdict, note, total=None, coverage="every entry"):
        x = self.point.values[i]
        bad = int(np.size(verdict.ok) - np.count_nonzero(verdict.ok))
        nonfinite = int(np.size(verdict.finite) - np.count_nonzero(verdict.finite))
        parts = [note] if note else []
        if coverage != "every entry":
            parts.append(coverage)
        if bad:
            parts.append(f"{bad} of {np.size(verdict.ok)} compared values fail")
        if nonfinite:
            parts.append(f"{nonfinite} not finite")
        return InputReport(self.point.names[i], tuple(x.shape), x.dtype.name, checked, checked if total is None else total,
                           bad == 0, float(np.max(verdict.abs_error, initial=0.0)),
                           float(np.max(verdict.rel_error, initial=0.0)), "; ".join(parts))

    def worst(self, i, tape_value, numeric, error, verdict, index=None):
        """The entries of input i furthest past their thresholds (failures first)."""
        excess = verdict.excess.reshape(-1)
        order = np.argsort(-excess, kind="stable")[:WORST_SHOWN]
        shape = tuple(np.shape(numeric))
        entries = []
        for flat in order:
            if index is None:
                where = np.unravel_index(flat, shape) if shape else ()
            else:
                input_shape = tuple(self.point.values[i].shape)
                where = np.unravel_index(index[flat], input_shape) if input_shape else ()
            entries.append(Entry(self.point.names[i], tuple(int(w) for w in where),
                                 float(np.reshape(tape_value, -1)[flat]), float(np.reshape(numeric, -1)[flat]),
                                 float(verdict.abs_error.reshape(-1)[flat]), float(verdict.rel_error.reshape(-1)[flat]),
                                 float(np.reshape(error, -1)[flat]), float(verdict.allowed.reshape(-1)[flat]),
                                 bool(verdict.ok.reshape(-1)[flat])))
        return entries
