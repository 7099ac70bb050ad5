"""Properties at hypothesis-drawn points: correct gradients pass, the estimate sits within its error of the truth."""

import numpy as np
import pytest
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
#: The same examples on every run (drawn from a hash of each test), so that a run tells about the code, not the
#: draw; a point found to go wrong is kept as its own test below.
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


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


@pytest.mark.xfail(strict=True, reason=(
    "a known false inconclusive: at a point where every entry of sum(exp(-x**2)) is stationary, the one-sided "
    "estimates differ by 3 h**3 / 4 while the symmetric stencil's own truncation estimate is 0, so the first step "
    "looks rough; the next step is smooth but its round-off (4 entries' worth of |f|) is just above the absolute "
    "tolerance, and a zero gradient then cannot be confirmed"))
def test_a_stationary_point_of_a_sum_is_judged():
    """Drawn by test_correct_gradients_pass_at_any_point: the gradient is 0 and the tape gives 0."""
    f, _ = FUNCTIONS[1]
    assert gradlab.check(f, np.zeros(4), mode="full").ok


def test_a_stationary_point_of_a_sum_is_never_a_failure():
    f, _ = FUNCTIONS[1]
    assert gradlab.check(f, np.zeros(4), mode="full").state != "fail"


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
