"""Finite-difference estimates of a gradient, each with an estimate of its own error.

For a step h and one entry x_j of an argument (all other entries fixed):
    forward     D(h) = (f(x + h) - f(x)) / h                  error O(h)
    central     D(h) = (f(x + h) - f(x - h)) / 2h             error O(h^2)
    richardson  R    = (4 D(h/2) - D(h)) / 3  (D central)     error O(h^4): the h^2 terms cancel
Every method also evaluates the step h/2, so the change between the two steps estimates the truncation error;
round-off adds about eps * |f| / h per evaluation. The error reported is the sum of both, an upper bound in
practice (see tests/test_numeric.py).
"""

from dataclasses import dataclass

import numpy as np

from gradlab.errors import GradlabError
from gradlab.engine.evaluate import Evaluator
from gradlab.engine.inputs import resolve
from gradlab.engine.tolerances import EPS, METHODS, ROUNDOFF_FACTORS, ROUNDOFF_ULPS, lowest_precision, relative_step
from gradlab.render import Result


@dataclass
class NumericGradient(Result):
    """Finite-difference derivatives of f: `.value[i]` and `.error[i]` have shape output shape + shape of argument i."""

    value: list
    error: list
    names: list
    method: str
    dtype: str
    evaluation: str

    def __rich__(self):
        from gradlab.render import numeric_view

        return numeric_view(self)


def check_method(method):
    if method not in METHODS:
        raise GradlabError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def numeric_gradient(f, *args, method="richardson", step=None, names=None):
    """Finite-difference derivatives of f at args, one array per argument, with estimated errors.

    `step` (optional) is an absolute step for every entry; by default each entry gets
    eps ** exponent * max(1, |x|) for its dtype and the method (see gradlab.engine.tolerances).
    """
    check_method(method)
    if not args:
        raise GradlabError("numeric_gradient needs at least one argument to differentiate with respect to")
    point, y0 = resolve(f, args, names)
    return estimate(f, point, y0, method, step)


def estimate(f, point, y0, method="richardson", step=None):
    """numeric_gradient at a point already resolved, where f's value is y0."""
    evaluator = Evaluator(f, point, y0.shape.num_elements())
    values, errors = [], []
    for i, x in enumerate(point.values):
        index = np.arange(x.shape.num_elements())
        value, error = entry_derivatives(evaluator, i, index, y0.numpy().reshape(-1), method, step)
        values.append(to_jacobian(value, y0.shape, x.shape))
        errors.append(to_jacobian(error, y0.shape, x.shape))
    dtype = lowest_precision([*point.dtypes, y0.dtype.name])
    return NumericGradient(values, errors, point.names, method, dtype, ", ".join(sorted(evaluator.how)))


def to_jacobian(rows, output_shape, argument_shape):
    """(entries, outputs) -> output shape + argument shape (a 0-d array for scalar-by-scalar)."""
    return np.moveaxis(rows, 0, -1).reshape(tuple(output_shape) + tuple(argument_shape))


def steps_for(x, method, step=None):
    """Per-entry steps h_j for the flat values x: the dtype's relative step times max(1, |x_j|), or `step`."""
    if step is None:
        return (relative_step(x.dtype.name, method) * np.maximum(1.0, np.abs(x))).astype(x.dtype)
    if isinstance(step, (bool, str, bytes)) or not isinstance(step, (int, float, np.floating, np.integer)) \
            or not np.isfinite(step) or step <= 0:
        raise GradlabError(f"step must be a positive number such as 1e-6, got {step!r}")
    return np.full(x.shape, step, dtype=x.dtype)


def entry_derivatives(evaluator, i, index, y0, method, step=None):
    """Derivatives of the flat output y0 w.r.t. entries `index` of argument i: (len(index), m) value and error."""
    x = evaluator.point.values[i].numpy().reshape(-1)[index]
    deltas = exact_moves(x, method, step)
    ys = evaluator.rows(i, np.tile(index, len(deltas)), np.concatenate(deltas))
    eps = EPS[lowest_precision([x.dtype.name, ys.dtype.name])]
    ys = ys.astype(np.float64).reshape(len(deltas), len(index), evaluator.output_size)
    return combine(ys, np.asarray(y0, dtype=np.float64), deltas, method, eps)


def exact_moves(x, method, step=None):
    """The moves of each entry the method evaluates (h, h/2, then -h, -h/2 unless forward), each exactly
    representable: (x + h) - x, so that x + move is the point f really sees."""
    h = steps_for(x, method, step)
    offsets = [h, h / 2] if method == "forward" else [h, h / 2, -h, -h / 2]
    moves = [((x + o) - x).astype(x.dtype) for o in offsets]
    if any(np.any(move == 0) for move in moves):
        raise GradlabError(f"step {step!r} is below the resolution of {x.dtype.name} at these values "
                           f"(x + step == x); use a larger step")
    return moves


def combine(ys, y0, deltas, method, eps, magnitude=None):
    """The estimate and its error from f's values ys[level, entry, output] at the moves `deltas[level][entry]`.

    Non-finite values of f give non-finite estimates (which a verdict then fails), without warnings.
    """
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return _combine(ys, y0, deltas, method, eps, magnitude)


def _combine(ys, y0, deltas, method, eps, magnitude):
    d = [np.asarray(dd, dtype=np.float64)[:, None] for dd in deltas]
    if method == "forward":
        coarse, fine = (ys[0] - y0) / d[0], (ys[1] - y0) / d[1]
        value, truncation = coarse, 2.0 * np.abs(coarse - fine)
    else:
        coarse = (ys[0] - ys[2]) / (d[0] - d[2])
        fine = (ys[1] - ys[3]) / (d[1] - d[3])
        if method == "central":
            value, truncation = coarse, 4.0 / 3.0 * np.abs(coarse - fine)
        else:
            value = (4.0 * fine - coarse) / 3.0
            truncation = np.abs(value - fine)
    if magnitude is None:
        magnitude = np.maximum(np.abs(y0)[None, :], np.abs(ys).max(axis=0))
    roundoff = ROUNDOFF_FACTORS[method] * ROUNDOFF_ULPS * eps * magnitude / np.abs(d[0])
    return value, truncation + roundoff
