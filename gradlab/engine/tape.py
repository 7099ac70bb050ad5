"""The tape's side: gradients and Jacobians from tf.GradientTape, and why a gradient came back None."""

import numpy as np

from gradlab._tf import tf
from gradlab.errors import NotDifferentiableError
from gradlab.engine.inputs import call, resolve


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


def gradients(tape, y, sources, cotangent=None):
    """One numpy array (or None) per source: the Jacobian of y, or with a cotangent v the gradient of sum(v * y)."""
    if cotangent is not None:
        grads = tape.gradient(y, list(sources), output_gradients=tf.constant(cotangent, dtype=y.dtype))
    elif y.shape.rank == 0:
        grads = tape.gradient(y, list(sources))
    else:
        grads = [tape.jacobian(y, x) for x in sources]
    return [None if g is None else _as_numpy(g) for g in grads]


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
