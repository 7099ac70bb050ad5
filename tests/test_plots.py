"""The learner's plots: the numbers behind each (secant slopes, the tape's derivative curve, the heat maps) and
what each figure draws."""

import io

import numpy as np
import pytest
import tensorflow as tf
from rich.console import Console

import gradlab
from gradlab.errors import GradlabError


def _text(value, width=80):
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(value)
    return console.file.getvalue()


def test_secant_slopes_of_a_square_are_the_derivative_plus_the_step():
    result = gradlab.secants(lambda x: x ** 2, 3.0, steps=[1.0, 0.5, 0.25], analytic=6.0)
    assert result.slope == 6.0
    np.testing.assert_allclose(result.forward, 6.0 + result.steps, rtol=1e-12)  # (x+h)**2 - x**2 = 2xh + h**2
    np.testing.assert_allclose(result.central, 6.0, rtol=1e-12)
    assert list(result.forward_errors) == sorted(result.forward_errors, reverse=True)


def test_secants_figure_draws_f_the_tangent_and_one_secant_per_step():
    result = gradlab.secants(tf.sin, 1.0, steps=[1.0, 0.1])
    fig = result.plot()
    labels = [line.get_label() for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]
    assert labels[0] == "f" and labels[1].startswith("tangent from the tape, slope 0.540302")
    assert len([label for label in labels if label.startswith("secant")]) == 2


def test_secants_table_fits_and_shows_every_step():
    text = _text(gradlab.secants(tf.exp, 0.0, analytic=1.0))
    assert max(map(len, text.splitlines())) <= 80
    assert all(f"{h:g}" in text for h in gradlab.teaching.plots.SECANT_STEPS)


def test_derivative_curve_follows_the_analytic_derivative():
    curve = gradlab.derivative_curve(lambda x: tf.sin(x) * x, -3.0, 3.0, points=31,
                                     analytic=lambda x: tf.cos(x) * x + tf.sin(x))
    gap, _ = curve.max_difference
    assert gap < 1e-14
    np.testing.assert_allclose(curve.values, np.sin(curve.xs) * curve.xs, rtol=1e-14)
    fig = curve.plot()
    assert [ax.get_title() for ax in fig.axes][0] == "f" and len(fig.axes[1].get_lines()) == 2


def test_derivative_curve_shows_where_a_wrong_formula_is_off():
    curve = gradlab.derivative_curve(lambda x: x ** 3, 0.0, 2.0, points=21, analytic=lambda x: 3 * x)
    gap, where = curve.max_difference
    assert where == 2.0 and gap == pytest.approx(12.0 - 6.0)
    assert "at x = 2" in _text(curve)


def test_matrix_maps_draw_tape_numeric_and_their_difference():
    tape = np.array([[2.0, 1.0], [1.0, 3.0]])
    numeric = tape + np.array([[0.0, 1e-9], [0.0, 0.0]])
    fig = gradlab.matrix_maps(tape, numeric, "H")
    images = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
    np.testing.assert_array_equal(images[0], tape)
    np.testing.assert_array_equal(images[1], numeric)
    np.testing.assert_allclose(images[2], tape - numeric)


def test_matrix_maps_lay_a_jacobian_out_outputs_down_inputs_across():
    jacobian = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    fig = gradlab.matrix_maps(jacobian, jacobian)
    assert fig.axes[0].get_images()[0].get_array().shape == (6, 20)


@pytest.mark.parametrize("call", [
    lambda: gradlab.secants(tf.sin, "1"),
    lambda: gradlab.secants(tf.sin, 1.0, steps=[0.1, -1.0]),
    lambda: gradlab.secants(lambda x: tf.stack([x, x]), 1.0),
    lambda: gradlab.secants(lambda x: tf.constant(1.0, tf.float64), 1.0),
    lambda: gradlab.derivative_curve(tf.sin, 2.0, 1.0),
    lambda: gradlab.derivative_curve(tf.sin, 0.0, 1.0, points=1),
    lambda: gradlab.matrix_maps(np.ones((2, 2)), np.ones((2, 3))),
])
def test_bad_input_is_a_gradlab_error(call):
    with pytest.raises(GradlabError):
        call()


def _figure(*plots, title=None, colorbar=False):
    """A figure with one plot per dict: title, x, y, xscale, yscale, lines (their labels), legend (texts
    given to ax.legend), twin (a second y label on twin axes), image (a heat map instead of lines)."""
    from matplotlib.figure import Figure

    fig = Figure()
    for k, plot in enumerate(plots, 1):
        ax = fig.add_subplot(1, len(plots), k)
        if plot.get("image"):
            mappable = ax.imshow(np.eye(3))
            if colorbar:
                fig.colorbar(mappable, ax=ax).set_label("value")
        for label in plot.get("lines", []):
            ax.plot([1, 2], [1, 2], label=label)
        if "lines" in plot or "legend" in plot:
            ax.legend(*([plot["legend"]] if "legend" in plot else []))
        ax.set_title(plot.get("title", ""))
        ax.set_xlabel(plot.get("x", ""))
        ax.set_ylabel(plot.get("y", ""))
        ax.set_xscale(plot.get("xscale", "linear"))
        ax.set_yscale(plot.get("yscale", "linear"))
        if "twin" in plot:
            ax.twinx().set_ylabel(plot["twin"])
    if title is not None:
        fig.suptitle(title)
    return fig


def _surface():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot(projection="3d")
    ax.set_title("surface")
    ax.set_xlabel("x"), ax.set_ylabel("y"), ax.set_zlabel("f")
    return fig


DESCRIBED = [
    ("a titled log plot", _figure({"title": "loss", "x": "step", "y": "error", "yscale": "log"}),
     "“loss”: error (log scale) against step."),
    ("only an x label", _figure({"x": "w1", "lines": ["f", "tangent"]}), "plotted against w1. Legend: f; tangent."),
    ("only a y label", _figure({"y": "f"}), "y axis: f."),
    ("a legend given its texts", _figure({"legend": ["a", "b"], "lines": ["_", "_"]}), "Legend: a; b."),
    ("a long legend", _figure({"lines": list("abcdef")}), "Legend: a; b; c; d; and 2 more."),
    ("plots numbered by place", _figure({}, {"title": "middle"}, {"title": "right", "x": "h", "xscale": "log"},
                                        title="all"),
     "“all”. Plot 1: no labels. Plot 2, “middle”. Plot 3, “right”: plotted against h (log scale)."),
    ("twin axes are one plot", _figure({"x": "step", "y": "loss", "twin": "accuracy"}),
     "loss and accuracy against step."),
    ("a heat map with its colour bar", _figure({"title": "J", "image": True, "x": "input", "y": "output"},
                                               colorbar=True),
     "“J”: a heat map, output down, input across."),
    ("a surface", _surface(), "“surface”: f against x and y."),
    ("labels tidied", _figure({"title": "loss.\n(per step)"}, title="  "), "“loss. (per step)”."),
    ("plots without labels", _figure({}, {}), "2 plots without labels."),
    ("one plot without labels", _figure({}), "A plot without labels."),
    ("no plots", _figure(), "An empty figure."),
]


@pytest.mark.parametrize(("what", "fig", "text"), DESCRIBED, ids=[case[0] for case in DESCRIBED])
def test_a_figure_is_described_from_its_own_labels(what, fig, text):
    from gradlab.render import figure_text

    assert figure_text(fig) == text


def test_a_figure_left_open_by_a_lesson_cell_is_described_and_closed():
    import matplotlib.pyplot as plt

    from gradlab.teaching.lesson import run_cell
    from gradlab.teaching.lessons import Cell

    console = Console(file=io.StringIO(), width=200)
    source = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.set_title('open')\nlines = ax.plot([1, 2])"
    run_cell(Cell("code", source), {"Out": {}}, console, "<test>", 0)
    assert console.file.getvalue().strip() == "[figure, drawn in the notebook: “open”.]"
    assert plt.get_fignums() == []
