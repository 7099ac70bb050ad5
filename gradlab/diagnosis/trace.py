"""Trace: f traced into one graph, the value and the gradient at every tensor, and where each op came from.

gradlab.locate works on this graph: f is traced once (tf.compat.v1.wrap_function, whose graph can be cut
at any tensor), run once keeping every intermediate value, and differentiated once with tf.gradients for
the gradient of sum(f) at every tensor that reaches f's output. The sources are f's float arguments, or
in variables mode the reads of the given variables; an op is on the gradient's path when one of its
float inputs comes from a source and one of its outputs receives a gradient.
"""

import os
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradlab._tf import tf
from gradlab.engine.inputs import as_output
from gradlab.engine.platform import quiet_internals
from gradlab.errors import GradlabError, NotDifferentiableError, TooExpensiveError, summary

#: Tensors that hold no values to compare (resource handles, variants).
_OPAQUE = ("resource", "variant")
#: Ops whose integer output does not depend on their input's values (listed nowhere as blocking a gradient).
SHAPE_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank", "BroadcastArgs", "BroadcastGradientArgs"})
#: Where gradlab's own code lives; its lessons count as the user's code.
_OWN = Path(__file__).resolve().parents[1]
_LESSONS = _OWN / "teaching" / "lessons"
_LIBRARIES = tuple(str(Path(p).resolve()) for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                                                     sysconfig.get_paths()["platlib"]})


@dataclass
class Trace:
    """f's graph and what one run of it saw: `values[t.name]` for every tensor, `gradients[t.name]` (the
    gradient of sum(f) there) for every tensor on the path, and the sources with their names."""

    wrapped: object
    graph: object
    ops: list  # f's own ops, in graph order (not the gradient ops added for locate)
    output: object
    sources: list  # graph tensors
    source_names: dict  # tensor name -> name in the report
    values: dict
    gradients: dict
    reached: set  # names of the tensors a source reaches through floats, complex values or TensorLists
    layers: dict = field(default_factory=dict)  # name scope -> Keras path of the layer that owns it
    feeds: list = field(default_factory=list)  # f's placeholders, in argument order
    unread: list = field(default_factory=list)  # variables f reads only inside loops or functions
    _order: dict = field(default=None, repr=False)

    @property
    def order(self):
        """{op name: its index in graph order}."""
        if self._order is None:
            self._order = {op.name: k for k, op in enumerate(self.ops)}
        return self._order

    def on_path(self, op):
        """Whether op reads a value a source reaches and passes some gradient on to f's output."""
        return any(t.name in self.reached for t in op.inputs if carries(t)) and any(
            self.gradients.get(t.name) is not None for t in op.outputs if _is_float(t))

    def layer(self, op):
        """The Keras layer (by path) whose name scope holds op, or ""."""
        scope = op.name
        while "/" in scope:
            scope = scope.rsplit("/", 1)[0]
            if scope in self.layers:
                return self.layers[scope]
        return ""


def trace(f, point):
    """Trace f at the point (engine.inputs.Point) and run it once: a Trace."""
    function = getattr(f, "python_function", f)  # a tf.function is traced from its Python code, op by op
    specs = [tf.TensorSpec(v.shape, v.dtype) for v in point.values]
    try:
        with quiet_internals():
            if point.variables:
                wrapped = tf.compat.v1.wrap_function(lambda: as_output(function()), [])
            else:
                wrapped = tf.compat.v1.wrap_function(lambda *a: as_output(function(*a)), specs)
    except GradlabError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to trace is the user's f: say what locate needs
        raise GradlabError(f"gradlab traces f into a graph, and tracing failed: {summary(exc)}; f must run on "
                           "graph tensors (no .numpy(), no Python `if` on a tensor's value)") from None
    graph = wrapped.graph
    ops = graph.get_operations()
    output = tf.nest.flatten(wrapped.structured_outputs)[0]
    captured = {id(inner): outer for outer, inner in graph.captures}
    feeds = [] if point.variables else list(graph.inputs[:len(point.values)])
    inside = set()  # variables whose handle goes into a loop or a nested function
    if point.variables:
        wanted = {id(v.handle): name for v, name in zip(point.variables, point.names)}
        sources, names = [], {}
        for op in ops:
            for t in op.inputs:
                name = wanted.get(id(captured.get(id(t))))
                if name is not None and op.type == "ReadVariableOp":
                    sources.append(op.outputs[0])
                    names[op.outputs[0].name] = name
                elif name is not None:
                    inside.add(name)
    else:
        sources = [t for t in feeds if _is_float(t)]
        names = {t.name: name for t, name in zip(feeds, point.names)}
    reached = reached_from(ops, sources)
    along = [t for t in map(graph.as_graph_element, reached) if _is_float(t)]
    with graph.as_default(), tf.name_scope("gradlab_locate"), quiet_internals():
        try:
            grads = tf.gradients(output, along)
        except LookupError as exc:
            raise NotDifferentiableError(f"f uses an operation without a registered gradient: {summary(exc)}; "
                                         "tape.gradient fails on it too") from None
    total = {t.name: g for t, g in zip(along, grads) if g is not None and not isinstance(g, tf.IndexedSlices)}
    # a variable whose top-level reads pass no gradient, used inside a loop
    unread = [name for name in point.names if name in inside and not any(names.get(t) == name for t in total)]
    fetched = [t for op in ops for t in op.outputs if t.dtype.name not in _OPAQUE]
    _guard_memory(fetched)
    run = wrapped.prune(feeds=feeds, fetches=fetched + list(total.values()))
    with quiet_internals():
        results = run(*(point.values if feeds else []))
    values = {t.name: np.asarray(v) for t, v in zip(fetched, results)}
    gradients = {name: np.asarray(v) for name, v in zip(total, results[len(fetched):])}
    return Trace(wrapped, graph, ops, output, sources, names, values, gradients, set(reached),
                 _layers(ops, graph, captured), feeds, unread)


def _is_float(t):
    return t.dtype.is_floating


def carries(t):
    """Whether a gradient can travel through t: a float, a complex number, or a TensorList (a loop's or
    map_fn's values)."""
    return t.dtype.is_floating or t.dtype.is_complex or t.dtype.name == "variant"


def reached_from(ops, sources):
    """Names of the float and TensorList tensors that depend on a source, in graph order (sources included)."""
    reached = {t.name for t in sources}
    for op in ops:
        if any(t.name in reached for t in op.inputs if carries(t)):
            reached.update(t.name for t in op.outputs if carries(t))
    return list(dict.fromkeys([t.name for t in sources] + [t.name for op in ops for t in op.outputs
                                                            if t.name in reached]))


def _guard_memory(tensors):
    from gradlab.engine.tolerances import MAX_MEMORY

    size = sum((t.shape.num_elements() or 0) * t.dtype.size for t in tensors if t.dtype.name != "string")
    if 2 * size > MAX_MEMORY:
        raise TooExpensiveError(f"locate keeps every intermediate value of f and its gradient, about "
                                f"{2 * size / 2**30:.1f} GB here, past {MAX_MEMORY / 2**30:.0f} GB; call it on a "
                                "smaller batch (the gradient of each op is the same at any batch size)")


def _layers(ops, graph, captured):
    """{name scope: Keras layer path}, from the scopes that read each layer's variables: a layer whose kernel
    is `sequential/dense/kernel` reads it in a scope such as `sequential_1/dense_1/...`."""
    variables = {id(v.handle): v for v in graph.variables}
    layers = {}
    for op in ops:
        if op.type != "ReadVariableOp":
            continue
        variable = variables.get(id(captured.get(id(op.inputs[0]))))
        if variable is None:
            continue
        path = variable.name.split(":")[0].split("/")[:-1]  # the layer's path: the variable's, less its own name
        scope = op.name.split("/")
        if path and len(scope) > len(path):
            layers.setdefault("/".join(scope[:len(path)]), "/".join(path))
    return layers


def user_frame(op):
    """(file, line, code) of the innermost frame in op's creation traceback that is the user's own code (not
    Python's, TensorFlow's, Keras' or gradlab's), or None."""
    try:
        frames = list(op.traceback)
    except Exception:  # noqa: BLE001 - ops made without a traceback
        return None
    for frame in reversed(frames):
        if is_users(frame.filename):
            return frame.filename, frame.lineno, (frame.line or _line(frame.filename, frame.lineno)).strip()
    return None


def place(filename, lineno):
    """"file:line", or for code typed into a Jupyter or IPython cell "Cell In[7], line 20", as IPython's own
    tracebacks name it (the cell's file is a temporary path that changes with every kernel)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        named = shell.compile.format_code_name(filename) if shell is not None else None
    except Exception:  # noqa: BLE001 - no IPython, or one without this method
        named = None
    return f"{named[0]} {named[1]}, line {lineno}" if named else f"{filename}:{lineno}"


def is_users(filename):
    if not filename or filename.startswith("<frozen"):
        return False
    path = Path(filename).resolve() if os.path.isabs(filename) else Path(filename)
    text = str(path)
    if text.startswith(str(_LESSONS)):
        return True
    return not (text.startswith(str(_OWN)) or text.startswith(_LIBRARIES) or "site-packages" in text
                or text.startswith(sys.prefix + os.sep + "lib"))


def _line(filename, lineno):
    import linecache

    return linecache.getline(filename, lineno)
