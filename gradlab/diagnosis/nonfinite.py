"""Where NaN or Inf first appears in f, forward (a value) and backward (a gradient), and its common causes.

Forward, the first op (in graph order) whose output is not finite while its inputs are. Backward, the first
op the backward pass reaches whose incoming gradient is finite and whose outgoing gradient is not. Each
origin is named with the cause where the op and its inputs make it recognisable.
"""

from dataclasses import dataclass

import numpy as np

#: Op types by the domain they need, for naming a forward NaN or Inf; `{n}` is filled with the entry count.
DOMAINS = {
    "Log": ("log at {what}", "log needs x > 0: use tf.math.log(x + eps) or tf.math.xlogy where 0 * log(0) = 0"),
    "Log1p": ("log1p at {what}", "log1p needs x > -1"),
    "Sqrt": ("sqrt at {what}", "sqrt needs x >= 0"),
    "Rsqrt": ("rsqrt at {what}", "rsqrt needs x > 0: add a small epsilon"),
    "Pow": ("a power of {what}", "x ** p needs x > 0 for fractional or negative p"),
    "RealDiv": ("a division by zero", "guard the divisor, or use tf.math.divide_no_nan"),
    "Div": ("a division by zero", "guard the divisor, or use tf.math.divide_no_nan"),
    "Reciprocal": ("1/x at zero", "guard the divisor, or use tf.math.divide_no_nan"),
    "Inv": ("1/x at zero", "guard the divisor, or use tf.math.divide_no_nan"),
    "Acos": ("acos outside [-1, 1]", "clip the argument to [-1, 1]"),
    "Asin": ("asin outside [-1, 1]", "clip the argument to [-1, 1]"),
    "Atanh": ("atanh at or beyond ±1", "keep the argument inside (-1, 1)"),
    "Exp": ("exp overflowing", "exp overflows float32 past 88 and float64 past 709: subtract the maximum first "
                               "(tf.reduce_logsumexp, tf.nn.softmax do)"),
}


#: How a learner writes each op, for the safe form of a tf.where.
CALLS = {"Log": "tf.math.log", "Log1p": "tf.math.log1p", "Sqrt": "tf.sqrt", "Rsqrt": "tf.math.rsqrt",
         "Pow": "tf.pow", "Reciprocal": "tf.math.reciprocal", "RealDiv": "1.0 / ", "Acos": "tf.acos",
         "Asin": "tf.asin", "Atanh": "tf.atanh"}


@dataclass
class NonFinite:
    """Where a NaN or Inf first appears: the op, forward or backward, how many entries, and why."""

    direction: str  # "forward" (a value) or "backward" (a gradient)
    op: str
    type: str
    what: str  # "nan", "inf", "nan and inf"
    entries: int
    total: int
    cause: str
    fix: str
    later: int = 0  # how many more ops it then spreads to


def first_forward(trace, ops):
    """The first op in `ops` whose float output is not finite while every float input is; None if none."""
    bad = [op for op in ops if not all(_finite(trace.values[t.name]) for t in _float_outputs(trace, op))]
    for k, op in enumerate(bad):
        inputs = [trace.values[t.name] for t in op.inputs if t.dtype.is_floating and t.name in trace.values]
        if all(_finite(v) for v in inputs):
            values = np.concatenate([np.asarray(trace.values[t.name], dtype=np.float64).reshape(-1)
                                     for t in _float_outputs(trace, op)])
            cause, fix = _forward_cause(op, [np.asarray(v, dtype=np.float64) for v in inputs], values)
            return NonFinite("forward", op.name, op.type, _kind(values), int(np.count_nonzero(~np.isfinite(values))),
                             values.size, cause, fix, len(bad) - k - 1)
    return None


def first_backward(trace, units):
    """The first op, in the order of the backward pass, whose incoming gradient (at its outputs) is finite and
    whose gradient for some input is not; `units` are its Locals in graph order. None if none."""
    suspects = [u for u in units if any(not _finite(trace.gradients[t.name]) for t in u.inputs)]
    for k, unit in enumerate(reversed(suspects)):
        incoming = [trace.gradients[t.name] for t in unit.outputs]
        if not all(_finite(g) for g in incoming):
            continue
        try:
            outgoing = unit.vjp(incoming)
        except Exception:  # noqa: BLE001 - an op whose gradient cannot be replayed alone is not named
            continue
        found = [g for g in outgoing if g is not None]
        if found and not all(_finite(g) for g in found):
            values = np.concatenate([np.asarray(g, dtype=np.float64).reshape(-1) for g in found])
            cause, fix = _backward_cause(trace, unit, incoming, outgoing)
            return NonFinite("backward", unit.op.name, unit.op.type, _kind(values),
                             int(np.count_nonzero(~np.isfinite(values))), values.size, cause, fix,
                             len(suspects) - k - 1)
    return None


def _float_outputs(trace, op):
    return [t for t in op.outputs if t.dtype.is_floating and t.name in trace.values]


def _finite(value):
    return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))


def _kind(values):
    has_nan, has_inf = bool(np.any(np.isnan(values))), bool(np.any(np.isinf(values)))
    return "nan and inf" if has_nan and has_inf else "nan" if has_nan else "inf"


def _where(inputs, values):
    """The input's value at the first bad entry, in words ("x = 0"), for elementwise ops."""
    if not inputs or inputs[0].size != values.size:
        return "some entries"
    return f"x = {float(inputs[0].reshape(-1)[np.argmax(~np.isfinite(values))]):.3g}"


def _forward_cause(op, inputs, values):
    if op.type in DOMAINS:
        cause, fix = DOMAINS[op.type]
        return cause.format(what=_where(inputs, values)), fix
    if np.any(np.isinf(values)) and not np.any(np.isnan(values)):
        return (f"an overflow in {op.type}: the result is larger than the dtype can hold",
                "scale the values down, or compute in a form that cannot overflow (logs, logsumexp)")
    return f"{op.type} makes {_kind(values)} from finite inputs", "look at this op's inputs at the point"


def _backward_cause(trace, unit, incoming, outgoing):
    """Why the op's gradient is not finite while what it received is."""
    op = unit.op
    flat_in = np.concatenate([np.asarray(g, dtype=np.float64).reshape(-1) for g in incoming])
    bad_out = next(np.asarray(g, dtype=np.float64) for g in outgoing if g is not None and not _finite(g))
    bad = ~np.isfinite(bad_out.reshape(-1))
    users = {user.type for t in op.outputs for user in t.consumers()}
    derivative = f"the derivative of {op.type.lower()} is infinite at {_edge(unit)}"
    if flat_in.size == bad_out.size and np.all(flat_in[bad] == 0):
        if users & {"Select", "SelectV2"}:
            call = CALLS.get(op.type, f"{op.type.lower()}")
            return (f"the branch tf.where did not select: {derivative}, and tf.where sends that branch a "
                    "gradient of 0, but 0 × inf = nan",
                    "make the unselected branch safe to differentiate: give the op a harmless input where the "
                    f"condition is false, e.g. tf.where(x > 0, {call}(tf.where(x > 0, x, 1.0)), 0.0)")
        return (f"{derivative}; it receives a gradient of 0 there, and 0 × inf = nan",
                "keep the op's input away from that point, or mask its input before the op")
    own = np.concatenate([np.asarray(trace.values[t.name], dtype=np.float64).reshape(-1) for t in unit.outputs])
    if own.size == bad.size and not np.all(np.isfinite(own[bad])):
        return (f"{op.type}'s own value is not finite there (see where it first appears in a value), so "
                "neither is its derivative", "keep the op's input inside its domain")
    return derivative, "keep the op's input away from that point (add a small epsilon, or clip)"


def _edge(unit):
    x = np.asarray(unit.values[0], dtype=np.float64).reshape(-1)
    if x.size and np.any(x == 0):
        return "0"
    return "this point"
