"""backprop: f's computation as a graph, each node with its value and its gradient, each edge with its local
derivative, so that the chain rule can be read off the picture.

f is traced once (gradlab.diagnosis.trace). A node is an input of f or the value of an operation that an input
reaches; constants and captured tensors appear inside the labels of the nodes that use them. The gradient at a
node is d y / d node, with y the output (the sum of its entries where y is not a scalar), as the tape's
registered gradients give it. An edge from a node to an operation that reads it carries that operation's local
derivative, and its *contribution*: the child's gradient pushed back through the edge alone. The chain rule is
then one line per node:

    grad(node) = sum over the edges out of it of grad(child) * local derivative   (the contributions)

Every node's gradient is also checked against finite differences of y with that node's value moved (the rest
of f downstream of it re-run), by gradlab.check with its usual ok / kink / inconclusive / fail rules.
"""

import ast
import linecache
from dataclasses import dataclass, field

import numpy as np

from gradlab._tf import tf
from gradlab.diagnosis.local import cut
from gradlab.diagnosis.trace import trace
from gradlab.engine.inputs import checked_names, parameter_names, resolve
from gradlab.engine.platform import quiet_internals
from gradlab.engine.tolerances import BACKPROP_CHECK_ENTRIES, BACKPROP_MAX_NODES
from gradlab.errors import GradlabError, TooExpensiveError, summary
from gradlab.render import Result

#: How an operation is written inside a label: (operator, precedence) for infix operators, or a function name.
INFIX = {"AddV2": ("+", 1), "Add": ("+", 1), "Sub": ("-", 1), "Mul": ("*", 2), "RealDiv": ("/", 2),
         "Div": ("/", 2), "MatMul": ("@", 2), "Pow": ("**", 4)}
PREFIX = {"Neg": "-"}
CALLS = {"Sin": "sin", "Cos": "cos", "Tan": "tan", "Exp": "exp", "Log": "log", "Tanh": "tanh", "Sigmoid": "sigmoid",
         "Relu": "relu", "Sqrt": "sqrt", "Square": "square", "Abs": "abs", "Sum": "sum", "Mean": "mean",
         "Softplus": "softplus", "Maximum": "maximum", "Minimum": "minimum"}
#: Labels longer than this are replaced by the operation's type.
LONGEST_LABEL = 22
#: Ops that only pass their input on: the node is the input's.
_PASS_THROUGH = ("Identity", "StopGradient")


@dataclass
class Node:
    """A value in f's computation: its label, the op that made it, its value and the gradient of y there,
    and how that gradient compares with finite differences (`state`: ok, kink, inconclusive, fail, or
    "not checked")."""

    key: str  # the tensor's name in the traced graph
    label: str
    op: str  # the operation's type; "input" for f's arguments
    value: object
    gradient: object
    depth: int
    state: str = "not checked"
    numeric: object = None  # the finite-difference estimate of the gradient
    check: object = None  # the GradCheck behind `state`
    named: bool = False  # the label is the user's own name (an argument or an assigned variable)

    @property
    def is_input(self):
        return self.op == "input"

    @property
    def scalar(self):
        return np.size(self.value) == 1


@dataclass
class Edge:
    """A node read by the operation that makes `target`: the local derivative d target / d source (scalars
    only, else None) and the contribution, grad(target) pushed back through this edge alone."""

    source: str
    target: str
    local: object
    contribution: object


@dataclass
class Backprop(Result):
    """The graph of one call of f, with values and gradients (`nodes` in the order they were computed, `edges`),
    and the backward pass's order (`backward`: node keys, the output first)."""

    title: str
    nodes: list
    edges: list
    output: str
    seconds: float = 0.0
    notes: list = field(default_factory=list)

    def __post_init__(self):
        self._by_key = {node.key: node for node in self.nodes}

    def node(self, label_or_key):
        """The node with this label (e.g. "y1") or key."""
        for node in self.nodes:
            if label_or_key in (node.label, node.key):
                return node
        raise GradlabError(f"no node {label_or_key!r}; the nodes are {', '.join(n.label for n in self.nodes)}")

    def __getitem__(self, label):
        return self.node(label)

    @property
    def labels(self):
        return [node.label for node in self.nodes]

    def out_of(self, key):
        """The edges from node `key` to the operations that read it."""
        return [edge for edge in self.edges if edge.source == key]

    def into(self, key):
        return [edge for edge in self.edges if edge.target == key]

    def columns(self):
        """{node key: column}: an operation's column is its depth (the longest chain of operations before it);
        an input sits just before the first column that reads it."""
        column = {node.key: node.depth for node in self.nodes if not node.is_input}
        for node in self.nodes:
            if node.is_input:
                column[node.key] = min((column[e.target] for e in self.out_of(node.key)), default=1) - 1
        return column

    @property
    def backward(self):
        """Node keys in the order the backward pass finishes them, column by column from the output back: a
        node's gradient is complete once every node that reads it (all in later columns) is done."""
        column = self.columns()
        order = sorted(range(len(self.nodes)), key=lambda k: (-column[self.nodes[k].key], -k))
        return [self.nodes[k].key for k in order]

    @property
    def ok(self):
        return all(node.state != "fail" for node in self.nodes)

    def chain_sum(self, key):
        """The sum of the contributions into node `key` (its gradient by the chain rule); the seed 1 at y."""
        if key == self.output:
            return np.ones_like(np.asarray(self._by_key[key].value, dtype=np.float64))
        return sum(np.asarray(edge.contribution, dtype=np.float64) for edge in self.out_of(key))

    def to_json(self):
        from gradlab.export import plain

        label = {node.key: node.label for node in self.nodes}
        nodes = [{"label": n.label, "op": n.op, "value": plain(n.value), "gradient": plain(n.gradient),
                  "state": n.state, "numeric": plain(n.numeric)} for n in self.nodes]
        edges = [{"source": label[e.source], "target": label[e.target], "local": plain(e.local),
                  "contribution": plain(e.contribution)} for e in self.edges]
        return {"kind": "backprop", "title": self.title, "output": label[self.output], "ok": self.ok,
                "nodes": nodes, "edges": edges, "notes": list(self.notes)}

    def steps(self):
        """The backward pass one node at a time: a BackwardSteps whose frame k shows the gradients known after
        k + 1 nodes are done."""
        return BackwardSteps(self)

    def svg(self, done=None, current=None):
        """The picture as SVG text (labels stay text). `done`: the node keys whose gradient is shown (all by
        default); `current`: the key to highlight."""
        from gradlab.teaching.picture import backprop_svg

        return backprop_svg(self, done, current)

    def _repr_mimebundle_(self, include=(), exclude=(), **kwargs):
        bundle = super()._repr_mimebundle_(include, exclude, **kwargs)
        if "text/html" in bundle:
            bundle["text/html"] = f"<div>{self.svg()}</div>" + bundle["text/html"]
        return bundle

    def __rich__(self):
        from gradlab.teaching.picture import backprop_view

        return backprop_view(self)


@dataclass
class BackwardSteps(Result):
    """Frames of the backward pass: frame k has the gradients of the first k + 1 nodes of `graph.backward`."""

    graph: Backprop

    @property
    def frames(self):
        order = self.graph.backward
        return [(order[k], order[:k + 1]) for k in range(len(order))]

    def svgs(self):
        return [self.graph.svg(done=done, current=current) for current, done in self.frames]

    def _repr_mimebundle_(self, include=(), exclude=(), **kwargs):
        bundle = super()._repr_mimebundle_(include, exclude, **kwargs)
        if "text/html" in bundle:
            from gradlab.teaching.picture import frames_html

            bundle["text/html"] = frames_html(self)
        return bundle

    def _ipython_display_(self):
        """A slider over the frames where ipywidgets is installed; every frame in a row otherwise, or where
        only static HTML will do (gradlab.render.STATIC_HTML)."""
        import importlib.util
        import os

        from IPython.display import SVG, display

        from gradlab.render import STATIC_HTML

        if importlib.util.find_spec("ipywidgets") is None or os.environ.get(STATIC_HTML) == "1":
            display(self._repr_mimebundle_(), raw=True)
            return
        import ipywidgets

        svgs = self.svgs()
        slider = ipywidgets.IntSlider(min=1, max=len(svgs), value=1, description="step")
        display(ipywidgets.interactive(lambda step: display(SVG(svgs[step - 1])), step=slider))

    def __rich__(self):
        from gradlab.teaching.picture import backward_steps_view

        return backward_steps_view(self)


def backprop(f, *args, names=None, check=True):
    """Trace f at args and return its graph with every node's value and gradient (a Backprop).

    `names` name the arguments (default: f's own parameter names). With `check`, every node's gradient is
    compared with finite differences (a node whose gradient disagrees is marked "fail").
    """
    import time

    start = time.perf_counter()
    names = checked_names(names, len(args)) if names is not None else parameter_names(f, len(args))
    try:
        point, _ = resolve(f, args, names)
    except GradlabError:
        raise
    except (tf.errors.InvalidArgumentError, TypeError, ValueError) as exc:
        raise GradlabError(f"f fails at these arguments: {summary(exc)}; call f(*args) yourself to see why "
                           "(float32 constants inside f need float32 arguments, e.g. np.float32 arrays)") from None
    if point.variables:
        raise GradlabError("backprop draws a function of its arguments; pass the values as arguments of f")
    traced = trace(f, point)
    nodes, edges, alias = _graph(f, traced, point)
    output_key = alias.get(traced.output.name, traced.output.name)
    if output_key not in {node.key for node in nodes}:
        raise GradlabError("f's output does not depend on its arguments: there is no gradient to draw")
    _fill_edges(traced, point, nodes, edges, alias)
    notes = []
    if np.size(traced.values[traced.output.name]) != 1:
        notes.append("y is not a scalar: every gradient is that of the sum of its entries")
    if check:
        _check_nodes(traced, nodes, notes)
    title = f"backprop of {_function_name(f)}" if _function_name(f) else "backprop"
    return Backprop(title, nodes, edges, output_key, time.perf_counter() - start, notes)


def _function_name(f):
    """f's own name, or "" for a lambda."""
    name = getattr(getattr(f, "python_function", f), "__name__", "")
    return name if name.isidentifier() else ""


def _output_name(f, taken):
    """The output is named after f where f has a name of its own, else y (or out, where y names an input)."""
    return _function_name(f) or next(name for name in ("y", "out", "output") if name not in taken)


def _graph(f, traced, point):
    """The nodes (f's inputs, then every value an input reaches, in graph order) and the edges between them,
    without gradients' details; `alias` maps a pass-through op's output to the node it passes on."""
    alias = {}
    nodes, edges = [], []
    depth = {}
    labels = {}
    constants = _constant_labels(f, traced)
    for tensor, name in zip(traced.feeds, point.names):
        key = tensor.name
        depth[key] = 0
        labels[key] = (name, 9)
        nodes.append(Node(key, name, "input", _plain(traced.values[key]), _plain(traced.gradients.get(key)), 0,
                          named=True))
    assigned = _assigned_names(traced, f)
    for op in traced.ops:
        floats = [t for t in op.outputs if t.dtype.is_floating and t.name in traced.reached]
        if not floats or op.type == "Placeholder":
            continue
        if op.type in _PASS_THROUGH and op.inputs[0].name in depth:
            for t in floats:
                alias[t.name] = alias.get(op.inputs[0].name, op.inputs[0].name)
            continue
        sources = [alias.get(t.name, t.name) for t in op.inputs]
        read = [key for key in dict.fromkeys(sources) if key in depth]
        for t in floats:
            if traced.gradients.get(t.name) is None:
                continue
            key = t.name
            depth[key] = 1 + max(depth[s] for s in read)
            text = [labels.get(s) or constants.get(t_in.name) or (_constant_text(traced, t_in), 9)
                    for s, t_in in zip(sources, op.inputs)]
            expression = (f"custom_gradient({', '.join(labels[s][0] for s in read)})", 9) if op.type == "IdentityN" \
                else _expression(op, text)
            name = assigned.get(key)
            label = name or (expression[0] if len(expression[0]) <= LONGEST_LABEL else op.type)
            labels[key] = (name, 9) if name else expression
            nodes.append(Node(key, label, op.type, _plain(traced.values[key]), _plain(traced.gradients[key]),
                              depth[key], named=bool(name)))
            edges += [Edge(source, key, None, None) for source in read]
    if len(nodes) > BACKPROP_MAX_NODES:
        raise TooExpensiveError(f"f has {len(nodes)} values on the gradient's path, past the {BACKPROP_MAX_NODES} a "
                                "picture can show; draw a smaller piece of it, or list every op with "
                                "gradlab.op_graph, or check each op with gradlab.locate")
    output_key = alias.get(traced.output.name, traced.output.name)
    nodes, edges = _without_dead_ends(nodes, edges, output_key)
    for node in nodes:
        if node.key == output_key and not node.named:
            node.label, node.named = _output_name(f, {n.label for n in nodes if n.is_input}), True
    _unique_labels(nodes)
    return nodes, edges, alias


def _without_dead_ends(nodes, edges, output_key):
    """The nodes that lead to the output (a custom gradient's block also passes its inputs on, unused)."""
    keep = {output_key}
    for node in reversed(nodes):
        if any(e.source == node.key and e.target in keep for e in edges):
            keep.add(node.key)
    return [n for n in nodes if n.key in keep], [e for e in edges if e.source in keep and e.target in keep]


def _unique_labels(nodes):
    seen = {}
    for node in nodes:
        count = seen.get(node.label, 0)
        seen[node.label] = count + 1
        if count:
            node.label = f"{node.label}#{count + 1}"


def _expression(op, parts):
    """(text, precedence) of op applied to its inputs' (text, precedence)."""
    if op.type in INFIX and len(parts) == 2:
        symbol, precedence = INFIX[op.type]
        (left, lp), (right, rp) = parts
        right_assoc = op.type == "Pow"
        left = f"({left})" if lp < precedence or (right_assoc and lp == precedence) else left
        right = f"({right})" if rp < precedence or (not right_assoc and rp == precedence and symbol in "-/") else right
        return f"{left}{symbol}{right}" if symbol in ("*", "/", "**") else f"{left} {symbol} {right}", precedence
    if op.type in PREFIX and parts:
        text, precedence = parts[0]
        return f"-{text}" if precedence >= 3 else f"-({text})", 3
    if op.type in CALLS and parts:
        return f"{CALLS[op.type]}({parts[0][0]})", 9
    return op.type, 9


def _constant_text(traced, tensor):
    value = traced.values.get(tensor.name)
    if value is not None and np.size(value) == 1:
        return f"{float(np.asarray(value).reshape(())):g}"
    shape = "×".join(map(str, np.shape(value))) if value is not None else "?"
    return f"<{shape}>"


def _constant_labels(f, traced):
    """{graph tensor name: (Python name, 9)} for the tensors f captured from its closure or module, found by
    identity among the names f's code uses."""
    function = getattr(f, "python_function", f)
    code = getattr(function, "__code__", None)
    if code is None:
        return {}
    scope = dict(getattr(function, "__globals__", {}))
    cells = dict(zip(code.co_freevars, (c.cell_contents for c in (function.__closure__ or ()) if _filled(c))))
    scope.update(cells)
    by_id = {id(scope[name]): name for name in (*code.co_names, *code.co_freevars) if name in scope}
    labels = {}
    for outer, inner in traced.graph.captures:
        name = by_id.get(id(outer))
        if name is not None:
            labels[inner.name] = (name, 9)
    return labels


def _filled(cell):
    try:
        _ = cell.cell_contents
    except ValueError:  # a closure variable not assigned yet
        return False
    return True


def _assigned_names(traced, f):
    """{tensor name: variable name} for the last value computed on each line of f that assigns one name, such as
    `y1 = x * w1 + b1`; a `return` line names nothing (the output is named after f)."""
    code = getattr(getattr(f, "python_function", f), "__code__", None)
    if code is None or code.co_name == "<lambda>":
        return {}
    last = {}
    for op in traced.ops:
        frame = _own_frame(op, code)
        if frame is None or not frame[2]:
            continue
        floats = [t for t in op.outputs if t.dtype.is_floating]
        if floats:
            last[(frame[0], frame[1])] = (floats[0].name, frame[2])
    names = {}
    for key, code in last.values():
        name = _assigned_name(code)
        if name:
            names[key] = name
    return names


def _own_frame(op, code):
    """(file, line, text) of the frame of f's own code that made op, or None (made in a function f called)."""
    try:
        frames = list(op.traceback)
    except Exception:  # noqa: BLE001 - ops made without a traceback
        return None
    for frame in reversed(frames):
        if frame.filename == code.co_filename and frame.name == code.co_name:
            return frame.filename, frame.lineno, (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
    return None


def _assigned_name(code):
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if len(tree.body) != 1:
        return None
    statement = tree.body[0]
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
    elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
        target = statement.target
    else:
        return None
    return target.id if isinstance(target, ast.Name) else None


def _fill_edges(traced, point, nodes, edges, alias):
    """Each edge's local derivative (where both ends are scalars) and contribution, from one run of the graph."""
    graph = traced.graph
    by_key = {node.key: node for node in nodes}
    fetches, slots = [], []
    with graph.as_default(), tf.name_scope("gradlab_backprop"), quiet_internals():
        for k, edge in enumerate(edges):
            target = graph.as_graph_element(edge.target)
            reads = list({t.name: t for t in target.op.inputs if alias.get(t.name, t.name) == edge.source}.values())
            others = [t for t in target.op.inputs if t.dtype.is_floating and not any(t is r for r in reads)]
            upstream = tf.constant(np.asarray(by_key[edge.target].gradient, dtype=target.dtype.as_numpy_dtype))
            pushed = tf.gradients(target, reads, grad_ys=upstream, stop_gradients=others)
            fetches.append(tf.add_n([g for g in pushed if g is not None]) if any(g is not None for g in pushed)
                           else tf.zeros_like(reads[0]))
            slots.append((k, "contribution"))
            if by_key[edge.source].scalar and by_key[edge.target].scalar:
                local = tf.gradients(target, reads, stop_gradients=others)
                fetches.append(tf.add_n([g for g in local if g is not None]))
                slots.append((k, "local"))
    if not fetches:
        return
    run = traced.wrapped.prune(feeds=traced.feeds, fetches=fetches)
    with quiet_internals():
        results = run(*point.values)
    for (k, what), value in zip(slots, results):
        setattr(edges[k], what, _plain(np.asarray(value)))


def _check_nodes(traced, nodes, notes):
    """Each node's gradient against finite differences of y with that node's value moved."""
    from gradlab.engine.check import check

    skipped = []
    for node in nodes:
        if np.size(node.value) > BACKPROP_CHECK_ENTRIES:
            skipped.append(node.label)
            continue
        moved = _moved(traced, traced.graph.as_graph_element(node.key))
        value = tf.constant(np.asarray(traced.values[node.key]))
        with quiet_internals():
            result = check(moved, value, names=[node.label])
        node.check = result
        node.state = "fail" if result.state == "fail" else "kink" if result.kinks else result.state
        node.numeric = _plain(result.numeric[0])
    if skipped:
        notes.append(f"not checked against finite differences (more than {BACKPROP_CHECK_ENTRIES} entries): "
                     + ", ".join(skipped))


def _moved(traced, tensor):
    """y as a function of one node's value: f's graph cut out from that node on, everything else held at the
    values f saw; its gradient is the one the graph's registered gradients give (custom ones included)."""
    function = cut(traced, [tensor], [traced.output], boundary=traced.order[tensor.op.name])
    return lambda v: tf.reduce_sum(function(v))


def _plain(value):
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.size == 1 and array.ndim == 0 else array


__all__ = ["Backprop", "BackwardSteps", "Edge", "Node", "backprop"]
