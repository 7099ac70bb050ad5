"""check_formula: a formula's derivatives three ways (symbolic, tape, finite differences), judged per variable.

With order=2 the second derivatives are checked as well, one per pair of variables (i <= j: the Hessian is
symmetric, so d2f/dxi dxj and d2f/dxj dxi are one row): SymPy differentiates twice, nested tf.GradientTapes give
the Hessian (the outer tape's Jacobian of the inner tape's gradient), and the step ladder estimates it from
finite differences of the tape's gradient. The states are the same four, with "f's gradient" in the place of f,
and a tape whose Hessian is not symmetric (H[i, j] against H[j, i] under the tolerance) is a mismatch.

For each variable the result holds the symbolic derivative (its formula and its value at the point), the tape's
gradient, the Richardson finite-difference estimate with its estimated error, the one-sided (forward and
backward) estimates, the errors between them and one of four states:

    "ok"                       tape and numeric agree with the symbolic value within the tolerance (or
                               the tape does and the numeric estimate is too coarse to tell)
    "mismatch"                 they do not
    "not differentiable here"  f is finite, but the forward and backward estimates disagree, or are not
                               finite, down to the smallest useful step: a kink, a jump, a pole or the edge
                               of f's domain at (or within that step of) the point
    "not defined here"         f itself is not finite at the point (in the dtype evaluated)

The numeric estimate comes from the checker's step ladder (gradlab.engine.ladder): the step shrinks until the
stencil is smooth and settled, and the ladder's state decides "not differentiable here" the way gradlab.check
decides a kink, so the command line and the checker agree. Then the tape is judged against the symbolic value
with no error term, and the Richardson estimate against it with its estimated error, each by
gradlab.engine.judge.judge under the dtype's tolerance (gradlab.engine.tolerances). Where the symbolic value
is not finite, the tape is judged against the numeric estimate instead (the note says so).

JSON (`FormulaCheck.to_json()`; numbers are numbers, null where not finite; `gradlab check EXPR --json` prints
it with "schema_version" first):

    {"kind": "formula_check", "formula": str, "expression": str (as SymPy reads it), "variables": [str],
     "at": {name: number (as given)}, "point": {name: number (as evaluated, in dtype)}, "dtype": str,
     "method": "richardson", "tolerance": {"rtol": number, "atol": number, "k": number},
     "value": {"tape": number|null, "symbolic": number|null}, "ok": bool, "state": str,
     "derivatives": [{"variable": str, "formula": str, "symbolic": number|null, "tape": number|null,
                      "numeric": number|null, "numeric_error": number|null, "forward": number|null,
                      "forward_error": number|null, "backward": number|null, "backward_error": number|null,
                      "step": number (of the Richardson estimate), "one_sided_step": number (of the forward
                      and backward estimates), "tape_vs_symbolic": number|null,
                      "numeric_vs_symbolic": number|null, "tape_allowed": number|null,
                      "numeric_allowed": number|null, "state": str, "ok": bool, "note": str}],
     "steps": [step-size study JSON (gradlab.teaching.steps.StepStudy.to_json), one per variable; [] unless asked],
     "order": 1|2,
     "second_derivatives": (order 2 only) [{"wrt": [xi, xj] (i <= j, in the order of "variables"),
                      "formula": str, "sympy": number|null, "tape": number|null (H[i, j], the outer tape's
                      derivative by xj of the inner tape's derivative by xi), "tape_transposed": number|null
                      (H[j, i]), "asymmetry": number|null (|H[i, j] - H[j, i]|), "numeric": number|null
                      (finite differences by xj of the tape's derivative by xi), "numeric_error", "forward",
                      "forward_error", "backward", "backward_error", "step", "one_sided_step",
                      "tape_vs_sympy", "numeric_vs_sympy", "tape_allowed", "numeric_allowed": as for
                      "derivatives", "state": str, "ok": bool, "note": str}]}

"ok" is true when every derivative's state is "ok" (with order 2, the second derivatives' too); "state" is the
worst state of any derivative.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from gradlab.errors import GradlabError
from gradlab.expr import CONSTANTS, Formula, parse
from gradlab.engine.tolerances import EPS, STATES as STATES_OF_LADDER, tolerance
from gradlab.render import Result

__all__ = ["STATES", "Derivative", "FormulaCheck", "SecondDerivative", "check_formula"]

#: The states of a derivative, from best to worst: a mismatch (the tape is wrong) matters most.
STATES = ("ok", "not defined here", "not differentiable here", "mismatch")
METHOD = "richardson"


@dataclass
class Derivative:
    """One variable's derivative three ways, the errors between them and its state. Non-finite values are nan."""

    variable: str
    formula: str
    symbolic: float
    tape: float
    numeric: float
    numeric_error: float
    forward: float
    forward_error: float
    backward: float
    backward_error: float
    step: float
    one_sided_step: float
    tape_vs_symbolic: float
    numeric_vs_symbolic: float
    tape_allowed: float
    numeric_allowed: float
    state: str
    note: str = ""

    @property
    def ok(self):
        return self.state == "ok"


@dataclass
class SecondDerivative:
    """One second derivative three ways: d/dxj of df/dxi, with the tape's H[j, i] beside its H[i, j]."""

    wrt: list
    formula: str
    sympy: float
    tape: float
    tape_transposed: float
    asymmetry: float
    numeric: float
    numeric_error: float
    forward: float
    forward_error: float
    backward: float
    backward_error: float
    step: float
    one_sided_step: float
    tape_vs_sympy: float
    numeric_vs_sympy: float
    tape_allowed: float
    numeric_allowed: float
    state: str
    note: str = ""

    @property
    def ok(self):
        return self.state == "ok"

    @property
    def name(self):
        """∂²f/∂x² or ∂²f/∂x∂y."""
        first, second = self.wrt
        return f"∂²f/∂{first}²" if first == second else f"∂²f/∂{first}∂{second}"


@dataclass
class FormulaCheck(Result):
    """The result of check_formula: numbers and states; the views (terminal, Jupyter, JSON) only show them."""

    formula: str
    expression: str
    variables: list
    at: dict
    point: dict
    dtype: str
    method: str
    tolerance: object
    value: float
    symbolic_value: float
    derivatives: list
    studies: list = field(default_factory=list)
    order: int = 1
    second_derivatives: list = field(default_factory=list)

    @property
    def ok(self):
        return all(d.ok for d in self.derivatives + self.second_derivatives)

    @property
    def state(self):
        return max((d.state for d in self.derivatives + self.second_derivatives), key=STATES.index, default="ok")

    def __bool__(self):
        return self.ok

    def __rich__(self):
        return formula_view(self)

    def to_json(self):
        from gradlab.export import plain

        tol = self.tolerance
        return {
            "kind": "formula_check", "formula": self.formula, "expression": self.expression,
            "variables": list(self.variables), "at": plain(self.at), "point": plain(self.point),
            "dtype": self.dtype, "method": self.method,
            "tolerance": {"rtol": tol.rtol, "atol": tol.atol, "k": tol.k},
            "value": {"tape": plain(self.value), "symbolic": plain(self.symbolic_value)},
            "ok": self.ok, "state": self.state,
            "derivatives": [{**plain(d), "ok": d.ok} for d in self.derivatives],
            "steps": [study.to_json() for study in self.studies],
            "order": self.order,
            **({"second_derivatives": [{**plain(d), "ok": d.ok} for d in self.second_derivatives]}
               if self.order == 2 else {}),
        }

    def plot(self, path=None):
        """The step-size studies as one matplotlib figure, one axes per variable; saved to `path` if given."""
        if not self.studies:
            raise GradlabError("this check has no step-size studies; run check_formula(..., steps=True)")
        from gradlab.teaching.steps import new_figure, save_figure

        fig, axes = new_figure(len(self.studies), saving=path is not None)
        for study, ax in zip(self.studies, axes):
            study.plot(ax=ax)
        fig.suptitle(f"f = {_shorten(self.formula, 60)}")
        fig.tight_layout()
        if path is not None:
            save_figure(fig, path)
        return fig


def check_formula(formula, at, dtype="float64", rtol=None, atol=None, steps=False, source="at", order=1):
    """Differentiate `formula` (text or a parsed gradlab.expr.Formula) at the point `at` {name: number} by
    SymPy, by tf.GradientTape and by finite differences, and judge each variable's derivative.

    `dtype` ("float64" or "float32") is what TensorFlow computes in; the symbolic values are exact at the point
    as rounded to that dtype. With `steps=True` the result also holds a step-size study per variable (of the
    first derivative). With `order=2` it also holds each second derivative, one per pair of variables.
    `source` names the point in error messages (the command line passes "--at").
    """
    if isinstance(order, bool) or order not in (1, 2):
        raise GradlabError(f"order must be 1 or 2, got {order!r}")
    if not isinstance(formula, Formula):
        formula = parse(formula)
    if dtype not in ("float32", "float64"):
        raise GradlabError(f"dtype must be float32 or float64, got {dtype!r}")
    given = _point(formula, at, dtype, source)
    point = {name: float(np.asarray(value, dtype=dtype)) for name, value in given.items()}
    tol = tolerance(dtype, rtol, atol)

    from gradlab.symbolic import formula_text, symbolic

    sym = symbolic(formula)
    derivative_formulas = {name: sym.derivative(name) for name in formula.variables}
    symbolic_value = sym.value(sym.expression, point)
    exact = {name: sym.value(d, point) for name, d in derivative_formulas.items()}

    f = formula.tensorflow()
    value, tape = _tape(f, formula.variables, point, dtype)
    estimates = _estimates(f, formula.variables, point, dtype, value, tape, tol)

    derivatives = []
    for name in formula.variables:
        derivatives.append(_judge(name, formula_text(derivative_formulas[name]), exact[name], tape[name],
                                  estimates[name], value, symbolic_value, tol))
    defined = all(d.state != "not defined here" for d in derivatives)
    studies = _studies(f, formula.variables, point, dtype, exact) if steps and defined else []
    seconds = []
    if order == 2:
        seconds = _second_derivatives(f, formula.variables, point, dtype, sym, derivative_formulas, value,
                                      symbolic_value, tol)
    return FormulaCheck(formula.text, formula_text(sym.expression), list(formula.variables), given, point, dtype,
                        METHOD, tol, value, symbolic_value, derivatives, studies, order, seconds)


def _second_derivatives(f, names, point, dtype, sym, first, value, symbolic_value, tol):
    """Each second derivative d/dxj (df/dxi), i <= j: SymPy's, the nested tapes' and the ladder's on the tape's
    gradient, judged like a first derivative of that gradient, and the tape's Hessian checked for symmetry."""
    from gradlab.engine.judge import judge
    from gradlab.symbolic import formula_text

    gradient, hessian = _tape_hessian(f, names, point, dtype)
    estimates = _second_estimates(f, names, point, dtype, gradient, hessian, tol)
    seconds = []
    for i, xi in enumerate(names):
        for j in range(i, len(names)):
            xj = names[j]
            expression = sym.derivative(xj, of=first[xi])
            exact = sym.value(expression, point)
            tape, transposed = float(hessian[i, j]), float(hessian[j, i])
            e = estimates[i, j]
            state, note, numbers = _verdict(exact, tape, e, value, symbolic_value, tol, of="f's gradient")
            symmetric = judge(transposed, tape, 0.0, tol)
            if state == "ok" and not bool(symmetric.ok):
                state, note = "mismatch", (f"the tape's Hessian is not symmetric: H[{xj}, {xi}] = "
                                           f"{_number(transposed)}, but H[{xi}, {xj}] = {_number(tape)}")
            seconds.append(SecondDerivative(
                [xi, xj], formula_text(expression), exact, tape, transposed, float(symmetric.abs_error), e.value,
                e.error, e.forward, e.forward_error, e.backward, e.backward_error, e.step, e.one_sided_step,
                numbers["tape_vs_symbolic"], numbers["numeric_vs_symbolic"], numbers["tape_allowed"],
                numbers["numeric_allowed"], state, note))
    return seconds


def _point(formula, at, dtype, source):
    """{name: float} for exactly the formula's variables, or a clear error naming what is missing or extra."""
    if not hasattr(at, "items"):
        raise GradlabError(f"{source} must map each variable to a number, e.g. {{'x': 1.5}}")
    uses = ", ".join(formula.variables)
    missing = [name for name in formula.variables if name not in at]
    extra = [name for name in at if name not in formula.variables]
    for name in extra:  # X for x: names are case-sensitive
        twin = next((m for m in missing if m.lower() == str(name).lower()), None)
        if twin is not None:
            raise GradlabError(f"{source} gives {name}, but the formula uses {twin}: names are case-sensitive; "
                               f"write {twin}=...")
    if missing:
        raise GradlabError(f"the formula uses {uses}; {source} is missing {', '.join(missing)}")
    if extra:
        constants = [name for name in extra if name in CONSTANTS]
        note = f" ({', '.join(constants)} {'is a constant' if len(constants) == 1 else 'are constants'})" if (
            constants) else ""
        raise GradlabError(f"the formula uses {uses}; {source} also gives {', '.join(map(str, extra))}, "
                           f"which it does not use{note}")
    point = {}
    for name in formula.variables:
        value = at[name]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise GradlabError(f"{source} gives {name} = {value!r}; give a number")
        value = float(value)
        if not math.isfinite(value):
            raise GradlabError(f"{source} gives {name} = {value}; give a finite number")
        with np.errstate(over="ignore"):
            if not np.isfinite(np.asarray(value, dtype=dtype)):
                raise GradlabError(f"{source} gives {name} = {value:g}, which does not fit in {dtype}")
        point[name] = value
    return point


def _tape(f, names, point, dtype):
    """f's value at the point and the tape's gradient for each variable, as floats."""
    from gradlab._tf import tf

    xs = [tf.constant(point[name], dtype=dtype) for name in names]
    with tf.GradientTape() as tape:
        tape.watch(xs)
        y = f(*xs)
    grads = tape.gradient(y, xs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return float(y.numpy()), {name: float(g.numpy()) for name, g in zip(names, grads)}


def _tape_hessian(f, names, point, dtype):
    """The tape's gradient at the point and its Hessian from nested tapes: H[i, j] = d/dxj (df/dxi), the outer
    tape's Jacobian of the inner tape's gradient."""
    from gradlab._tf import tf

    zero = tf.UnconnectedGradients.ZERO
    xs = [tf.constant(point[name], dtype=dtype) for name in names]
    try:
        with tf.GradientTape(persistent=True) as outer:
            outer.watch(xs)
            with tf.GradientTape() as inner:
                inner.watch(xs)
                y = f(*xs)
            g = tf.stack(inner.gradient(y, xs, unconnected_gradients=zero))
        columns = outer.jacobian(g, xs, unconnected_gradients=zero, experimental_use_pfor=False)
    except LookupError as error:
        raise GradlabError(f"the tape cannot take the second derivative of this formula: {error}") from None
    return g.numpy().astype(np.float64), np.stack([c.numpy() for c in columns], axis=1).astype(np.float64)


def _gradient_rows(f, rows):
    """The tape's gradient at each row of points (rows: (points, variables)), as float64 (points, variables):
    f works entry by entry, so the gradient of its sum holds each point's gradient."""
    from gradlab._tf import tf

    columns = [tf.constant(rows[:, k]) for k in range(rows.shape[1])]
    with np.errstate(all="ignore"):
        with tf.GradientTape() as tape:
            tape.watch(columns)
            total = tf.reduce_sum(f(*columns))
        grads = tape.gradient(total, columns, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return np.stack([np.broadcast_to(np.asarray(g.numpy(), dtype=np.float64), (len(rows),)) for g in grads], axis=1)


@dataclass
class _Estimate:
    value: float
    error: float
    forward: float
    forward_error: float
    backward: float
    backward_error: float
    step: float
    one_sided_step: float
    state: str  # the ladder's state of the tape against this estimate (gradlab.engine.ladder)


def _estimates(f, names, point, dtype, y0, tape, tol):
    """For each variable: the Richardson estimate on gradlab's step ladder, judged against the tape, with the
    one-sided (forward and backward) estimates of the step it settled at. Each rung is one batched call of f."""
    from gradlab._tf import tf
    from gradlab.engine.ladder import ladder
    from gradlab.engine.numeric import steps_for

    base = np.array([point[name] for name in names], dtype=dtype)
    out = {}
    for i, name in enumerate(names):
        def evaluate(which, moves, i=i):
            rows = np.repeat(base[None, :], len(moves), axis=0)
            rows[:, i] = base[i] + np.concatenate(moves)
            with np.errstate(all="ignore"):
                ys = f(*(tf.constant(rows[:, j]) for j in range(len(names)))).numpy()
            return np.broadcast_to(np.asarray(ys, dtype=np.float64), (len(rows),)).reshape(len(moves), 1, 1)

        x = base[i:i + 1]
        o = ladder(evaluate, x, steps_for(x, METHOD), np.array([y0]), METHOD, EPS[dtype], tol,
                   tape=np.array([[tape[name]]]))
        step = float(o.step[0, 0])
        out[name] = _Estimate(*(float(a[0, 0]) for a in (o.value, o.error, o.forward, o.forward_error,
                                                          o.backward, o.backward_error)), step, step,
                              STATES_OF_LADDER[int(o.state[0, 0])])
    return out


def _second_estimates(f, names, point, dtype, gradient, hessian, tol):
    """{(i, j): the ladder's estimate of d/dxj (df/dxi)}: for each xj, the tape's gradient is differenced along
    xj (each rung one batched call), every entry judged against the tape's H[:, j]."""
    from gradlab.engine.ladder import ladder
    from gradlab.engine.numeric import steps_for

    base = np.array([point[name] for name in names], dtype=dtype)
    out = {}
    for j in range(len(names)):
        def evaluate(which, moves, j=j):
            rows = np.repeat(base[None, :], len(moves), axis=0)
            rows[:, j] = base[j] + np.concatenate(moves)
            return _gradient_rows(f, rows).reshape(len(moves), 1, len(names))

        x = base[j:j + 1]
        o = ladder(evaluate, x, steps_for(x, METHOD), gradient, METHOD, EPS[dtype], tol,
                   tape=hessian[:, j][None, :])
        for i in range(len(names)):
            step = float(o.step[0, i])
            out[i, j] = _Estimate(*(float(a[0, i]) for a in (o.value, o.error, o.forward, o.forward_error,
                                                              o.backward, o.backward_error)), step, step,
                                  STATES_OF_LADDER[int(o.state[0, i])])
    return out


def _judge(name, formula, exact, tape, estimate, value, symbolic_value, tol):
    """One variable's Derivative, its state and note from _verdict."""
    e = estimate
    state, note, numbers = _verdict(exact, tape, e, value, symbolic_value, tol)
    return Derivative(name, formula, exact, tape, e.value, e.error, e.forward, e.forward_error, e.backward,
                      e.backward_error, e.step, e.one_sided_step, state=state, note=note, **numbers)


def _verdict(exact, tape, estimate, value, symbolic_value, tol, of="f"):
    """(state, note, errors) of one derivative of `of` (f, or f's gradient for a second derivative), from the
    ladder's state and the judge of gradlab.engine.judge under the dtype's tolerance."""
    from gradlab.engine.judge import judge

    e = estimate
    against_exact = judge(tape, exact, 0.0, tol)
    numeric_against_exact = judge(e.value, exact, e.error, tol)
    numbers = dict(tape_vs_symbolic=float(against_exact.abs_error), numeric_vs_symbolic=float(
        numeric_against_exact.abs_error), tape_allowed=float(against_exact.allowed),
        numeric_allowed=float(numeric_against_exact.allowed))

    def derivative(state, note=""):
        return state, note, numbers

    if not (math.isfinite(value) and math.isfinite(symbolic_value)):
        shown = value if not math.isfinite(value) else symbolic_value
        where = f"in {tol.dtype}" if not math.isfinite(value) else "symbolically"
        return derivative("not defined here", f"f is {_number(shown)} here {where}: the point is outside f's "
                          "domain or f overflows")
    tape_ok, numeric_ok = bool(against_exact.ok), bool(numeric_against_exact.ok)
    if math.isinf(e.value) and tape_ok:  # inf, not nan: the estimate overflowed, f did not leave its domain
        return derivative("ok", f"the numeric estimate is not finite ({of} overflows within the step "
                          f"{e.step:.1e}); the verdict rests on the tape against the symbolic value")
    sides = {"forward": e.forward, "backward": e.backward}
    broken = [side for side, v in sides.items() if not math.isfinite(v)]
    if e.state in ("kink", "inconclusive") and broken and not math.isfinite(e.value):
        which = "the forward and backward differences are" if len(broken) == 2 else f"the {broken[0]} difference is"
        where = "either side" if len(broken) == 2 else "one side"
        return derivative("not differentiable here", f"{which} not finite: {of} is not defined on {where} of this "
                          f"point (down to the step {e.one_sided_step:.1e})")
    if e.state == "kink":
        return derivative("not differentiable here", f"the one-sided estimates differ (forward "
                          f"{_number(e.forward)}, backward {_number(e.backward)}) down to the step "
                          f"{e.one_sided_step:.1e}: {of} has a kink, jump or pole here or within that step")
    if not math.isfinite(exact) and e.state == "inconclusive" and not _numeric_against_tape(tape, e, tol):
        return derivative("not differentiable here", f"the symbolic derivative is {_number(exact)} here and the "
                          f"numeric estimate ({_number(e.value)} ± {e.error:.1e}) does not settle down to the step "
                          f"{e.step:.1e}: {of} has a kink, jump or pole here or within that step")
    if not math.isfinite(exact):
        note = (f"the symbolic derivative is {_number(exact)} here; the tape is compared with the numeric "
                "estimate instead")
        return derivative("mismatch" if e.state == "fail" else "ok", note)
    if tape_ok and (numeric_ok or e.state == "inconclusive"):
        note = "" if numeric_ok else (f"the numeric estimate is too coarse to confirm it (its error "
                                      f"{e.error:.1e} is larger than the tolerance); the tape agrees with the "
                                      f"symbolic value")
        return derivative("ok", note)
    if tape_ok:
        note = (f"the tape agrees with the symbolic value, but the numeric estimate does not (by more than its "
                f"estimated error, down to the step {e.step:.1e}): {of} changes too fast for finite differences "
                "here")
    elif numeric_ok:
        note = "the tape differs from the symbolic value (the numeric estimate agrees with it)"
    else:
        note = "the tape and the numeric estimate both differ from the symbolic value"
    return derivative("mismatch", note)


def _numeric_against_tape(tape, estimate, tol):
    """Whether the tape lies within the tolerance and the estimate's error of the numeric estimate."""
    from gradlab.engine.judge import judge

    return bool(judge(tape, estimate.value, estimate.error, tol).ok)


def _studies(f, names, point, dtype, exact):
    """A step-size study of each variable's derivative, the other variables fixed at the point."""
    from gradlab._tf import tf
    from gradlab.teaching.steps import step_study

    studies = []
    for i, name in enumerate(names):
        fixed = [tf.constant(point[n], dtype=dtype) for n in names]

        def one_variable(t, i=i, fixed=fixed):
            return f(*(t if j == i else fixed[j] for j in range(len(names))))

        reference = exact[name] if math.isfinite(exact[name]) else None
        studies.append(step_study(one_variable, point[name], derivative=reference, dtype=dtype, name=name))
    return studies


def _number(x):
    from gradlab.render import number

    return number(x, 10)


def _shorten(text, limit):
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- the terminal and Jupyter view ------------------------------------------------------------------------------

#: Derivative formulas longer than this are shown in part (the JSON view has them whole).
SHOWN_FORMULA = 400
_STYLES = {"ok": ("✓ ok", "bold green"), "mismatch": ("✗ mismatch", "bold red"),
           "not differentiable here": ("! not differentiable here", "bold yellow"),
           "not defined here": ("! not defined here", "bold yellow")}
#: Significant digits of the values in the table (the result and its JSON view hold them in full).
TABLE_DIGITS = 8
#: Where the legend under the table may break: between its clauses and before each added term.
_LEGEND_BREAK = re.compile(r"(, |; | (?=and )| (?=\+ )|  (?=\[))")


def _state(state):
    from rich.text import Text

    label, style = _STYLES[state]
    return Text(label, style=style)


def _formula_line(label, text, style=""):
    from rich.text import Text

    if len(text) > SHOWN_FORMULA:
        text = f"{text[:SHOWN_FORMULA]}… ({len(text)} characters in all)"
    return Text.assemble((label, style or "bold"), (text, style))


def formula_view(result):
    """The check as rich renderables: the formulas, then one row per variable, then the notes."""
    from rich.console import Group
    from rich.text import Text

    from gradlab.render import Column, FittedTable, error, number

    names = ", ".join(result.variables)
    worst = [d.variable for d in result.derivatives if d.state == result.state]
    worst += [d.name for d in result.second_derivatives if d.state == result.state]
    agree = ("tape, finite differences and symbolic agree, to the second derivatives" if result.order == 2
             else "tape, finite differences and the symbolic derivative agree")
    summary = agree if result.ok else f"for {', '.join(worst)}"
    parts = [Text.assemble(_state(result.state), f"  {summary}")]
    parts.append(_formula_line(f"f({names}) = ", result.formula.strip()))
    if result.expression != result.formula.strip():
        parts.append(_formula_line("  as SymPy reads it: ", result.expression, style="dim"))
    at = []
    for name in result.variables:
        given, used = result.at[name], result.point[name]
        at.append(f"{name} = {_number(used)}" + ("" if given == used else f" ({given!r} in {result.dtype})"))
    parts.append(Text(f"at {', '.join(at)}:  f = {_number(result.value)} (tape), "
                      f"{_number(result.symbolic_value)} (symbolic)"))
    for d in result.derivatives:
        parts.append(_formula_line(f"∂f/∂{d.variable} = ", d.formula))
    table = FittedTable([Column("name", "left"), *(Column(h) for h in ("symbolic", "tape", "numeric")),
                         *(Column(h, extra=True) for h in ("± est.", "Δtape", "Δnum")),
                         Column("verdict", "left", verdict=True)],
                        title=f"symbolic, tape and finite differences ({result.method}, {result.dtype})")
    for d in result.derivatives:
        values = [number(v, TABLE_DIGITS) for v in (d.symbolic, d.tape, d.numeric)]
        table.add_row(d.variable, *values, error(d.numeric_error), error(d.tape_vs_symbolic),
                      error(d.numeric_vs_symbolic), _state(d.state))
    parts.append(table)
    tol = result.tolerance
    legend = (f"Δtape = |tape − symbolic|, Δnum = |numeric − symbolic|; ok when Δtape ≤ atol {tol.atol:.0e} + rtol "
              f"{tol.rtol:.0e}·|symbolic| and Δnum ≤ the same + {tol.k:g}·(est. error)  [{tol.dtype}]")
    parts.append(_legend(legend))
    parts += [Text(f"{d.variable}: {d.note}", style="yellow") for d in result.derivatives if d.note]
    if result.order == 2:
        parts += _second_view(result)
    for study in result.studies:
        parts += [Text(""), study]
    return Group(*parts)


def _legend(legend):
    """The legend under a table, dim, broken between its clauses where the width needs it."""
    from rich.text import Text

    from gradlab.render import Sized, packed

    terms = _LEGEND_BREAK.split(legend)
    pieces = [("", Text(terms[0]))] + [(sep, Text(term)) for sep, term in zip(terms[1::2], terms[2::2])]

    def legend_at(console, width):
        text = packed(pieces, width, indent="  ")
        text.stylize("dim")
        return text

    return Sized(legend_at)


def _second_view(result):
    """The second derivatives: their formulas, one row per pair i <= j, the legend and the notes."""
    from rich.text import Text

    from gradlab.render import Column, FittedTable, error, number

    parts = [Text("")]
    parts += [_formula_line(f"{d.name} = ", d.formula) for d in result.second_derivatives]
    table = FittedTable([Column("wrt", "left"), *(Column(h) for h in ("symbolic", "tape", "numeric")),
                         *(Column(h, extra=True) for h in ("± est.", "Δtape", "Δnum", "Δsym")),
                         Column("verdict", "left", verdict=True)],
                        title=f"Hessian ({result.method} on the tape gradient, {result.dtype})")
    for d in result.second_derivatives:
        first, second = d.wrt
        values = [number(v, TABLE_DIGITS) for v in (d.sympy, d.tape, d.numeric)]
        table.add_row(f"{first}, {second}", *values, error(d.numeric_error), error(d.tape_vs_sympy),
                      error(d.numeric_vs_sympy), "" if first == second else error(d.asymmetry), _state(d.state))
    parts.append(table)
    tol = result.tolerance
    parts.append(_legend(f"tape: nested tapes, numeric: finite differences of the tape gradient; the Hessian is "
                         f"symmetric, so each pair is one row; Δsym = |tape[i,j] − tape[j,i]|, ok when ≤ atol "
                         f"{tol.atol:.0e} + rtol {tol.rtol:.0e}·|tape|; the rest as above"))
    parts += [Text(f"{d.name}: {d.note}", style="yellow") for d in result.second_derivatives if d.note]
    return parts
