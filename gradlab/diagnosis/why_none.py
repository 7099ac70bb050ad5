"""why_none: the gradients of your own tf.GradientTape, with the reason named for each one that is None.

`why_none(tape, target, sources)` takes the place of `tape.gradient(target, sources)` after the `with`
block. For a source without a gradient it tells apart what the tape can show: a non-float dtype, a tensor
or variable the tape never watched, a target that nothing the tape recorded produced, and a watched source
that no recorded operation connects to a recorded target.

A tape keeps no list of the operations it recorded, so the last two leave a short list of possibilities.
`why_none(f, *args)` (or `why_none(f, variables=[...])`) names the one it is: it runs f under a tape
watching the arguments, then traces f into a graph, where a value taken out to numpy stops the tracing,
and an assignment, an op without a gradient (tf.round, tf.argmax) or an unused argument can be seen.

Whether the tape watched a tensor is not public in TensorFlow, so the tape is re-entered and each tensor
source, and each target, passes through a marker op whose gradient function only notes that it ran: the op
is recorded (and its gradient function called) exactly when the tape follows that tensor. The markers feed
no source's gradient, so the gradients returned are the ones `tape.gradient` gives.
"""

from dataclasses import dataclass

from gradlab._tf import tf
from gradlab.diagnosis.trace import SHAPE_OPS, carries, reached_from, user_frame
from gradlab.engine.inputs import checked_names, parameter_names, resolve, variables_point, wrapped_variable
from gradlab.engine.platform import quiet_internals
from gradlab.engine.restore import claimed, restoring
from gradlab.engine.tape import record
from gradlab.errors import GradlabError
from gradlab.render import Result

_ASK_F = "gradlab.why_none(f, {name}) traces f and names which"

#: Why a gradient is None, by kind: (the reason, how to fix it). "{name}", "{what}" and "{op}" are filled in.
CAUSES = {
    "not a tensor": (
        "{what}, not a tensor: a tape differentiates with respect to tf.Tensors and tf.Variables",
        "pass the tf.Variable, or a tensor watched inside the with block"),
    "not a float": (
        "{what}: a tape differentiates floating-point values only",
        "make it a float before the tape: tf.constant(3.0), or tf.cast({name}, tf.float32)"),
    "unwatched tensor": (
        ("a tf.Tensor the tape did not watch: a tape follows a tensor only after tape.watch. A tf.constant "
         "is one; so is what `{name} = {name} + 1` leaves when {name} was a tf.Variable (a new tensor, "
         "not the variable)"),
        ("call tape.watch({name}) inside the with block; to update a variable, keep it one: "
         "{name}.assign_add(1)")),
    "unwatched variable": (
        ("a tf.Variable the tape did not watch: it was not read inside the with block, or the tape has "
         "watch_accessed_variables=False"),
        "read it inside the with block, or call tape.watch({name})"),
    "frozen variable": (
        "a tf.Variable with trainable=False: a tape does not watch it by itself",
        "call tape.watch({name}) inside the with block"),
    "target not recorded": (
        ("the tape recorded no operation that made the target: it was computed after the with block, or "
         "inside it only from values the tape does not follow (numpy or .numpy(), an integer such as "
         "tf.argmax gives, or no watched value at all)"),
        "compute the target inside the with block, with TensorFlow operations on {name}; " + _ASK_F),
    "disconnected": (
        ("the tape watched it and recorded the target, but no recorded operation leads from it to the "
         "target: on the way it went through numpy or .numpy(), through an assignment (assign, "
         "assign_add), or through an op without a gradient (tf.round, tf.argmax, tf.cast to an "
         "integer); or the target does not use it"),
        "compute the target from {name} with differentiable TensorFlow operations; " + _ASK_F),
    "through numpy": (
        ("its value leaves TensorFlow for numpy ({op}): the graph is cut there, and what comes back is "
         "a constant with no history"),
        "use TensorFlow's operation instead (tf.square for np.square, the tensor for .numpy())"),
    "stateful op": (
        ("its value goes only into an assignment ({op}): gradients do not flow through a variable's "
         "update, so what reads the variable afterwards has no history back to it"),
        "compute the new value with an operation (x1 + x0), use it, and assign it afterwards"),
    "no gradient": (
        "its value reaches the target only through {op}",
        ("use a differentiable operation; where zero is the gradient you mean (a piecewise constant op), "
         "ask for it: tape.gradient(..., unconnected_gradients=tf.UnconnectedGradients.ZERO)")),
    "not used": (
        "f's output does not depend on it: no operation of f reads its value",
        ("use it in f, or leave it out; unconnected_gradients=tf.UnconnectedGradients.ZERO gives zeros "
         "for such a source")),
    "target outside TensorFlow": (
        "the target is {what}, not a tensor the tape recorded",
        "compute the target with TensorFlow operations inside the with block"),
}

#: Ops that write a variable: a value that goes into one leaves the tape's record.
_ASSIGNS = {"AssignVariableOp": "assign", "AssignAddVariableOp": "assign_add", "AssignSubVariableOp": "assign_sub"}
#: How ops that pass no gradient are written in Python.
_CALLS = {"ArgMax": "tf.argmax", "ArgMin": "tf.argmin", "Cast": "tf.cast", "StopGradient": "tf.stop_gradient",
          "PreventGradient": "tf.stop_gradient"}
#: Ops whose registered gradient is None because they are flat between their steps.
_STEPS = {"Round": "tf.round", "Floor": "tf.math.floor", "Ceil": "tf.math.ceil", "Rint": "tf.math.rint"}


@dataclass
class Finding:
    """One source: what the tape gave for it, and (where that is None) the kind of cause and its words."""

    name: str
    gradient: object
    kind: str = ""
    cause: str = ""
    fix: str = ""


@dataclass
class Diagnosis(Result):
    """The findings, one per source; `.gradients` is what tape.gradient(target, sources) returns."""

    findings: list

    @property
    def gradients(self):
        return [finding.gradient for finding in self.findings]

    @property
    def ok(self):
        return all(finding.gradient is not None for finding in self.findings)

    def __rich__(self):
        from gradlab.render import diagnosis_view

        return diagnosis_view(self)


def why_none(tape, *args, variables=None, names=None):
    """tape.gradient(target, sources), with the cause named for every None; call it after the with block.

    `why_none(tape, target, sources)`: `sources` is one tensor or variable, or a list of them; `names` names
    them in the report. The tape is used up as tape.gradient would use it (unless it is persistent).
    `why_none(f, *args)` or `why_none(f, variables=[...])`: the gradients of f's output with respect to its
    arguments (or the variables), with each None's cause found in f's graph.
    """
    if isinstance(tape, tf.GradientTape):
        if variables is not None or len(args) != 2:
            raise GradlabError("with a tape, why_none takes the target and the sources: "
                               "why_none(tape, y, [x]) after the with block")
        return _diagnosis(tape, *args, names)
    if callable(tape):
        return _of_function(tape, args, variables, names)
    raise GradlabError(f"why_none needs the tf.GradientTape that recorded the target (or the function f), got "
                       f"{type(tape).__name__}; pass the tape from `with tf.GradientTape() as tape:`")


def _diagnosis(tape, target, sources, names):
    given = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    names = _names(given, names)
    # a Keras 3 variable holds the tf.Variable the tape watched
    sources = [wrapped_variable(s) if wrapped_variable(s) is not None else s for s in given]
    if getattr(tape, "_tape", True) is None:
        raise GradlabError("this tape holds no record: a tape is used up by its first tape.gradient call "
                           "unless persistent=True; pass it to why_none instead of calling tape.gradient")
    watched = {v.ref() for v in tape.watched_variables()}
    kinds = [_static_kind(s, watched) for s in sources]
    targets = tf.nest.flatten(target) if _is_tensor(target) else []
    if not targets:
        kinds = [kind or "target outside TensorFlow" for kind in kinds]
    probed = [i for i, kind in enumerate(kinds) if not kind and not isinstance(sources[i], tf.Variable)]
    ran = set()
    try:
        tape.__enter__()  # recording again, for the markers only
    except ValueError as exc:  # TensorFlow refuses to re-enter a tape that is still recording
        raise GradlabError("call why_none after the with block, not inside it") from exc
    try:
        markers = [_marker(i, ran)(sources[i]) for i in probed]
        markers += [_marker(("target", k), ran)(t) for k, t in enumerate(targets)]
    finally:
        tape.__exit__(None, None, None)
    usable = [i for i, kind in enumerate(kinds) if not kind]
    grads = [None] * len(sources)
    if usable:
        found = tape.gradient([target, *markers], [sources[i] for i in usable])
        for i, g in zip(usable, found):
            grads[i] = g
    recorded = [("target", k) in ran for k in range(len(targets))]
    findings = []
    for i, (source, name) in enumerate(zip(sources, names)):
        kind = kinds[i]
        if not kind and grads[i] is None:
            if i in probed and i not in ran:
                kind = "unwatched tensor"
            else:
                kind = "disconnected" if any(recorded) else "target not recorded"
        findings.append(_finding(name, grads[i], kind, source, target))
    return Diagnosis(findings)


def _of_function(f, args, variables, names):
    """why_none(f, *args): f run under a tape watching its arguments, and each None explained from f's graph."""
    if variables is not None:
        if args:
            raise GradlabError("with variables=, f takes no arguments; pass either arguments or variables, not both")
        point = variables_point(variables, names)
        with claimed(point.variables, point.names), restoring(point.variables, point.values):
            y, tape = record(f, point)
            diagnosis = _diagnosis(tape, y, point.variables, point.names)
            missing = [i for i, finding in enumerate(diagnosis.findings) if finding.gradient is None]
            causes = _graph_causes(f, point, missing) if missing else {}
    else:
        if not args:
            raise GradlabError("why_none needs the arguments of f, or variables=[...] for a function of no arguments")
        names = parameter_names(f, len(args)) if names is None else names
        point, (y, tape) = resolve(f, args, names, run=record)
        diagnosis = _diagnosis(tape, y, point.values, point.names)
        missing = [i for i, finding in enumerate(diagnosis.findings) if finding.gradient is None]
        causes = _graph_causes(f, point, missing) if missing else {}
    for i, (kind, op) in causes.items():
        finding = diagnosis.findings[i]
        cause, fix = CAUSES[kind]
        finding.kind, finding.cause, finding.fix = kind, cause.format(op=op), fix.format(name=finding.name)
    return diagnosis


def _graph_causes(f, point, missing):
    """{source index: (kind, the op in words)} for the sources in `missing` whose cause f's graph shows."""
    function = getattr(f, "python_function", f)  # a tf.function is traced from its Python code
    traced, error = _traced(function, point, range(len(point.names)))
    if error is not None and (not _leaves_tensorflow(error) or point.variables
                              or _traced(function, point, [])[1] is not None):
        return {}  # numpy on a value no single source explains, or f fails to trace for another reason
    causes = {}
    for i in missing:
        alone = traced
        if error is not None:  # with only source i a graph tensor, a failed numpy conversion is source i's
            alone, its_error = _traced(function, point, [i])
            if its_error is not None:
                if _leaves_tensorflow(its_error):
                    causes[i] = ("through numpy", _in_words(its_error))
                continue
        cause = _cause_in(alone, point, i)
        if cause is not None:
            causes[i] = cause
    return causes


def _cause_in(traced, point, i):
    """(kind, the op in words) for source i in f's graph, or None where the graph does not tell."""
    wrapped, feeds = traced
    ops = wrapped.graph.get_operations()
    output = tf.nest.flatten(wrapped.structured_outputs)[0]
    tensors = _graph_sources(wrapped, ops, point, feeds).get(i)
    if tensors is None:
        return None  # read inside a loop or a nested function: not told apart here
    reached = set(reached_from(ops, tensors))
    along = [t for op in ops for t in op.outputs if t.name in reached and t.dtype.is_floating]
    with wrapped.graph.as_default(), quiet_internals():
        try:
            grads = tf.gradients(output, along)
        except LookupError:
            return None
    passing = {t.name for t, g in zip(along, grads) if g is not None}
    if any(t.name in passing for t in tensors):
        return None  # the graph has a gradient the tape did not give: not told apart here
    ancestors = _ancestors(output.op)
    blocking = _blocking(ops, reached, passing, ancestors)
    if blocking is not None:
        return "no gradient", _blocking_words(blocking)
    assigns = [op for op in ops if op.type in _ASSIGNS and any(t.name in reached for t in op.inputs)]
    if assigns:
        return "stateful op", _op_words(assigns[0], _ASSIGNS[assigns[0].type])
    if not any(name.rsplit(":", 1)[0] in ancestors for name in reached):
        return "not used", ""
    return None


def _traced(function, point, symbolic):
    """((wrap_function result, feeds), None) with the sources in `symbolic` as graph tensors and the others
    as constants, or (None, the exception tracing raised)."""
    from gradlab.engine.inputs import as_output

    symbolic = list(symbolic) if not point.variables else []
    specs = [tf.TensorSpec(point.values[i].shape, point.values[i].dtype) for i in symbolic]

    def traced(*fed):
        if point.variables:
            return as_output(function())
        values = list(point.values)
        for i, value in zip(symbolic, fed):
            values[i] = value
        return as_output(function(*values))

    try:
        with quiet_internals():
            wrapped = tf.compat.v1.wrap_function(traced, specs)
    except Exception as exc:  # noqa: BLE001 - any failure to trace is read for what it says about f
        return None, exc
    return (wrapped, dict(zip(symbolic, wrapped.graph.inputs[:len(symbolic)]))), None


def _leaves_tensorflow(exc):
    """Whether tracing failed where a graph tensor was asked for its numpy value."""
    if isinstance(exc, NotImplementedError):
        return "numpy" in str(exc)
    if isinstance(exc, AttributeError):
        return getattr(exc, "name", None) == "numpy"
    return isinstance(exc, TypeError) and "SymbolicTensor" in str(exc) and "bool" not in str(exc)


def _in_words(exc):
    if isinstance(exc, AttributeError):
        return ".numpy()"
    if isinstance(exc, TypeError):
        return "float() or int() of a tensor"
    return "a numpy function, or .numpy()"


def _graph_sources(wrapped, ops, point, feeds):
    """{source index: its graph tensors}: the placeholder of an argument, or a variable's reads; a variable
    whose handle also goes elsewhere (a loop, a nested function) is left out."""
    if not point.variables:
        return {i: [t] for i, t in feeds.items()}
    captured = {id(inner): outer for outer, inner in wrapped.graph.captures}
    handles = {id(v.handle): i for i, v in enumerate(point.variables)}
    sources = {i: [] for i in range(len(point.variables))}
    for op in ops:
        for t in op.inputs:
            i = handles.get(id(captured.get(id(t))))
            if i is None or i not in sources:
                continue
            if op.type == "ReadVariableOp":
                sources[i].append(op.outputs[0])
            elif op.type not in _ASSIGNS:
                del sources[i]
    return sources


def _ancestors(op):
    """Names of the ops whose values op depends on (op included)."""
    seen, stack = set(), [op]
    while stack:
        current = stack.pop()
        if current.name not in seen:
            seen.add(current.name)
            stack.extend(t.op for t in current.inputs)
    return seen


def _blocking(ops, reached, passing, ancestors):
    """The first op the output depends on that reads a source's value and passes no gradient back to it: an
    integer output, tf.stop_gradient, or a registered gradient of None; or None."""
    for op in ops:
        if op.name not in ancestors or op.type in SHAPE_OPS:
            continue
        if not any(t.name in reached and carries(t) and t.name not in passing for t in op.inputs):
            continue
        floats = [t for t in op.outputs if t.dtype.is_floating or t.dtype.is_complex]
        if not floats or op.type in ("StopGradient", "PreventGradient") or any(t.name in passing for t in floats):
            return op
    return None


def _blocking_words(op):
    if op.type in ("StopGradient", "PreventGradient"):
        return _op_words(op, "tf.stop_gradient") + ", which passes no gradient by design"
    integers = sorted({t.dtype.name for t in op.outputs})
    if not any(t.dtype.is_floating or t.dtype.is_complex for t in op.outputs):
        return (_op_words(op, _CALLS.get(op.type, op.type)) + f", whose output is {', '.join(integers)}: an "
                "integer carries no gradient")
    if op.type in _STEPS:
        return (_op_words(op, _STEPS[op.type]) + ", whose gradient TensorFlow registers as None: it is flat "
                "between its steps")
    return _op_words(op, op.type) + ", whose registered gradient is None"


def _op_words(op, what):
    """"tf.round (`y = tf.round(x)`, line 3)": the op and the line of your code that made it, where known."""
    frame = user_frame(op)
    return f"{what} (`{frame[2]}`)" if frame and frame[2] else what


def _names(sources, names):
    if names is None:
        def default(i, source):
            if getattr(source, "path", None):  # a Keras variable: "dense/kernel"
                return source.path
            if isinstance(source, tf.Variable) and source.name.split(":")[0] != "Variable":  # named by you
                return source.name.split(":")[0]
            return f"sources[{i}]" if len(sources) > 1 else "source"

        return [default(i, source) for i, source in enumerate(sources)]

    return checked_names(names, len(sources), "sources")


def _is_tensor(value):
    return isinstance(value, (tf.Tensor, tf.Variable)) or (
        isinstance(value, (list, tuple)) and value and all(_is_tensor(v) for v in value))


def _static_kind(source, watched):
    """What can be told without a gradient call: a non-tensor, a non-float or an unwatched variable."""
    if not isinstance(source, (tf.Tensor, tf.Variable)):
        return "not a tensor"
    if not (source.dtype.is_floating or source.dtype.is_complex):
        return "not a float"
    if isinstance(source, tf.Variable) and source.ref() not in watched:
        return "unwatched variable" if source.trainable else "frozen variable"
    return ""


def _marker(key, ran):
    """An identity op whose gradient function records that it ran and passes no gradient on."""

    @tf.custom_gradient
    def marker(x):
        def grad(upstream):
            ran.add(key)

        return tf.identity(x), grad

    return marker


def _what(value):
    """"an int32 tensor", "a numpy.ndarray", "a float": what a value is, in words."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        dtype = value.dtype.name
        return f"{'an' if dtype.startswith('int') else 'a'} {dtype} tensor"
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return f"a {kind.__name__}" if module == "builtins" else f"a {module}.{kind.__name__}"


def _finding(name, gradient, kind, source, target):
    if not kind:
        return Finding(name, gradient)
    cause, fix = CAUSES[kind]
    what = _what(target if kind == "target outside TensorFlow" else source)
    return Finding(name, gradient, kind, cause.format(name=name, what=what, op=""),
                   fix.format(name=name, what=what))
