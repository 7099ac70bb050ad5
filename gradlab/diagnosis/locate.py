"""locate: when f's gradient is wrong, name the operation whose own gradient is wrong, and where NaN starts.

f is traced once (gradlab.diagnosis.trace). Every op on the gradient's path is then checked alone, at the
values it saw inside f: its gradient as registered (gradlab.diagnosis.local) against finite differences of
the op re-run with its inputs fed, by gradlab.check with its step, kink and inconclusive rules, in full mode
for small ops and fast mode for large ones (gradlab.engine.tolerances). Ops that pass no gradient by design
(integer outputs, stop_gradient, round) are listed apart, and so are ops that cannot be re-run alone.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from gradlab.diagnosis.local import local
from gradlab.diagnosis.nonfinite import first_backward, first_forward
from gradlab.diagnosis.trace import SHAPE_OPS, place, trace, user_frame
from gradlab.engine.inputs import resolve, variables_point
from gradlab.engine.restore import claimed, restoring
from gradlab.engine.tolerances import (LOCATE_FULL_ENTRIES, LOCATE_FULL_OUTPUTS, LOCATE_SAMPLES, MAX_EVALUATIONS,
                                       lowest_precision)
from gradlab.errors import GradlabError, TooExpensiveError, summary
from gradlab.render import Result

#: What became of one op, from worst to best as the report orders them.
OP_STATES = ("fail", "not checked", "inconclusive", "kink", "ok")


@dataclass
class OpCheck:
    """One op on the gradient's path: what it is, where it came from, and how its own gradient compared."""

    name: str
    type: str
    kind: str  # op, override, custom gradient
    layer: str  # the path of the Keras layer that made it, or ""
    inputs: list  # (name, shape, dtype) of the perturbed inputs
    outputs: list  # (name, shape, dtype)
    state: str
    source: str = ""  # file:line of the user's code that made it
    code: str = ""
    gradient_source: str = ""  # where a replaced or custom gradient is defined
    check: object = None  # the GradCheck of the op alone
    note: str = ""

    @property
    def scope(self):
        return self.name.rsplit("/", 1)[0] if "/" in self.name else ""

    @property
    def worst(self):
        return self.check.worst[0] if self.check is not None and self.check.worst else None

    @property
    def where(self):
        return " ".join(part for part in (self.source, f"`{self.code}`" if self.code else "") if part)


@dataclass
class Blocked:
    """An op that passes no gradient by design, and why."""

    name: str
    type: str
    reason: str
    source: str = ""


@dataclass
class Location(Result):
    """What gradlab.locate found: the ops whose own gradient is wrong (`wrong`, in graph order), every op
    checked (`ops`), the ops that pass no gradient by design, and where NaN or Inf first appears. `state` is
    "ok", "fail" (a wrong op, a gradient that is not finite) or "incomplete" (nothing wrong was found, but
    some op could not be checked alone); `ok` is state == "ok"."""

    ops: list
    blocked: list
    forward: object = None  # NonFinite or None
    backward: object = None
    seconds: float = 0.0
    evaluations: int = 0
    total_ops: int = 0
    notes: list = field(default_factory=list)
    state: str = "ok"  # ok, fail, or incomplete (nothing wrong found, but some op or variable not checked)

    @property
    def ok(self):
        return self.state == "ok"

    @property
    def wrong(self):
        return [op for op in self.ops if op.state == "fail"]

    def counts(self):
        return {state: sum(op.state == state for op in self.ops) for state in OP_STATES}

    def __rich__(self):
        from gradlab.render import location_view

        return location_view(self)

    def __bool__(self):
        return self.ok

    def to_json(self):
        from gradlab.export import location_json

        return location_json(self)


def locate(f, *args, variables=None, names=None, scope=None, rtol=None, atol=None, seed=0, max_evaluations=None):
    """Trace f, check every op's own gradient at the values it saw, and find where NaN or Inf begins.

    Takes f and its arguments as gradlab.check does (or `variables=[...]` for a function of no arguments);
    `scope` keeps only the ops whose name contains it (a layer's name, say); `rtol`/`atol` override the
    per-dtype tolerance of each op's check. Returns a Location; `.wrong` lists the ops whose registered,
    replaced or custom gradient disagrees with finite differences of the op alone, each with its layer, its
    shapes, the worst entry and the line of your code that made it. Refused up front (TooExpensiveError) past
    `max_evaluations` calls of single ops.
    """
    if not callable(f):
        raise GradlabError(f"f must be a function (a callable), got a {type(f).__name__}")
    if scope is not None and not isinstance(scope, str):
        raise GradlabError(f"scope must be a string such as 'dense_1', got {scope!r:.40}")
    start = time.perf_counter()
    if variables is not None:
        if args:
            raise GradlabError("with variables=, f takes no arguments; pass either arguments or variables, not both")
        point = variables_point(variables, names)
        with claimed(point.variables, point.names), restoring(point.variables, point.values):
            found = trace(f, point)
    else:
        if not args:
            raise GradlabError("locate needs arguments of f, or variables=[...] for a function of no arguments")
        point, found = resolve(f, args, names, run=trace)
    return _locate(found, scope, rtol, atol, seed, max_evaluations, start)


def _locate(found, scope, rtol, atol, seed, max_evaluations, start):
    ops = found.ops
    on_path = [op for op in ops if found.on_path(op) and (scope is None or scope in op.name)]
    units, checks, blocked, notes = [], [], _blocked(found, ops, scope), []
    for op in on_path:
        try:
            unit = _unit(found, op)
        except GradlabError as exc:
            checks.append(_described(found, op, "not checked", note=summary(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - an op that cannot be cut out alone is reported, not raised
            checks.append(_described(found, op, "not checked", note=f"cannot be run alone: {summary(exc)}"))
            continue
        if isinstance(unit, Blocked):
            blocked.append(unit)
        elif unit is not None:
            units.append(unit)
    _guard(units, max_evaluations)
    evaluations = 0
    for k, unit in enumerate(units):
        result, state, note = _check_alone(unit, rtol, atol, seed + k)
        evaluations += result.evaluations if result is not None else 0
        checks.append(_described(found, unit.op, state, unit, result, note))
    checks.sort(key=lambda c: found.order[c.name])
    blocked.sort(key=lambda b: found.order[b.name])
    forward = first_forward(found, ops)
    backward = first_backward(found, units)
    if found.unread:
        notes.append(f"not checked by locate: {', '.join(found.unread)}, read only inside a loop or a nested "
                     "function (an RNN, tf.while_loop); gradlab.check(f, variables=[...]) checks their gradient")
    y = found.values[found.output.name]
    if not np.all(np.isfinite(y)):
        notes.append("f's value itself is not finite at this point")
    if any(c.state == "fail" for c in checks) or backward is not None or not np.all(np.isfinite(y)):
        state = "fail"
    else:
        state = "incomplete" if found.unread or any(c.state == "not checked" for c in checks) else "ok"
    return Location(checks, blocked, forward, backward, time.perf_counter() - start, evaluations, len(ops), notes,
                    state)


def _unit(found, op):
    """The op's Local with only the inputs its gradient reaches, or a Blocked where it reaches none (a custom
    gradient that returns None for an input it uses stays, and fails)."""
    unit = local(found, op)
    if unit is None or unit.kind == "custom gradient":
        return unit
    passing = unit.passing()
    if not any(passing):
        return _blocked_op(op, _reason(op))
    if not all(passing):
        return local(found, op, keep={t.name for t, p in zip(unit.inputs, passing) if p})
    return unit


def _check_alone(unit, rtol, atol, seed):
    """(GradCheck or None, state, note) of one op alone."""
    from gradlab.engine.check import check

    if not all(np.all(np.isfinite(v)) for v in unit.values):
        return None, "not checked", "its input is not finite here (see where NaN or Inf begins)"
    if not all(np.all(np.isfinite(v)) for v in unit.output_values):
        return None, "not checked", "its output is not finite here (see where NaN or Inf begins)"
    wide = unit.kind == "op" and lowest_precision([np.asarray(v).dtype.name for v in unit.values]) == "float32"
    try:
        result = check(unit.function, *unit.values, names=unit.names, mode="full" if _full(unit) else "fast",
                       samples=LOCATE_SAMPLES, rtol=rtol, atol=atol, seed=seed,
                       reference="float64" if wide else None)
    except GradlabError as exc:
        return None, "not checked", summary(exc)
    except Exception as exc:  # noqa: BLE001 - TensorFlow refusing the op alone is a reason, not a crash
        return None, "not checked", f"re-running it alone failed: {summary(exc)}"
    state = result.state
    if state == "inconclusive" and result.kinks:
        state = "kink"
    return result, state, ""


def _full(unit):
    """Whether an op is small enough to check in full mode (gradlab.engine.tolerances)."""
    return unit.entries <= LOCATE_FULL_ENTRIES and unit.output_entries <= LOCATE_FULL_OUTPUTS


def _made_at(op):
    """("file:line", the line's code) of the user's code that made op, or ("", "")."""
    frame = user_frame(op)
    return (place(frame[0], frame[1]), frame[2]) if frame else ("", "")


def _described(found, op, state, unit=None, result=None, note=""):
    source, code = _made_at(op)
    inputs = [] if unit is None else [(name, tuple(np.shape(v)), np.asarray(v).dtype.name)
                                      for name, v in zip(unit.names, unit.values)]
    outputs = [(t.name, np.shape(found.values[t.name]) if t.name in found.values else tuple(t.shape), t.dtype.name)
               for t in (op.outputs if unit is None else unit.outputs)]
    return OpCheck(op.name, op.type, "op" if unit is None else unit.kind, found.layer(op), inputs, outputs, state,
                   source, code, "" if unit is None else unit.gradient_source, result, note)


def _blocked(found, ops, scope):
    """Ops off the gradient's path that read a value a source reaches and lead to f's output, yet pass no
    gradient back by design: integer outputs, stop_gradient."""
    ancestors = _ancestors(found.output.op)
    blocked = []
    for op in ops:
        if op.name not in ancestors or op.type in SHAPE_OPS or (scope is not None and scope not in op.name):
            continue
        if found.on_path(op) or not any(t.name in found.reached for t in op.inputs if t.dtype.is_floating):
            continue
        if op.type in ("StopGradient", "PreventGradient") or not any(t.dtype.is_floating for t in op.outputs):
            blocked.append(_blocked_op(op, _reason(op)))
    return blocked


def _reason(op):
    if op.type in ("StopGradient", "PreventGradient"):
        return "tf.stop_gradient: no gradient passes by design"
    if op.outputs and not any(t.dtype.is_floating for t in op.outputs):
        return f"its output is {', '.join(sorted({t.dtype.name for t in op.outputs}))}: integers carry no gradient"
    return "its registered gradient is None (the op is piecewise constant)"


def _blocked_op(op, reason):
    return Blocked(op.name, op.type, reason, _made_at(op)[0])


def _ancestors(op):
    seen, stack = set(), [op]
    while stack:
        current = stack.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        stack.extend(t.op for t in current.inputs)
    return seen


def _guard(units, max_evaluations):
    """Refuse, with the estimate and a cheaper call, a locate that would run single ops too many times."""
    calls = 0
    for unit in units:
        calls += 4 * unit.entries if _full(unit) else 8 + 4 * LOCATE_SAMPLES * len(unit.inputs)
    limit = MAX_EVALUATIONS if max_evaluations is None else max_evaluations
    if calls > limit:
        raise TooExpensiveError(f"locate would check {len(units)} ops with about {calls:,} calls of single ops, past "
                                f"the limit of {limit:,}; pass scope='...' to check the ops of one layer or name "
                                "scope, or raise max_evaluations=")
