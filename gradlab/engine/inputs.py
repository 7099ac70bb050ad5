"""Arguments and outputs: what gradlab can differentiate, and how each argument becomes a tensor."""

import numbers
from dataclasses import dataclass, field

import numpy as np

from gradlab._tf import tf
from gradlab.errors import GradlabError, NotDifferentiableError

FLOATS = ("float32", "float64")
_FIX_DTYPE = "cast it to float32 or float64 (e.g. tf.cast(x, tf.float64))"


@dataclass
class Point:
    """The evaluation point: one float tensor per argument, their names, and the tf.Variables among them."""

    values: list
    names: list
    variables: list  # the tf.Variable objects themselves (variables mode) or []
    promoted: bool  # whether Python numbers were turned into tensors of a chosen dtype
    keras: list = field(default_factory=list)  # per variable, the Keras variable that wraps it, or None

    @property
    def dtypes(self):
        return [v.dtype.name for v in self.values]


def _reject(position, what, fix):
    raise NotDifferentiableError(f"argument {position} is {what}; {fix}")


def _check_dtype(position, dtype_name):
    if dtype_name in FLOATS:
        return
    if dtype_name in ("float16", "bfloat16"):
        _reject(position, f"{dtype_name}, too coarse for finite differences", _FIX_DTYPE)
    if dtype_name.startswith(("int", "uint")) or dtype_name == "bool":
        _reject(position, f"an {dtype_name} tensor, and the tape does not differentiate integers", _FIX_DTYPE)
    _reject(position, f"of dtype {dtype_name}", "gradlab differentiates float32 and float64 values")


def _is_python_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.generic))


def _is_python_numbers(value):
    """A Python int or float, or a (nested) list or tuple of them: these take the dtype gradlab chooses."""
    if _is_python_number(value):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(_is_python_numbers(item) for item in value)
    return False


def _as_array(position, value, dtype):
    try:
        with np.errstate(over="raise"):
            return np.asarray(value, dtype=dtype)
    except ValueError:
        _reject(position, "a list whose rows differ in length", "give every row the same length")
    except (OverflowError, FloatingPointError):
        _reject(position, f"a number too large for {dtype}", f"give values below {np.finfo(dtype).max:.1e}")


def to_tensor(position, value, dtype):
    """One argument as a float tensor; Python numbers (and lists of them) take `dtype`."""
    if value is None:
        _reject(position, "None", "pass a float, a numpy array, a tf.Tensor or a tf.Variable")
    if isinstance(value, (str, bytes)):
        _reject(position, f"a {type(value).__name__} ({value!r:.30})",
                "pass a float, a numpy array, a tf.Tensor or a tf.Variable")
    if isinstance(value, bool) or isinstance(value, np.bool_):
        _reject(position, "a bool", "pass a float such as 1.0")
    if _is_python_numbers(value):
        return tf.constant(_as_array(position, value, dtype))
    if wrapped_variable(value) is not None:
        variable = wrapped_variable(value)
        _check_dtype(position, variable.dtype.name)
        return tf.identity(variable.read_value())
    if isinstance(value, tf.Tensor):
        _check_dtype(position, value.dtype.name)
        return tf.identity(value)  # its own tensor: the same tensor passed twice is two arguments to the tape
    if isinstance(value, (np.ndarray, np.generic)):
        _check_dtype(position, np.dtype(value.dtype).name)
        return tf.constant(value)
    _reject(position, f"a {type(value).__name__}", "pass a float, a numpy array, a tf.Tensor or a tf.Variable")


def default_names(count):
    return [f"x{i}" for i in range(count)] if count > 1 else ["x"]


def parameter_names(f, count):
    """f's own names for its first `count` positional parameters (x, w1...), or the default names where f has
    fewer or its signature cannot be read."""
    import inspect

    try:
        parameters = list(inspect.signature(getattr(f, "python_function", f)).parameters.values())
    except (TypeError, ValueError):
        return default_names(count)
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[:count] if len(positional) >= count else default_names(count)


def checked_names(names, count, what="arguments"):
    """`names` as a list of `count` strings (default x, or x0, x1...), or a GradlabError saying what to pass."""
    if names is None:
        return default_names(count)
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
        raise GradlabError(f"names must be a list of strings, one per {what[:-1]}, got {names!r:.60}")
    if len(names) != count:
        raise GradlabError(f"names has {len(names)} entries for {count} {what}; give one per {what[:-1]}")
    return list(names)


def make_point(args, names=None, dtype="float64"):
    """The point for `args`, with Python numbers in `dtype`."""
    names = checked_names(names, len(args))
    values = [to_tensor(i + 1, a, dtype) for i, a in enumerate(args)]
    promoted = any(_is_python_numbers(a) for a in args)
    return Point(values, names, [], promoted)


def require_entries(point):
    """A GradlabError unless some argument (or variable) has at least one entry to differentiate."""
    if point.values and all(v.shape.num_elements() == 0 for v in point.values):
        shapes = ", ".join(f"{name} {tuple(v.shape)}" for name, v in zip(point.names, point.values))
        raise GradlabError(f"nothing to check: every argument is empty ({shapes}); pass values with entries")


def wrapped_variable(v):
    """The tf.Variable behind `v`: itself, the one a Keras 3 variable wraps (`v.value`), or None."""
    if isinstance(v, tf.Variable):
        return v
    wrapped = getattr(v, "value", None) if hasattr(v, "assign") else None
    return wrapped if isinstance(wrapped, tf.Variable) else None


def as_tf_variable(position, v):
    """The tf.Variable behind `v`, or a clear error for anything else."""
    variable = wrapped_variable(v)
    if variable is None:
        _reject(position, f"a {type(v).__name__} in variables",
                "pass tf.Variable or Keras variables (e.g. model.trainable_variables)")
    return variable


def snapshot(variables):
    """Each tf.Variable's current value, as a tensor of its own."""
    return [tf.identity(v.read_value()) for v in variables]


def variables_point(variables, names=None):
    """The point for variables mode: the current value of each tf.Variable (Keras variables are unwrapped)."""
    if not isinstance(variables, (list, tuple)) or not variables:
        raise GradlabError("variables must be a non-empty list of variables, e.g. model.trainable_variables")
    given = list(variables)
    unwrapped = [as_tf_variable(i + 1, v) for i, v in enumerate(given)]
    for i, v in enumerate(unwrapped):
        _check_dtype(i + 1, v.dtype.name)
    if names is None:
        names = [getattr(v, "path", None) or v.name.split(":")[0] for v in given]
    names = checked_names(names, len(given), "variables")
    seen = {}
    for i, v in enumerate(unwrapped):
        if id(v) in seen:
            raise GradlabError(f"variables lists {names[i]} twice (entries {seen[id(v)] + 1} and {i + 1}); "
                               "list each variable once")
        seen[id(v)] = i
    wrappers = [v if type(v).__module__.startswith("keras.") else None for v in given]
    point = Point(snapshot(unwrapped), names, unwrapped, False, wrappers)
    require_entries(point)
    return point


def as_output(y):
    """f's value as a float tensor, or a clear error saying what to return instead."""
    if y is None:
        raise NotDifferentiableError("f returned None; return the value to differentiate (is a `return` missing?)")
    if isinstance(y, (str, bytes)):
        raise NotDifferentiableError(f"f returned a {type(y).__name__}; return a float tensor")
    if isinstance(y, dict):
        raise NotDifferentiableError(f"f returned a dict (keys {', '.join(map(repr, list(y)[:4]))}); return one "
                                     "float tensor, e.g. check each output with its own lambda")
    try:
        y = tf.convert_to_tensor(y)
    except (TypeError, ValueError, tf.errors.InvalidArgumentError):
        what = f"a {type(y).__name__} of differently shaped values" if isinstance(y, (tuple, list)) else (
            f"a {type(y).__name__} that is not a tensor")
        raise NotDifferentiableError(f"f returned {what}; return one float tensor (e.g. tf.concat of the "
                                     "flattened parts, or check each output separately)") from None
    if y.dtype.name not in FLOATS:
        raise NotDifferentiableError(
            f"f returned a {y.dtype.name} tensor; compute the output in float32 or float64")
    if y.shape.num_elements() == 0:
        raise GradlabError(f"nothing to check: f's output is empty (shape {tuple(y.shape)})")
    return y


def call(f, point, values=None):
    """f at `values` (default: the point): f(*values) in args mode, f() with the variables set in variables mode."""
    if point.variables:
        return as_output(f())
    return as_output(f(*(point.values if values is None else values)))


def resolve(f, args, names=None, run=call):
    """The point for f(*args) and run(f, point) there (by default f's value).

    Python numbers are tried in float64 first; a function that captures float32 constants (and so fails on
    float64 input) is then evaluated in float32.
    """
    if not callable(f):
        raise GradlabError(f"f must be a function (a callable), got a {type(f).__name__}; pass f itself, "
                           "not its value")
    point = make_point(args, names, "float64")
    require_entries(point)
    try:
        return point, run(f, point)
    except (tf.errors.InvalidArgumentError, TypeError, ValueError) as first:
        if not point.promoted or isinstance(first, NotDifferentiableError):
            raise
        point32 = make_point(args, names, "float32")
        try:
            return point32, run(f, point32)
        except Exception:
            raise first from None
