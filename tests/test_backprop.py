"""gradlab.backprop: every node's value and gradient against the chain rule worked by hand, the chain rule read
off the edges, the finite-difference marks, and the views (the terminal table at 80 columns, the SVG)."""

import io
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tensorflow as tf
from rich.console import Console

import gradlab
from gradlab.errors import GradlabError, TooExpensiveError


def seed_1(w1, w2):
    return 3 * w1 ** 2 + 2 * w1 * w2


a, b, c = tf.constant(1.), tf.constant(2.), tf.constant(3.)


def seed_2(w):
    y = a * w**2 + b * w + c
    return y


def seed_3(x, w1, b1, w2, b2):
    y1 = x * w1 + b1
    y2 = y1 * w2 + b2
    return y2


# (function, arguments, {label: (value, gradient)}) worked by hand with the chain rule
SEEDS = {
    "partial derivatives": (seed_1, (5.0, 3.0), {
        "w1": (5, 6 * 5 + 2 * 3), "w2": (3, 2 * 5), "w1**2": (25, 3), "3*w1**2": (75, 1), "2*w1": (10, 3),
        "2*w1*w2": (30, 1), "seed_1": (105, 1)}),
    "a watched constant": (seed_2, (tf.constant(4.),), {
        "w": (4, 2 * 1 * 4 + 2), "w**2": (16, 1), "a*w**2": (16, 1), "b*w": (8, 1), "a*w**2 + b*w": (24, 1),
        "y": (27, 1)}),
    "the chain rule": (seed_3, tuple(tf.constant(v) for v in (1., 2., 1., 2., 1.)), {
        "x": (1, 2 * 2), "w1": (2, 1 * 2), "b1": (1, 2), "w2": (2, 1 * 2 + 1), "b2": (1, 1),
        "x*w1": (2, 2), "y1": (3, 2), "y1*w2": (6, 1), "y2": (7, 1)}),
}


@pytest.fixture(scope="module")
def seeds():
    return {name: gradlab.backprop(f, *args) for name, (f, args, _) in SEEDS.items()}


@pytest.mark.parametrize("name", SEEDS)
def test_every_node_and_its_value_and_gradient(seeds, name):
    graph = seeds[name]
    expected = SEEDS[name][2]
    assert sorted(graph.labels) == sorted(expected)
    for label, (value, gradient) in expected.items():
        assert (graph[label].value, graph[label].gradient) == pytest.approx((value, gradient), rel=1e-6), label


@pytest.mark.parametrize("name", SEEDS)
def test_every_node_passes_its_finite_difference_check(seeds, name):
    assert {node.label: node.state for node in seeds[name].nodes} == {label: "ok" for label in SEEDS[name][2]}


@pytest.mark.parametrize("name", SEEDS)
def test_the_chain_rule_holds_at_every_node(seeds, name):
    graph = seeds[name]
    for node in graph.nodes:
        assert graph.chain_sum(node.key) == pytest.approx(node.gradient, rel=1e-6), node.label


def test_local_derivatives_are_those_of_the_operation_alone(seeds):
    graph = seeds["the chain rule"]
    local = {(graph._by_key[e.source].label, graph._by_key[e.target].label): e.local for e in graph.edges}
    assert local == {("x", "x*w1"): 2, ("w1", "x*w1"): 1, ("x*w1", "y1"): 1, ("b1", "y1"): 1,
                     ("y1", "y1*w2"): 2, ("w2", "y1*w2"): 3, ("y1*w2", "y2"): 1, ("b2", "y2"): 1}


def test_the_same_tensor_read_twice_is_one_edge_with_the_whole_local_derivative():
    graph = gradlab.backprop(lambda x: x * x, 3.0)
    assert [(e.local, e.contribution) for e in graph.edges] == [(6.0, 6.0)]


# functions whose gradient at every node must equal the sum of what its edges push back
CHAIN_CASES = {
    "tanh of a matrix product": (lambda w, x: tf.reduce_sum(tf.tanh(x @ w)),
                                 (np.ones((2, 2)), np.arange(4.).reshape(2, 2))),
    "a value used on three paths": (lambda x: tf.sin(x) * x + tf.exp(x) - x, (0.7,)),
    "float32 softplus and a mean": (lambda x: tf.reduce_mean(tf.nn.softplus(x) * x),
                                    (np.array([0.5, -1.0, 2.0], np.float32),)),
    "division and powers": (lambda x, y: (x / y) ** 3 - tf.sqrt(y), (1.5, 2.0)),
}


@pytest.mark.parametrize("name", CHAIN_CASES)
def test_chain_rule_property(name):
    f, args = CHAIN_CASES[name]
    graph = gradlab.backprop(f, *args)
    for node in graph.nodes:
        np.testing.assert_allclose(graph.chain_sum(node.key), node.gradient, rtol=1e-5, err_msg=node.label)
    assert all(node.state == "ok" for node in graph.nodes), [(n.label, n.state) for n in graph.nodes]


@tf.custom_gradient
def _square_with_a_wrong_gradient(x):
    return x ** 2, lambda dy: dy * 3 * x


def _wrong(x):
    y = _square_with_a_wrong_gradient(x)
    return tf.sin(y)


def test_a_wrong_gradient_is_marked_where_it_enters():
    graph = gradlab.backprop(_wrong, 1.5)
    states = {node.label: node.state for node in graph.nodes}
    assert states == {"x": "fail", "y": "ok", "_wrong": "ok"}
    assert graph["x"].numeric == pytest.approx(2 * 1.5 * np.cos(1.5 ** 2), rel=1e-6)
    assert not graph.ok


def test_a_kink_is_said_so_and_is_not_a_failure():
    graph = gradlab.backprop(lambda x: tf.nn.relu(x) * 2.0, 0.0)
    assert graph["x"].state == "kink" and graph.ok


def test_steps_go_from_the_output_back_to_the_inputs(seeds):
    graph = seeds["the chain rule"]
    frames = graph.steps().frames
    assert len(frames) == len(graph.nodes)
    assert frames[0] == (graph.output, [graph.output])
    assert set(frames[-1][1]) == {node.key for node in graph.nodes}
    for current, done in frames:  # a node is finished only after every node that reads it
        readers = {e.target for e in graph.out_of(current)}
        assert readers <= set(done[:-1])


def _render(value, width):
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(value)
    return console.file.getvalue()


@pytest.mark.parametrize("name", SEEDS)
@pytest.mark.parametrize("what", ["table", "steps"])
def test_terminal_views_fit_80_columns_and_name_every_node(seeds, name, what):
    graph = seeds[name]
    text = _render(graph if what == "table" else graph.steps(), 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    assert all(label in text for label in graph.labels)


@pytest.mark.parametrize("name", SEEDS)
def test_svg_parses_and_names_every_node_in_text_elements(seeds, name):
    graph = seeds[name]
    root = ET.fromstring(graph.svg())
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert set(graph.labels) <= set(texts)
    assert root.get("role") == "img" and root.find("{http://www.w3.org/2000/svg}title").text


def test_svg_frames_hide_the_gradients_not_yet_computed(seeds):
    graph = seeds["the chain rule"]
    first = ET.fromstring(graph.steps().svgs()[0])
    values = [t.text for t in first.iter("{http://www.w3.org/2000/svg}text") if (t.text or "").startswith("value")]
    assert sum(text.endswith("grad ?") for text in values) == len(graph.nodes) - 1


def test_jupyter_shows_the_picture_and_the_table(seeds):
    bundle = seeds["the chain rule"]._repr_mimebundle_()
    assert bundle["text/html"].startswith("<div><svg") and "y1*w2" in bundle["text/plain"]
    steps = seeds["the chain rule"].steps()._repr_mimebundle_()
    assert steps["text/html"].count("<svg") == len(seeds["the chain rule"].nodes)


@pytest.mark.parametrize("call, error", [
    (lambda: gradlab.backprop(3.0, 1.0), GradlabError),
    (lambda: gradlab.backprop(lambda x: tf.constant(2.0), 1.0), GradlabError),
    (lambda: gradlab.backprop(lambda x: tf.reduce_sum(tf.math.cumsum(tf.range(50.)) * x), 1.0), None),
    (lambda: gradlab.backprop(lambda x: sum(x * k for k in range(45)), 1.0), TooExpensiveError),
    (lambda: gradlab.backprop(lambda x: x, 1.0, names=["a", "b"]), GradlabError),
])
def test_bad_input_is_refused_with_gradlab_errors(call, error):
    if error is None:
        assert call().ok
    else:
        with pytest.raises(error):
            call()


def test_json_view_holds_every_node_and_edge(seeds):
    import json

    from gradlab.export import to_json

    graph = seeds["the chain rule"]
    document = json.loads(json.dumps(to_json(graph), allow_nan=False))
    assert [node["label"] for node in document["nodes"]] == graph.labels
    assert {(e["source"], e["target"]) for e in document["edges"]} >= {("w1", "x*w1"), ("y1*w2", "y2")}
    assert document["ok"] is True and document["output"] == "y2"


def test_the_output_is_not_named_after_an_input():
    graph = gradlab.backprop(lambda x, y: tf.sin(x) * y + x ** 2, 1.0, 2.0)
    assert graph.output == graph["out"].key and graph["y"].is_input


def test_an_arrow_that_skips_a_column_runs_around_the_box_in_its_way():
    graph = gradlab.backprop(lambda x: tf.sin(x) + x, 0.5)
    root = ET.fromstring(graph.svg())
    svg = "{http://www.w3.org/2000/svg}"
    boxes = [r for r in root.iter(f"{svg}rect") if r.get("rx")]
    sine = next(b for b, g in zip(boxes, [g for g in root.iter(f"{svg}g")])
                if "sin(x)" in "".join(g.itertext()))
    top, bottom = float(sine.get("y")), float(sine.get("y")) + float(sine.get("height"))
    lanes = [p.get("d") for p in root.iter(f"{svg}path") if " C " in p.get("d", "") and " L " in p.get("d", "")]
    assert len(lanes) == 1
    lane = float(lanes[0].split(" L ")[1].split()[1])
    assert not top <= lane <= bottom


def test_small_arrays_are_shown_whole_in_the_table():
    graph = gradlab.backprop(lambda w: tf.reduce_sum(w * w), np.array([[1.0, 2.0], [3.0, 4.0]]))
    text = _render(graph, 80)
    assert "[[2, 4]," in text and "[6, 8]]" in text


def test_a_function_that_fails_at_the_arguments_is_one_gradlab_error():
    with pytest.raises(GradlabError, match="f fails at these arguments"):
        gradlab.backprop(lambda w: tf.constant([[1.0, 2.0]]) @ w, np.ones((2, 2)))


@pytest.mark.parametrize("static", [True, False])
def test_steps_draw_a_slider_with_ipywidgets_unless_only_static_html_will_do(seeds, static, monkeypatch):
    import importlib.machinery
    import types

    import IPython.display

    from gradlab.render import STATIC_HTML

    widgets = types.ModuleType("ipywidgets")
    widgets.__spec__ = importlib.machinery.ModuleSpec("ipywidgets", None)
    widgets.IntSlider = lambda **options: ("slider", options)
    widgets.interactive = lambda show, step: ("interactive", step)
    monkeypatch.setitem(sys.modules, "ipywidgets", widgets)
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda value, raw=False: shown.append(value))
    if static:
        monkeypatch.setenv(STATIC_HTML, "1")
    else:
        monkeypatch.delenv(STATIC_HTML, raising=False)
    steps = seeds["the chain rule"].steps()
    steps._ipython_display_()
    if static:
        assert shown == [steps._repr_mimebundle_()], "every frame, as SVG in the page"
    else:
        assert shown[0][0] == "interactive" and shown[0][1][1]["max"] == len(steps.frames)
