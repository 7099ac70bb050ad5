"""Evaluating f at many perturbed points: vectorized, as a traced loop, or one call at a time, whichever is safe.

The ways, chosen per argument by cost and by what works:
    one call     f called eagerly once per point: when that takes less than EAGER_SECONDS in all (no tracing
                 to pay for), when f cannot be traced, or when nothing else reproduces plain calls
    vectorized   tf.vectorized_map over a chunk of perturbed points in one traced call (fastest for many)
    traced loop  tf.map_fn in one traced call: f itself at every point, shapes as f wrote them
    assign loop  for tf.Variables: a traced loop that assigns each perturbation, calls f and restores the entry
A traced way is used only after its first chunk has reproduced plain calls of f at the point and at one
perturbed point: a broken kernel of the platform (TensorFlow 2.21's oneDNN float32 batch matmul, see
gradlab.engine.platform) or a function whose traced form differs from its eager one is then never judged.
Where the platform is known to be broken for f's operations, the vectorized way is not tried at all.
"""

import time

import numpy as np

from gradlab._tf import tf
from gradlab.engine.inputs import call
from gradlab.engine.platform import quiet_internals, unsafe_to_vectorize
from gradlab.engine.tolerances import EAGER_OVERHEAD, EAGER_SECONDS
from gradlab.errors import GradlabError, TooExpensiveError, summary

#: Elements (rows x max(argument size, output size)) evaluated in one chunk: bounds peak memory as n grows.
CHUNK_ELEMENTS = 1 << 22
#: Above this many element-evaluations, the batched function is compiled with XLA (falls back if it can't be).
XLA_THRESHOLD = 1 << 24
#: A batched row may differ from a plain call of f by this many ulps of f's largest value.
BATCH_ULPS = 1024

HOW = {
    "eager": "one call per perturbation",
    "vectorized": "vectorized (tf.vectorized_map)",
    "xla": "vectorized (tf.vectorized_map, XLA)",
    "loop": "traced loop (tf.map_fn)",
    "assign": "traced loop assigning the tf.Variables",
}


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
        self._traced = {}
        self._unsafe = None
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

    def _choose(self, i, index, delta):
        """(way, rows): the cheapest way whose first chunk matches plain calls of f, with that chunk's rows
        (None where nothing was evaluated yet); "eager" if calling f point by point is cheap or nothing works."""
        if len(index) * (self._seconds() + EAGER_OVERHEAD) <= EAGER_SECONDS:
            self._ways[i] = "eager"
            return "eager", None
        if self.point.variables:
            ways = ("assign",)
        elif self.unsafe:
            self.how.setdefault("loop", self.unsafe)
            ways = ("loop",)
        else:
            ways = ("vectorized", "loop")
        for way in ways:
            try:
                rows = self._batched(i, way, index, delta, check=True)
                if rows is not None:
                    self._ways[i] = way
                    return way, rows
                why = "the traced evaluation disagreed with plain calls of f (a broken kernel?)"
            except TooExpensiveError:
                raise
            except Exception as exc:  # noqa: BLE001 - f cannot be traced or vectorized this way
                why = f"f could not be {'vectorized' if way == 'vectorized' else 'traced'} ({summary(exc)})"
            self.how.setdefault(ways[ways.index(way) + 1] if way != ways[-1] else "eager", why)
        self._ways[i] = "eager"
        return "eager", None

    def _batched(self, i, way, index, delta, check=False):
        """The rows by a traced way, in chunks of a size fixed per argument. With `check`, the first chunk also
        carries the unperturbed point, and None is returned unless it and row 0 match plain calls of f."""
        if check:
            index = np.concatenate([index, index[:1]])
            delta = np.concatenate([delta, np.zeros(1, dtype=delta.dtype)])
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
        plain = np.stack([self._eagerly(i, index[:1], delta[:1])[0], self.y0])
        return out[:-1] if _same(out[[0, -1]], plain, self.dtype) else None

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

    def _run(self, i, way, index, delta, chunk):
        key = (i, way, chunk)
        if key not in self._traced:
            jit = way == "vectorized" and self._jit.get(i, False)
            self._traced[key] = [_trace(self.f, self.point, i, way, self.shape, self.dtype, jit), jit]
        fn, jit = self._traced[key]
        args = (tf.constant(index), tf.constant(delta))
        with quiet_internals():
            if jit:
                try:
                    result = fn(*args).numpy()
                    self.how.setdefault("xla", "")
                    return result.astype(np.float64)
                except Exception:  # noqa: BLE001 - XLA cannot compile f: the same trace without it
                    self._traced[key] = [_trace(self.f, self.point, i, way, self.shape, self.dtype, False), False]
                    fn = self._traced[key][0]
            if way == "assign":
                from gradlab.engine.restore import restoring

                with restoring([self.point.variables[i]], [self.point.values[i]]):
                    result = fn(*args).numpy()
            else:
                result = fn(*args).numpy()
        self.how.setdefault(way, "")
        return result.astype(np.float64)


def _same(batched, plain, dtype):
    """Whether batched rows reproduce plain calls of f, to BATCH_ULPS of f's largest value."""
    eps = np.finfo(dtype).eps
    with np.errstate(invalid="ignore", over="ignore"):
        size = np.nanmax(np.where(np.isfinite(plain), np.abs(plain), 0.0), initial=0.0) + np.finfo(dtype).tiny
        close = np.abs(batched - plain) <= BATCH_ULPS * eps * size
    same_nonfinite = ~np.isfinite(plain) & (np.isnan(plain) == np.isnan(batched))
    return bool(np.all(close | same_nonfinite | (batched == plain)))


def _trace(f, point, i, way, shape, dtype, jit):
    if way == "assign":
        return _trace_assign(f, point, i, shape, dtype)
    values = list(point.values)
    x = values[i]
    flat = tf.reshape(x, [-1])
    n = int(flat.shape[0])
    size = int(np.prod(shape, dtype=np.int64))

    def one(row):
        moved = list(values)
        moved[i] = tf.reshape(row, x.shape)
        y = tf.convert_to_tensor(f(*moved))
        if y.shape.is_fully_defined() and tuple(y.shape) != shape:
            raise GradlabError(_shape_changed(shape, tuple(y.shape)))
        return tf.reshape(y, [size])

    def batched(index, delta):
        moved = flat[None, :] + tf.one_hot(index, n, dtype=flat.dtype) * delta[:, None]
        if way == "vectorized":
            return tf.vectorized_map(one, moved)
        return tf.map_fn(one, moved, fn_output_signature=tf.TensorSpec([size], dtype=dtype))

    return tf.function(batched, jit_compile=jit, reduce_retracing=True)


def _trace_assign(f, point, i, shape, dtype):
    """A tf.function(index, delta) that, for each r, adds delta[r] to entry index[r] of variable i, calls f,
    puts the entry back, and returns f's flattened values; the variable is assigned its saved value at the end."""
    variable, saved = point.variables[i], point.values[i]
    flat = tf.reshape(saved, [-1])
    size = int(np.prod(shape, dtype=np.int64))
    rank = saved.shape.rank

    def batched(index, delta):
        out = tf.TensorArray(dtype, size=tf.shape(index)[0])
        for r in tf.range(tf.shape(index)[0]):
            j = index[r]
            if rank:
                where = tf.reshape(tf.unravel_index(j, saved.shape), [1, rank])
                variable.scatter_nd_update(where, tf.reshape(flat[j] + delta[r], [1]))
            else:
                variable.assign(flat[0] + delta[r])
            y = tf.convert_to_tensor(f())
            if y.shape.is_fully_defined() and tuple(y.shape) != shape:
                raise GradlabError(_shape_changed(shape, tuple(y.shape)))
            out = out.write(r, tf.reshape(tf.cast(y, dtype), [size]))
            if rank:
                variable.scatter_nd_update(where, tf.reshape(flat[j], [1]))
        variable.assign(saved)
        return out.stack()

    return tf.function(batched, reduce_retracing=True)


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
    from gradlab.engine.restore import restoring

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
    from gradlab.engine.restore import restoring

    out = []
    with restoring(point.variables, point.values):
        for t in steps:
            for var, x, u in zip(point.variables, point.values, directions):
                var.assign(x + tf.cast(t, x.dtype) * u)
            out.append(_flat(call(f, point), shape))
    return np.stack(out)
