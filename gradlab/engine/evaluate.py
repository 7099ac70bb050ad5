"""Evaluating f at many perturbed points: vectorized, as a traced loop, or one call at a time, whichever is safe.

Three ways, tried in this order for each argument:
    vectorized   tf.vectorized_map over a chunk of perturbed points in one traced call (fastest)
    traced loop  tf.map_fn in one traced call: f itself at every point, shapes as f wrote them
    one call     f called eagerly once per point (f that cannot be traced, or tf.Variables to assign)
A batched way is used only after it has reproduced plain calls of f at the point and at one perturbed point:
a broken kernel of the platform (TensorFlow 2.21's oneDNN float32 batch matmul, see gradlab.engine.platform)
or a function whose traced form differs from its eager one is then never judged. Where the platform is known
to be broken for f's operations, the vectorized way is not tried at all.
"""

import numpy as np

from gradlab._tf import tf
from gradlab.engine.inputs import call
from gradlab.engine.platform import quiet_internals, unsafe_to_vectorize
from gradlab.errors import GradlabError, summary

#: Elements (rows x max(argument size, output size)) evaluated in one chunk: bounds peak memory as n grows.
CHUNK_ELEMENTS = 1 << 22
#: Above this many element-evaluations, the batched function is compiled with XLA (falls back if it can't be).
XLA_THRESHOLD = 1 << 24
#: A batched row may differ from a plain call of f by this many ulps of f's largest value.
BATCH_ULPS = 1024

HOW = {
    "vectorized": "vectorized (tf.vectorized_map)",
    "xla": "vectorized (tf.vectorized_map, XLA)",
    "loop": "traced loop (tf.map_fn)",
    "eager": "one call per perturbation",
}


class Evaluator:
    """Evaluates f with one argument (or variable) perturbed entry by entry, and records how it managed to.

    With a `cotangent` v (flat, one weight per output) each row is [v . f, |v| . |f|] instead of f itself.
    """

    def __init__(self, f, point, y0, cotangent=None):
        self.f = f
        self.point = point
        self.y0 = np.asarray(y0.numpy(), dtype=np.float64).reshape(-1)
        self.shape = tuple(y0.shape)
        self.dtype = y0.dtype.name
        self.output_size = self.y0.size
        self.cotangent = None if cotangent is None else np.asarray(cotangent, dtype=np.float64).reshape(-1)
        self.how = {}  # what was used -> why (or "")
        self.evaluations = 0
        self._ways = {}  # argument -> the batched way that passed its cross-check, or "eager"
        self._traced = {}
        self._unsafe = None

    @property
    def unsafe(self):
        """Why f must not go through pfor on this platform ("" if it may), decided once from f's graph."""
        if self._unsafe is None:
            self._unsafe = "" if self.point.variables else unsafe_to_vectorize(self.f, self.point)
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
        if self.point.variables:
            self.how.setdefault("eager", "tf.Variables are assigned")
            return self._project(_rows_by_assign(self.f, self.point, i, index, delta, self.shape))
        way = self._ways.get(i) or self._choose(i, index, delta)
        if way != "eager":
            try:
                return self._batched(i, way, index, delta)
            except Exception as exc:  # noqa: BLE001 - a later chunk the trace cannot take: go one by one
                self._ways[i] = way = "eager"
                self.how.setdefault("eager", f"the batched evaluation failed ({summary(exc)})")
        return self._project(_rows_eagerly(self.f, self.point, i, index, delta, self.shape))

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

    def _choose(self, i, index, delta):
        """The first batched way whose rows match plain calls of f; "eager" if none does."""
        unsafe = self.unsafe
        if unsafe:
            self.how.setdefault("loop", unsafe)
        for way in ("loop",) if unsafe else ("vectorized", "loop"):
            try:
                if self._cross_check(i, way, int(index[0]), delta[0]):
                    self._ways[i] = way
                    return way
                why = "the vectorized evaluation disagreed with plain calls of f (a broken kernel?)"
            except Exception as exc:  # noqa: BLE001 - f cannot be traced or vectorized this way
                why = f"f could not be {'vectorized' if way == 'vectorized' else 'traced'} ({summary(exc)})"
            self.how.setdefault("loop" if way == "vectorized" else "eager", why)
        self._ways[i] = "eager"
        return "eager"

    def _cross_check(self, i, way, j, d):
        """Whether the batched way reproduces f at the point and with entry j moved by d."""
        index, delta = np.array([j, j]), np.array([0, d], dtype=np.asarray(d).dtype)
        batched = self._run(i, way, index, delta, chunk=2)
        plain = np.stack([self.y0, _flat(_moved_call(self.f, self.point, i, j, d), self.shape)])
        dtype_eps = np.finfo(self.dtype).eps
        with np.errstate(invalid="ignore", over="ignore"):
            size = np.nanmax(np.abs(plain), initial=0.0) + np.finfo(self.dtype).tiny
            close = np.abs(batched - plain) <= BATCH_ULPS * dtype_eps * size
        same_nonfinite = ~np.isfinite(plain) & (np.isnan(plain) == np.isnan(batched))
        return bool(np.all(close | same_nonfinite | (batched == plain)))

    def _batched(self, i, way, index, delta):
        n = self.point.values[i].shape.num_elements()
        chunk = self._chunk(i, n)
        rows = len(index)
        padded = -(-rows // chunk) * chunk
        index = np.concatenate([index, np.repeat(index[-1:], padded - rows)])
        delta = np.concatenate([delta, np.repeat(delta[-1:], padded - rows)])
        out = [self._run(i, way, index[s:s + chunk], delta[s:s + chunk], chunk) for s in range(0, padded, chunk)]
        return self._project(np.concatenate(out)[:rows])

    def _chunk(self, i, n):
        return int(max(1, CHUNK_ELEMENTS // max(n, self.output_size, 1)))

    def _run(self, i, way, index, delta, chunk):
        key = (i, way, chunk)
        if key not in self._traced:
            jit = way == "vectorized" and chunk * self.point.values[i].shape.num_elements() >= XLA_THRESHOLD
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
            result = fn(*args).numpy()
        self.how.setdefault(way, "")
        return result.astype(np.float64)


def _trace(f, point, i, way, shape, dtype, jit):
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


def _flat(y, shape):
    if tuple(y.shape) != shape:
        raise GradlabError(_shape_changed(shape, tuple(y.shape)))
    return np.asarray(y.numpy(), dtype=np.float64).reshape(-1)


def _shape_changed(shape, now):
    return (f"f's output has shape {shape} at the point but {now} at a perturbed point; gradlab compares "
            f"outputs whose shape does not depend on the values (use tf.where instead of tf.boolean_mask, "
            f"or pad to a fixed size)")




def _moved_call(f, point, i, j, d):
    x = point.values[i]
    flat = tf.reshape(x, [-1])
    moved = list(point.values)
    moved[i] = tf.reshape(tf.tensor_scatter_nd_add(flat, [[int(j)]], tf.constant([d], dtype=x.dtype)), x.shape)
    return call(f, point, moved)


def _rows_eagerly(f, point, i, index, delta, shape):
    return np.stack([_flat(_moved_call(f, point, i, j, d), shape) for j, d in zip(index, delta)])


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
