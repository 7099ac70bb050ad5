"""strategies: hypothesis strategies for gradlab.check_many, arrays kept away from a function's kinks.

    from gradlab import strategies
    gradlab.check_many(tf.nn.relu, strategies.arrays((3,), away_from=[0]))

hypothesis is imported when a strategy is built, not with this module; without it, a GradlabError says how
to install it.
"""

import numbers

import numpy as np

from gradlab.errors import GradlabError

__all__ = ["arrays", "points"]

DTYPES = ("float32", "float64")


def hypothesis():
    """The hypothesis package, or a GradlabError saying how to install it."""
    try:
        import hypothesis
        import hypothesis.extra.numpy
        import hypothesis.strategies
    except ImportError:
        raise GradlabError("gradlab.strategies needs hypothesis: pip install hypothesis") from None
    return hypothesis


def arrays(shape, dtype="float64", min_value=-3, max_value=3, away_from=(), margin=1e-3):
    """numpy arrays of `shape` and `dtype`, entries in [min_value, max_value] kept at least
    margin * (max_value - min_value) away from each value in `away_from` (away_from=[0] for relu)."""
    shape = _shape(shape)
    if dtype not in DTYPES:
        raise GradlabError(f"dtype must be one of {', '.join(map(repr, DTYPES))}, got {dtype!r}")
    low, high = _number("min_value", min_value), _number("max_value", max_value)
    if not low < high:
        raise GradlabError(f"min_value must be below max_value, got {min_value!r} and {max_value!r}")
    kinks = [_number("an entry of away_from", k) for k in _sequence("away_from", away_from)]
    margin = _number("margin", margin)
    if margin < 0:
        raise GradlabError(f"margin must be a number >= 0, got {margin!r}")
    gap = margin * (high - low)
    pieces = allowed_intervals(low, high, kinks, gap, dtype)
    if not pieces:
        raise GradlabError(f"no value in [{low:g}, {high:g}] is {gap:g} away from every kink in away_from "
                           f"{kinks}; widen the range or lower margin")
    h = hypothesis()
    width = 32 if dtype == "float32" else 64
    low, high = pieces[0][0], pieces[-1][1]
    elements = h.strategies.floats(low, high, allow_nan=False, allow_infinity=False, width=width)
    drawn = h.extra.numpy.arrays(np.dtype(dtype), shape, elements=elements)
    return drawn.map(lambda x: nearest_allowed(x, pieces)) if len(pieces) > 1 else drawn


def points(*strategies):
    """Argument tuples for check_many: one drawn value from each strategy, in order."""
    st = hypothesis().strategies
    if not strategies:
        raise GradlabError("points needs a strategy per argument, e.g. points(arrays((3,)), arrays((3,)))")
    for i, s in enumerate(strategies):
        if not isinstance(s, st.SearchStrategy):
            raise GradlabError(f"argument {i + 1} of points is a {type(s).__name__}, not a hypothesis "
                               "strategy; pass strategies such as gradlab.strategies.arrays((3,))")
    return st.tuples(*strategies)


def allowed_intervals(low, high, kinks, gap, dtype="float64"):
    """[low, high] less the open intervals (k - gap, k + gap) around each kink: a sorted list of (a, b),
    each end representable in `dtype` and inside the allowed set."""
    pieces = [(low, high)]
    for k in sorted(kinks) if gap > 0 else ():
        pieces = [piece for a, b in pieces for piece in ((a, min(b, k - gap)), (max(a, k + gap), b))]
    inward = [(_round(a, dtype, up=True), _round(b, dtype, up=False)) for a, b in pieces]
    return [(a, b) for a, b in inward if a <= b]


def nearest_allowed(x, pieces):
    """Each entry of x moved to the nearest value of the intervals `pieces` (entries inside one stay put), so
    that values drawn near a kink land just outside its gap and shrink toward it."""
    x = np.asarray(x)
    candidates = np.stack([np.clip(x, x.dtype.type(a), x.dtype.type(b)) for a, b in pieces])
    closest = np.argmin(np.abs(candidates.astype(np.float64) - x.astype(np.float64)), axis=0)
    moved = np.take_along_axis(candidates, closest[None], axis=0)[0]
    return np.asarray(moved, dtype=x.dtype).reshape(x.shape)


def _round(x, dtype, up):
    """x as a float of `dtype`, rounded toward the inside of an interval (up for a lower end)."""
    t = np.dtype(dtype).type
    y = t(x)
    if up and float(y) < x:
        y = np.nextafter(y, t(np.inf))
    if not up and float(y) > x:
        y = np.nextafter(y, t(-np.inf))
    return float(y)


def _shape(shape):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise GradlabError(f"shape must be a tuple of whole numbers >= 0 such as (3,) or () for a scalar, "
                           f"got {shape!r}")
    return tuple(int(n) for n in shape)


def _number(what, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise GradlabError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _sequence(what, value):
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise GradlabError(f"{what} must be a list of numbers, e.g. [0] for relu, got {value!r:.60}")
    return list(np.asarray(value, dtype=object).reshape(-1))
