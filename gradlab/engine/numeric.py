"""Finite-difference estimates of a gradient, each with an estimate of its own error.

For a step h and one entry x_j of an argument (all other entries fixed):
    forward     D(h) = (f(x + h) - f(x)) / h                  error O(h)
    central     C(h) = (f(x + h) - f(x - h)) / 2h             error O(h^2)
    richardson  R    = (4 C(h/2) - C(h)) / 3                  error O(h^4): the h^2 terms cancel
Every method also evaluates the step h/2, so the change between the two steps estimates the truncation error;
round-off adds about eps * |f| / h per evaluation. The error reported is the sum of both, an upper bound in
practice (see tests/test_numeric.py).

The same evaluations give one-sided estimates of second order, F = 2 D(h/2) - D(h) and B the same with -h.
On a smooth f they differ only by f'''' h^3 / 16, far less than the h^2 error Richardson removes; where the
stencil straddles a kink, a jump, a pole or the edge of f's domain they differ by the jump itself. That is
how gradlab.engine.ladder tells a step that is too coarse for f from a gradient that is wrong.
"""

from dataclasses import dataclass

import numpy as np

from gradlab.errors import GradlabError
from gradlab.engine.evaluate import Evaluator
from gradlab.engine.inputs import resolve
from gradlab.engine.tolerances import (METHODS, MIN_MOVE_ULPS, ROUNDOFF_FACTORS, ROUNDOFF_ULPS,
                                       lowest_precision, relative_step, tolerance)
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


@dataclass
class Level:
    """Estimates at one step for (entries, outputs): the method's value and error, and the one-sided estimates.

    `smooth` says the stencil looks like a smooth function's: f finite at every point and the forward and
    backward estimates agreeing within their errors (and the tolerance).
    """

    step: np.ndarray  # (entries,)
    value: np.ndarray
    error: np.ndarray
    truncation: np.ndarray
    roundoff: np.ndarray
    forward: np.ndarray
    backward: np.ndarray
    forward_error: np.ndarray
    backward_error: np.ndarray
    smooth: np.ndarray


def check_method(method):
    if method not in METHODS:
        raise GradlabError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def numeric_gradient(f, *args, method="richardson", step=None, names=None):
    """Finite-difference derivatives of f at args, one array per argument, with estimated errors.

    By default each entry starts at the step eps ** exponent * max(1, |x|) for its dtype and the method (see
    gradlab.engine.tolerances) and shrinks where the estimate there is not settled (gradlab.engine.ladder).
    `step` (optional) is an absolute step for every entry, used as given.
    """
    check_method(method)
    if not args:
        raise GradlabError("numeric_gradient needs at least one argument to differentiate with respect to")
    if step is not None:
        check_step(step)
    point, y0 = resolve(f, args, names)
    return estimate(f, point, y0, method, step)


def estimate(f, point, y0, method="richardson", step=None):
    """numeric_gradient at a point already resolved, where f's value is y0."""
    from gradlab.engine.ladder import column_ladder

    evaluator = Evaluator(f, point, y0)
    dtype = lowest_precision([*point.dtypes, y0.dtype.name])
    tol = tolerance(dtype)
    values, errors = [], []
    for i, x in enumerate(point.values):
        outcome = column_ladder(evaluator, i, np.arange(x.shape.num_elements()), method, tol, step=step)
        values.append(to_jacobian(outcome.value, y0.shape, x.shape))
        errors.append(to_jacobian(outcome.error, y0.shape, x.shape))
    return NumericGradient(values, errors, point.names, method, dtype, evaluator.describe())


def to_jacobian(rows, output_shape, argument_shape):
    """(entries, outputs) -> output shape + argument shape (a 0-d array for scalar-by-scalar)."""
    return np.moveaxis(rows, 0, -1).reshape(tuple(output_shape) + tuple(argument_shape))


def check_step(step):
    if isinstance(step, (bool, str, bytes)) or not isinstance(step, (int, float, np.floating, np.integer)) \
            or not np.isfinite(step) or step <= 0:
        raise GradlabError(f"step must be a positive number such as 1e-6, got {step!r}")


def steps_for(x, method, step=None):
    """Per-entry steps h_j for the flat values x: the dtype's relative step times max(1, |x_j|), or `step`."""
    if step is None:
        return (relative_step(x.dtype.name, method) * np.maximum(1.0, np.abs(x))).astype(x.dtype)
    check_step(step)
    return np.full(x.shape, step, dtype=x.dtype)


def offsets(h, method):
    """The moves of each entry the method evaluates: h, h/2, then -h, -h/2 unless forward."""
    return [h, h / 2] if method == "forward" else [h, h / 2, -h, -h / 2]


def moves_at(x, h, method):
    """The exactly representable moves of x for steps h."""
    return [((x + o) - x).astype(x.dtype) for o in offsets(np.asarray(h, dtype=x.dtype), method)]


def resolvable(x, moves):
    """Whether every move of each entry is nonzero and at least MIN_MOVE_ULPS units in the last place of x."""
    ulp = np.spacing(np.abs(x).astype(x.dtype))
    return np.all([np.abs(m) >= MIN_MOVE_ULPS * ulp for m in moves], axis=0)


def level_estimate(ys, y0, deltas, method, eps, tol, magnitude=None, noise=0.0):
    """A Level from f's values ys[move, entry, output] at the moves `deltas[move][entry]` (see offsets);
    `noise` (f's variation between calls) counts as round-off."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if magnitude is None:
            magnitude = _magnitude(ys, y0)
        magnitude = magnitude + noise / (ROUNDOFF_ULPS * eps)
        value, truncation, roundoff = _combine(ys, y0, deltas, method, eps, magnitude)
        h = np.abs(np.asarray(deltas[0], dtype=np.float64))
        unit = roundoff / ROUNDOFF_FACTORS[method]  # ulps * eps * |f| / h: one evaluation's round-off
        finite = np.all(np.isfinite(ys), axis=0) & np.isfinite(value) & np.isfinite(truncation + roundoff)
        d = [np.asarray(dd, dtype=np.float64)[:, None] for dd in deltas]
        slope = [(ys[k] - y0) / d[k] for k in range(len(deltas))]
        forward = 2.0 * slope[1] - slope[0]
        # F's truncation: its distance from the first-order D(h/2); its round-off: 4 * 2 + 2 evaluations' worth
        forward_error = np.abs(forward - slope[1]) + 10.0 * unit
        if method == "forward":
            backward, backward_error, smooth = forward, forward_error, finite
        else:
            backward = 2.0 * slope[3] - slope[2]
            backward_error = np.abs(backward - slope[3]) + 10.0 * unit
            scale = np.maximum(np.abs(forward), np.abs(backward))
            agree = np.abs(forward - backward) <= 4.0 * truncation + 20.0 * unit + tol.allowed(scale, 0.0)
            smooth = finite & agree
    return Level(h, value, truncation + roundoff, truncation, roundoff, forward, backward, forward_error,
                 backward_error, smooth)


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
        magnitude = _magnitude(ys, y0)
    roundoff = ROUNDOFF_FACTORS[method] * ROUNDOFF_ULPS * eps * magnitude / np.abs(d[0])
    return value, truncation, roundoff


def _magnitude(ys, y0):
    """|f| over the stencil and the point, ignoring values that are not finite."""
    finite = np.where(np.isfinite(ys), np.abs(ys), 0.0)
    return np.fmax(np.where(np.isfinite(y0), np.abs(y0), 0.0)[None, :], finite.max(axis=0))
