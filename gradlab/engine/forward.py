"""Forward mode: the ForwardAccumulator's J u against finite differences along u, and against the tape.

For a direction u, J u is the derivative of the one-variable function t -> f(x + t u) at t = 0, so its numeric
side is the same ladder (gradlab.engine.ladder) in t, every output compared, with the same tolerance and the
same states (ok, kink, inconclusive, fail). Two rows come of it beside the tape's ("rev"):

    fwd          J u from the ForwardAccumulator against finite differences: along every basis direction in
                 full mode for small inputs (the Jacobian column by column, entry by entry), else along a few
                 seeded random directions
    fwd vs rev   the two AD results against each other: the forward Jacobian against the tape's entry by
                 entry, or v^T (J u) against (v^T J) u for a seeded random v, under the dtype's tolerance
                 (no truncation error there, only round-off)

In eager mode the ForwardAccumulator differentiates the operations f runs: a tf.custom_gradient's own
gradient is not used (inside a tf.function it is, through the function's gradient). A JVP that TensorFlow
cannot build (an op whose gradient has no gradient of its own: it derives JVPs from the gradient of the
gradient) makes the fwd row inconclusive, not a failure.
"""

import re
from dataclasses import dataclass
from functools import partial

import numpy as np

from gradlab._tf import tf
from gradlab.engine.evaluate import Evaluator
from gradlab.engine.inputs import Point, call, resolve, snapshot, variables_point
from gradlab.engine.judge import judge
from gradlab.engine.ladder import FAIL, OK, column_ladder, ladder
from gradlab.engine.platform import quiet_internals
from gradlab.engine.restore import claimed, restoring
from gradlab.engine.tape import gradients, record
from gradlab.engine.tolerances import EPS, MAX_SECONDS, STATES, lowest_precision, relative_step
from gradlab.errors import GradlabError, summary

AD_MODES = ("rev", "fwd")
#: Seeded random directions u along which J u is checked (where the basis is not used).
DIRECTIONS = 3
#: In full mode, inputs of at most this many entries in all are checked along every basis direction: one
#: forward pass of f per entry, and the finite differences of a full check.
BASIS_ENTRIES = 64


@dataclass
class ModeRow:
    """A row of a check per mode ("rev", "fwd", "fwd vs rev"): what was compared and its state."""

    mode: str
    state: str
    compared: int
    max_abs_error: float
    max_rel_error: float
    note: str = ""
    failed: int = 0
    kinks: int = 0
    inconclusive: int = 0


def check_modes(modes, order=1):
    """`modes` as a tuple of AD_MODES that includes "rev", or a GradlabError saying what to pass."""
    if isinstance(modes, str) or not isinstance(modes, (tuple, list)) or not modes:
        raise GradlabError(f"modes must be a non-empty tuple such as ('rev', 'fwd'), got {modes!r:.60}")
    unknown = [m for m in modes if m not in AD_MODES]
    if unknown:
        raise GradlabError(f"unknown mode {unknown[0]!r} in modes; choose from "
                           f"{', '.join(map(repr, AD_MODES))}")
    if "rev" not in modes:
        raise GradlabError("modes must include 'rev': forward mode is checked beside the tape's reverse "
                           "mode, and against it; pass modes=('rev', 'fwd')")
    if "fwd" in modes and order != 1:
        raise GradlabError("modes=('rev', 'fwd') checks first derivatives; check forward mode with order=1")
    return tuple(dict.fromkeys(modes))


def add_forward(result, f, args, variables, names, options):
    """Add the rows "rev", "fwd" and "fwd vs rev" to a reverse-mode GradCheck; its state becomes the worst."""
    if variables is not None:
        point = variables_point(variables, names)
        with claimed(point.variables, point.names):
            point.values = snapshot(point.variables)
            with restoring(point.variables, point.values):
                rows, evaluations = _Forward(f, point, call(f, point), result, options).rows()
    else:
        point, y = resolve(f, args, names)
        rows, evaluations = _Forward(f, point, y, result, options).rows()
    result.modes = [reverse_row(result), *rows]
    result.evaluations += evaluations
    state = max((row.state for row in result.modes), key=_ORDER.index)
    result.state, result.ok = state, state == "ok"
    fwd, rev = result.modes[1].state, result.modes[0].state
    if fwd == "fail" and rev != "fail":
        result.notes.append("forward mode is wrong where the tape is right: TensorFlow's JVP of an op of f, "
                            "or a tf.custom_gradient whose declared gradient is not the derivative of its "
                            "own operations (in eager mode the ForwardAccumulator follows the operations)")
    elif rev == "fail" and fwd == "ok":
        result.notes.append("the tape differs where forward mode agrees: look for a tf.custom_gradient or a "
                            "registered gradient (forward mode in eager mode follows f's operations instead)")
    return result


#: Row states from best to worst: a row that proved nothing is worse than one that did, better than a failure.
_ORDER = ("ok", "inconclusive", "fail")


def reverse_row(result):
    """The "rev" row: the reverse-mode check's own verdict and numbers."""
    projection = result.projection
    compared = sum(r.compared for r in result.inputs) + int(projection is not None)
    failed = sum(r.failed for r in result.inputs) + int(projection is not None and projection.state == "fail")
    return ModeRow("rev", result.state, compared, result.max_abs_error, result.max_rel_error,
                   "the tape (tf.GradientTape) against finite differences", failed, result.kinks,
                   result.inconclusive)


class _Forward:
    """The forward-mode rows of one check: the point, f's value there and the reverse-mode result."""

    def __init__(self, f, point, y, result, options):
        self.f, self.point, self.y, self.result = f, point, y, result
        self.tol, self.method = result.tolerance, options["method"]
        self.noise = options["nondet_tol"] or 0.0
        self.rng = np.random.default_rng(options["seed"])
        self.sources = point.variables or point.values
        numeric_point, numeric_y = point, y
        if result.reference == "float64" and not point.variables:
            wide = [tf.cast(v, tf.float64) for v in point.values]
            numeric_point = Point(wide, point.names, [], point.promoted)
            numeric_y = call(f, numeric_point)
        limited = options["limits"][1] is None
        self.evaluator = Evaluator(f, numeric_point, numeric_y, max_seconds=MAX_SECONDS if limited else None)
        self.eps = EPS[lowest_precision([*numeric_point.dtypes, numeric_y.dtype.name])]

    def rows(self):
        entries = sum(x.shape.num_elements() for x in self.point.values)
        basis = self.result.mode == "full" and entries <= BASIS_ENTRIES
        with np.errstate(all="ignore"):
            try:
                fwd, consistency = self.basis() if basis else self.directions()
            except _NoForwardRule as missing:
                fwd = ModeRow("fwd", "inconclusive", 0, 0.0, 0.0, str(missing))
                consistency = ModeRow("fwd vs rev", "inconclusive", 0, 0.0, 0.0,
                                      "not compared: forward mode did not run")
        return [fwd, consistency], self.evaluator.evaluations

    def jvp(self, primals, tangents):
        """J u, flat in float64: f's forward pass under a ForwardAccumulator with `tangents` on `primals`."""
        tangents = [tf.constant(np.asarray(u), dtype=p.dtype) for p, u in zip(primals, tangents)]
        try:
            with quiet_internals(), tf.autodiff.ForwardAccumulator(primals, tangents) as accumulator:
                y = call(self.f, self.point)
            ju = tf.convert_to_tensor(accumulator.jvp(y, unconnected_gradients=tf.UnconnectedGradients.ZERO))
        except LookupError as exc:
            raise _NoForwardRule(_missing_rule(exc)) from None
        except (tf.errors.OpError, TypeError, ValueError, NotImplementedError, AttributeError) as exc:
            raise _NoForwardRule(f"forward mode could not run f: {summary(exc)}") from None
        return np.asarray(ju.numpy(), dtype=np.float64).reshape(-1)

    def basis(self):
        """Every basis direction: the forward Jacobian column by column, against finite differences and the
        tape."""
        outputs = self.y.shape.num_elements()
        fwd, both = _Tally("J u", "numeric"), _Tally("forward", "tape")
        notes = []
        for i, x in enumerate(self.point.values):
            n = x.shape.num_elements()
            columns = np.empty((n, outputs))
            for j in range(n):
                columns[j] = self.jvp([self.sources[i]], [np.eye(1, n, j).reshape(x.shape)])
            outcome = column_ladder(self.evaluator, i, np.arange(n), self.method, self.tol, tape=columns,
                                    noise=self.noise)
            where = partial(self.entry, self.point.names[i], x, outputs)
            verdict = judge(columns, outcome.value, outcome.error, self.tol)
            fwd.add(columns, outcome.value, verdict, outcome.state, where)
            tape = self.result.tape[i]
            if tape is None:
                notes.append(f"the tape returned None for {self.point.names[i]}: compared as zeros")
                tape = np.zeros((outputs, n))
            rows = np.asarray(tape, dtype=np.float64).reshape(-1, n).T
            both.add_exact(columns, rows, np.fmax(np.abs(columns), np.abs(rows)), self.tol, where)
        return (fwd.row("fwd", "every basis direction: the ForwardAccumulator's Jacobian column by column"),
                both.row("fwd vs rev", "; ".join([*notes, "the forward Jacobian against the tape's, entry by "
                                                          "entry"])))

    def directions(self):
        """DIRECTIONS seeded random directions u (all inputs at once): J u against finite differences along u,
        and v^T (J u) against the tape's (v^T J) u."""
        values = [x.numpy() for x in self.point.values]
        v = self.rng.standard_normal(self.y.shape) if self.y.shape.rank else np.float64(1.0)
        y, tape = record(self.f, self.point)
        vjps = gradients(tape, y, self.sources, cotangent=v)
        vjps = [np.zeros(x.shape) if g is None else g for g, x in zip(vjps, values)]
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        fwd, both = _Tally("J u", "numeric"), _Tally("v^T (J u)", "(v^T J) u")
        for d in range(DIRECTIONS):
            signs = [2.0 * self.rng.integers(0, 2, size=x.shape) - 1.0 for x in values]
            us = [sign * np.maximum(1.0, np.abs(x)) for sign, x in zip(signs, values)]  # scaled like x
            ju = self.jvp(self.sources, us)
            outcome = self.along(us, values, ju)
            fwd.add(ju[None, :], outcome.value, judge(ju[None, :], outcome.value, outcome.error, self.tol),
                    outcome.state, lambda flat, d=d: f"{self.output_index(flat)} along direction {d + 1}")
            forward = float(v @ ju)
            reverse = sum(float(np.sum(g * u)) for g, u in zip(vjps, us))
            terms = sum(float(np.sum(np.abs(g * u))) for g, u in zip(vjps, us))
            scale = np.fmax(np.abs(v) @ np.abs(ju), terms)
            both.add_exact(np.array([forward]), np.array([reverse]), np.array([scale]), self.tol,
                           lambda flat, d=d: f"along direction {d + 1}")
        full = self.result.mode == "full"
        past = f" (more than {BASIS_ENTRIES} entries for every basis direction)" if full else ""
        return (fwd.row("fwd", f"{DIRECTIONS} seeded random directions u{past}, every output of the "
                               "ForwardAccumulator's J u"),
                both.row("fwd vs rev", f"v^T (J u) against the tape's (v^T J) u along the {DIRECTIONS} "
                                       "directions"))

    def along(self, us, values, ju):
        """The ladder in t for d/dt f(x + t u) at 0, every output compared with J u.

        The step starts at |u|^(-1/2) times the usual one for long directions, as the tape's projection does.
        """
        length = np.sqrt(sum(float(np.sum((u / np.maximum(1.0, np.abs(x))) ** 2))
                             for u, x in zip(us, values)))
        h = relative_step(self.tol.dtype, self.method) / np.sqrt(max(length, 1.0))
        evaluator = self.evaluator

        def evaluate(which, moves):
            return evaluator.along(us, [float(m[0]) for m in moves]).reshape(len(moves), 1, -1)

        return ladder(evaluate, np.zeros(1), np.array([h]), evaluator.y0, self.method, self.eps, self.tol,
                      ju[None, :], noise=self.noise)

    def output_index(self, flat):
        """f's output entry at a flat index, as y[i, j] (y for a scalar)."""
        return "y" + _index(np.unravel_index(int(flat), tuple(self.y.shape)))

    def entry(self, name, x, outputs, flat):
        """A value of the forward Jacobian, (entries, outputs) flat, as d y[...] / d x[...]."""
        column, output = divmod(int(flat), outputs)
        return f"d {self.output_index(output)} / d {name}{_index(np.unravel_index(column, tuple(x.shape)))}"


def _index(where):
    return f"[{', '.join(str(int(w)) for w in where)}]" if len(where) else ""


class _NoForwardRule(Exception):
    """Forward mode could not run f: the one-line reason."""


def _missing_rule(exc):
    """The one-line note for a JVP that TensorFlow cannot build, naming the op where its message allows."""
    found = re.search(r"no entry for:?\s*(\w+)", str(exc))
    if not found:
        return f"no forward-mode rule for an op of f ({summary(exc)})"
    name = found.group(1)
    op = name[:-len("Grad")] if name.endswith("Grad") and len(name) > 4 else None
    why = f"TensorFlow builds JVPs from the gradient of the gradient, and {name} has none"
    return f"no forward-mode rule for {op}: {why}" if op else f"no forward-mode rule for an op of f: {why}"


class _Tally:
    """The compared values of one row, over inputs or directions: their states, the largest errors where they
    were decided, and the worst failure; `left` and `right` name the two sides compared."""

    def __init__(self, left, right):
        self.left, self.right = left, right
        self.states, self.abs_error, self.rel_error, self.worst = [], 0.0, 0.0, None

    def add(self, a, b, verdict, states, where):
        """Values a against b with their verdict and states; where(flat) names the value at a flat index."""
        a, b, states = (np.asarray(z).reshape(-1) for z in (a, b, states))
        decided = (states == OK) | (states == FAIL)
        for name in ("abs_error", "rel_error"):
            errors = getattr(verdict, name).reshape(-1)
            errors = np.where(np.isfinite(errors), errors, np.inf)  # not finite: no bound at all
            setattr(self, name, max(getattr(self, name), float(np.max(errors, where=decided, initial=0.0))))
        self.states.append(states)
        over = np.where(states == FAIL, verdict.excess.reshape(-1), -np.inf)
        if not np.any(states == FAIL):
            return
        flat = int(np.argmax(over))
        if self.worst is None or over[flat] > self.worst[0]:
            difference, allowed = verdict.abs_error.reshape(-1)[flat], verdict.allowed.reshape(-1)[flat]
            said = (f"worst {where(flat)}: {self.left} {a[flat]:.6g}, {self.right} {b[flat]:.6g}, "
                    f"|difference| {difference:.1e} (allowed {allowed:.1e})")
            self.worst = (over[flat], said)

    def add_exact(self, a, b, scale, tol, where):
        """Two AD results, judged with the tolerance alone (round-off, no estimate error): ok or fail."""
        verdict = judge(a, b, 0.0, tol, scale=scale)
        self.add(a, b, verdict, np.where(verdict.ok, OK, FAIL), where)

    def row(self, mode, note):
        states = np.concatenate(self.states) if self.states else np.zeros(0, dtype=np.int64)
        counts = {s: int(np.count_nonzero(states == STATES.index(s))) for s in STATES}
        state = "fail" if counts["fail"] else "ok" if counts["ok"] else "inconclusive"
        parts = [note]
        if counts["fail"]:
            parts.append(f"{counts['fail']} of {states.size} compared values fail")
        if counts["kink"]:
            parts.append(f"{counts['kink']} at kinks")
        if counts["inconclusive"]:
            parts.append(f"{counts['inconclusive']} inconclusive")
        if self.worst is not None:
            parts.append(self.worst[1])
        return ModeRow(mode, state, int(states.size), self.abs_error, self.rel_error, "; ".join(parts),
                       counts["fail"], counts["kink"], counts["inconclusive"])


__all__ = ["AD_MODES", "ModeRow", "add_forward", "check_modes", "reverse_row"]
