"""compare: the tape's gradient, a finite-difference estimate and (where known) the analytic value, side by side."""

from dataclasses import dataclass, field

import numpy as np

from gradlab.engine.inputs import resolve
from gradlab.engine.judge import judge
from gradlab.engine.numeric import check_method, estimate
from gradlab.engine.tape import record, tape_gradients
from gradlab.engine.tolerances import lowest_precision, tolerance
from gradlab.errors import GradlabError
from gradlab.render import Result


@dataclass
class Row:
    """One derivative: its values, the errors between them, and the verdict. Scalars are floats.

    `output_rank` is how many leading axes of the values index f's output (0 for a gradient, 1 for the
    Jacobian of a vector-valued f); `worst` is the index of the entry furthest past its threshold (() for a
    scalar).
    """

    name: str
    tape: object
    numeric: object
    numeric_error: object
    analytic: object
    abs_error: float
    rel_error: float
    analytic_error: float | None
    ok: bool
    note: str = ""
    output_rank: int = 0
    worst: tuple = ()


@dataclass
class Comparison(Result):
    """Rows of tape vs numeric (vs analytic) derivatives; `a + b` puts two comparisons in one table."""

    rows: list
    method: str
    tolerances: list = field(default_factory=list)

    @property
    def ok(self):
        return all(row.ok for row in self.rows)

    def __add__(self, other):
        if not isinstance(other, Comparison):
            return NotImplemented
        method = self.method if self.method == other.method else "mixed"
        described = list(dict.fromkeys([*self.tolerances, *other.tolerances]))
        return Comparison(self.rows + other.rows, method, described)

    def __rich__(self):
        from gradlab.render import comparison_view

        return comparison_view(self)


def _plain(value):
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array


def _furthest(excess):
    """The index of the entry furthest past its threshold (the first of equals), () for a scalar."""
    if np.ndim(excess) == 0:
        return ()
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), np.shape(excess)))


def _values(given, count, what):
    if given is None:
        return None
    given = list(given) if isinstance(given, (list, tuple)) else [given]
    if len(given) != count:
        raise GradlabError(f"{what} has {len(given)} values for {count} arguments; give one per argument")
    return given


def compare(f, *args, tape=None, analytic=None, names=None, method="richardson", rtol=None, atol=None):
    """Compare d f / d arg from the tape with a finite-difference estimate (and `analytic`, if given).

    `tape` takes the gradients your own tape computed (one per argument) to show those instead of
    gradlab's own tape_gradient(f, *args).
    """
    tape = _values(tape, len(args), "tape")
    analytic = _values(analytic, len(args), "analytic")
    check_method(method)
    if not args:
        raise GradlabError("compare needs at least one argument of f to differentiate with respect to")
    point, (y, recorded) = resolve(f, args, names, run=record)  # one call of f gives both sides a start
    numeric = estimate(f, point, y, method)
    if tape is None:
        tape = tape_gradients(point, y, recorded)
    tape_dtypes = [getattr(getattr(t, "dtype", None), "name", "float64") for t in tape if t is not None]
    tol = tolerance(lowest_precision([numeric.dtype, *tape_dtypes]), rtol, atol)
    rows = []
    for i, name in enumerate(numeric.names):
        value, error = numeric.value[i], numeric.error[i]
        output_rank = np.ndim(value) - point.values[i].shape.rank
        for what, given in (("tape", tape), ("analytic", analytic)):
            if given is not None and given[i] is not None and np.shape(given[i]) not in ((), np.shape(value)):
                raise GradlabError(f"{what}[{i}] has shape {np.shape(given[i])}, but d f / d {name} has shape "
                                   f"{np.shape(value)}; give one value per entry")
        if tape[i] is None:
            rows.append(Row(name, None, _plain(value), _plain(error), None if analytic is None else _plain(analytic[i]),
                            np.inf, np.inf, None, False, "the tape returned None", output_rank))
            continue
        t = _plain(tape[i])
        verdict = judge(t, value, error, tol)
        ok = bool(np.all(verdict.ok))
        exact, analytic_error, excess = None, None, verdict.excess
        if analytic is not None:
            exact = _plain(analytic[i])
            against_exact = judge(t, exact, 0.0, tol)
            analytic_error = _plain(against_exact.abs_error.max())
            ok = ok and bool(np.all(against_exact.ok))
            excess = np.maximum(excess, against_exact.excess)
        rows.append(Row(name, t, _plain(value), _plain(error), exact, _plain(verdict.abs_error.max()),
                        _plain(verdict.rel_error.max()), analytic_error, ok, "", output_rank, _furthest(excess)))
    return Comparison(rows, method, [tol.describe()])
