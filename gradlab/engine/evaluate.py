"""Evaluating f at many perturbed points: vectorized, as a traced loop, or one call at a time, whichever is safe.

The ways, chosen per argument by cost and by what works:
    one call     f called eagerly once per point: when that takes less than EAGER_SECONDS in all (no tracing
                 to pay for), no trace of f is kept and GRADLAB_REPRODUCIBLE is not set, when f cannot be
                 traced, or when nothing else reproduces plain calls
    vectorized   tf.vectorized_map over a chunk of perturbed points in one traced call (fastest for many)
    traced loop  tf.map_fn in one traced call: f itself at every point, shapes as f wrote them
    stateless    for Keras variables: tf.vectorized_map with each perturbed value given to the variable through
                 keras.StatelessScope, so that nothing is assigned
    assign loop  for other tf.Variables: a traced loop that assigns each perturbation, calls f and restores it
A traced way is used only after its first chunk has reproduced plain calls of f at the point and at one
perturbed point: a broken kernel of the platform (TensorFlow 2.21's oneDNN float32 batch matmul, see
gradlab.engine.platform) or a function whose traced form differs from its eager one is then never judged.
The stateless way must also show that the value it gives reaches f (the variable set to NaN changes f's value).
Where the platform is known to be broken for f's operations, the vectorized way is not tried at all.

Traces take every value of the point as an argument and are kept for as long as f lives: a later check of
the same f at a point of the same shapes reuses them (its first chunk is cross-checked again), and a trace
that no longer reproduces f is traced anew. Traces are made without AutoGraph, and again with it where f
needs it (Python control flow on tensors).
"""

import os
import time
import types
import weakref
from dataclasses import dataclass, replace

import numpy as np

from gradlab._tf import tf
from gradlab.engine.inputs import call
from gradlab.engine.platform import quiet_internals, unsafe_to_vectorize
from gradlab.engine.restore import restoring
from gradlab.engine.tolerances import (BATCH_ULPS, CHUNK_ELEMENTS, EAGER_OVERHEAD, EAGER_SECONDS, REPRODUCIBLE,
                                       RETIME_MARGIN, RETIME_SECONDS, RETIMES, XLA_THRESHOLD)
from gradlab.errors import GradlabError, TooExpensiveError, summary

HOW = {
    "eager": "one call per perturbation",
    "vectorized": "vectorized (tf.vectorized_map)",
    "xla": "vectorized (tf.vectorized_map, XLA)",
    "loop": "traced loop (tf.map_fn)",
    "stateless": "vectorized over the Keras variables' values (tf.vectorized_map, keras.StatelessScope)",
    "assign": "traced loop assigning the tf.Variables",
}

#: f -> {(argument, way, chunk, signature of the point): _Trace}, kept while f lives.
_TRACES = weakref.WeakKeyDictionary()


def _traces_of(f):
    """The traces kept for f, or None where f cannot be weakly referenced (a bound method is made anew at
    each access, so it is not kept either)."""
    if isinstance(f, types.MethodType):
        return None
    try:
        return _TRACES.setdefault(f, {})
    except TypeError:
        return None


class Evaluator:
    """Evaluates f with one argument (or variable) perturbed entry by entry, and records how it managed to.

    With a `cotangent` v (flat, one weight per output) each row is [v . f, |v| . |f|] instead of f itself.
    `call_seconds` is how long one plain call of f takes (measured once if not given); `max_seconds` bounds
    the work done one call at a time (TooExpensiveError past it).
    """

    def __init__(self, f, point, y0, cotangent=None, call_seconds=None, max_seconds=None):
        self.f = f
        self.point = point
        self.y0 = np.asarray(y0.numpy(), dtype=np.float64).reshape(-1)
        self.shape = tuple(y0.shape)
        self.dtype = y0.dtype.name
        self.output_size = self.y0.size
        self.cotangent = None if cotangent is None else np.asarray(cotangent, dtype=np.float64).reshape(-1)
        self.call_seconds = call_seconds
        self.max_seconds = max_seconds
        self.how = {}  # what was used -> why (or "")
        self.evaluations = 0
        self._ways = {}  # argument -> the way that passed its cross-check, or "eager"
        self._chunks = {}  # argument -> rows per traced call
        self._jit = {}  # argument -> whether its vectorized evaluation is compiled with XLA
        self._traced = {}  # (argument, way, chunk) -> the _Trace used in this check
        self._kept = _traces_of(f)
        self._signature = (tuple((tuple(v.shape), v.dtype.name) for v in point.values), self.shape, self.dtype,
                           tuple(v.ref() if hasattr(v, "ref") else id(v) for v in point.variables))
        self._unsafe = None
        self._unreached = False  # the stateless way's NaN did not reach f
        self._compiled = set()  # arguments whose vectorized evaluation ran compiled with XLA
        self._timed = False

    @property
    def unsafe(self):
        """Why f must not go through pfor on this platform ("" if it may), decided once from f's graph."""
        if self._unsafe is None:
            self._unsafe = unsafe_to_vectorize(self.f, self.point)
        return self._unsafe

    def describe(self):
        return "; ".join(f"{HOW[way]}{': ' + why if why else ''}" for way, why in self.how.items())

    @property
    def width(self):
        return self.output_size if self.cotangent is None else 2

    def rows(self, i, index, delta):
        """f's flattened output (or its projection) with entry index[r] of argument i moved by delta[r]."""
        index = np.asarray(index, dtype=np.int64)
        delta = np.asarray(delta, dtype=self.point.values[i].dtype.as_numpy_dtype)
        if not len(index):
            return np.zeros((0, self.width))
        self.evaluations += len(index)
        way = self._ways.get(i)
        if way is None:
            way, first = self._choose(i, index, delta)
            if first is not None:
                return self._project(first)
        if way != "eager":
            try:
                return self._project(self._batched(i, way, index, delta))
            except Exception as exc:  # noqa: BLE001 - a later chunk the trace cannot take: go one by one
                self._ways[i] = way = "eager"
                self.how.setdefault("eager", f"the batched evaluation failed ({summary(exc)})")
        self.how.setdefault("eager", "")
        return self._project(self._eagerly(i, index, delta))

    def along(self, directions, steps):
        """f's flattened output (or projection) at point + t * direction for each t in steps (all arguments
        move together)."""
        point = self.point
        directions = [tf.constant(u, dtype=x.dtype) for x, u in zip(point.values, directions)]
        self.evaluations += len(steps)
        if point.variables:
            return self._project(_along_by_assign(self.f, point, directions, steps, self.shape))
        out = []
        for t in steps:
            moved = [x + tf.cast(t, x.dtype) * u for x, u in zip(point.values, directions)]
            out.append(_flat(call(self.f, point, moved), self.shape))
        return self._project(np.stack(out))

    def _project(self, ys):
        if self.cotangent is None:
            return ys
        ys = ys.astype(np.float64)
        return np.stack([ys @ self.cotangent, np.abs(ys) @ np.abs(self.cotangent)], axis=-1)

    def _seconds(self):
        """One plain call's time: the faster of the caller's measurement and one more call, taken once."""
        if not self._timed:
            start = time.perf_counter()
            call(self.f, self.point)
            took = time.perf_counter() - start
            self.call_seconds = took if self.call_seconds is None else min(took, self.call_seconds)
            self._timed = True
        return self.call_seconds

    def _cheap(self, rows):
        """Whether `rows` plain calls of f take less than EAGER_SECONDS in all. A cheap call whose time says
        otherwise by less than RETIME_MARGIN is timed again (RETIMES more calls at most): one call on a loaded
        machine can take many times its usual time."""
        for retime in range(RETIMES + 1):
            seconds = self._seconds()
            cost = rows * (seconds + EAGER_OVERHEAD)
            if cost <= EAGER_SECONDS or cost > RETIME_MARGIN * EAGER_SECONDS or seconds > RETIME_SECONDS:
                break
            self._timed = retime == RETIMES
        return cost <= EAGER_SECONDS

    def _ways_for(self, i):
        """The traced ways to try for argument i, best first, and why the best of all is not among them ("")."""
        if self.point.variables:
            keras = self.point.keras[i] if i < len(self.point.keras) else None
            return (("stateless", "assign") if keras is not None else ("assign",)), ""
        if self.unsafe:
            return ("loop",), self.unsafe
        return ("vectorized", "loop"), ""

    def _choose(self, i, index, delta):
        """(way, rows): the cheapest way whose first chunk matches plain calls of f, with that chunk's rows
        (None where nothing was evaluated yet); "eager" if calling f point by point costs less than tracing
        (no trace of f for this argument is kept from an earlier check, and GRADLAB_REPRODUCIBLE is not set), or
        if nothing works."""
        kept = self._kept is not None and any(key[0] == i and key[-1] == self._signature for key in self._kept)
        if not kept and os.environ.get(REPRODUCIBLE) != "1" and self._cheap(len(index)):
            self._ways[i] = "eager"
            return "eager", None
        ways, why = self._ways_for(i)  # `why`: the reason the way used is not a better one
        for way in ways:
            try:
                rows = self._batched(i, way, index, delta, check=True)
                if rows is None and self._forget(i, way):  # a kept trace that no longer reproduces f
                    rows = self._batched(i, way, index, delta, check=True)
                if rows is not None:
                    self._ways[i] = way
                    self.how.setdefault("xla" if i in self._compiled else way, why)
                    return way, rows
                why = "the traced evaluation disagreed with plain calls of f (a broken kernel?)"
                if way == "stateless" and self._unreached:
                    why = ("the value given through keras.StatelessScope did not reach f (does f read the "
                           "tf.Variable itself, or call a tf.function traced before?)")
            except TooExpensiveError:
                raise
            except Exception as exc:  # noqa: BLE001 - f cannot be traced or vectorized this way
                why = f"f could not be {'traced' if way in ('loop', 'assign') else 'vectorized'} ({summary(exc)})"
        self._ways[i] = "eager"
        self.how.setdefault("eager", why)
        return "eager", None

    def _forget(self, i, way):
        """Drop the traces of argument i by `way` that came from an earlier check; whether there were any."""
        keys = [key for key in self._traced if key[:2] == (i, way) and self._traced[key].kept]
        for key in keys:
            del self._traced[key]
            if self._kept is not None:
                self._kept.pop(key + (self._signature,), None)
        return bool(keys)

    def _batched(self, i, way, index, delta, check=False):
        """The rows by a traced way, in chunks of a size fixed per argument. With `check`, the first chunk also
        carries the unperturbed point (and, for the stateless way, the variable set to NaN), and None is
        returned unless they and row 0 match plain calls of f."""
        extra = 0
        if check:
            extra = 2 if way == "stateless" else 1
            nan = np.array([np.nan], dtype=delta.dtype)
            index = np.concatenate([index, np.repeat(index[:1], extra)])
            delta = np.concatenate([delta, np.zeros(1, dtype=delta.dtype), nan][:extra + 1])
        rows = len(index)
        if i not in self._chunks:  # sized by the first (largest) call: the ladder's first rung
            n = self.point.values[i].shape.num_elements()
            self._chunks[i] = int(min(rows, max(1, CHUNK_ELEMENTS // max(n, self.output_size, 1))))
            self._jit[i] = way == "vectorized" and rows * n >= XLA_THRESHOLD
        chunk = self._chunks[i]
        padded = -(-rows // chunk) * chunk
        index = np.concatenate([index, np.repeat(index[-1:], padded - rows)])
        delta = np.concatenate([delta, np.repeat(delta[-1:], padded - rows)])
        out = np.concatenate([self._run(i, way, index[s:s + chunk], delta[s:s + chunk], chunk)
                              for s in range(0, padded, chunk)])[:rows]
        if not check:
            return out
        self._unreached = way == "stateless" and _same(out[-1:], self.y0[None], self.dtype)
        if self._unreached:
            return None
        plain = np.stack([self._eagerly(i, index[:1], delta[:1])[0], self.y0])
        return out[:rows - extra] if _same(out[[0, rows - extra]], plain, self.dtype) else None

    def _eagerly(self, i, index, delta):
        """Rows by plain calls of f (assigning the perturbation to the variable, in variables mode)."""
        seconds = len(index) * self._seconds()
        if self.max_seconds is not None and seconds > self.max_seconds:
            raise TooExpensiveError(
                f"f must be called once per perturbation here ({summary(self.how.get('eager', ''))}), which "
                f"would take about {seconds:.0f} s for {len(index):,} calls, past the limit of "
                f"{self.max_seconds:.0f} s; use mode='fast', or raise max_evaluations=")
        if self.point.variables:
            return _rows_by_assign(self.f, self.point, i, index, delta, self.shape)
        return _rows_eagerly(self.f, self.point, i, index, delta, self.shape)

    def _traced_for(self, i, way, chunk):
        """The trace of argument i by `way` for chunks of `chunk` rows: kept from an earlier check if there is
        one, else new (XLA where the chunk is large, no AutoGraph)."""
        key = (i, way, chunk)
        if key not in self._traced:
            found = None if self._kept is None else self._kept.get(key + (self._signature,))
            jit = way == "vectorized" and self._jit.get(i, False)
            self._traced[key] = found or self._trace(i, way, jit, autograph=False)
        return self._traced[key]

    def _trace(self, i, way, jit, autograph):
        return _Trace(_trace(self.f, self.point, i, way, self.shape, self.dtype, jit, autograph), jit, autograph)

    def _run(self, i, way, index, delta, chunk):
        args = (tf.constant(index), tf.constant(delta), *self._inputs(i))
        with quiet_internals():
            while True:
                trace = self._traced_for(i, way, chunk)
                try:
                    result = self._call(trace.fn, way, i, args)
                    break
                except TooExpensiveError:
                    raise
                except Exception:  # noqa: BLE001 - XLA cannot compile f, or f needs AutoGraph: trace again
                    if trace.kept:
                        self._forget(i, way)
                    elif trace.jit or not trace.autograph:
                        self._traced[(i, way, chunk)] = self._trace(i, way, False, autograph=not trace.jit)
                    else:
                        raise
        if self._kept is not None:
            self._kept[(i, way, chunk, self._signature)] = replace(trace, kept=True)
        if trace.jit:
            self._compiled.add(i)
        return result.astype(np.float64)

    def _inputs(self, i):
        """The traced function's arguments after (index, delta): the point's values, or in variables mode the
        saved value of variable i."""
        return (self.point.values[i],) if self.point.variables else tuple(self.point.values)

    def _call(self, fn, way, i, args):
        if way == "assign":
            with restoring([self.point.variables[i]], [self.point.values[i]]):
                return fn(*args).numpy()
        return fn(*args).numpy()


@dataclass(frozen=True)
class _Trace:
    """One traced function, how it was made, and whether it was kept from an earlier check."""

    fn: object
    jit: bool
    autograph: bool
    kept: bool = False


def _same(batched, plain, dtype):
    """Whether batched rows reproduce plain calls of f, to BATCH_ULPS of f's largest value."""
    eps = np.finfo(dtype).eps
    with np.errstate(invalid="ignore", over="ignore"):
        size = np.nanmax(np.where(np.isfinite(plain), np.abs(plain), 0.0), initial=0.0) + np.finfo(dtype).tiny
        close = np.abs(batched - plain) <= BATCH_ULPS * eps * size
    same_nonfinite = ~np.isfinite(plain) & (np.isnan(plain) == np.isnan(batched))
    return bool(np.all(close | same_nonfinite | (batched == plain)))


def _trace(f, point, i, way, shape, dtype, jit, autograph=False):
    """A tf.function(index, delta, *inputs) giving f's flattened values with entry index[r] of argument i moved
    by delta[r], row by row. It holds f by a weak reference only, so that keeping it does not keep f alive."""
    ref = _reference(f)
    if way == "assign":
        return _trace_assign(ref, point, i, shape, dtype, autograph)
    x = point.values[i]
    n = x.shape.num_elements()
    size = int(np.prod(shape, dtype=np.int64))
    wrapper = point.keras[i] if way == "stateless" else None  # the Keras variable given its values

    def batched(index, delta, *values):
        flat = tf.reshape(values[0] if wrapper is not None else values[i], [-1])
        if jit or wrapper is not None:  # XLA fuses this into one pass; a NaN delta makes the whole row NaN
            moved = flat[None, :] + tf.one_hot(index, n, dtype=flat.dtype) * delta[:, None]
        else:  # without XLA, one copy of the point per row and one addition each is faster
            rows = tf.shape(index)[0]
            where = tf.stack([tf.range(rows, dtype=index.dtype), index], axis=1)
            moved = tf.tensor_scatter_nd_add(tf.tile(flat[None, :], [rows, 1]), where, delta)

        def one(row):
            if wrapper is not None:
                from keras import StatelessScope

                with StatelessScope(state_mapping=[(wrapper, tf.reshape(row, x.shape))]):
                    return _traced_row(ref()(), shape, dtype, size)
            arguments = list(values)
            arguments[i] = tf.reshape(row, x.shape)
            return _traced_row(ref()(*arguments), shape, dtype, size)

        if way == "loop":
            return tf.map_fn(one, moved, fn_output_signature=tf.TensorSpec([size], dtype=dtype))
        return tf.vectorized_map(one, moved)

    return tf.function(batched, jit_compile=jit, reduce_retracing=True, autograph=autograph)


def _traced_row(y, shape, dtype, size):
    """f's value inside a trace as one flat row of `size` entries in `dtype`; a GradlabError where its shape is
    not the shape f had at the point."""
    y = tf.convert_to_tensor(y)
    if y.shape.is_fully_defined() and tuple(y.shape) != shape:
        raise GradlabError(_shape_changed(shape, tuple(y.shape)))
    return tf.reshape(tf.cast(y, dtype), [size])


def _reference(f):
    """A weak reference to f, or where f cannot have one (a numpy ufunc), a function that returns f."""
    try:
        return weakref.ref(f)
    except TypeError:
        return lambda: f


def _trace_assign(ref, point, i, shape, dtype, autograph):
    """A tf.function(index, delta, saved) that, for each r, adds delta[r] to entry index[r] of variable i, calls
    f, puts the entry back, and returns f's flattened values; the variable is assigned `saved` at the end."""
    variable = point.variables[i]
    variable_shape = point.values[i].shape
    size = int(np.prod(shape, dtype=np.int64))
    rank = variable_shape.rank

    def batched(index, delta, saved):
        flat = tf.reshape(saved, [-1])

        def body(r, out):
            j = index[r]
            if rank:
                where = tf.reshape(tf.unravel_index(j, variable_shape), [1, rank])
                variable.scatter_nd_update(where, tf.reshape(flat[j] + delta[r], [1]))
            else:
                variable.assign(flat[0] + delta[r])
            out = out.write(r, _traced_row(ref()(), shape, dtype, size))
            if rank:
                variable.scatter_nd_update(where, tf.reshape(flat[j], [1]))
            return r + 1, out

        rows = tf.shape(index)[0]
        _, out = tf.while_loop(lambda r, out: r < rows, body, (tf.constant(0), tf.TensorArray(dtype, size=rows)))
        variable.assign(saved)
        return out.stack()

    return tf.function(batched, reduce_retracing=True, autograph=autograph)


def _flat(y, shape):
    if tuple(y.shape) != shape:
        raise GradlabError(_shape_changed(shape, tuple(y.shape)))
    return np.asarray(y.numpy(), dtype=np.float64).reshape(-1)


def _shape_changed(shape, now):
    return (f"f's output has shape {shape} at the point but {now} at a perturbed point; gradlab compares "
            f"outputs whose shape does not depend on the values (use tf.where instead of tf.boolean_mask, "
            f"or pad to a fixed size)")


def _rows_eagerly(f, point, i, index, delta, shape):
    x = point.values[i]
    flat = x.numpy().reshape(-1)
    moved = list(point.values)
    out = []
    for j, d in zip(index, delta):
        row = flat.copy()
        row[j] += d
        moved[i] = tf.constant(row.reshape(x.shape))
        out.append(_flat(call(f, point, moved), shape))
    return np.stack(out)


def _rows_by_assign(f, point, i, index, delta, shape):
    var, saved = point.variables[i], point.values[i]
    flat = saved.numpy().reshape(-1)
    positions = np.stack(np.unravel_index(index, saved.shape), axis=-1) if saved.shape.rank else None
    out = []
    with restoring([var], [saved]):
        for r, (j, d) in enumerate(zip(index, delta)):
            if positions is None:
                var.assign(flat[0] + d)
            else:
                var.scatter_nd_update([positions[r]], [flat[j] + d])
            out.append(_flat(call(f, point), shape))
            if positions is not None:
                var.scatter_nd_update([positions[r]], [flat[j]])
    return np.stack(out)


def _along_by_assign(f, point, directions, steps, shape):
    out = []
    with restoring(point.variables, point.values):
        for t in steps:
            for var, x, u in zip(point.variables, point.values, directions):
                var.assign(x + tf.cast(t, x.dtype) * u)
            out.append(_flat(call(f, point), shape))
    return np.stack(out)
