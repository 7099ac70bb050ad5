"""numeric_gradient and tape_gradient against analytic derivatives; the error estimate against the true error."""

import numpy as np
import pytest

import gradlab
from gradlab._tf import tf

RNG = np.random.default_rng(7)
X = RNG.uniform(-2.0, 2.0, 200)

# name, f, analytic gradient (as a function of the numpy point)
SMOOTH = [
    ("sum sin(x) x^2", lambda x: tf.reduce_sum(tf.sin(x) * x**2), lambda x: np.cos(x) * x**2 + 2 * x * np.sin(x)),
    ("sum exp(x/2)", lambda x: tf.reduce_sum(tf.exp(x / 2)), lambda x: np.exp(x / 2) / 2),
    ("sum tanh(x)^2", lambda x: tf.reduce_sum(tf.tanh(x) ** 2), lambda x: 2 * np.tanh(x) / np.cosh(x) ** 2),
    ("softplus", lambda x: tf.reduce_sum(tf.nn.softplus(x)), lambda x: 1 / (1 + np.exp(-x))),
    ("x . A x", lambda x: tf.tensordot(x, tf.sin(x) * 3.0, 1), lambda x: 3 * (np.sin(x) + x * np.cos(x))),
]


@pytest.mark.parametrize("name, f, grad", SMOOTH, ids=[case[0] for case in SMOOTH])
@pytest.mark.parametrize("method, rel_bound", [("richardson", 1e-10), ("central", 1e-8), ("forward", 1e-5)])
def test_numeric_matches_analytic(name, f, grad, method, rel_bound):
    result = gradlab.numeric_gradient(f, X, method=method)
    exact = grad(X)
    scale = np.max(np.abs(exact))
    assert np.max(np.abs(result.value[0] - exact)) <= rel_bound * scale


@pytest.mark.parametrize("name, f, grad", SMOOTH, ids=[case[0] for case in SMOOTH])
@pytest.mark.parametrize("method", ["richardson", "central", "forward"])
def test_error_estimate_bounds_true_error(name, f, grad, method):
    result = gradlab.numeric_gradient(f, X, method=method)
    true_error = np.abs(result.value[0] - grad(X))
    assert np.mean(true_error <= result.error[0]) >= 0.99


@pytest.mark.parametrize("name, f, grad", SMOOTH, ids=[case[0] for case in SMOOTH])
def test_tape_matches_analytic(name, f, grad):
    (g,) = gradlab.tape_gradient(f, X)
    np.testing.assert_allclose(g, grad(X), rtol=1e-12, atol=1e-12)


def test_seed_function_several_arguments():
    f = lambda w1, w2: 3 * w1**2 + 2 * w1 * w2  # noqa: E731
    numeric = gradlab.numeric_gradient(f, 5.0, 3.0)
    assert [float(v) for v in numeric.value] == pytest.approx([36.0, 10.0], rel=1e-12)
    assert [float(v) for v in gradlab.tape_gradient(f, 5.0, 3.0)] == [36.0, 10.0]


def test_forward_difference_error_is_the_seeds_truncation():
    # (f(w1 + h) - f(w1)) / h = 36 + 3 h exactly for f = 3 w1^2 + 2 w1 w2: the error estimate sees it.
    f = lambda w1, w2: 3 * w1**2 + 2 * w1 * w2  # noqa: E731
    result = gradlab.numeric_gradient(f, 5.0, 3.0, method="forward", step=1e-6)
    assert float(result.value[0]) - 36.0 == pytest.approx(3e-6, rel=1e-2)
    assert float(result.error[0]) >= 3e-6 * 0.99


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_jacobian_shapes(shape):
    x = RNG.uniform(0.5, 1.5, shape)
    f = lambda x: tf.stack([tf.reduce_sum(x**2), tf.reduce_prod(x)])  # noqa: E731
    numeric = gradlab.numeric_gradient(f, x)
    (tape,) = gradlab.tape_gradient(f, x)
    assert numeric.value[0].shape == (2, *shape) == tape.shape
    np.testing.assert_allclose(numeric.value[0], tape, rtol=1e-9, atol=1e-12)


def test_elementwise_jacobian_is_diagonal():
    x = RNG.uniform(-1, 1, 30)
    numeric = gradlab.numeric_gradient(lambda x: tf.sin(x) * x, x)
    np.testing.assert_allclose(numeric.value[0], np.diag(np.cos(x) * x + np.sin(x)), atol=1e-10)


@pytest.mark.parametrize("dtype, bound", [(np.float32, 1e-3), (np.float64, 1e-9)])
def test_precision_follows_the_input(dtype, bound):
    x = X[:20].astype(dtype)
    f, grad = SMOOTH[0][1], SMOOTH[0][2]
    result = gradlab.numeric_gradient(f, x)
    assert result.dtype == np.dtype(dtype).name
    assert np.max(np.abs(result.value[0] - grad(x.astype(np.float64)))) <= bound


def test_function_capturing_float32_constants_is_evaluated_in_float32():
    c = tf.constant(2.0)  # float32
    result = gradlab.numeric_gradient(lambda a: c * a**3, 1.5)
    assert result.dtype == "float32"
    assert float(result.value[0]) == pytest.approx(2 * 3 * 1.5**2, rel=1e-3)


def test_argument_kinds_give_the_same_answer():
    f = lambda x: tf.reduce_sum(x**3)  # noqa: E731
    x = np.array([1.0, -2.0])
    kinds = [x, tf.constant(x), tf.Variable(x), [1.0, -2.0]]
    for kind in kinds:
        np.testing.assert_allclose(gradlab.numeric_gradient(f, kind).value[0], 3 * x**2, rtol=1e-10)


def test_unvectorizable_function_falls_back_to_one_call_per_point():
    f = lambda x: tf.constant(np.sum(np.sin(x.numpy())))  # noqa: E731
    result = gradlab.numeric_gradient(f, np.array([0.1, 0.2]))
    np.testing.assert_allclose(result.value[0], np.cos([0.1, 0.2]), rtol=1e-9)
    assert "one call per perturbation" in result.evaluation


def test_numeric_result_renders():
    from gradlab.render import to_text

    text = to_text(gradlab.numeric_gradient(lambda x: x**2, 3.0))
    assert "richardson" in text and "6" in text


def test_keras_variable_as_an_argument():
    import keras

    variable = keras.Variable(np.array([1.0, 2.0]), dtype="float64")
    np.testing.assert_allclose(gradlab.numeric_gradient(lambda x: tf.reduce_sum(x**2), variable).value[0], [2.0, 4.0])


@pytest.mark.parametrize("step", [0, -1e-3, float("nan"), "small"])
def test_bad_step_is_refused(step):
    with pytest.raises(gradlab.GradlabError, match="step must be a positive number"):
        gradlab.numeric_gradient(lambda x: x**2, 1.0, step=step)


def test_bad_method_is_refused():
    with pytest.raises(gradlab.GradlabError, match="choose one of forward, central, richardson"):
        gradlab.numeric_gradient(lambda x: x**2, 1.0, method="spline")


@pytest.mark.parametrize("call, words", [
    (lambda: gradlab.step_study(tf.sin, "a"), "x must be a number"),
    (lambda: gradlab.step_study(lambda x: tf.stack([x, x]), 1.0), "scalar function"),
    (lambda: gradlab.step_study(tf.sin, 1.0, steps=[0.1, -1.0]), "positive"),
    (lambda: gradlab.step_study(tf.sin, 1.0).plot("/no/such/folder/figure.png"), "cannot write the figure"),
])
def test_step_study_bad_input(call, words):
    with pytest.raises(gradlab.GradlabError, match=words):
        call()


def test_saving_a_figure_leaves_the_plotting_backend_alone(tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    gradlab.step_study(tf.sin, 1.0).plot(tmp_path / "study.png")
    assert (tmp_path / "study.png").stat().st_size > 0 and matplotlib.get_backend() == before
