"""check(..., order=2): the tape's Hessian against finite differences of its gradient, with first-order verdicts."""

import functools

import numpy as np
import pytest

import gradlab
from gradlab._tf import tf
from gradlab.errors import GradlabError, NotDifferentiableError
from gradlab.export import gradcheck_json
from gradlab.render import to_text

import keras  # noqa: E402  (after gradlab._tf, which imports TensorFlow quietly)

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 4))
W1 = RNG.standard_normal((3, 2)) * 0.5
W2 = RNG.standard_normal((1, 3)) * 0.5
X = RNG.standard_normal((2, 5))
T = RNG.standard_normal((1, 5))


def planted(x):
    """sum(sin(x)) whose custom gradient is right in value, but whose own derivative is 1.01 times -sin(x)."""

    @tf.custom_gradient
    def f(x):
        def grad(dy):
            slope = tf.cos(x)
            return dy * (slope + 0.01 * (slope - tf.stop_gradient(slope)))

        return tf.reduce_sum(tf.sin(x)), grad

    return f(x)


def quadratic(x):
    return tf.reduce_sum(x * tf.linalg.matvec(tf.cast(A, x.dtype), x))


def softplus(x):
    return tf.reduce_sum(tf.nn.softplus(tf.linalg.matvec(tf.cast(A, x.dtype), x)))


def mlp_loss(w1, w2):
    hidden = tf.tanh(w1 @ tf.cast(X, w1.dtype))
    return tf.reduce_mean((w2 @ hidden - tf.cast(T, w1.dtype)) ** 2)


def vector(x):
    return tf.tanh(tf.linalg.matvec(tf.cast(A, x.dtype), x)) * x


POINT = RNG.standard_normal(4)
# name: (f, arguments as float64 arrays)
CORRECT = {
    "quadratic": (quadratic, [POINT]),
    "softplus": (softplus, [POINT]),
    "tanh MLP": (mlp_loss, [W1, W2]),
    "vector-valued": (vector, [POINT]),
}
DTYPES = {"float32": np.float32, "float64": np.float64}
MODES = ("full", "fast")


@functools.cache
def checked(name, dtype, mode):
    f, args = CORRECT[name]
    return gradlab.check(f, *[a.astype(DTYPES[dtype]) for a in args], order=2, mode=mode)


@functools.cache
def planted_check(order, mode):
    return gradlab.check(planted, np.array([0.3, -1.2, 0.7]), order=order, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_planted_second_derivative_bug_passes_order_1(mode):
    assert planted_check(1, mode).state == "ok"


@pytest.mark.parametrize("mode", MODES)
def test_planted_second_derivative_bug_fails_order_2(mode):
    assert planted_check(2, mode).state == "fail"


@pytest.mark.parametrize("mode", MODES)
def test_planted_bug_names_the_worst_hessian_entry(mode):
    result = planted_check(2, mode)
    worst = result.worst[0]
    assert (worst.state, worst.index[0] == worst.index[1], round(worst.tape / worst.numeric, 4)) == ("fail", True, 1.01)


@pytest.mark.parametrize("mode", MODES)
def test_report_says_second_derivatives(mode):
    result = planted_check(2, mode)
    i = result.worst[0].index[0]
    text = to_text(result, width=80)
    assert "second derivatives (Hessian) differ" in text and f"d2y/dx[{i}] dx[{i}]" in text


def test_first_order_report_is_unchanged():
    assert "gradients match" in to_text(planted_check(1, "full"), width=80)


@pytest.mark.parametrize("name", CORRECT)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_correct_hessians_pass(name, dtype, mode):
    assert checked(name, dtype, mode).state == "ok"


def test_full_mode_compares_every_hessian_entry():
    result = checked("tanh MLP", "float64", "full")
    assert [(r.name, r.compared) for r in result.inputs] == [("x0", 9 * 6), ("x1", 9 * 3)]


def test_tape_holds_the_hessian_blocks():
    result = checked("quadratic", "float64", "full")
    np.testing.assert_allclose(result.tape[0], A + A.T, rtol=1e-12)


def test_vector_valued_f_is_noted():
    assert any("vector-valued" in note for note in checked("vector-valued", "float64", "full").notes)


def test_fast_mode_projects_the_hessian():
    assert checked("softplus", "float64", "fast").projection.input.startswith("v^T H u")


def test_json_view_has_the_order():
    assert (gradcheck_json(checked("softplus", "float64", "full"))["order"],
            gradcheck_json(planted_check(1, "full"))["order"]) == (2, 1)


def test_float64_reference_judges_a_float32_hessian():
    result = gradlab.check(softplus, POINT.astype(np.float32), order=2, reference="float64")
    assert (result.state, result.reference) == ("ok", "float64")


KINKS = {
    "relu(x)**2 at 0": lambda x: tf.reduce_sum(tf.nn.relu(x) ** 2),
    "x * abs(x) at 0": lambda x: tf.reduce_sum(tf.abs(x) * x),
    "abs(x) at 0": lambda x: tf.reduce_sum(tf.abs(x)),
}


@pytest.mark.parametrize("name", KINKS)
@pytest.mark.parametrize("mode", MODES)
def test_kinks_are_never_failures(name, mode):
    result = gradlab.check(KINKS[name], np.array([0.0, 0.5, -0.8]), order=2, mode=mode)
    assert result.state != "fail"


def test_a_kink_is_counted_in_full_mode():
    result = gradlab.check(KINKS["relu(x)**2 at 0"], np.array([0.0, 0.5, -0.8]), order=2)
    assert (result.state, result.kinks + result.inconclusive > 0) == ("ok", True)


def dense_loss():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((3,), dtype="float64"), keras.layers.Dense(2, dtype="float64")])
    x = tf.constant(np.random.default_rng(4).standard_normal((5, 3)))
    return model, lambda: tf.reduce_sum(tf.tanh(model(x)) ** 2)


@pytest.mark.parametrize("mode", MODES)
def test_variables_mode_passes_and_restores(mode):
    model, loss = dense_loss()
    before = [v.numpy().tobytes() for v in model.trainable_variables]
    result = gradlab.check(loss, variables=model.trainable_variables, order=2, mode=mode)
    assert (result.state, [v.numpy().tobytes() for v in model.trainable_variables]) == ("ok", before)


def test_a_linear_input_has_a_zero_hessian_block():
    result = gradlab.check(lambda x, b: tf.reduce_sum(x ** 3) + tf.reduce_sum(b), np.ones(2), np.ones(3), order=2)
    assert result.state == "ok" and "does not depend on it" in result.inputs[1].note


@pytest.mark.parametrize("unconnected, state", [("error", "fail"), ("zero", "ok")])
def test_an_unused_input_follows_the_unconnected_rule(unconnected, state):
    result = gradlab.check(lambda x, z: tf.reduce_sum(x ** 3), np.ones(2), np.ones(3), order=2,
                           unconnected=unconnected)
    assert (result.state, "tape gradient for it is None" in result.inputs[1].note) == (state, True)


def numpy_slope(x):
    @tf.custom_gradient
    def f(x):
        def grad(dy):
            return dy * tf.constant(np.cos(x.numpy()))  # right value, no derivative on the tape

        return tf.reduce_sum(tf.sin(x)), grad

    return f(x)


def test_a_gradient_through_numpy_fails_with_its_cause():
    result = gradlab.check(numpy_slope, np.array([0.3, -1.2]), order=2)
    assert result.state == "fail" and "changes with it" in result.inputs[0].note


NOT_DIFFERENTIABLE = {  # LRN's gradient is LRNGrad, which has no gradient of its own
    "no second-order gradient": lambda x: tf.reduce_sum(tf.nn.local_response_normalization(x)),
    "cannot differentiate f itself": lambda x: tf.reduce_sum(
        tf.raw_ops.LRNGrad(input_grads=x, input_image=x, output_image=x)),
}


@pytest.mark.parametrize("said", NOT_DIFFERENTIABLE)
def test_no_gradient_is_a_one_line_error(said):
    with pytest.raises(NotDifferentiableError, match=f"^[^\n]*{said}[^\n]*$"):
        gradlab.check(NOT_DIFFERENTIABLE[said], np.full((1, 1, 1, 3), 0.5, dtype=np.float32), order=2)


def test_assert_gradients_close_checks_second_order():
    with pytest.raises(AssertionError, match="second derivatives"):
        gradlab.assert_gradients_close(planted, np.array([0.3, -1.2]), order=2)


@pytest.mark.parametrize("order", [3, 0, True, 2.0, "2"])
def test_other_orders_are_refused(order):
    with pytest.raises(GradlabError, match="order must be 1"):
        gradlab.check(quadratic, POINT, order=order)
