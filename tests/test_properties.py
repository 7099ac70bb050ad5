"""Properties at hypothesis-drawn points: correct gradients pass, the estimate sits within its error of the truth."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
from gradlab._tf import tf

coordinate = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
vectors = st.lists(coordinate, min_size=1, max_size=8).map(np.array)

# f, analytic gradient
FUNCTIONS = [
    (lambda x: tf.reduce_sum(tf.sin(x) * x**2), lambda x: np.cos(x) * x**2 + 2 * x * np.sin(x)),
    (lambda x: tf.reduce_sum(tf.exp(-(x**2))), lambda x: -2 * x * np.exp(-(x**2))),
    (lambda x: tf.reduce_sum(tf.nn.softplus(x)) ** 2,
     lambda x: 2 * np.sum(np.log1p(np.exp(x))) / (1 + np.exp(-x))),
]
function = st.sampled_from(range(len(FUNCTIONS)))
SETTINGS = settings(max_examples=25, deadline=None)


@SETTINGS
@given(which=function, x=vectors)
def test_estimate_is_within_its_error_of_the_analytic_gradient(which, x):
    f, grad = FUNCTIONS[which]
    result = gradlab.numeric_gradient(f, x)
    exact = grad(x)
    assert np.all(np.abs(result.value[0] - exact) <= result.error[0] + 1e-13 * np.maximum(1.0, np.abs(exact)))


@SETTINGS
@given(which=function, x=vectors, mode=st.sampled_from(["full", "fast"]))
def test_correct_gradients_pass_at_any_point(which, x, mode):
    f, _ = FUNCTIONS[which]
    assert gradlab.check(f, x, mode=mode).ok


@SETTINGS
@given(which=function, x=vectors, factor=st.sampled_from([1.01, 0.99, -1.0, 2.0]))
def test_scaled_gradients_fail_wherever_the_gradient_is_not_tiny(which, x, factor):
    f, grad = FUNCTIONS[which]

    @tf.custom_gradient
    def wrong(x):
        def backward(dy):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = f(x)
            return dy * tape.gradient(y, x) * factor

        return f(x), backward

    if np.max(np.abs(grad(x))) > 1e-2:
        assert not gradlab.check(wrong, x).ok
