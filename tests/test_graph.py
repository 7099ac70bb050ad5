"""gradlab.teaching.graph: the ops of a traced value-and-gradient function, sorted into the four parts."""

import pytest

from gradlab._tf import tf
from gradlab.teaching.graph import op_graph
from gradlab.render import to_text


def traced(fn, *specs):
    """The OpGraph of a tf.function that returns fn's value and its gradient for every argument."""

    @tf.function
    def value_and_gradient(*args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            y = fn(*args)
        return y, tape.gradient(y, args)

    return op_graph(value_and_gradient.get_concrete_function(*specs).graph, "value_and_gradient")


SCALAR = tf.TensorSpec([], tf.float64)
VECTOR = tf.TensorSpec([3], tf.float64)

# (name, function, argument specs, forward op types in order, op types the backward part must include)
CASES = [
    ("product rule", lambda x: tf.sin(x) * x, [SCALAR], ["Sin", "Mul"], {"Cos", "Mul", "AddN"}),
    ("tanh of a vector", lambda x: tf.tanh(x) * x, [VECTOR], ["Tanh", "Mul"], {"TanhGrad", "AddN"}),
    ("sum of exp", lambda x: tf.reduce_sum(tf.exp(x)), [VECTOR], ["Exp", "Const", "Sum"], {"Tile", "Mul"}),
    ("two arguments", lambda x, y: x * y, [SCALAR, SCALAR], ["Mul"], {"Mul"}),
    ("one path, no AddN", lambda x: tf.exp(x), [SCALAR], ["Exp"], {"Mul"}),
]


@pytest.mark.parametrize(("fn", "specs", "forward", "backward"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_parts(fn, specs, forward, backward):
    graph = traced(fn, *specs)
    assert [op.type for op in graph.forward] == forward
    assert backward <= {op.type for op in graph.backward}
    assert [op.type for op in graph.inputs] == ["Placeholder"] * len(specs)
    assert [op.type for op in graph.outputs] == ["Identity"] * (1 + len(specs))
    assert len(graph.ops) == sum(len(graph.part(p)) for p in ("inputs", "forward", "backward", "outputs"))


@pytest.mark.parametrize(("fn", "specs"), [case[1:3] for case in CASES], ids=[case[0] for case in CASES])
def test_backward_ops_are_what_tape_gradient_added(fn, specs):
    graph = traced(fn, *specs)
    for op in graph.backward:
        assert op.name.startswith(("gradient_tape/", "AddN")) or op.name == "ones"
    for op in graph.forward:
        assert not op.name.startswith("gradient_tape/")
        assert all(source not in {b.name for b in graph.backward} for source in op.inputs)


def test_without_a_gradient_nothing_is_backward():
    @tf.function
    def value(x):
        return tf.sin(x) * x

    graph = op_graph(value.get_concrete_function(SCALAR).graph)
    assert graph.backward == []
    assert [op.type for op in graph.forward] == ["Sin", "Mul"]


def test_layers_follow_data_edges():
    graph = traced(lambda x: tf.sin(x) * x, SCALAR)
    depth = graph.layers()
    for op in graph.ops:
        assert all(depth[source] < depth[op.name] for source in op.inputs)
        assert depth[op.name] == 0 or op.inputs


def test_the_tree_names_every_part_and_op():
    graph = traced(lambda x: tf.sin(x) * x, SCALAR)
    text = to_text(graph, width=80)
    for heading in ("inputs (1)", "forward: computes the value (2)", "backward: added by tape.gradient",
                    "outputs: what the function returns (2)"):
        assert heading in text
    for op in graph.ops:
        assert op.name in text


def test_plot_draws_connected_ops_and_opens_no_window():
    import matplotlib.pyplot as plt

    graph = traced(lambda x: tf.sin(x) * x, SCALAR)
    before = plt.get_fignums()
    fig = graph.plot()
    assert plt.get_fignums() == before
    where, hidden = graph.positions()
    read = {source for op in graph.ops for source in op.inputs}
    unused = [op for op in graph.ops
              if not op.inputs and op.name not in read and op.part not in ("inputs", "outputs")]
    assert hidden == len(unused) and len(where) == len(graph.ops) - hidden
    labels = [text.get_text() for text in fig.axes[0].texts if text.get_text()]  # arrows: empty annotations
    assert len(labels) == len(where)


def test_plot_into_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert traced(lambda x: tf.exp(x), SCALAR).plot(ax=ax) is fig
