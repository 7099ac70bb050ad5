"""Local: one op (or one tf.custom_gradient block) as a function of its own inputs, with its gradient as registered.

The kinds, by how the op's gradient is found:
    op               an op run alone through tf.raw_ops: the tape of gradlab.check differentiates it with the
                     gradient TensorFlow registered for its type, exactly as it would inside f
    override         an op whose gradient was replaced (graph.gradient_override_map), or one tf.raw_ops cannot
                     run (its attributes name functions): the op cut out of f's graph, its gradient built by
                     tf.gradients in that graph, where the replacement applies
    custom gradient  the IdentityN op tf.custom_gradient makes, with the ops that compute its result: the
                     block as a function of the block's arguments (and the variables it reads), its gradient the
                     one the custom gradient function returns
    loop, complex    the ops a tf.while_loop, map_fn or RNN joins through TensorLists, or that pass
                     complex values (an FFT and its abs): values no finite difference here can move, so
                     they are one function from their float inputs to their float outputs
Only inputs that a source reaches and that receive a gradient are perturbed; the others keep the values f
saw. The same tensor read twice by one op is one input.
"""

from dataclasses import dataclass

import numpy as np

from gradlab._tf import tf
from gradlab.diagnosis.trace import place
from gradlab.engine.platform import quiet_internals
from gradlab.errors import GradlabError

CUSTOM_PREFIX = "CustomGradient-"
#: Ops that read one triangle of a symmetric input, whose registered gradient is the symmetric one: alone,
#: they are checked as a function of the symmetrized input, the only derivative their gradient claims.
SYMMETRIC_INPUT = frozenset({"Cholesky", "SelfAdjointEig", "SelfAdjointEigV2"})


@dataclass
class Local:
    """One op's local function: `inputs` (graph tensors, perturbed), `values` (what f saw there), `outputs`
    (on the path), and `function(*inputs)`, whose tape gives the op's registered gradient."""

    op: object
    kind: str
    inputs: list
    names: list
    values: list
    outputs: list
    function: object = None
    gradient_source: str = ""
    output_values: list = None  # what f saw at the outputs (the graph may not know their shapes)

    @property
    def output_shapes(self):
        return [np.shape(v) for v in self.output_values]

    @property
    def entries(self):
        return sum(int(np.size(v)) for v in self.values)

    @property
    def output_entries(self):
        return sum(int(np.prod(shape)) for shape in self.output_shapes)

    def vjp(self, cotangents):
        """The op's gradient at f's values for the given cotangents (one array per output): one array (or
        None) per input."""
        xs = [tf.constant(v) for v in self.values]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            for x in xs:
                tape.watch(x)
            y = self.function(*xs)
        seed = tf.constant(np.concatenate([np.asarray(c, dtype=y.dtype.as_numpy_dtype).reshape(-1)
                                           for c in cotangents]).reshape(y.shape))
        with quiet_internals():
            grads = tape.gradient(y, xs, output_gradients=seed)
        return [None if g is None else np.asarray(tf.convert_to_tensor(g)) for g in grads]

    def passing(self, seed=0):
        """Whether the op's gradient reaches each input (one vector-Jacobian product, seeded cotangents)."""
        rng = np.random.default_rng(seed)
        return [g is not None for g in self.vjp([rng.standard_normal(shape) for shape in self.output_shapes])]


def local(trace, op, keep=None):
    """The Local of `op` in the trace, or None where no input of it is perturbed; `keep` (names) limits the
    perturbed inputs of an op to those."""
    unit = _local(trace, op, keep)
    if unit is not None:
        unit.output_values = [trace.values[t.name] for t in unit.outputs]
    return unit


def _local(trace, op, keep):
    if is_custom_gradient(op):
        return _block(trace, op)
    if any(_joining(t) for t in op.inputs):
        return _joined_region(trace, op)
    outputs = _receiving(trace, op.outputs)
    inputs = [t for t in _perturbed(trace, op.inputs) if keep is None or t.name in keep]
    if not inputs or not outputs:
        return None
    override = _override(op)
    runner = _raw(op)
    kind = "op" if runner is not None and not override else "override"
    unit = Local(op, kind, inputs, [_slot_name(op, _position(op.inputs, t)) for t in inputs],
                 [trace.values[t.name] for t in inputs], outputs)
    if kind == "override":
        unit.gradient_source = _source_of(_registered(override))
        unit.function = cut(trace, inputs, outputs, boundary=trace.order[op.name] - 1)
        return unit
    slots = [_position(inputs, t) for t in op.inputs]
    fixed = [None if s is not None else tf.constant(trace.values[t.name]) for t, s in zip(op.inputs, slots)]
    wanted = [_position(op.outputs, t) for t in outputs]
    symmetric = op.type in SYMMETRIC_INPUT

    def function(*xs):
        flat = [xs[s] if s is not None else c for s, c in zip(slots, fixed)]
        if symmetric:
            flat[0] = (flat[0] + tf.linalg.matrix_transpose(flat[0])) / 2
        out = runner(flat)
        return _joined([out[k] for k in wanted])

    unit.function = function
    return unit


def is_custom_gradient(op):
    return op.type == "IdentityN" and _override(op).startswith(CUSTOM_PREFIX)


# the other kinds ------------------------------------------------------------------------------------------------

def _block(trace, op):
    """The custom-gradient block ending in IdentityN `op`: its results as a function of its arguments and the
    variables it reads."""
    grad_fn, count, variable_count = _custom_parts(op)
    results = _receiving(trace, op.outputs[:count])
    slots = list(op.inputs[count:])
    variable_slots = {t.name: k for k, t in enumerate(slots[len(slots) - variable_count:] if variable_count else [])}
    inputs = _perturbed(trace, slots)
    # a variable's value reaches the block's ops through their own reads of it, not through its slot; a
    # variable the block reads in another way (a resource gather) cannot be fed, and is left out
    aliases = {}
    for slot in [t for t in inputs if t.name in variable_slots]:
        reads = _inner_reads(op, count, slot.op.inputs[0]) if slot.op.type == "ReadVariableOp" else []
        if reads:
            aliases[slot.name] = [read.outputs[0] for read in reads]
    inputs = [t for t in inputs if t.name not in variable_slots or t.name in aliases]
    if not inputs or not results:
        return None
    boundary = max((trace.order[t.op.name] for t in slots if t.name not in variable_slots), default=-1)
    names = [trace.source_names.get(t.name, f"variable{variable_slots[t.name]}") if t.name in variable_slots
             else f"arg{_position(slots, t)}" for t in inputs]
    ends = {t.name: op.inputs[k] for k, t in enumerate(op.outputs[:count])}
    unit = Local(op, "custom gradient", inputs, names, [trace.values[t.name] for t in inputs], results,
                 gradient_source=_source_of(grad_fn))
    unit.function = cut(trace, inputs, results, boundary=boundary, aliases=aliases,
                         ends=[ends[t.name] for t in results])
    return unit


def _joining(t):
    """Values no finite difference can move: TensorLists (loops, map_fn) and complex numbers."""
    return t.dtype.name == "variant" or t.dtype.is_complex


def _joined_region(trace, op):
    """The ops joined to `op` by TensorLists (a tf.while_loop, map_fn or RNN with what fills and reads its
    lists) or complex values (an FFT and its abs), as one function from their float inputs to op's float
    outputs."""
    region, stack = {}, [op]
    while stack:
        current = stack.pop()
        if current.name not in region:
            region[current.name] = current
            stack.extend(t.op for t in current.inputs if _joining(t))
    inputs = _perturbed(trace, [t for member in region.values() for t in member.inputs])
    outputs = _receiving(trace, op.outputs)
    if not inputs or not outputs:
        return None
    loops = [member for member in region.values() if "While" in member.type]
    if any(t.dtype.name == "resource" for member in loops for t in member.inputs):
        raise GradlabError("a loop that reads variables inside (an RNN layer) cannot be cut out of f; "
                           "gradlab.check(f, variables=[...]) checks it whole")
    names = [trace.source_names.get(t.name, t.op.name) for t in inputs]
    kind = "loop" if loops else "complex"
    unit = Local(op, kind, inputs, names, [trace.values[t.name] for t in inputs], outputs)
    unit.function = cut(trace, inputs, outputs, boundary=min(trace.order[name] for name in region
                                                              if name in trace.order) - 1)
    return unit


def cut(trace, inputs, outputs, boundary, aliases=None, ends=None):
    """f's graph cut out between the perturbed `inputs` and `outputs`, as a function of the inputs; tensors
    made by ops up to index `boundary` (and f's own inputs) keep the values f saw. The forward computes `ends`
    (the tensors behind `outputs`: a custom gradient's results before its IdentityN, by default `outputs`);
    the tape gets the gradient tf.gradients builds in f's graph, from `outputs` to `inputs`."""
    aliases = aliases or {}
    ends = list(outputs) if ends is None else ends
    fed = [(alias, i) for i, t in enumerate(inputs) for alias in aliases.get(t.name, [t])]
    known = {t.name for t, _ in fed}
    stack, visited = [t.op for t in ends if t.name not in known], set()
    while stack:  # the ops between: what enters them from outside is fed the values f saw
        current = stack.pop()
        if current.name in visited:
            continue
        visited.add(current.name)
        for t in current.inputs:
            if t.name in known or t.dtype.name == "resource":
                continue
            outside = t.op.type == "Placeholder" or trace.order.get(t.op.name, len(trace.order)) <= boundary
            if outside and t.dtype.name != "variant":  # a TensorList cannot be fed: what made it is cut out too
                known.add(t.name)
                fed.append((t, None))
            else:
                stack.append(t.op)
    with trace.graph.as_default(), tf.name_scope("gradlab_locate"), quiet_internals():
        cotangents = [tf.compat.v1.placeholder(t.dtype, t.shape) for t in outputs]
        grads = tf.gradients(list(outputs), list(inputs), grad_ys=cotangents, stop_gradients=list(inputs))
    feeds = [t for t, _ in fed]
    forward = trace.wrapped.prune(feeds=feeds, fetches=ends)
    present = [k for k, g in enumerate(grads) if g is not None]
    backward = trace.wrapped.prune(feeds=feeds + cotangents, fetches=[grads[k] for k in present]) if present else None
    constants = [None if i is not None else tf.constant(trace.values[t.name]) for t, i in fed]
    shapes = [np.shape(trace.values[t.name]) for t in outputs]

    def function(*xs):
        @tf.custom_gradient
        def alone(*xs):
            values = [xs[i] if i is not None else c for (_, i), c in zip(fed, constants)]
            # the gradient is `grad` below: the tape must not differentiate the cut-out graph itself
            y = _joined(forward(*[tf.stop_gradient(v) for v in values]))

            def grad(dy, variables=()):
                found = [None] * len(xs)
                if backward is not None:
                    for k, g in zip(present, backward(*values, *_split(dy, shapes))):
                        found[k] = g
                return found, [None] * len(variables)

            return y, grad

        return alone(*xs)

    return function


# helpers ---------------------------------------------------------------------------------------------------------

def _receiving(trace, tensors):
    """The tensors among `tensors` that receive a gradient from f's output."""
    return [t for t in tensors if trace.gradients.get(t.name) is not None]


def _perturbed(trace, tensors):
    """The distinct float tensors among `tensors` that a source reaches and that receive a gradient."""
    chosen = {}
    for t in tensors:
        if t.dtype.is_floating and t.name in trace.reached and trace.gradients.get(t.name) is not None:
            chosen.setdefault(t.name, t)
    return list(chosen.values())


def _position(items, item):
    """The index of a tensor or op in `items` by name (tensors compare elementwise with ==), or None."""
    return next((k for k, other in enumerate(items) if other.name == item.name), None)


def _override(op):
    try:
        value = op.get_attr("_gradient_op_type")
    except ValueError:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _registered(name):
    from tensorflow.python.framework import ops as tf_ops

    try:
        return tf_ops._gradient_registry.lookup(name)  # noqa: SLF001 - the function an override names
    except LookupError:
        return None


def _custom_parts(op):
    """(the user's gradient function, how many results, how many variables) of a custom-gradient IdentityN,
    read from the function TensorFlow registered for it; without it, results are the outputs f uses."""
    registered = _registered(_override(op))
    wrapper = _closure(registered).get("tape_grad_fn")
    parts = _closure(wrapper)
    count = parts.get("flat_result_len")
    if not isinstance(count, int):
        used = [k for k, t in enumerate(op.outputs) if t.consumers()]
        count = 1 + max(used, default=0)
    variables = parts.get("variables") or []
    return parts.get("grad_fn"), count, len(variables)


def _closure(fn):
    code = getattr(fn, "__code__", None)
    if code is None or not fn.__closure__:
        return {}
    values = {}
    for name, cell in zip(code.co_freevars, fn.__closure__):
        try:
            values[name] = cell.cell_contents
        except ValueError:
            pass
    return values


def _source_of(fn):
    """"file:line (name)" where a Python function is defined, or ""."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    return f"{place(code.co_filename, code.co_firstlineno)} ({fn.__name__})"


def _inner_reads(op, count, handle):
    """The reads of `handle` that the block's results depend on."""
    reads, seen, stack = [], set(), [t.op for t in op.inputs[:count]]
    while stack:
        current = stack.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        if current.type == "ReadVariableOp" and current.inputs[0].name == handle.name:
            reads.append(current)
            continue
        stack.extend(t.op for t in current.inputs if t.dtype.name != "resource")
    return reads


def _slot_name(op, slot):
    position = 0
    for arg in op.op_def.input_arg:
        count = _arg_count(op, arg)
        if slot < position + count:
            return arg.name if not (arg.number_attr or arg.type_list_attr) else f"{arg.name}[{slot - position}]"
        position += count
    return f"input{slot}"


def _arg_count(op, arg):
    if arg.number_attr:
        return int(op.get_attr(arg.number_attr))
    if arg.type_list_attr:
        return len(op.get_attr(arg.type_list_attr))
    return 1


def _raw(op):
    """A function running op alone from a flat list of its inputs (a list of outputs), or None where
    tf.raw_ops cannot (no such op, or attributes that name functions)."""
    import inspect

    fn = getattr(tf.raw_ops, op.type, None)
    if fn is None:
        return None
    op_def = op.op_def
    parameters = [name for name in inspect.signature(fn).parameters if name != "name"]
    inferred = {name for arg in op_def.input_arg for name in (arg.type_attr, arg.number_attr, arg.type_list_attr)
                if name}
    attrs = {}
    for attr in op_def.attr:
        if attr.name in inferred:
            continue
        if attr.type in ("func", "list(func)") or attr.name not in parameters:
            return None
        attrs[attr.name] = op.get_attr(attr.name)
    # tf.raw_ops may rename an input (Sum's reduction_indices is axis): inputs come first, in order
    counts = [(name, _arg_count(op, arg), bool(arg.number_attr or arg.type_list_attr))
              for name, arg in zip(parameters, op_def.input_arg)]

    def run(flat):
        kwargs, position = dict(attrs), 0
        for name, count, listed in counts:
            kwargs[name] = list(flat[position:position + count]) if listed else flat[position]
            position += count
        return tf.nest.flatten(fn(**kwargs))

    return run


def _joined(outputs):
    """One tensor from an op's outputs: the output itself, or the flattened outputs end to end."""
    outputs = tf.nest.flatten(outputs)
    if len(outputs) == 1:
        return outputs[0]
    return tf.concat([tf.reshape(t, [-1]) for t in outputs], axis=0)


def _split(dy, shapes):
    if len(shapes) == 1:
        return [tf.reshape(dy, shapes[0])]
    sizes = [int(np.prod(s)) for s in shapes]
    return [tf.reshape(part, s) for part, s in zip(tf.split(tf.reshape(dy, [-1]), sizes), shapes)]
