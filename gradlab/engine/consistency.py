"""consistency: the tape gradient computed every way TensorFlow runs f, each against the others and finite differences.

The ways, on every visible device (CPU first, then each GPU):
    eager                the tape in eager mode, op by op (on the CPU: the reference every row is measured from)
    tf.function          the same tape traced into a graph
    XLA (jit_compile)    the traced graph compiled by XLA (tf.function(jit_compile=True))
Each way computes the gradient of sum(v * f) for one seeded random v (v = 1 for a scalar f), so a row holds one
array per argument. Finite differences of f are estimated once, in eager mode on the CPU, as gradlab.compare
does, and projected on the same v.

Two ways agree when |a - b| <= atol + rtol * max(|a|, |b|) entry by entry under the dtype's tolerance
(gradlab.engine.tolerances): round-off is all that may separate them. A way agrees with finite differences under
gradlab's judge with the estimate's own error, the rule of gradlab.compare. A row is ok when it agrees with
finite differences and with the anchor: eager on the CPU, or, where eager itself is off, the way that agrees with
finite differences and with the most other ways. A way that cannot run f (XLA without a kernel for an op of f,
f that cannot be traced) is a row that could not run, with the reason, never a difference.
"""

import re
from dataclasses import dataclass, field

import numpy as np
from rich.console import Group
from rich.text import Text

from gradlab._tf import tf
from gradlab.engine.inputs import resolve
from gradlab.engine.judge import judge
from gradlab.engine.numeric import check_method, estimate
from gradlab.engine.platform import op_types, quiet_internals
from gradlab.engine.tolerances import (BYTES_PER_JACOBIAN_ENTRY, MAX_EVALUATIONS, MAX_MEMORY, lowest_precision,
                                       tolerance)
from gradlab.errors import GradlabError, NotDifferentiableError, TooExpensiveError, summary
from gradlab.render import Column, FittedTable, Result, Sized, error, number, packed, tolerance_caption

WAYS = ("eager", "tf.function", "XLA (jit_compile)")
ROW_STATES = ("ok", "differs", "could not run")
DEVICE_TYPES = ("CPU", "GPU")
#: Between two ways, an entry's scale is at least this fraction of the largest entry of its argument's
#: gradient: entries that cancel to nearly zero keep the round-off of the terms they cancelled.
SCALE_FLOOR = 1e-3
#: Operations a GPU may run in TensorFloat-32 (a 10-bit mantissa) when given float32 operands.
TF32_OPS = re.compile(r"MatMul|Conv|Einsum")
#: Finite-difference evaluations per entry of the arguments (Richardson's first rung of the ladder).
EVALUATIONS_PER_ENTRY = 4


@dataclass
class Way:
    """One way of computing the gradient: its values, its differences and its state.

    `abs_diff`/`rel_diff` are the largest differences from the reference (eager on the CPU), and
    `numeric_abs_diff`/`numeric_rel_diff` from finite differences; all are None for a row that could not run.
    A row that differs says from what (`off_from`: the way it is measured from, or "finite differences"), by
    how much at most (`off_by`) and at which entry furthest past its tolerance (`worst`); `note` says it in
    one line, or why the row could not run.
    """

    name: str
    way: str
    device: str
    state: str
    gradient: list | None
    abs_diff: float | None = None
    rel_diff: float | None = None
    numeric_abs_diff: float | None = None
    numeric_rel_diff: float | None = None
    worst: str = ""
    note: str = ""
    off_by: float | None = None
    off_from: str = ""

    @property
    def ok(self):
        return self.state == "ok"


@dataclass
class Consistency(Result):
    """The result of gradlab.consistency: a row per way (`rows`), the overall state and the odd one out.

    `state` is "ok" when no row that ran differs, else "differs"; `odd_one_out` names the row furthest past its
    tolerance (None when none differs, and when no way agrees with finite differences: then the gradient
    itself is wrong, not one way of computing it). `numeric` and `numeric_error` hold the finite-difference
    estimate of the same gradient, one array per argument.
    """

    rows: list
    state: str
    odd_one_out: str | None
    devices: list
    names: list
    dtype: str
    tolerance: object
    method: str
    numeric: list
    numeric_error: list
    projected: bool = False
    notes: list = field(default_factory=list)
    evaluation: str = ""

    @property
    def ok(self):
        return self.state == "ok"

    @property
    def differing(self):
        """The names of the rows that differ, in the report's order."""
        return [row.name for row in self.rows if row.state == "differs"]

    def __bool__(self):
        return self.ok

    def __rich__(self):
        return consistency_view(self)

    def to_json(self):
        from gradlab.export import plain

        tol = self.tolerance
        return {"kind": "consistency", "ok": self.ok, "state": self.state, "odd_one_out": self.odd_one_out,
                "differing": self.differing, "devices": list(self.devices), "names": list(self.names),
                "dtype": self.dtype, "method": self.method, "projected": self.projected,
                "tolerance": {"rtol": tol.rtol, "atol": tol.atol, "k": tol.k},
                "rows": [{**plain(row), "ok": row.ok} for row in self.rows],
                "numeric": plain(self.numeric), "numeric_error": plain(self.numeric_error),
                "notes": list(self.notes), "evaluation": self.evaluation}


def consistency(f, *args, names=None, rtol=None, atol=None, method="richardson", seed=0):
    """The tape gradient of f at args in eager mode, under tf.function and under XLA, on every visible device,
    each compared with the others and with finite differences; returns a Consistency.

    `rtol`/`atol` override the dtype's tolerance for both comparisons; `method` is the finite-difference
    formula; `seed` draws v for a vector-valued f (the gradient compared is that of sum(v * f)).
    """
    if not callable(f):
        raise GradlabError(f"f must be a function (a callable), got a {type(f).__name__}; pass f itself, "
                           "not its value")
    if not args:
        raise GradlabError("consistency needs arguments of f to differentiate with respect to")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GradlabError(f"seed must be a whole number >= 0, got {seed!r}")
    check_method(method)
    devices = visible_devices()
    with tf.device(devices[0]):  # f's value and its finite differences on the CPU: a GPU's TF32 would blur them
        point, y0 = resolve(f, args, names)
        dtype = lowest_precision([*point.dtypes, y0.dtype.name])
        tol = tolerance(dtype, rtol, atol)
        _guard(point, y0)
        with np.errstate(all="ignore"):
            numeric = estimate(f, point, y0, method)
    v = np.random.default_rng(seed).standard_normal(y0.shape) if y0.shape.rank else np.float64(1.0)
    rank = y0.shape.rank
    fd = [np.tensordot(v, value, axes=rank) for value in numeric.value]
    fd_error = [np.tensordot(np.abs(v), err, axes=rank) for err in numeric.error]
    rows = [_run(f, point, v, device, way) for device in devices for way in WAYS]
    if rows[0].gradient is None:
        why = rows[0].note.removeprefix("could not run: ").removeprefix("the tape cannot differentiate f: ")
        raise NotDifferentiableError(f"the tape cannot differentiate f in eager mode: {why}")
    with np.errstate(all="ignore"):
        state, odd, notes = _judge_rows(rows, fd, fd_error, tol, point.names)
    if dtype == "float32" and any(r.state == "differs" and r.device.startswith("GPU") for r in rows):
        _explain_tf32(rows, f, point)
    if rank:
        notes.append(f"f is vector-valued ({tuple(y0.shape)}): each way computes the gradient of sum(v * f) for "
                     f"a seeded random v (seed={seed}), and the finite differences are projected on the same v")
    return Consistency(rows, state, odd, [_short(d) for d in devices], list(point.names), dtype, tol, method, fd,
                       fd_error, bool(rank), notes, numeric.evaluation)


def visible_devices():
    """The logical CPU and GPU devices TensorFlow sees, CPUs first (the first one holds the reference)."""
    found = [d.name for d in tf.config.list_logical_devices() if d.device_type in DEVICE_TYPES]
    return sorted(found, key=lambda name: DEVICE_TYPES.index(_short(name).split(":")[0]))


def way_name(way, device):
    """The row's name: the way alone on the first CPU, "<way> on GPU:0" on any other device."""
    short = _short(device)
    return way if short == "CPU:0" else f"{way} on {short}"


def _short(device):
    """/device:GPU:0 (or /job:localhost/.../device:GPU:0) as GPU:0."""
    return ":".join(device.split(":")[-2:]).split("/")[-1]


def _guard(point, y0):
    entries = sum(x.shape.num_elements() for x in point.values)
    evaluations = EVALUATIONS_PER_ENTRY * entries
    memory = entries * y0.shape.num_elements() * BYTES_PER_JACOBIAN_ENTRY
    if evaluations > MAX_EVALUATIONS or memory > MAX_MEMORY:
        raise TooExpensiveError(
            f"finite differences of every entry here need at least {evaluations:,} evaluations of f and a "
            f"{y0.shape.num_elements():,} x {entries:,} Jacobian, past the limits ({MAX_EVALUATIONS:,} "
            "evaluations); check a smaller f (fewer entries), or gradlab.check(..., mode='fast')")


def _gradient(f, v):
    """The tape's gradient of sum(v * f(*xs)) with respect to each x, dense and zero where unconnected."""

    def gradient(*xs):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            for x in xs:
                tape.watch(x)
            y = tf.convert_to_tensor(f(*xs))
        grads = tape.gradient(y, list(xs), output_gradients=tf.constant(v, dtype=y.dtype),
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [tf.convert_to_tensor(g) for g in grads]

    return gradient


def _run(f, point, v, device, way):
    """One way on one device: a row with its gradient (state decided later), or one that could not run."""
    name = way_name(way, device)
    gradient = _gradient(f, v)
    if way != "eager":
        gradient = tf.function(gradient, jit_compile=way.startswith("XLA"), reduce_retracing=True)
    try:
        with quiet_internals(), tf.device(device):
            grads = [np.asarray(g.numpy(), dtype=np.float64) for g in gradient(*point.values)]
    except Exception as exc:  # noqa: BLE001 - a way that cannot run f is reported, never raised
        return Way(name, way, _short(device), "could not run", None, note=f"could not run: {_why(exc, way)}")
    shapes = [tuple(x.shape) for x in point.values]
    if [g.shape for g in grads] != shapes:
        return Way(name, way, _short(device), "could not run", None,
                   note=f"could not run: gradients of shapes {[g.shape for g in grads]} for arguments {shapes}")
    return Way(name, way, _short(device), "ok", grads)


def _why(exc, way):
    """One line on why a way could not run f: the ops XLA has no kernel for, where that is the reason."""
    text = str(exc)
    if isinstance(exc, LookupError):
        return f"the tape cannot differentiate f: {summary(exc)}"
    missing = list(dict.fromkeys(re.findall(r"(\w+) \(No registered '\w+' OpKernel for (XLA_\w+)", text)))
    if way.startswith("XLA") and missing:
        ops = ", ".join(op for op, _ in missing)
        return (f"XLA cannot compile f: no XLA kernel for {ops} ({missing[0][1]})")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    if way.startswith("XLA") and ("XLA" in text or "compile" in text):
        return f"XLA cannot compile f: {_clip(first)}"
    if way != "eager":
        return f"tf.function cannot trace f: {summary(exc)}"  # the cause is last, after the traceback
    return _clip(first)


def _clip(line, limit=120):
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _entry(names, i, flat, shape):
    index = np.unravel_index(flat, shape) if shape else ()
    return f"{names[i]}[{', '.join(str(int(k)) for k in index)}]" if shape else names[i]


class _Worst:
    """One comparison over every argument: its largest differences and the entry furthest past its threshold."""

    def __init__(self):
        self.abs, self.rel, self.excess, self.at, self.allowed = 0.0, 0.0, -np.inf, None, 0.0

    def add(self, verdict, i):
        for name in ("abs", "rel"):
            errors = getattr(verdict, f"{name}_error")
            largest = float(np.max(np.where(np.isfinite(errors), errors, np.inf), initial=0.0))
            setattr(self, name, max(getattr(self, name), largest))
        excess = verdict.excess.reshape(-1)
        if excess.size and not np.all(verdict.ok) and float(np.max(excess)) > self.excess:
            flat = int(np.argmax(excess))
            self.excess, self.at = float(excess[flat]), (i, flat)
            self.allowed = float(verdict.allowed.reshape(-1)[flat])

    @property
    def ok(self):
        return self.at is None


def _between(a, b, tol):
    """Two ways' gradients under the dtype's tolerance alone: round-off is all that may separate them."""
    worst = _Worst()
    for i, (x, y) in enumerate(zip(a, b)):
        same = (x == y) | (np.isnan(x) & np.isnan(y))  # the same value, even where it is not finite
        x, y = np.where(same, 0.0, x), np.where(same, 0.0, y)
        largest = max(float(np.max(np.abs(x), initial=0.0)), float(np.max(np.abs(y), initial=0.0)))
        scale = np.fmax(np.fmax(np.abs(x), np.abs(y)), SCALE_FLOOR * largest)
        worst.add(judge(x, y, 0.0, tol, scale=scale), i)
    return worst


def _against_numeric(a, fd, fd_error, tol):
    """A way's gradient against finite differences: gradlab's judge with the estimate's error."""
    worst = _Worst()
    for i, (x, y, e) in enumerate(zip(a, fd, fd_error)):
        worst.add(judge(x, y, e, tol), i)
    return worst


def _judge_rows(rows, fd, fd_error, tol, names):
    """Each row's state, differences and note; the overall state, the odd one out and the notes."""
    ran = [r for r in rows if r.gradient is not None]
    reference = rows[0]
    numeric = {r.name: _against_numeric(r.gradient, fd, fd_error, tol) for r in ran}
    pairs = {(a.name, b.name): _between(a.gradient, b.gradient, tol) for a in ran for b in ran}
    agreeing = [r for r in ran if numeric[r.name].ok]
    if numeric[reference.name].ok or not agreeing:
        anchor = reference
    else:  # eager is off: measure from the way that agrees with finite differences and with most others
        anchor = max(agreeing, key=lambda r: sum(pairs[r.name, s.name].ok for s in ran))
    excess = {}
    for r in ran:
        from_reference, from_anchor, from_numeric = (pairs[r.name, reference.name], pairs[r.name, anchor.name],
                                                     numeric[r.name])
        r.abs_diff, r.rel_diff = from_reference.abs, from_reference.rel
        r.numeric_abs_diff, r.numeric_rel_diff = from_numeric.abs, from_numeric.rel
        if from_anchor.ok and from_numeric.ok:
            continue
        r.state = "differs"
        first, r.off_from = (from_anchor, anchor.name) if not from_anchor.ok else (from_numeric, "finite differences")
        r.off_by = first.abs
        i, flat = first.at
        r.worst = _entry(names, i, flat, r.gradient[i].shape)
        if r is anchor:
            what = "differs from finite differences"
        elif from_anchor.ok:
            what = f"differs from finite differences, agrees with {anchor.name}"
        elif from_numeric.ok:
            what = f"differs from {anchor.name} by up to {from_anchor.abs:.1e}, agrees with finite differences"
        else:
            what = f"differs from {anchor.name} by up to {from_anchor.abs:.1e} and from finite differences"
        at = [(r.name, r.gradient), (anchor.name, anchor.gradient)] if r is not anchor else [(r.name, r.gradient)]
        values = ", ".join(f"{name} {number(g[i].reshape(-1)[flat], 6)}" for name, g in at)
        estimate, spread = (float(np.asarray(a[i]).reshape(-1)[flat]) for a in (fd, fd_error))
        shown = f"{number(estimate, 6)} ± {spread:.1e}" if np.isfinite(estimate + spread) else number(estimate)
        allowed = f" (allowed difference {first.allowed:.1e} from {r.off_from})" if np.isfinite(first.allowed) else ""
        r.note = f"{what}; worst {r.worst}: {values}, numeric {shown}{allowed}"
        excess[r.name] = max(from_anchor.excess, from_numeric.excess)
    notes = []
    if not agreeing:
        notes.append("no way agrees with finite differences: the gradient itself is wrong (or f is not smooth "
                     "at this point), not one way of computing it; gradlab.check and gradlab.locate tell where")
        return "differs", None, notes
    if not excess:
        return "ok", None, notes
    if anchor is not reference:
        notes.append(f"eager on the CPU differs from finite differences; the other ways are measured from "
                     f"{anchor.name}, which agrees with them")
    return "differs", max(excess, key=excess.get), notes


def tf32_enabled():
    """Whether TensorFlow runs float32 matmuls and convolutions on a recent GPU in TensorFloat-32."""
    enabled = getattr(tf.config.experimental, "tensor_float_32_execution_enabled", None)
    return bool(enabled()) if callable(enabled) else False


def _explain_tf32(rows, f, point):
    """Add "TF32" to the notes of float32 GPU rows that differ, where f has a matmul or a convolution."""
    if not tf32_enabled():
        return
    try:
        ops = sorted(op for op in op_types(f, point.values) if TF32_OPS.search(op))
    except Exception:  # noqa: BLE001 - f cannot be traced: its ops are not known
        return
    if not ops:
        return
    for row in rows:
        if row.state == "differs" and row.device.startswith("GPU"):
            row.note += tf32_note(ops)


def tf32_note(ops):
    return (f"; TF32: this GPU runs float32 {', '.join(ops)} in TensorFloat-32 (10-bit mantissa, differences "
            "of about 1e-3); tf.config.experimental.enable_tensor_float_32_execution(False) turns it off")


# --- the view ---------------------------------------------------------------------------------------------------

_LABELS = {"ok": ("✓ ok", "bold green"), "differs": ("✗ differs", "bold red"),
           "could not run": ("– could not run", "bold yellow")}


def _label(state):
    text, style = _LABELS[state]
    return Text(text, style=style)


def consistency_view(result):
    """The headline, a row per way (differences from eager and from finite differences), then each row's note."""
    reference = result.rows[0].name
    table = FittedTable([Column("way", "left"), Column(f"vs {reference}"), Column("rel", extra=True),
                         Column("vs numeric"), Column("rel", extra=True), Column("verdict", "left", verdict=True)])
    for row in result.rows:
        table.add_row(row.name, error(row.abs_diff), error(row.rel_diff), error(row.numeric_abs_diff),
                      error(row.numeric_rel_diff), _label(row.state))
    ran = sum(row.gradient is not None for row in result.rows)
    if result.state == "ok":
        said = "every way agrees" if ran == len(result.rows) else f"every way that ran agrees ({ran} of " \
                                                                   f"{len(result.rows)} ran)"
    elif result.odd_one_out is None:
        said = "every way differs from finite differences"
    else:
        odd = next(row for row in result.rows if row.name == result.odd_one_out)
        others = [name for name in result.differing if name != odd.name]
        said = f"odd one out: {odd.name}, {odd.off_by:.1e} from {odd.off_from}"
        said += f" (also differing: {', '.join(others)})" if others else ""
    how = f"({result.dtype}, on {', '.join(result.devices)}; finite differences: {result.method})"
    tol = result.tolerance
    between = f"atol {tol.atol:.0e} + rtol {tol.rtol:.0e}·max(|a|, |b|) between ways"
    parts = [between, f"{tol.describe()} against finite differences"]

    def layout(console, width):
        headline = packed([("", Text.assemble(_label(result.state), f"  {said}")), ("  ", Text(how))], width,
                          indent="  ")
        lines = [headline, tolerance_caption(parts, width, prefix="agree when |difference| <= "), table]
        lines += [Text(f"{row.name}: {row.note}") for row in result.rows if row.note]
        lines += [Text(note, style="yellow") for note in result.notes]
        if result.evaluation:
            lines.append(Text(f"f evaluated: {result.evaluation}", style="dim"))
        return Group(*lines)

    return Sized(layout)


__all__ = ["Consistency", "ROW_STATES", "Way", "WAYS", "consistency", "consistency_view", "tf32_enabled", "visible_devices",
           "way_name"]
