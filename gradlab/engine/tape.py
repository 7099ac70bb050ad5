"""The tape's side: gradients and Jacobians from tf.GradientTape, and why a gradient came back None."""

import numpy as np

from gradlab._tf import tf
from gradlab.engine.inputs import call, resolve
from gradlab.engine.platform import quiet_internals
from gradlab.errors import NotDifferentiableError, summary


#: Outputs up to this size get their Jacobian from one vector-Jacobian product per output.
SMALL_OUTPUT = 16


def tape_gradient(f, *args, names=None):
    """d f / d arg for each argument, as numpy arrays (output shape + argument shape; the Jacobian for
    non-scalar outputs). Raises NotDifferentiableError, naming the argument and the likely cause, where the
    tape has no gradient."""
    point, (y, tape) = resolve(f, args, names, run=record)
    return tape_gradients(point, y, tape)


def tape_gradients(point, y, tape):
    """tape_gradient at a point already recorded: one array per argument, or an error naming a None."""
    grads = gradients(tape, y, point.values)
    for name, g in zip(point.names, grads):
        if g is None:
            raise NotDifferentiableError(f"the tape has no gradient for {name}: {none_cause()}")
    return grads


def record(f, point):
    """f at the point under a persistent tape that watches every argument (or variable): (output, tape)."""
    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
        for source in point.variables or point.values:
            tape.watch(source)
        y = call(f, point)
    return y, tape


def gradients(tape, y, sources, cotangent=None, pfor=True):
    """One numpy array (or None) per source: the Jacobian of y, or with a cotangent v the gradient of sum(v * y).

    Jacobians are vectorized (pfor) when `pfor` allows it, checked against one vector-Jacobian product, and
    computed again with a loop where pfor fails or disagrees. An operation without a registered gradient is
    a NotDifferentiableError naming it.
    """
    with quiet_internals():
        try:
            if cotangent is not None:
                grads = tape.gradient(y, list(sources), output_gradients=tf.constant(cotangent, dtype=y.dtype))
            elif y.shape.rank == 0:
                grads = tape.gradient(y, list(sources))
            else:
                grads = [_jacobian(tape, y, x, pfor) for x in sources]
        except LookupError as exc:
            raise NotDifferentiableError(f"the tape cannot differentiate f: {summary(exc)}") from None
    return [None if g is None else _as_numpy(g) for g in grads]


def _jacobian(tape, y, x, pfor):
    outputs = y.shape.num_elements()
    if outputs <= SMALL_OUTPUT:  # one vector-Jacobian product per output: no tracing, no pfor
        rows = []
        for k in range(outputs):
            seed = tf.reshape(tf.one_hot(k, outputs, dtype=y.dtype), y.shape)
            row = tape.gradient(y, x, output_gradients=seed)
            if row is None:
                return None
            rows.append(tf.convert_to_tensor(row))
        return tf.reshape(tf.stack(rows), [*y.shape, *x.shape])
    if pfor:
        try:
            jacobian = tape.jacobian(y, x)
            if jacobian is None or _agrees_with_a_vjp(tape, y, x, jacobian):
                return jacobian
        except LookupError:
            raise
        except Exception:  # noqa: BLE001 - pfor cannot vectorize some ops' gradients: the loop can
            pass
    return tape.jacobian(y, x, experimental_use_pfor=False)


def _agrees_with_a_vjp(tape, y, x, jacobian):
    """Whether sum over outputs of v * J equals the tape's own v^T J for a fixed random v (pfor's answer
    checked against the plain gradient, which never goes through pfor)."""
    v = np.random.default_rng(0).standard_normal(y.shape).astype(y.dtype.as_numpy_dtype)
    vjp = tape.gradient(y, x, output_gradients=tf.constant(v))
    if vjp is None:
        return True
    rank = y.shape.rank
    from_jacobian = np.tensordot(v.astype(np.float64), _as_numpy(jacobian).astype(np.float64), axes=rank)
    direct = _as_numpy(vjp).astype(np.float64)
    scale = np.tensordot(np.abs(v).astype(np.float64), np.abs(_as_numpy(jacobian)).astype(np.float64), axes=rank)
    eps = np.finfo(y.dtype.as_numpy_dtype).eps
    with np.errstate(invalid="ignore"):
        return bool(np.all((np.abs(from_jacobian - direct) <= 1024 * eps * (scale + np.abs(direct)))
                           | (np.isnan(from_jacobian) & np.isnan(direct))))




def _as_numpy(g):
    if isinstance(g, tf.IndexedSlices):
        g = tf.convert_to_tensor(g)
    return np.asarray(g.numpy())


def none_cause(numerically_connected=None):
    """The likely reason the tape returned None for an input, from whether f's value moves with it."""
    if numerically_connected is False:
        return "f's output does not depend on it (not connected)"
    if numerically_connected:
        return ("f's output changes with it, but the tape did not see how: the value goes through numpy or "
                ".numpy() inside f, through a stateful operation (assign, assign_add, an iterator), or a "
                "tf.Variable was replaced by a tensor; use TensorFlow ops (gradlab.why_none tells which)")
    return ("it is not connected to f's output on the tape: unused, or computed through numpy, .numpy() or "
            "another non-TensorFlow path inside f")
