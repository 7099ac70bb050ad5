"""Second-order checks: the tape's Hessian from nested tapes against finite differences of the tape's gradient.

A second-order check is the first-order check applied to the gradient: g(x) = the tape's gradient of f (for a
vector-valued f, of v . f with a seeded random v), flattened into one vector. The Jacobian of g that the outer
tape records is the Hessian; finite differences of g estimate it. Full mode compares every Hessian entry, fast
mode the projection v^T H u plus sampled entries of v^T H; the step ladder, kinks, inconclusive values, the
cost guard, the float64 reference and the restoring of variables are the first-order check's own.

In full mode `tape[i]` and `numeric[i]` of the result hold the block of the Hessian for input i, shape
(every input's entries, flattened and concatenated) + input i's shape.
"""

import numpy as np

from gradlab._tf import tf
from gradlab.engine.check import reverse_check
from gradlab.engine.inputs import as_output, wrapped_variable
from gradlab.engine.tape import none_cause
from gradlab.engine.tolerances import lowest_precision
from gradlab.errors import NotDifferentiableError, summary

__all__ = ["second_order_check"]

#: How tape.gradients words an operation whose gradient the outer tape cannot take.
_OUTER_LOOKUP = "the tape cannot differentiate f: "
_ZEROS = "; compared as zeros (unconnected='zero')"
#: First-order notes in second-order words: the function the check differentiates is f's gradient.
_NOTES = {
    "f is not differentiable within": "f's gradient is not differentiable within",
    "f's value at this point is not finite": "f's gradient at this point is not finite",
    "f changes too fast": "f's gradient changes too fast",
}


def second_order_check(f, args, variables, names, options):
    """check(..., order=2): the Hessian of f on the tape against finite differences of its tape gradient."""
    gradient = Gradient(f, variables, options["seed"])
    try:
        result = reverse_check(gradient, args, variables, names, {**options, "unconnected": "zero"})
    except NotDifferentiableError as exc:
        message = str(exc)
        if not message.startswith(_OUTER_LOOKUP):
            raise
        raise NotDifferentiableError(
            f"f's gradient is not differentiable on the tape ({message[len(_OUTER_LOOKUP):]}): an operation in "
            "it has no second-order gradient registered; order=1 checks the first derivative") from None
    return _as_second_order(result, gradient, options["unconnected"])


class Gradient:
    """f's tape gradient with respect to its arguments (or the variables), flattened into one vector.

    A gradient the tape returns as None is zeros here; `connected` records which were not None at the last
    call. A vector-valued f is reduced to v . f first, v seeded standard normal of f's output shape.
    """

    def __init__(self, f, variables, seed):
        self.f, self.variables, self.seed = f, variables, seed
        self.__name__ = getattr(f, "__name__", "f")
        self.connected = None
        self.output_shape = None
        self._weights = {}

    def __call__(self, *xs):
        sources = list(xs) if self.variables is None else [wrapped_variable(v) for v in self.variables]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            for source in sources:
                tape.watch(source)
            y = as_output(self.f(*xs))
            s = self.scalar(y)
        try:
            grads = tape.gradient(s, sources)
        except LookupError as exc:
            raise NotDifferentiableError(f"the tape cannot differentiate f itself: {summary(exc)}; "
                                         "check the first derivative with order=1") from None
        self.connected = [g is not None for g in grads]
        dtype = lowest_precision([x.dtype.name for x in sources])
        parts = [tf.zeros_like(x) if g is None else tf.convert_to_tensor(g) for g, x in zip(grads, sources)]
        return tf.concat([tf.reshape(tf.cast(p, dtype), [-1]) for p in parts], axis=0)

    def scalar(self, y):
        """y itself where it has one entry, else sum(v * y) for the seeded random v of y's shape."""
        self.output_shape = tuple(y.shape)
        if y.shape.num_elements() == 1:
            return tf.reshape(y, [])
        shape = tuple(y.shape)
        if shape not in self._weights:
            self._weights[shape] = np.random.default_rng([self.seed, 2]).standard_normal(shape)
        return tf.reduce_sum(tf.constant(self._weights[shape], dtype=y.dtype) * y)


def _as_second_order(result, gradient, unconnected):
    """The first-order result for g, said of f's second derivatives; a None gradient of f judged as in order=1."""
    result.order = 2
    if result.projection is not None:
        result.projection.input = result.projection.input.replace("v^T J u", "v^T H u")
    for report in result.inputs:
        report.note = _second_order_note(report.note)
    for report, connected in zip(result.inputs, gradient.connected or []):
        if connected:
            continue
        cause = f"f's tape gradient for it is None ({none_cause()})"
        if unconnected == "zero":
            report.note = cause + _ZEROS
        else:
            report.note = cause + "; pass unconnected='zero' to check its second derivatives as zeros"
            report.ok = False
            result.state, result.ok = "fail", False
    notes = []
    shape = gradient.output_shape
    if shape is not None and int(np.prod(shape, dtype=np.int64)) > 1:
        notes.append(f"f is vector-valued (shape {shape}): the second derivatives checked are those of v . f "
                     f"for a standard normal v drawn from seed={gradient.seed}")
    for note in result.notes:
        if note.startswith("run gradlab.locate("):
            note = ("order=1 checks the first derivative alone; a wrong second derivative with a right first one "
                    "usually comes from a custom gradient whose grad function is right in value but not in its "
                    "own derivative (computed through numpy, a stop_gradient, or a wrong formula)")
        for first, second in _NOTES.items():
            note = note.replace(first, second)
        notes.append(note)
    result.notes = notes
    return result


def _second_order_note(note):
    """An input's note on a None block of the Hessian: the tape's gradient of f does not depend on the input."""
    quiet = f"the tape returned None: {none_cause(False)}{_ZEROS}"
    moves = f"the tape returned None: {none_cause(True)}{_ZEROS}"
    note = note.replace(quiet, "f's gradient does not depend on it on the tape (f is at most linear in it): its "
                               "second derivatives are compared as zeros")
    return note.replace(moves, "the nested tape returned None, but f's gradient changes with it: the gradient "
                               "goes through tf.stop_gradient, numpy, .numpy() or a stateful operation (in a "
                               "custom gradient's grad function?); compared as zeros")
