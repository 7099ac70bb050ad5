"""Evaluating f at many perturbed points at once: vectorized and chunked, one call per point only as a fallback."""

import numpy as np

from gradlab._tf import tf
from gradlab.engine.inputs import call

#: Elements (rows x max(argument size, output size)) evaluated in one chunk: bounds peak memory as n grows.
CHUNK_ELEMENTS = 1 << 22
#: Above this many element-evaluations, the batched function is compiled with XLA (falls back if it can't be).
XLA_THRESHOLD = 1 << 24


class Evaluator:
    """Evaluates f with one argument (or variable) perturbed entry by entry, and records how it managed to."""

    def __init__(self, f, point, output_size):
        self.f = f
        self.point = point
        self.output_size = output_size
        self.how = set()
        self._batched = {}

    def rows(self, i, index, delta):
        """f's flattened output at the point with entry index[r] of argument i moved by delta[r]: (rows, m)."""
        index = np.asarray(index, dtype=np.int64)
        delta = np.asarray(delta, dtype=self.point.values[i].dtype.as_numpy_dtype)
        if not len(index):
            return np.zeros((0, self.output_size), dtype=delta.dtype)
        if self.point.variables:
            self.how.add("one call per perturbation (tf.Variables are assigned)")
            return _rows_by_assign(self.f, self.point, i, index, delta)
        try:
            return self._vectorized(i, index, delta)
        except Exception:  # f cannot be traced or vectorized (numpy inside, Python control flow on values...)
            self.how.add("one call per perturbation (f could not be vectorized)")
            return _rows_eagerly(self.f, self.point, i, index, delta)

    def along(self, directions, steps):
        """f's flattened output at point + t * direction for each t in steps (all arguments move together)."""
        point = self.point
        directions = [tf.constant(u, dtype=x.dtype) for x, u in zip(point.values, directions)]
        if point.variables:
            return _along_by_assign(self.f, point, directions, steps)
        out = []
        for t in steps:
            moved = [x + t * u for x, u in zip(point.values, directions)]
            out.append(tf.reshape(call(self.f, point, moved), [-1]).numpy())
        return np.stack(out)

    def _vectorized(self, i, index, delta):
        x = self.point.values[i]
        n = x.shape.num_elements()
        rows = len(index)
        chunk = int(min(rows, max(1, CHUNK_ELEMENTS // max(n, self.output_size, 1))))
        padded = -(-rows // chunk) * chunk
        index = np.concatenate([index, np.repeat(index[-1:], padded - rows)])
        delta = np.concatenate([delta, np.repeat(delta[-1:], padded - rows)])
        key = (i, chunk)
        if key not in self._batched:
            jit = rows * n >= XLA_THRESHOLD
            self._batched[key] = [self._trace(i), jit]
        batched, jit = self._batched[key]
        out = []
        for start in range(0, padded, chunk):
            args = (tf.constant(index[start:start + chunk]), tf.constant(delta[start:start + chunk]))
            if jit:
                try:
                    out.append(batched[True](*args).numpy())
                    continue
                except Exception:
                    self._batched[key][1] = jit = False
            out.append(batched[False](*args).numpy())
        self.how.add("vectorized (tf.vectorized_map, XLA)" if jit else "vectorized (tf.vectorized_map)")
        return np.concatenate(out)[:rows]

    def _trace(self, i):
        f, values = self.f, list(self.point.values)
        x = values[i]
        shape, flat = x.shape, tf.reshape(x, [-1])
        n = int(flat.shape[0])

        def one(row):
            moved = list(values)
            moved[i] = tf.reshape(row, shape)
            return tf.reshape(tf.convert_to_tensor(f(*moved)), [-1])

        def batched(index, delta):
            moved = flat[None, :] + tf.one_hot(index, n, dtype=flat.dtype) * delta[:, None]
            return tf.vectorized_map(one, moved)

        return {jit: tf.function(batched, jit_compile=jit) for jit in (False, True)}


def _rows_eagerly(f, point, i, index, delta):
    x = point.values[i]
    flat = tf.reshape(x, [-1])
    out = []
    for j, d in zip(index, delta):
        moved = list(point.values)
        moved[i] = tf.reshape(tf.tensor_scatter_nd_add(flat, [[int(j)]], [d]), x.shape)
        out.append(tf.reshape(call(f, point, moved), [-1]).numpy())
    return np.stack(out)


def _rows_by_assign(f, point, i, index, delta):
    var, saved = point.variables[i], point.values[i]
    flat = saved.numpy().reshape(-1)
    positions = np.stack(np.unravel_index(index, saved.shape), axis=-1) if saved.shape.rank else None
    out = []
    try:
        for r, (j, d) in enumerate(zip(index, delta)):
            if positions is None:
                var.assign(flat[0] + d)
            else:
                var.scatter_nd_update([positions[r]], [flat[j] + d])
            out.append(tf.reshape(call(f, point), [-1]).numpy())
            if positions is not None:
                var.scatter_nd_update([positions[r]], [flat[j]])
    finally:
        var.assign(saved)
    return np.stack(out)


def _along_by_assign(f, point, directions, steps):
    out = []
    try:
        for t in steps:
            for var, x, u in zip(point.variables, point.values, directions):
                var.assign(x + t * u)
            out.append(tf.reshape(call(f, point), [-1]).numpy())
    finally:
        for var, x in zip(point.variables, point.values):
            var.assign(x)
    return np.stack(out)
